/**
 * The web console end to end (docs/console.md): a real local cluster (`skiff local up`, one host,
 * real Docker) and Debian's chromium, headless. `local up` prints the console's address; signing in
 * with the cluster's token shows the service as the API has it; scaling it in the console starts a
 * second container; a refused scale shows the API's message; the service's lines show in its live
 * logs. Bounded (under a minute) and cleaned up whatever happens.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../agent/executor.ts';
import { launchBrowser, noBrowserReason, builtConsole } from '../helpers/browser.ts';
import { eventually, ROOT, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { removeClusterContainers, uniqueClusterName } from '../helpers/docker.ts';

const docker = new Docker();
const cluster = uniqueClusterName('console');
const dir = mkdtempSync(join(tmpdir(), 'skiff-console-'));
const skip = noBrowserReason();
/** How long a page may take to show what the API says: generous, for a loaded machine (never a figure under test). */
const WAIT = { timeout: 15_000, interval: 100 };
if (skip) console.warn(`skipping the web console's end-to-end test: ${skip}`);
let running: RunningCluster | undefined;
let browser: Browser | undefined;
const agentPids = new Set<number>();

const cli = (...args: string[]) => skiff(args, { cwd: dir });

async function runningContainers(): Promise<number> {
  const list = await docker.listContainers({ filters: { label: [`${LABELS.cluster}=${cluster}`, `${LABELS.service}=greeter`] } });
  return list.length;
}

beforeAll(async () => {
  if (skip) return;
  builtConsole(ROOT);
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '1', '--data', join(dir, 'data')]);
  const status = JSON.parse((await cli('local', 'status', '-o', 'json')).stdout) as { hosts: { pid: number }[] };
  for (const h of status.hosts) agentPids.add(h.pid);
  const spec = join(dir, 'greeter.yaml');
  writeFileSync(
    spec,
    `kind: Service
metadata: { name: greeter }
spec:
  replicas: 1
  containers:
    - name: app
      image: skiff/busybox:latest
      command: ["sh", "-c", "echo hello from the console test; exec sleep 3600"]
      resources: { cpu: 50m, memory: 16Mi }
`,
  );
  expect((await cli('apply', '-f', spec)).code).toBe(0);
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  try {
    await browser?.close();
    await running?.stop();
  } finally {
    for (const pid of agentPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await removeClusterContainers(docker, cluster);
    rmSync(dir, { recursive: true, force: true });
  }
});

describe.skipIf(skip !== undefined)('the web console on a local cluster', { timeout: 60_000 }, () => {
  it('signs in, shows the service, scales it in the cluster, shows a refusal and the live logs', async () => {
    const cluster = running!;
    expect(cluster.output()).toContain(`skiff: web console at ${cluster.api}/console`);
    const page = await browser!.newPage({ viewport: { width: 1024, height: 700 } });
    page.setDefaultTimeout(15_000);
    await page.goto(`${cluster.api}/console`);
    await page.getByLabel('API token').fill(cluster.token);
    await page.getByRole('button', { name: 'Sign in' }).click();

    // The service as the API has it, once its replica runs.
    const row = page.getByRole('row', { name: /default\/greeter/ });
    await expect.poll(() => row.textContent(), { timeout: 40_000, interval: 250 }).toContain('1 / 1');

    await page.getByRole('link', { name: 'default/greeter' }).click();
    await page.getByRole('button', { name: 'Scale…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Scale the service' });
    await dialog.getByLabel('Replicas').fill('2');
    await dialog.getByRole('button', { name: 'Scale to 2' }).click();
    await page.getByRole('status').filter({ hasText: 'Scaled default/greeter to 2 replicas.' }).waitFor();
    // The cluster changed: a second container runs.
    await eventually(async () => ((await runningContainers()) === 2 ? true : undefined), 'a second greeter container', 30_000, 500);

    // A refused scale: the API's own words.
    const refused = await cluster.fetch(`${cluster.api}/v1/namespaces/default/services/greeter/scale`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ replicas: 5000 }),
    });
    const { message } = (await refused.json()) as { message: string };
    await page.getByRole('button', { name: 'Scale…' }).click();
    await dialog.getByLabel('Replicas').fill('5000');
    await dialog.getByRole('button', { name: 'Scale to 5000' }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent(), WAIT).toContain(message);
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('link', { name: 'Live logs' }).click();
    await expect.poll(() => page.getByRole('log').textContent(), WAIT).toContain('hello from the console test');
    await page.close();
  });
});
