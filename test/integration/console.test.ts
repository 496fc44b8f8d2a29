/**
 * The web console in a real browser (Debian's chromium, headless, through playwright-core) against
 * the real API over HTTP on 127.0.0.1: the local API server and handler, the in-memory store, the
 * CloudWatch Logs stand-in, and a host that joins as an agent does (its report with a claim, then a
 * scheduler pass registers it and places the service's tasks). No Docker.
 *
 * With SKIFF_CONSOLE_SCREENSHOTS=1 it also writes the screenshots of docs/console/ (wide and narrow).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchLogStore } from '../../adapters/aws/cloudwatch-log-store.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { makeApiHandler } from '../../app/handlers/api.ts';
import { newPassState, runPass } from '../../app/scheduler/pass.ts';
import { localAuthenticator, TokenSigner } from '../../app/tokens.ts';
import type { HostStatus } from '../../core/types.ts';
import { startApiServer, type LocalApiServer } from '../../local/api-server.ts';
import { startLogsServer, type LogsServer } from '../../local/logs-server.ts';
import { MiB } from '../builders.ts';
import { builtConsole, launchBrowser, noBrowserReason } from '../helpers/browser.ts';
import { MemoryHostChannel, RecordingWaker } from '../pass-harness.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHOTS = process.env.SKIFF_CONSOLE_SCREENSHOTS === '1' ? join(ROOT, 'docs', 'console') : undefined;
const TOKEN = randomBytes(32).toString('base64url');
const GiB = 1024 * MiB;
const skip = noBrowserReason();
/** How long a page may take to show what the API says: generous, for a loaded machine (never a figure under test). */
const WAIT = { timeout: 15_000, interval: 100 };
if (skip) console.warn(`skipping the web console's browser tests: ${skip}`);

const store = new MemoryStore();
const signer = new TokenSigner(new Uint8Array(randomBytes(32)));
const passState = newPassState();
let server: LocalApiServer;
let logsServer: LogsServer;
let logs: CloudWatchLogStore;
let browser: Browser;
let page: Page;
/** Every URL the page asked for. */
const asked: string[] = [];

/** A scheduler pass over the store, as local mode runs one after each write. */
async function pass(): Promise<void> {
  await runPass({ store, channel: new MemoryHostChannel(), waker: new RecordingWaker(), cluster: 'console-test', now: () => new Date(), state: passState });
}

/** The agent of host-1's report: its claim, and each of its tasks running with an address, a port and usage. */
async function report(): Promise<void> {
  const now = new Date().toISOString();
  const host = await store.getHost('host-1');
  const tasks = Object.values(host?.allocations ?? {}).map((a, i) => ({
    taskId: a.taskId,
    namespace: a.namespace,
    service: a.service,
    state: 'running' as const,
    ports: [{ containerPort: 8080, hostIp: '127.0.1.1', hostPort: 20_000 + i, protocol: 'tcp' as const, container: 'app' }],
    address: `10.88.0.${10 + i}`,
    containers: [{ name: 'app', id: `c${i}`, state: 'running' }],
    since: now,
    usage: { cpu: 40 + 10 * i, memory: (12 + i) * MiB },
  }));
  const status: HostStatus = {
    hostId: 'host-1',
    heartbeatAt: now,
    generation: 1,
    agentVersion: 'test',
    tasks,
    claim: { address: '127.0.1.1', capacity: { cpu: 2000, memory: 2 * GiB }, labels: { zone: 'local' } },
  };
  await store.putHostStatus(status);
  await store.putHeartbeat('host-1', now);
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: { message?: string } & Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as { message?: string } & Record<string, unknown> };
}

/** A screenshot for docs/console/ (when asked for): the whole page, or only the screen for a long one. */
async function shoot(name: string, whole = true): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: whole });
}

