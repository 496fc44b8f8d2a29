/**
 * A DNS sync bounded in time (Route53Zone `maxSyncMs`): it starts no new change batch past its
 * time, says how many changes it left, and the next sync continues from there; discovery hands
 * the same records over again until nothing is left, so a pass never waits for the whole change.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Route53Client } from '@aws-sdk/client-route-53';
import { Route53Zone } from '../../adapters/aws/route53-zone.ts';
import { startRoute53Server, type Route53Server } from '../../local/route53-server.ts';
import { runDiscoverySync } from '../../app/discovery.ts';
import type { DnsRecordSet, Store } from '../../ports/index.ts';

const ZONE = 'skiff.internal';
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };
const started: Route53Server[] = [];
const clients: Route53Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(started.splice(0).map((s) => s.close()));
});

const sets = (n: number): DnsRecordSet[] =>
  Array.from({ length: n }, (_, i) => ({ name: `s${i}.default.${ZONE}`, type: 'A' as const, ttl: 5, values: [`127.0.1.${i + 1}`] }));

async function zoneWith(maxSyncMs?: number) {
  const server = await startRoute53Server({ limits: { requests: false }, pendingMs: 0 });
  started.push(server);
  const client = new Route53Client({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  clients.push(client);
  const zoneId = await server.ensureZone(ZONE);
  // Two records a batch: six sets are three batches.
  const zone = new Route53Zone(client, {
    hostedZoneId: zoneId,
    zone: ZONE,
    minIntervalMs: 0,
    baseDelayMs: 10,
    maxRecordsPerBatch: 2,
    ...(maxSyncMs !== undefined ? { maxSyncMs } : {}),
  });
  return { server, zoneId, zone };
}

describe('a DNS sync bounded in time', () => {
  it('sends one batch per sync when out of time at once, and the next syncs finish the change', async () => {
    const { server, zoneId, zone } = await zoneWith(0);
    const desired = sets(6);
    expect(await zone.sync(desired)).toEqual({ changed: 2, failed: [], unfinished: 4 });
    expect(server.records(zoneId)).toHaveLength(2);
    expect(server.batches()).toHaveLength(1);
    expect(await zone.sync(desired)).toEqual({ changed: 2, failed: [], unfinished: 2 });
    expect(await zone.sync(desired)).toEqual({ changed: 2, failed: [] });
    expect(server.records(zoneId)).toHaveLength(6);
    expect(await zone.sync(desired)).toEqual({ changed: 0, failed: [] });
  });

  it('sends every batch in one sync without a limit', async () => {
    const { server, zoneId, zone } = await zoneWith();
    expect(await zone.sync(sets(6))).toEqual({ changed: 6, failed: [] });
    expect(server.records(zoneId)).toHaveLength(6);
  });

  it('refuses a negative limit', async () => {
    const client = new Route53Client({ region: 'us-east-1', credentials, maxAttempts: 1 });
    clients.push(client);
    expect(() => new Route53Zone(client, { hostedZoneId: 'Z0123', zone: ZONE, maxSyncMs: -1 })).toThrow(/maxSyncMs/);
  });
});

describe('discovery with an unfinished DNS sync', () => {
  it('hands the same records over again until the zone says nothing is left', async () => {
    const store = { listServices: async () => [], listHostStatuses: async () => [], listHosts: async () => [], listTasks: async () => [] } as unknown as Store;
    const calls: number[] = [];
    let left = 2;
    const port = {
      sync: async (desired: readonly DnsRecordSet[]) => {
        calls.push(desired.length);
        left = Math.max(0, left - 1);
        return { changed: 1, failed: [], ...(left > 0 ? { unfinished: left } : {}) };
      },
    };
    const deps = { store, zone: { name: ZONE, ttl: 5, port } };
    expect(await runDiscoverySync(deps)).toMatchObject({ dnsChanged: true, dnsUnfinished: 1 });
    expect((await runDiscoverySync(deps)).dnsUnfinished).toBeUndefined();
    // Nothing left and nothing new: not handed over again.
    expect((await runDiscoverySync(deps)).dnsChanged).toBe(false);
    expect(calls).toEqual([0, 0]);
  });
});
