/**
 * STS AssumeRole over the SDK, for the agent's credentials endpoint (agent/credentials-endpoint.ts):
 * with the host's own credentials (the default provider chain: the instance profile on EC2, the
 * environment locally), against the regional endpoint or the local STS stand-in.
 */
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import type { AssumeRole, RoleCredentials } from '../../agent/credentials-endpoint.ts';

/** The endpoint's AssumeRole over an STS client. An SDK error passes through with its name (AccessDenied, RegionDisabledException...). */
export function stsRoleAssumer(sts: STSClient): AssumeRole {
  return async ({ roleArn, sessionName, durationSeconds }): Promise<RoleCredentials> => {
    const out = await sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: durationSeconds }));
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) throw new Error(`STS answered AssumeRole of ${roleArn} without credentials`);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  };
}