beforeAll(async () => {
  if (skip) return;
  const dir = builtConsole(ROOT);
  logsServer = await startLogsServer({});
  logs = new CloudWatchLogStore(
    new CloudWatchLogsClient({
      endpoint: logsServer.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    }),
    '/skiff/console-test',
  );
  await logs.createGroup();
  const handler = makeApiHandler({
    store,
    now: () => new Date(),
    kickScheduler: async () => {},
    logs,
    watchIntervalMs: 200,
    console: { dir, config: { apiPrefix: '', signIn: 'local-token' } },
  });
  server = await startApiServer(handler, {
    authenticate: localAuthenticator({ adminToken: TOKEN, signer, revocations: { isTokenRevoked: async () => false }, now: () => new Date() }),
  });

  // A host joins as its agent does: a report with its claim; the next pass registers it.
  await report();
  await pass();
  const put = await fetch(`${server.url}/v1/namespaces/default/services/web`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' },
    body: [
      'kind: Service',
      'metadata: {name: web}',
      'spec:',
      '  replicas: 2',
      '  ingress: {host: web.example.test, port: 8080}',
      '  containers:',
      '    - name: app',
      '      image: skiff/busybox:latest',
      '      ports: [{containerPort: 8080}]',
      '      resources: {cpu: 100m, memory: 32Mi}',
    ].join('\n'),
  });
  expect(put.status, await put.text()).toBe(201);
  const other = await fetch(`${server.url}/v1/namespaces/shop/services/cart`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/yaml' },
    body: 'kind: Service\nmetadata: {name: cart, namespace: shop}\nspec:\n  replicas: 1\n  containers: [{name: app, image: skiff/busybox:latest, resources: {cpu: 250m, memory: 64Mi}}]\n',
  });
  expect(other.status, await other.text()).toBe(201);
  await pass();
  await report();
  await pass();
  const tasks = await store.listTasks('default', 'web');
  for (const t of tasks) await logs.put(`default/${t.id}/app`, [{ at: Date.now() - 5000 + t.slot, message: `hello from ${t.id}` }]);

  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1100, height: 680 } });
  page.setDefaultTimeout(10_000);
  page.on('request', (r) => asked.push(r.url()));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await logsServer?.close();
});

