/**
 * Multi-document applies and secrets through the API core (app/api.ts, app/apply.ts) on the in-memory
 * store and vault, with the scheduler pass: everything checked before anything is stored, secrets
 * first, and a secret's value never in the store, an API answer or a host document.
 */
import { describe, expect, it } from 'vitest';
import { createApi, type ApiResponse } from '../../app/api.ts';
import { MemorySecretMetas } from '../../adapters/memory/secret-metas.ts';
import { MemorySecretVault } from '../../adapters/memory/secret-vault.ts';
import type { Service } from '../../core/types.ts';
import { passHarness, type PassHarness } from '../pass-harness.ts';

const SECRET = 'hunter2-very-secret';

const file = (password = SECRET, extra = '') => `
kind: Service
metadata: { name: web }
spec:
  replicas: 2
  containers:
    - name: app
      image: skiff/busybox:latest
      env:
        MODE: plain
        DB_PASSWORD: { secretKeyRef: { name: db, key: password } }
---
kind: Secret
metadata: { name: db }
data: { password: "${password}", user: admin }
${extra}`;

async function setup(hosts = [{ id: 'h1', cpu: 2000 }]) {
  const h = await passHarness(hosts);
  const metas = new MemorySecretMetas();
  const vault = new MemorySecretVault();
  const core = createApi({ store: h.store, now: () => new Date(h.now()), kickScheduler: async () => {}, secrets: { metas, vault } });
  const call = (method: string, path: string, body?: string): Promise<ApiResponse> =>
    core({ method, path, query: {}, headers: { 'content-type': 'application/yaml' }, ...(body !== undefined ? { body } : {}) });
  return { h, metas, vault, call };
}

/** Everything the control plane keeps or says, as text. */
async function everything(s: Awaited<ReturnType<typeof setup>>): Promise<string> {
  const h: PassHarness = s.h;
  return JSON.stringify([
    await h.store.listServices(),
    await h.store.listAllTasks(),
    await s.metas.listSecretMetas(),
    [...h.channel.docs.values()],
    (await s.call('GET', '/v1/services')).body,
    (await s.call('GET', '/v1/namespaces/default/services/web')).body,
    (await s.call('GET', '/v1/secrets')).body,
    (await s.call('GET', '/v1/namespaces/default/secrets/db')).body,
    (await s.call('GET', '/v1/tasks')).body,
  ]);
}

