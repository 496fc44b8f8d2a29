/**
 * The CDK app (cdk.json: `npx tsx infra/app.ts`): one Skiff cluster, configured from context.
 *   npx cdk synth
 *   npx cdk deploy -c clusterName=prod -c maxHosts=6
 * The stack is environment-agnostic, so synthesis needs no credentials and no lookups, unless
 * `-c vpcId=vpc-...` names an existing VPC: that is looked up once, then read from cdk.context.json.
 */
import { App } from 'aws-cdk-lib';
import { validateSkiffClusterProps } from './skiff-cluster.ts';
import { clusterPropsFromContext, SkiffStack, stackIdFor, stackSettingsFromContext } from './skiff-stack.ts';
import { addSkiffNagChecks } from './nag.ts';

const app = new App();
const cluster = clusterPropsFromContext(app.node);
// Validated before the stack exists: the cluster name is also part of the stack id.
const { clusterName } = validateSkiffClusterProps(cluster);
new SkiffStack(app, stackIdFor(clusterName), {
  cluster,
  // -c vpcId=vpc-... : an existing VPC, looked up once with credentials, then cached in cdk.context.json.
  ...stackSettingsFromContext(app.node),
  description: `Skiff cluster ${clusterName}: serverless control plane and container hosts`,
});
// cdk-nag AwsSolutions checks: an unsuppressed finding fails the synthesis (infra/nag.ts).
addSkiffNagChecks(app);
app.synth();
