/**
 * Central logs (docs/logs.md): the cluster's log group, one stream per task container
 * (`<namespace>/<task>/<container>`), `host/<id>` per agent. The agents ship to it
 * (agent/log-shipper.ts) and the API reads it (app/log-routes.ts); its retention is the stack's
 * `clusterLogRetention`.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { Effect, type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type ILogGroup, LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The cluster's log group name; local mode uses the same (local/cluster.ts logGroupName). */
export const clusterLogGroupName = (clusterName: string): string => `/skiff/${clusterName}`;

export interface SkiffClusterLogsProps {
  readonly clusterName: string;
  /** How long lines are kept. @default one month */
  readonly retention?: RetentionDays;
}

export class SkiffClusterLogs extends Construct {
  readonly logGroup: LogGroup;
  readonly logGroupName: string;

  constructor(scope: Construct, id: string, props: SkiffClusterLogsProps) {
    super(scope, id);
    this.logGroupName = clusterLogGroupName(props.clusterName);
    this.logGroup = new LogGroup(this, 'Group', {
      logGroupName: this.logGroupName,
      retention: props.retention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  /**
   * The hosts write their streams, and read a stream's last lines: a restarted agent resumes where
   * the store's copy ends, so no line is shipped twice (docs/logs.md). IAM cannot narrow this to
   * the streams of the tasks a host runs (stream names carry no host); a host already reads the
   * cluster's secrets of any task it may be given (infra/hosts.ts), which is the wider grant.
   */
  grantShip(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ShipClusterLogs',
        effect: Effect.ALLOW,
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:GetLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
  }

  /**
   * The API reads every stream, merged (FilterLogEvents), one's tail (GetLogEvents), and lists them;
   * in this group and in `others` (the control functions' own groups, for `skiff logs --control-plane`).
   */
  grantRead(grantee: IGrantable, others: readonly ILogGroup[] = []): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadClusterLogs',
        effect: Effect.ALLOW,
        actions: ['logs:FilterLogEvents', 'logs:GetLogEvents', 'logs:DescribeLogStreams'],
        resources: [this.logGroup.logGroupArn, ...others.map((g) => g.logGroupArn)],
      }),
    );
  }
}
