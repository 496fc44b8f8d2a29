/**
 * Start-up of `skiff get tasks` against a real local API without Docker: the API server of
 * `skiff local up` (local/api-server.ts) over the in-memory store, on 127.0.0.1 with a port the OS
 * picks, holding 2 hosts and 3 placed replicas (one scheduler pass). Runs hyperfine on bare Node,
 * `skiff --help` and `skiff get tasks` (the CLI bundle, dist/cli/, built first if stale) and prints
 * its figures. Usage: npx tsx bench/cli-get-tasks.ts [RUNS]
 */
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { makeApiHandler } from '../app/handlers/api.ts';
import { localAuthenticator, TokenSigner } from '../app/tokens.ts';
import { startApiServer } from '../local/api-server.ts';
import { passHarness } from '../test/pass-harness.ts';

const runs = process.argv[2] ?? '20';
execFileSync('node', ['scripts/build-cli.mjs', '--if-stale'], { stdio: 'inherit' });
const h = await passHarness([
  { id: 'h1', cpu: 4000 },
  { id: 'h2', cpu: 4000 },
]);
const token = randomBytes(32).toString('base64url');
const signer = new TokenSigner(new Uint8Array(randomBytes(32)));
const server = await startApiServer(makeApiHandler({ store: h.inner, now: () => new Date(), kickScheduler: async () => {} }), {
  authenticate: localAuthenticator({ adminToken: token, signer, revocations: { isTokenRevoked: async () => false }, now: () => new Date() }),
});
try {
  const apply = await fetch(`${server.url}/v1/services`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'Service', metadata: { name: 'hello' }, spec: { replicas: 3, containers: [{ name: 'app', image: 'skiff/busybox:latest' }] } }),
  });
  if (apply.status !== 201) throw new Error(`apply answered ${apply.status}`);
  await h.pass();
  const get = `node bin/skiff.mjs get tasks --api ${server.url} --token ${token}`;
  // Asynchronous: the API answers from this process while hyperfine runs.
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(
      'hyperfine',
      [
        '-N',
        '--warmup',
        '3',
        '--runs',
        runs,
        '-n',
        'node -e 0 (floor)',
        'node -e 0',
        '-n',
        'skiff --help',
        'node bin/skiff.mjs --help',
        '-n',
        'skiff get tasks',
        get,
      ],
      { stdio: 'inherit' },
    );
    child.on('exit', resolve);
  });
  if (code !== 0) process.exitCode = 1;
  console.log(
    `load average: ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
} finally {
  await server.close();
}
