/**
 * The CLI against the real API over HTTP on 127.0.0.1 (in-memory state, a bearer token; no
 * Docker): `skiff get -o json|yaml|wide|name`, `-w` on the API's watch, `skiff version`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { makeApiHandler } from '../../app/handlers/api.ts';
import { localAuthenticator, TokenSigner } from '../../app/tokens.ts';
import { ApiClient } from '../../cli/client.ts';
import { watchLoop } from '../../cli/get-output.ts';
import { main, type Out } from '../../cli/main.ts';
import { SKIFF_VERSION } from '../../core/version.ts';
import { startApiServer, type LocalApiServer } from '../../local/api-server.ts';
import { aTask } from '../builders.ts';

const TOKEN = randomBytes(32).toString('base64url');
let server: LocalApiServer;
const store = new MemoryStore();

function capture(): Out & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, log: (s) => lines.push(s), err: (s) => errors.push(s), isTTY: false };
}

async function skiff(...args: string[]) {
  const out = capture();
  const code = await main([...args, '--api', server.url, '--token', TOKEN], out);
  return { code, text: out.lines.join('\n'), errors: out.errors.join('\n') };
}

const spec = (name: string, replicas: number) =>
  JSON.stringify({ kind: 'Service', metadata: { name }, spec: { replicas, containers: [{ name: 'app', image: 'skiff/busybox:latest' }] } });

beforeAll(async () => {
  const signer = new TokenSigner(new Uint8Array(randomBytes(32)));
  const handler = makeApiHandler({ store, now: () => new Date(), kickScheduler: async () => {}, watchIntervalMs: 20 });
  server = await startApiServer(handler, {
    authenticate: localAuthenticator({ adminToken: TOKEN, signer, revocations: { isTokenRevoked: async () => false }, now: () => new Date() }),
  });
  const client = new ApiClient({ url: server.url, source: 'flag', token: TOKEN });
  for (const name of ['api', 'web']) await client.request('POST', '/v1/services', spec(name, 1));
});

afterAll(async () => {
  await server?.close();
});

describe('skiff get -o', () => {
  it('prints kind/name per item with -o name', async () => {
    const got = await skiff('get', 'services', '-o', 'name');
    expect(got.code).toBe(0);
    expect(got.text.split('\n')).toEqual(['service/api', 'service/web']);
    expect((await skiff('get', 'svc', 'web', '-o', 'name')).text).toBe('service/web');
  });

  it('prints the same document as YAML with -o yaml as with -o json', async () => {
    const json = JSON.parse((await skiff('get', 'services', '-o', 'json')).text);
    const yaml = YAML.parse((await skiff('get', 'services', '-o', 'yaml')).text);
    expect(yaml).toEqual(json);
    expect(json.map((s: { name: string }) => s.name)).toEqual(['api', 'web']);
  });

  it('adds columns with -o wide', async () => {
    const wide = await skiff('get', 'services', '-o', 'wide');
    expect(wide.text.split('\n')[0]).toMatch(/VERSION\s+READY\s+SCALED BY/);
    expect((await skiff('get', 'services')).text.split('\n')[0]).not.toMatch(/VERSION/);
  });

  it('refuses an unknown output mode, naming the ones it has', async () => {
    const bad = await skiff('get', 'services', '-o', 'xml');
    expect(bad.code).toBe(2);
    expect(bad.errors).toMatch(/-o must be json, yaml, wide or name, got "xml"/);
  });
});

describe('skiff get -w', () => {
  it('waits on the API for a change and prints again', async () => {
    const client = new ApiClient({ url: server.url, source: 'flag', token: TOKEN });
    const prints: string[] = [];
    let stop = false;
    const watching = watchLoop({
      version: (since) => client.listVersion('/v1/services', since),
      show: async () => {
        const list = await client.list<{ name: string; replicas: number }>('/v1/services');
        prints.push(list.map((s) => `${s.name}=${s.replicas}`).join(','));
      },
      stop: () => stop,
    });
    // Until the first print, then a change: the held request answers it.
    while (prints.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await client.request('POST', '/v1/services', spec('web', 4));
    while (prints.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    stop = true;
    await client.request('POST', '/v1/services', spec('web', 5));
    await watching;
    expect(prints[0]).toBe('api=1,web=1');
    expect(prints[1]).toBe('api=1,web=4');
  });

  it('runs as `skiff get services -w` in its own process: prints, then prints again after a change', async () => {
    const bin = fileURLToPath(new URL('../../bin/skiff.mjs', import.meta.url));
    const child = spawn(process.execPath, [bin, 'get', 'services', '-w', '--api', server.url, '--token', TOKEN], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const until = async (what: string, ok: () => boolean) => {
      // Generous: the CLI may start from its TypeScript sources (tsx) on a loaded machine.
      const deadline = Date.now() + 60_000;
      while (!ok()) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${what}; stdout: ${stdout}; stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    try {
      await until('first print', () => /^default\s+web\s/m.test(stdout));
      const client = new ApiClient({ url: server.url, source: 'flag', token: TOKEN });
      await client.request('POST', '/v1/services', spec('cache', 1));
      await until('second print with the new service', () => /^default\s+cache\s/m.test(stdout));
      expect(stdout.match(/^NAMESPACE/gm)?.length).toBeGreaterThanOrEqual(2);
    } finally {
      child.kill();
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.on('exit', resolve)));
    }
  }, 150_000);

  it('gives the version of a list, the same while it does not change', async () => {
    const client = new ApiClient({ url: server.url, source: 'flag', token: TOKEN });
    const a = await client.listVersion('/v1/tasks');
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(await client.listVersion('/v1/tasks')).toBe(a);
    // A watch at that version with a 1 s timeout comes back with the same one.
    expect(await client.listVersion('/v1/tasks', a, 1)).toBe(a);
  });
});

describe('GET /v1/openapi.json over HTTP', () => {
  it('answers any authenticated caller, and no one else', async () => {
    const ok = await fetch(`${server.url}/v1/openapi.json`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { openapi: string }).openapi).toBe('3.1.0');
    expect((await fetch(`${server.url}/v1/openapi.json`)).status).toBe(401);
  });

  it('carries ETag and x-resource-version headers, and a 412 with its message through the server', async () => {
    const got = await fetch(`${server.url}/v1/namespaces/default/services/api`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const tag = got.headers.get('etag');
    expect(tag).toMatch(/^"\d+"$/);
    const stale = await fetch(`${server.url}/v1/namespaces/default/services/api/scale`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'if-match': `"${Number(tag?.slice(1, -1)) + 1}"` },
      body: JSON.stringify({ replicas: 2 }),
    });
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { error: string }).error).toBe('PreconditionFailedError');
    expect((await fetch(`${server.url}/v1/tasks`, { headers: { authorization: `Bearer ${TOKEN}` } })).headers.get('x-resource-version')).toBeTruthy();
  });
});

describe('skiff scale --if-match', () => {
  it('scales at the version read, and refuses another with the reason', async () => {
    const version = (JSON.parse((await skiff('get', 'services', 'api', '-o', 'json')).text) as { specVersion: number }).specVersion;
    const stale = await skiff('scale', 'api', '--replicas', '2', '--if-match', String(version + 1));
    expect(stale.code).toBe(1);
    expect(stale.errors).toMatch(new RegExp(`is at version ${version}, not ${version + 1}`));
    const fresh = await skiff('scale', 'api', '--replicas', '2', '--if-match', String(version));
    expect(fresh.code).toBe(0);
    expect((await skiff('scale', 'api', '--replicas', '2', '--if-match', 'latest')).code).toBe(2);
  });
});

describe('skiff version', () => {
  it("prints the client's version and the server's", async () => {
    const got = await skiff('version');
    expect(got.code).toBe(0);
    expect(got.text).toBe(`client: ${SKIFF_VERSION}\nserver: ${SKIFF_VERSION} (API v1)`);
    expect(JSON.parse((await skiff('version', '-o', 'json')).text)).toEqual({
      client: { version: SKIFF_VERSION },
      server: { version: SKIFF_VERSION, api: 'v1' },
    });
  });
});

describe('skiff exec', () => {
  /** The global flags go before `--`: what follows it is the command. */
  const exec = async (...args: string[]) => {
    const out = capture();
    const code = await main(['exec', '--api', server.url, '--token', TOKEN, ...args], out);
    return { code, text: out.lines.join('\n'), errors: out.errors.join('\n') };
  };
  it('needs a task and a command, and refuses a task that does not run', async () => {
    expect(await exec()).toMatchObject({ code: 2 });
    expect((await exec('web-1-aaaaa')).code).toBe(2);
    const pending = aTask((await store.getService('default', 'web'))!, 7, { id: 'web-7-pendg' });
    await store.putTask(pending, undefined);
    const refused = await exec('web-7-pendg', '--', 'true');
    expect(refused.code).toBe(1);
    expect(refused.errors).toContain('task web-7-pendg is pending, not running: nothing to exec into');
    expect((await exec('web-9-nosch', '--', 'true')).errors).toMatch(/not found/);
  });

  it('prints the Session Manager command for a cluster that is not local', async () => {
    const web = (await store.getService('default', 'web'))!;
    const task = aTask(web, 8, { id: 'web-8-remot', host: 'i-0123456789abcdef0' });
    await store.putTask(task, undefined);
    await store.putHostStatus({
      hostId: 'i-0123456789abcdef0',
      heartbeatAt: new Date().toISOString(),
      generation: 1,
      agentVersion: 'test',
      tasks: [{ taskId: task.id, namespace: 'default', service: 'web', state: 'running', ports: [], containers: [], since: new Date().toISOString() }],
    });
    const got = await exec('web-8-remot', '--', 'sh', '-c', "echo 'hi there'");
    expect(got.code).toBe(1);
    expect(got.errors).toContain("open a session on the task's host (i-0123456789abcdef0)");
    expect(got.text).toContain('aws ssm start-session --target i-0123456789abcdef0 --document-name AWS-StartInteractiveCommand');
    expect(got.text).toContain('--filter label=skiff.task=web-8-remot');
    expect(got.text).toContain(String.raw`sh -c 'echo '\''hi there'\'''`);
  });
});