describe.skipIf(skip !== undefined)('the web console in chromium', () => {
  it('serves its files without a token, with no data in them, and a strict content security policy', async () => {
    const res = await fetch(`${server.url}/console`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toContain('"signIn":"local-token"');
    expect(html).not.toContain('web.example.test');
    expect((await fetch(`${server.url}/console/console.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
    // The API itself still wants a token.
    expect((await fetch(`${server.url}/v1/services`)).status).toBe(401);
  });

  it("refuses a wrong token with the API's message, then signs in with the cluster's token", async () => {
    await page.goto(`${server.url}/console`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Sign in to the Skiff console');
    await shoot('sign-in');
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const refused = await fetch(`${server.url}/v1/version`, { headers: { authorization: 'Bearer not-the-token' } });
    const { message } = (await refused.json()) as { message: string };
    await expect(page.getByRole('alert').textContent()).resolves.toContain(message);

    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Services', level: 1 }).waitFor();
    // Kept for this tab only.
    await expect(page.evaluate(() => sessionStorage.getItem('skiff.console.token'))).resolves.toBe(TOKEN);
  });

  it('lists the services as the API does: health, replicas, ingress, autoscaling and rollout', async () => {
    const list = (await api('GET', '/v1/services')).body as unknown as { name: string; running: number; replicas: number }[];
    const web = list.find((s) => s.name === 'web')!;
    await expect.poll(() => page.getByRole('row').count(), WAIT).toBe(list.length + 1);
    const row = page.getByRole('row', { name: /default\/web/ });
    await expect.poll(() => row.textContent(), WAIT).toContain(`${web.running} / ${web.replicas}`);
    const text = await row.textContent();
    expect(text).toContain('healthy');
    expect(text).toContain('web.example.test → :8080');
    expect(text).toContain('off');
    const rollout = (await api('GET', '/v1/namespaces/default/services/web/rollout')).body as { phase: string };
    await expect.poll(() => row.textContent(), WAIT).toContain(rollout.phase);
    // Locally the list is watched (the long-poll), not read again and again.
    await expect.poll(() => asked.some((u) => u.startsWith(`${server.url}/v1/services?watch=true&resourceVersion=`)), WAIT).toBe(true);
    await shoot('services');
  });

  it("shows a service's tasks with their hosts and addresses", async () => {
    await page.getByRole('link', { name: 'default/web' }).click();
    await page.getByRole('heading', { name: 'web', level: 1 }).waitFor();
    const detail = (await api('GET', '/v1/namespaces/default/services/web')).body as unknown as { tasks: { id: string; host: string; address: string }[] };
    expect(detail.tasks).toHaveLength(2);
    for (const t of detail.tasks) {
      const row = page.getByRole('region', { name: 'Tasks' }).getByRole('row', { name: new RegExp(t.id) });
      await expect.poll(() => row.textContent(), WAIT).toContain(t.address);
      expect(await row.textContent()).toContain(t.host);
    }
    await shoot('service');
  });

  it('scales the service after a confirmation, from the keyboard, and the stored service changes', async () => {
    const button = page.getByRole('button', { name: 'Scale…' });
    await button.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Scale the service' });
    await dialog.waitFor();
    // Escape cancels: nothing is sent.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect((await store.getService('default', 'web'))?.scale).toBeUndefined();

    await button.click();
    await dialog.getByLabel('Replicas').fill('3');
    await shoot('scale-dialog');
    await dialog.getByRole('button', { name: 'Scale to 3' }).click();
    await page.getByRole('status').filter({ hasText: 'Scaled default/web to 3 replicas.' }).waitFor();
    expect((await store.getService('default', 'web'))?.scale).toMatchObject({ replicas: 3, source: 'cli' });
    // The service's own events show the change, as the API recorded it.
    const scaled = ((await api('GET', '/v1/events?namespace=default&service=web')).body as unknown as { type: string; message: string }[]).find(
      (e) => e.type === 'service.scaled',
    );
    expect(scaled).toBeDefined();
    await expect
      .poll(() => page.getByRole('region', { name: 'The newest 20 events of default/web, newest first' }).textContent(), WAIT)
      .toContain(scaled!.message);
  });

  it('restarts the service after a confirmation', async () => {
    await page.getByRole('button', { name: 'Restart…' }).click();
    await page.getByRole('dialog', { name: 'Restart the service' }).getByRole('button', { name: 'Restart' }).click();
    await page.getByRole('status').filter({ hasText: 'Restarting default/web' }).waitFor();
    expect((await store.getService('default', 'web'))?.rollout).toMatchObject({ phase: 'progressing', message: 'restart' });
  });

  it("shows a refused action's error as the API words it, and keeps the dialog open", async () => {
    const refused = await api('POST', '/v1/namespaces/default/services/web/scale', { replicas: 5000 });
    expect(refused.status).toBe(400);
    await page.getByRole('button', { name: 'Scale…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Scale the service' });
    await dialog.getByLabel('Replicas').fill('5000');
    await dialog.getByRole('button', { name: 'Scale to 5000' }).click();
    await expect(dialog.getByRole('alert').textContent()).resolves.toContain(refused.body.message);
    await shoot('error');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect((await store.getService('default', 'web'))?.scale?.replicas).toBe(3);

    // A roll back with no earlier revision: the API's 404, word for word.
    const undo = await api('POST', '/v1/namespaces/default/services/web/rollout/undo', {});
    expect(undo.status).toBe(404);
    await page.getByRole('button', { name: 'Roll back…' }).click();
    const back = page.getByRole('dialog', { name: 'Roll back the service' });
    await back.getByRole('button', { name: 'Roll back' }).click();
    await expect(back.getByRole('alert').textContent()).resolves.toContain(undo.body.message);
    await page.keyboard.press('Escape');
  });

  it("follows a service's logs live", async () => {
    await page.getByRole('link', { name: 'Live logs' }).click();
    const log = page.getByRole('log');
    const tasks = await store.listTasks('default', 'web');
    await expect.poll(() => log.textContent(), WAIT).toContain(`hello from ${tasks[0].id}`);
    await logs.put(`default/${tasks[0].id}/app`, [{ at: Date.now(), message: 'a line written just now' }]);
    await expect.poll(() => log.textContent(), WAIT).toContain('a line written just now');
    await shoot('logs');
  });

  it('shows hosts with their usage against capacity, and drains and uncordons one after a confirmation', async () => {
    await page.getByRole('link', { name: 'Hosts' }).click();
    await page.getByRole('heading', { name: 'Hosts', level: 1 }).waitFor();
    const row = page.getByRole('row', { name: /host-1/ });
    await expect.poll(() => row.textContent(), WAIT).toContain('127.0.1.1');
    // The CPU bar reads what the agent reported (40m + 50m, or 40m + 50m + 60m once the third replica reports).
    await expect(row.getByRole('img', { name: /^CPU of host-1: .* used .* reserved of 2 CPU$/ }).count()).resolves.toBe(1);
    await shoot('hosts');

    await row.getByRole('button', { name: 'Drain host-1' }).click();
    await page.getByRole('dialog', { name: 'Drain host-1' }).getByRole('button', { name: 'Drain' }).click();
    await expect.poll(async () => (await store.getHost('host-1'))?.state, WAIT).toBe('draining');
    await row.getByRole('button', { name: 'Uncordon host-1' }).click();
    await page.getByRole('dialog', { name: 'Uncordon host-1' }).getByRole('button', { name: 'Uncordon' }).click();
    await expect.poll(async () => (await store.getHost('host-1'))?.state, WAIT).toBe('ready');
  });

  it('shows the events the API has, newest first', async () => {
    await page.getByRole('link', { name: 'Events' }).click();
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    const events = (await api('GET', '/v1/events?limit=200')).body as unknown as { message: string }[];
    const newest = events[events.length - 1];
    await expect.poll(() => page.getByRole('table').textContent(), WAIT).toContain(newest.message);
    await expect(page.getByRole('row').nth(1).textContent()).resolves.toContain(newest.message);
    await shoot('events', false);
  });

  it("shows what a narrower token may not read as the API's refusal, and signs out", async () => {
    const view = (await signer.issue({ namespace: 'shop', role: 'view', ttlSeconds: 3600 }, new Date())).token;
    const refused = await fetch(`${server.url}/v1/hosts`, { headers: { authorization: `Bearer ${view}` } });
    expect(refused.status).toBe(403);
    const { message } = (await refused.json()) as { message: string };
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').fill(view);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Services' }).click();
    // Its own namespace's services only, as the API lists them for it.
    const row = page.getByRole('row', { name: /shop\/cart/ });
    await row.waitFor();
    await expect(page.getByRole('row', { name: /default\/web/ }).count()).resolves.toBe(0);
    await page.getByRole('link', { name: 'Hosts' }).click();
    await expect.poll(() => page.getByRole('alert').first().textContent(), WAIT).toContain(message);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Hosts', level: 1 }).waitFor();
  });

  it('works on a narrow screen: nothing wider than the screen, every control named', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    for (const [hash, name] of [
      ['#/services', 'services'],
      ['#/services/default/web', 'service'],
      ['#/hosts', 'hosts'],
      ['#/events', 'events'],
    ] as const) {
      await page.goto(`${server.url}/console${hash}`);
      await page.getByRole('table').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${hash} is wider than the screen`).toBeLessThanOrEqual(0);
      await expect(page.getByRole('navigation', { name: 'Console' }).isVisible()).resolves.toBe(true);
      const unnamed = await page.evaluate(() =>
        [...document.querySelectorAll('button, a, input')]
          .filter((el) => !(el.getAttribute('aria-label') || el.textContent?.trim() || (el.id && document.querySelector(`label[for="${el.id}"]`))))
          .map((el) => el.outerHTML),
      );
      expect(unnamed).toEqual([]);
      await shoot(`${name}-narrow`, name !== 'events');
    }
  });
});
