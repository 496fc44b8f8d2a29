import { describe, expect, it } from 'vitest';
import { MemorySecretVault } from '../../adapters/memory/secret-vault.ts';
import { SECRET_RETRY_MS, withSecretEnv } from '../../agent/secrets.ts';
import type { CreateOptions, Executor } from '../../agent/executor.ts';
import type { ContainerSpec, HostDocumentTask } from '../../core/types.ts';

const container: ContainerSpec = {
  name: 'app',
  image: 'skiff/busybox',
  env: { MODE: 'plain' },
  secretEnv: { DB_PASSWORD: { name: 'db', key: 'password', version: 'v1' } },
  ports: [],
  resources: { cpu: 100, memory: 64 * 1024 * 1024 },
};
const task = {
  id: 'web-1-abcde',
  namespace: 'default',
  service: 'web',
  slot: 1,
  specVersion: 1,
  pod: { containers: [container], restartPolicy: 'always' },
} as HostDocumentTask;

function recording() {
  const calls: { container: ContainerSpec; options: CreateOptions }[] = [];
  const inner = {
    create: async (_t: HostDocumentTask, c: ContainerSpec, options: CreateOptions) => {
      calls.push({ container: c, options });
      return 'id-1';
    },
    start: async () => {},
  } as unknown as Executor;
  return { inner, calls };
}

describe('secret env values on the host (agent/secrets.ts)', () => {
  it('hands the values to the create call only, leaving the container spec (and its hash) untouched', async () => {
    const vault = new MemorySecretVault();
    await vault.putSecret('default', 'db', { password: 's3cret' });
    const { inner, calls } = recording();
    const ex = withSecretEnv(inner, vault);
    expect(await ex.create(task, container, { hostAddress: '127.0.1.1' })).toBe('id-1');
    expect(calls[0].options.secretEnv).toEqual({ DB_PASSWORD: 's3cret' });
    expect(calls[0].container).toBe(container);
    await ex.start('id-1');
  });

  it('fails a start naming the secret and key, never a value, and waits before asking the vault again', async () => {
    const vault = new MemorySecretVault();
    await vault.putSecret('default', 'db', { user: 'admin-value' });
    const { inner, calls } = recording();
    let now = 0;
    const ex = withSecretEnv(inner, vault, () => now);
    await expect(ex.create(task, container, { hostAddress: '127.0.1.1' })).rejects.toThrow('secret default/db has no key "password" (env DB_PASSWORD)');
    const reads = vault.reads;
    await expect(ex.create(task, container, { hostAddress: '127.0.1.1' })).rejects.toThrow(/has no key/);
    expect(vault.reads).toBe(reads);
    now += SECRET_RETRY_MS;
    await vault.putSecret('default', 'db', { password: 'fixed' });
    await ex.create(task, container, { hostAddress: '127.0.1.1' });
    expect(calls.map((c) => c.options.secretEnv)).toEqual([{ DB_PASSWORD: 'fixed' }]);
  });

  it('fails a start when the secret does not exist', async () => {
    const { inner } = recording();
    await expect(withSecretEnv(inner, new MemorySecretVault()).create(task, container, { hostAddress: 'x' })).rejects.toThrow(
      'secret default/db (env DB_PASSWORD) does not exist',
    );
  });
});
