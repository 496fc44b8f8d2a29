/**
 * What workload identity costs the control plane and the agent: ES256 signatures per second (the
 * API's work per token), verifications per second (what a peer application pays), and the
 * credentials endpoint's answer time over real HTTP on 127.0.0.1, cached and with an AssumeRole to
 * the STS stand-in. Prints figures; asserts nothing.
 *
 *     npx tsx bench/workload-identity.ts [--tokens 2000] [--requests 500]
 */
import { STSClient } from '@aws-sdk/client-sts';
import { MemorySigningKeyStore } from '../adapters/memory/signing-keys.ts';
import { stsRoleAssumer } from '../adapters/aws/sts-role-assumer.ts';
import { CredentialsEndpoint, TaskTokens, type CredentialTask } from '../agent/credentials-endpoint.ts';
import { rotateSigningKeys, verifyWorkloadToken, WorkloadTokenIssuer } from '../app/workload-tokens.ts';
import { startStsServer } from '../local/sts-server.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const TOKENS = arg('tokens', 2000);
const REQUESTS = arg('requests', 500);

async function main(): Promise<void> {
  const keys = new MemorySigningKeyStore();
  await rotateSigningKeys(keys, Date.now());
  const issuer = new WorkloadTokenIssuer({ issuer: 'http://127.0.0.1:1', keys });
  const subject = { cluster: 'bench', namespace: 'shop', service: 'web', task: 'web-1-aaaaa' };
  let t = performance.now();
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i++) tokens.push((await issuer.issue(subject, Date.now())).token);
  const signMs = performance.now() - t;
  const jwks = await issuer.jwks(Date.now());
  t = performance.now();
  for (const token of tokens) await verifyWorkloadToken(token, jwks, { issuer: 'http://127.0.0.1:1', audience: 'skiff', now: Date.now() });
  const verifyMs = performance.now() - t;
  console.log(
    `ES256 workload tokens: ${TOKENS} issued in ${signMs.toFixed(0)} ms (${((TOKENS / signMs) * 1000).toFixed(0)}/s), verified in ${verifyMs.toFixed(0)} ms (${((TOKENS / verifyMs) * 1000).toFixed(0)}/s); token ${tokens[0].length} bytes`,
  );

  const sts = await startStsServer({ allowedRolePath: '/skiff/bench/' });
  const tasks = new Map<string, CredentialTask>();
  for (let i = 1; i <= REQUESTS; i++)
    tasks.set(`web-${i}-aaaaa`, { id: `web-${i}-aaaaa`, namespace: 'shop', service: 'web', roleArn: 'arn:aws:iam::123456789012:role/skiff/bench/web' });
  const taskTokens = new TaskTokens(new Uint8Array(32).fill(1));
  const endpoint = new CredentialsEndpoint({
    tokens: taskTokens,
    assumeRole: stsRoleAssumer(new STSClient({ endpoint: sts.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } })),
    tasks: () => tasks,
    now: Date.now,
  });
  try {
    await endpoint.listen('127.0.0.1');
    const ask = async (id: string) => {
      const res = await fetch(endpoint.uriFor('127.0.0.1', id), { headers: { authorization: taskTokens.tokenFor(id) } });
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      await res.json();
    };
    const timed = async (ids: string[]) => {
      const each: number[] = [];
      for (const id of ids) {
        const s = performance.now();
        await ask(id);
        each.push(performance.now() - s);
      }
      each.sort((a, b) => a - b);
      return { p50: each[Math.floor(each.length / 2)], p99: each[Math.floor(each.length * 0.99)] };
    };
    const ids = [...tasks.keys()];
    const cold = await timed(ids); // one AssumeRole each
    const warm = await timed(ids); // cached
    console.log(
      `credentials endpoint, ${REQUESTS} tasks, one request at a time: first request (AssumeRole to the stand-in) p50 ${cold.p50.toFixed(2)} ms, p99 ${cold.p99.toFixed(2)} ms; cached p50 ${warm.p50.toFixed(2)} ms, p99 ${warm.p99.toFixed(2)} ms`,
    );
  } finally {
    await endpoint.close();
    await sts.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