describe('POST /v1/apply', () => {
  it('stores the secret first, gives the service its version, and never shows the value', async () => {
    const s = await setup();
    const res = await s.call('POST', '/v1/apply', file());
    expect(res.status).toBe(200);
    expect((res.body as { results: unknown[] }).results).toEqual([
      { kind: 'Secret', namespace: 'default', name: 'db', result: 'created', keys: ['password', 'user'] },
      { kind: 'Service', namespace: 'default', name: 'web', result: 'created', specVersion: 1 },
    ]);
    const web = (await s.h.store.getService('default', 'web')) as Service;
    expect(web.spec.spec.containers[0].env).toEqual({ MODE: 'plain' });
    expect(web.spec.spec.containers[0].secretEnv).toEqual({ DB_PASSWORD: { name: 'db', key: 'password', version: 'v1' } });
    await s.h.pass();
    expect(s.h.channel.docs.size).toBe(1);
    const text = await everything(s);
    expect(text).toContain('DB_PASSWORD');
    expect(text).not.toContain(SECRET);
    expect((await s.vault.getSecret('default', 'db'))?.data.password).toBe(SECRET);
  });

  it('lists secrets by name and keys only', async () => {
    const s = await setup();
    await s.call('POST', '/v1/apply', file());
    const list = (await s.call('GET', '/v1/secrets')).body as Record<string, unknown>[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ namespace: 'default', name: 'db', keys: ['password', 'user'], version: 'v1' });
    expect(Object.keys(list[0]).sort()).toEqual(['createdAt', 'keys', 'name', 'namespace', 'updatedAt', 'version']);
  });

  it('stores nothing when one document is wrong, and names the document by index, kind and name', async () => {
    const s = await setup();
    const res = await s.call(
      'POST',
      '/v1/apply',
      file(SECRET, '---\nkind: Job\nmetadata: { name: once }\nspec: { completions: 0, containers: [{ name: a, image: skiff/busybox }] }\n'),
    );
    expect(res.status).toBe(400);
    const issues = (res.body as { issues: { path: string; message: string }[] }).issues;
    expect(issues).toEqual([{ path: 'documents[2].spec.completions', message: expect.stringMatching(/^Job once: must be an integer from 1/) }]);
    expect(await s.h.store.listServices()).toEqual([]);
    expect(await s.metas.listSecretMetas()).toEqual([]);
    expect(await s.vault.getSecret('default', 'db')).toBeUndefined();
  });

  it('refuses a reference to a key the secret lacks, or to a secret that does not exist, before storing anything', async () => {
    const s = await setup();
    const wrongKey = file().replace('key: password', 'key: passwd');
    const res = await s.call('POST', '/v1/apply', wrongKey);
    expect(res.status).toBe(400);
    expect((res.body as { issues: { path: string; message: string }[] }).issues[0]).toEqual({
      path: 'documents[0].spec.containers[0].env.DB_PASSWORD.secretKeyRef.key',
      message: 'Service web: Secret db has no key "passwd"; its keys are "password", "user"',
    });
    const alone = file().split('---')[0];
    const missing = await s.call('POST', '/v1/services', alone);
    expect(missing.status).toBe(400);
    expect((missing.body as { message: string }).message).toContain(
      'spec.containers[0].env.DB_PASSWORD.secretKeyRef.name: no Secret "db" in namespace default',
    );
    expect(await s.h.store.listServices()).toEqual([]);
    expect(await s.metas.listSecretMetas()).toEqual([]);
  });

  it('rolls the services that read a secret whose value changed, and leaves them when it did not', async () => {
    const s = await setup();
    await s.call('POST', '/v1/apply', file());
    await s.h.pass();
    const before = await s.h.store.listTasks('default', 'web');
    const same = await s.call('POST', '/v1/apply', file());
    expect((same.body as { results: { result: string }[] }).results.map((r) => r.result)).toEqual(['unchanged', 'unchanged']);
    // The secret alone, changed: the service is applied again with the new version.
    const rotated = await s.call('POST', '/v1/apply', 'kind: Secret\nmetadata: { name: db }\ndata: { password: new-value, user: admin }\n');
    expect((rotated.body as { results: unknown[] }).results).toEqual([
      { kind: 'Secret', namespace: 'default', name: 'db', result: 'updated', keys: ['password', 'user'] },
      { kind: 'Service', namespace: 'default', name: 'web', result: 'rolled', specVersion: 2 },
    ]);
    await s.h.pass();
    const after = await s.h.store.listTasks('default', 'web');
    expect(after.map((t) => t.pod.containers[0].secretEnv?.DB_PASSWORD.version)).toEqual(['v2', 'v2']);
    expect(after.map((t) => t.id)).not.toEqual(before.map((t) => t.id));
  });

  it('refuses to delete a secret a workload reads, and deletes it once none does', async () => {
    const s = await setup();
    await s.call('POST', '/v1/apply', file());
    const refused = await s.call('DELETE', '/v1/namespaces/default/secrets/db');
    expect(refused.status).toBe(409);
    expect((refused.body as { message: string }).message).toContain('read by Service web');
    await s.call('DELETE', '/v1/namespaces/default/services/web');
    await s.h.pass();
    await s.h.pass();
    expect((await s.call('DELETE', '/v1/namespaces/default/secrets/db')).status).toBe(200);
    expect(await s.vault.getSecret('default', 'db')).toBeUndefined();
    expect((await s.call('GET', '/v1/namespaces/default/secrets/db')).status).toBe(404);
  });

  it("keeps a Job's spec fixed and a name's kind", async () => {
    const s = await setup();
    const job = (cmd: string) =>
      `kind: Job\nmetadata: { name: once }\nspec: { completions: 2, containers: [{ name: a, image: skiff/busybox, command: [sh, -c, "${cmd}"] }] }\n`;
    expect((await s.call('POST', '/v1/apply', job('true'))).status).toBe(200);
    expect(((await s.call('POST', '/v1/apply', job('true'))).body as { results: { result: string }[] }).results[0].result).toBe('unchanged');
    const changed = await s.call('POST', '/v1/apply', job('false'));
    expect(changed.status).toBe(400);
    expect((changed.body as { message: string }).message).toContain("a Job's spec cannot change once applied");
    const asService = await s.call(
      'POST',
      '/v1/services',
      'kind: Service\nmetadata: { name: once }\nspec: { containers: [{ name: a, image: skiff/busybox }] }\n',
    );
    expect(asService.status).toBe(400);
    expect((asService.body as { message: string }).message).toContain('default/once is a Job');
  });
});
