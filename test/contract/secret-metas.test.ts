/** The secret metadata stores (memory and DynamoDB on dynalite) under one contract. */
import { describe, expect, it } from 'vitest';
import { DynamoSecretMetas } from '../../adapters/aws/dynamo/secrets.ts';
import { MemorySecretMetas } from '../../adapters/memory/secret-metas.ts';
import { ValidationError } from '../../core/errors.ts';
import type { SecretMeta } from '../../core/secrets.ts';
import type { SecretMetaStore } from '../../ports/secrets.ts';
import { useDynalite } from '../helpers/dynalite.ts';

const meta = (namespace: string, name: string, version = 'v1'): SecretMeta => ({
  namespace,
  name,
  keys: ['user', 'password'],
  version,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

function contract(label: string, make: () => Promise<SecretMetaStore>) {
  describe(label, () => {
    it('puts, gets, replaces and deletes a secret, keys sorted', async () => {
      const s = await make();
      expect(await s.getSecretMeta('default', 'db')).toBeUndefined();
      await s.putSecretMeta(meta('default', 'db'));
      expect(await s.getSecretMeta('default', 'db')).toEqual({ ...meta('default', 'db'), keys: ['password', 'user'] });
      await s.putSecretMeta(meta('default', 'db', 'v2'));
      expect((await s.getSecretMeta('default', 'db'))?.version).toBe('v2');
      await s.deleteSecretMeta('default', 'db');
      await s.deleteSecretMeta('default', 'db');
      expect(await s.getSecretMeta('default', 'db')).toBeUndefined();
    });

    it('lists every secret or one namespace, sorted by namespace then name', async () => {
      const s = await make();
      for (const [ns, n] of [
        ['prod', 'b'],
        ['default', 'z'],
        ['prod', 'a'],
        ['prod-2', 'a'],
      ])
        await s.putSecretMeta(meta(ns, n));
      expect((await s.listSecretMetas()).map((m) => `${m.namespace}/${m.name}`)).toEqual(['default/z', 'prod/a', 'prod/b', 'prod-2/a']);
      expect((await s.listSecretMetas('prod')).map((m) => m.name)).toEqual(['a', 'b']);
    });

    it('refuses a key part with "#" and a value field', async () => {
      const s = await make();
      await expect(s.putSecretMeta(meta('a#b', 'db'))).rejects.toBeInstanceOf(ValidationError);
      await expect(s.getSecretMeta('default', '')).rejects.toBeInstanceOf(ValidationError);
      await s.putSecretMeta({ ...meta('default', 'db'), data: { password: 'x' } } as unknown as SecretMeta);
      expect(JSON.stringify(await s.getSecretMeta('default', 'db'))).not.toContain('data');
    });
  });
}

const db = useDynalite({ onDisk: 'skiff-secret-contract-' });

contract('MemorySecretMetas', async () => new MemorySecretMetas());
contract('DynamoSecretMetas on dynalite', async () => {
  const tableName = await db.table('skiff-secrets');
  return new DynamoSecretMetas(db.client, { tableName });
});
