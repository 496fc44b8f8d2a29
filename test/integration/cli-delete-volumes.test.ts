/**
 * `skiff delete service NAME [--delete-volumes]` and `skiff get volumes` against the real API over HTTP on
 * 127.0.0.1 (in-memory state, no Docker), with scheduler passes running beside it and a stand-in agent
 * that reports every volume its host document asks removed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeApiHandler } from '../../app/handlers/api.ts';
import { localAuthenticator, TokenSigner } from '../../app/tokens.ts';
import { main, type Out } from '../../cli/main.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import { volumeKeyString } from '../../core/volumes.ts';
import { startApiServer, type LocalApiServer } from '../../local/api-server.ts';
import { passHarness, T0, type PassHarness } from '../pass-harness.ts';

const TOKEN = randomBytes(32).toString('base64url');
let server: LocalApiServer;
let h: PassHarness;
let loop: NodeJS.Timeout | undefined;

async function skiff(...args: string[]) {
  const lines: string[] = [];
  const errors: string[] = [];
  const out: Out = { log: (s) => lines.push(s), err: (s) => errors.push(s), isTTY: false };
  const code = await main([...args, '--api', server.url, '--token', TOKEN], out);
  return { code, text: lines.join('\n'), errors: errors.join('\n') };
}

const db = parseServiceSpec({
  kind: 'Service',
  metadata: { name: 'db' },
  spec: {
    replicas: 2,
    volumes: [{ name: 'data', persistent: {} }],
    containers: [{ name: 'app', image: 'skiff/busybox', resources: { cpu: '100m', memory: '32Mi' }, volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
  },
});

/**
 * The control loop: a pass, then what each host's agent would report about its document's removals
 * (deleted at once: no container is left in this test once the service is gone).
 */
async function controlStep(): Promise<void> {
  await h.pass();
  for (const doc of h.channel.docs.values()) {
    const removed = (doc.removeVolumes ?? []).map((r) => volumeKeyString(r));
    if (removed.length === 0) continue;
    await h.inner.putHostStatus({
      hostId: doc.hostId,
      heartbeatAt: new Date().toISOString(),
      generation: doc.generation,
      agentVersion: 't',
      tasks: [],
      removedVolumes: removed,
    });
  }
}

beforeAll(async () => {
  h = await passHarness([
    { id: 'h1', cpu: 1000 },
    { id: 'h2', cpu: 1000 },
  ]);
  const signer = new TokenSigner(new Uint8Array(randomBytes(32)));
  const handler = makeApiHandler({ store: h.store, now: () => new Date(), kickScheduler: async () => {} });
  server = await startApiServer(handler, {
    authenticate: localAuthenticator({ adminToken: TOKEN, signer, revocations: { isTokenRevoked: async () => false }, now: () => new Date() }),
  });
});

afterEach(() => {
  clearInterval(loop);
  loop = undefined;
});

afterAll(async () => {
  await server?.close();
});

function runControlLoop(): void {
  let busy = false;
  loop = setInterval(() => {
    if (busy) return;
    busy = true;
    void controlStep().finally(() => (busy = false));
  }, 30);
}

describe('skiff delete service and its volumes', () => {
  it('keeps the volumes without the flag (shown retained), and with --delete-volumes waits until they are gone', async () => {
    await h.inner.putService(db, T0, 0);
    await h.pass('a');
    runControlLoop();

    const kept = await skiff('delete', 'service', 'db', '--timeout', '20');
    expect(kept.code, kept.errors).toBe(0);
    expect(kept.text).toBe('service default/db deleting\nservice default/db deleted; its containers are gone');
    const table = (await skiff('get', 'volumes')).text.split('\n');
    expect(table[0]).toMatch(/^NAMESPACE\s+NAME\s+SERVICE\s+VOLUME\s+SLOT\s+HOST\s+STATE\s+AGE$/);
    expect(table.slice(1).map((l) => l.split(/\s+/)[6])).toEqual(['retained', 'retained']);

    // The retained volumes of a service already gone are deleted by the same command with the flag.
    const gone = await skiff('delete', 'service', 'db', '--delete-volumes', '--timeout', '20');
    expect(gone.code, gone.errors).toBe(0);
    expect(gone.text.split('\n')).toEqual(['volumes default-db-data-1, default-db-data-2 deleting', 'volumes of default/db deleted']);
    expect(JSON.parse((await skiff('get', 'volumes', '-o', 'json')).text)).toEqual([]);
  });

  it('deletes a running service with its volumes in one command', async () => {
    await h.inner.putService(db, T0, 0);
    await h.pass('b');
    expect(await h.inner.listVolumes()).toHaveLength(2);
    runControlLoop();
    const res = await skiff('delete', 'service', 'db', '--delete-volumes', '--timeout', '20');
    expect(res.code, res.errors).toBe(0);
    expect(res.text.split('\n')).toEqual([
      'service default/db deleting',
      'volumes default-db-data-1, default-db-data-2 deleting',
      'service default/db deleted; its containers are gone',
      'volumes of default/db deleted',
    ]);
    expect(await h.inner.listVolumes()).toEqual([]);
  });

  it('says when a service has no volume to delete, and fails on a service that is not there', async () => {
    await h.inner.putService(
      parseServiceSpec({ kind: 'Service', metadata: { name: 'web' }, spec: { containers: [{ name: 'app', image: 'skiff/busybox' }] } }),
      T0,
      0,
    );
    const res = await skiff('delete', 'service', 'web', '--delete-volumes', '--no-wait');
    expect(res.code).toBe(0);
    expect(res.text.split('\n')).toEqual(['service default/web deleting', 'service default/web has no persistent volume']);
    const missing = await skiff('delete', 'service', 'nothing', '--delete-volumes');
    expect(missing.code).not.toBe(0);
    expect(missing.errors).toContain('nothing');
  });
});
