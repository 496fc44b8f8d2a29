/** The `TenancyStore` contract (ports/tenancy.ts): namespaces and revoked tokens, on both adapters. */
import { beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../../core/errors.ts';
import { parseNamespaceSpec } from '../../core/namespace.ts';
import type { TenancyStore } from '../../ports/tenancy.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';
const shop = parseNamespaceSpec({ kind: 'Namespace', metadata: { name: 'shop' }, spec: { quota: { cpu: '4', memory: '8Gi', tasks: 50 } } });
const web = parseNamespaceSpec({ kind: 'Namespace', metadata: { name: 'web' }, spec: { ingressHosts: ['*.web.example.com'] } });

export function describeTenancyStoreContract(name: string, make: () => Promise<TenancyStore>): void {
  describe(`TenancyStore contract: ${name}`, () => {
    let store: TenancyStore;
    beforeEach(async () => {
      store = await make();
    });

    it('creates a namespace at version 1 and reads it back', async () => {
      const ns = await store.putNamespace(shop, T0, 0);
      expect(ns).toMatchObject({ name: 'shop', version: 1, createdAt: T0, updatedAt: T0 });
      expect(await store.getNamespace('shop')).toEqual(ns);
      expect(await store.getNamespace('nope')).toBeUndefined();
    });

    it('lists namespaces sorted by name', async () => {
      await store.putNamespace(web, T0);
      await store.putNamespace(shop, T0);
      expect((await store.listNamespaces()).map((n) => n.name)).toEqual(['shop', 'web']);
    });

    it('replaces a spec under its version, keeps an unchanged one, and refuses a stale version', async () => {
      await store.putNamespace(shop, T0, 0);
      expect((await store.putNamespace(shop, T1)).version).toBe(1);
      const changed = parseNamespaceSpec({ kind: 'Namespace', metadata: { name: 'shop' }, spec: { quota: { tasks: 10 } } });
      const v2 = await store.putNamespace(changed, T1, 1);
      expect(v2).toMatchObject({ version: 2, createdAt: T0, updatedAt: T1 });
      await expect(store.putNamespace(shop, T1, 1)).rejects.toBeInstanceOf(ConflictError);
      await expect(store.putNamespace(shop, T1, 0)).rejects.toBeInstanceOf(ConflictError);
    });

    it('marks a namespace deleting, refuses to replace it then, and removes it', async () => {
      await store.putNamespace(shop, T0);
      const marked = await store.markNamespaceDeleting('shop', T1);
      expect(marked?.deleting).toBe(T1);
      await expect(store.putNamespace(shop, T1)).rejects.toBeInstanceOf(ConflictError);
      await store.removeNamespace('shop');
      expect(await store.getNamespace('shop')).toBeUndefined();
      expect(await store.markNamespaceDeleting('shop', T1)).toBeUndefined();
    });

    it('refuses to remove a namespace that is not being deleted', async () => {
      await store.putNamespace(shop, T0);
      await expect(store.removeNamespace('shop')).rejects.toBeInstanceOf(ConflictError);
      expect(await store.getNamespace('shop')).toBeDefined();
    });

    it('records revoked tokens', async () => {
      expect(await store.isTokenRevoked('abc')).toBe(false);
      await store.revokeToken('abc', T1, T0);
      expect(await store.isTokenRevoked('abc')).toBe(true);
      expect(await store.isTokenRevoked('abd')).toBe(false);
    });

    it('refuses key parts with "#" or empty', async () => {
      await expect(store.getNamespace('a#b')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.isTokenRevoked('')).rejects.toBeInstanceOf(ValidationError);
    });
  });
}
