import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  GetChangeCommand,
  GetHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { ValidationError } from '../../core/errors.ts';
import type { DnsRecordSet } from '../../ports/index.ts';
import { DnsZoneError, Route53Zone, type Route53ZoneOptions } from '../../adapters/aws/route53-zone.ts';
import { startRoute53Server, type Route53Server, type Route53ServerOptions } from '../../local/route53-server.ts';

const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };
const ZONE = 'skiff.internal';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything a test starts, closed after it whatever happens. */
const started: Route53Server[] = [];
const clients: Route53Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(started.splice(0).map((s) => s.close()));
});

async function setup(
  serverOpts: Route53ServerOptions = {},
  zoneOpts: Partial<Route53ZoneOptions> = {},
): Promise<{ server: Route53Server; client: Route53Client; zoneId: string; zone: Route53Zone }> {
  const server = await startRoute53Server({ limits: { requests: false }, pendingMs: 0, ...serverOpts });
  started.push(server);
  // maxAttempts 1: the adapter paces and retries; the SDK's own retries would hide what it does.
  const client = new Route53Client({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  clients.push(client);
  const zoneId = await server.ensureZone(ZONE);
  const zone = new Route53Zone(client, { hostedZoneId: zoneId, zone: ZONE, minIntervalMs: 0, baseDelayMs: 20, ...zoneOpts });
  return { server, client, zoneId, zone };
}

function a(name: string, ...values: string[]): DnsRecordSet {
  return { name: `${name}.${ZONE}`, type: 'A', ttl: 5, values };
}

function srv(name: string, ...values: string[]): DnsRecordSet {
  return { name: `${name}.${ZONE}`, type: 'SRV', ttl: 5, values };
}

/** Every record set in the hosted zone, through the SDK (all pages). */
async function listAll(client: Route53Client, zoneId: string): Promise<ResourceRecordSet[]> {
  const out: ResourceRecordSet[] = [];
  let start: { StartRecordName?: string; StartRecordType?: ResourceRecordSet['Type'] } = {};
  for (;;) {
    const page = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, ...start }));
    out.push(...(page.ResourceRecordSets ?? []));
    if (!page.IsTruncated) return out;
    start = { StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType };
  }
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

const web = [
  a('web.shop', '127.0.1.1', '127.0.1.2'),
  a('web-1-aaaaa.web.shop', '127.0.1.1'),
  a('web-2-bbbbb.web.shop', '127.0.1.2'),
  srv('_http._tcp.web.shop', '0 10 31001 web-1-aaaaa.web.shop.skiff.internal', '0 10 31002 web-2-bbbbb.web.shop.skiff.internal'),
];

describe('Route53Zone against the Route 53 stand-in', () => {
  it("creates, changes and deletes Skiff's records through sync", async () => {
    const { server, zoneId, zone } = await setup();

    expect(await zone.sync(web)).toEqual({ changed: 4, failed: [] });
    expect(server.records(zoneId)).toEqual([...web].sort((x, y) => (x.name < y.name ? -1 : 1)));

    const moved = [a('web.shop', '127.0.1.1', '127.0.1.3'), web[1], a('web-3-ccccc.web.shop', '127.0.1.3'), web[3]];
    expect(await zone.sync(moved)).toEqual({ changed: 3, failed: [] }); // one UPSERT, one CREATE, one DELETE
    expect(server.records(zoneId).map((r) => [r.name, r.values])).toEqual([
      ['_http._tcp.web.shop.skiff.internal', web[3].values],
      ['web-1-aaaaa.web.shop.skiff.internal', ['127.0.1.1']],
      ['web-3-ccccc.web.shop.skiff.internal', ['127.0.1.3']],
      ['web.shop.skiff.internal', ['127.0.1.1', '127.0.1.3']],
    ]);

    expect(await zone.sync([])).toEqual({ changed: 4, failed: [] });
    expect(server.records(zoneId)).toEqual([]);
  });

  it('sends no request at all when nothing changed', async () => {
    const { server, zone } = await setup();
    await zone.sync(web);
    const before = server.counts();
    expect(await zone.sync([...web].reverse())).toEqual({ changed: 0, failed: [] });
    expect(server.counts()).toEqual(before);
  });

  it('writes SRV targets as absolute names and reads them back without the dot', async () => {
    const { client, zoneId, zone } = await setup();
    await zone.sync(web);
    const stored = (await listAll(client, zoneId)).find((r) => r.Type === 'SRV');
    expect(stored?.ResourceRecords?.map((r) => r.Value)).toEqual(web[3].values.map((v) => `${v}.`));
    const fresh = new Route53Zone(client, { hostedZoneId: zoneId, zone: ZONE, minIntervalMs: 0 });
    expect(await fresh.sync(web)).toEqual({ changed: 0, failed: [] });
  });

  it('leaves alone every record Skiff does not own', async () => {
    const { server, client } = await setup();
    // A hosted zone for the parent name, with Skiff's zone below it and other people's records around.
    const created = await client.send(new CreateHostedZoneCommand({ Name: 'internal', CallerReference: 'parent-zone' }));
    const parentId = created.HostedZone!.Id!;
    const theirs: ResourceRecordSet[] = [
      { Name: 'other.internal.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '10.0.0.1' }] },
      { Name: 'skiff.internal.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '10.0.0.2' }] },
      { Name: '_acme.skiff.internal.', Type: 'TXT', TTL: 60, ResourceRecords: [{ Value: '"token"' }] },
      { Name: 'db.skiff.internal.', Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'db.example.com' }] },
      { Name: 'zz.internal.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '10.0.0.3' }] },
    ];
    await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: parentId,
        ChangeBatch: { Changes: theirs.map((r) => ({ Action: 'CREATE', ResourceRecordSet: r })) },
      }),
    );
    const skiff = new Route53Zone(client, { hostedZoneId: parentId, zone: ZONE, minIntervalMs: 0 });
    const before = await listAll(client, parentId);

    await skiff.sync(web);
    expect((await listAll(client, parentId)).length).toBe(before.length + web.length);
    await skiff.sync([]);
    expect(await listAll(client, parentId)).toEqual(before);
    expect(
      server
        .zones()
        .map((z) => z.name)
        .sort(),
    ).toEqual(['internal', 'skiff.internal']);
  });

  it('splits a 2,500-record change into batches within both Route 53 limits', async () => {
    const { server, zoneId, zone } = await setup();
    // 2,500 replicas: an A record each (short values: the 1,000-element limit binds) ...
    const replicas = Array.from({ length: 2500 }, (_, i) => a(`web-${i}-aaaaa.web.shop`, `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`));
    expect(await zone.sync(replicas)).toEqual({ changed: 2500, failed: [] });
    const creates = server.batches();
    expect(creates.length).toBe(3); // CREATE counts once: 1,000 + 1,000 + 500
    expect(creates.every((b) => b.records <= 1000 && b.chars <= 32_000)).toBe(true);

    // ... moved elsewhere: each UPSERT counts twice, so at most 500 fit in a request.
    const movedReplicas = replicas.map((r) => ({ ...r, values: [r.values[0].replace(/^127\.0\./, '127.1.')] }));
    expect(await zone.sync(movedReplicas)).toEqual({ changed: 2500, failed: [] });
    const upserts = server.batches().slice(creates.length);
    expect(upserts.length).toBe(5);
    expect(upserts.every((b) => b.records <= 1000 && b.chars <= 32_000)).toBe(true);

    // 2,500 SRV values of about 45 characters: now the 32,000-character limit binds.
    const services = Array.from({ length: 50 }, (_, s) =>
      srv(`_http._tcp.svc${s}.shop`, ...Array.from({ length: 50 }, (_, i) => `0 10 ${30000 + i} svc${s}-${i}-aaaaa.svc${s}.shop.skiff.internal`)),
    );
    const before = server.batches().length;
    expect(await zone.sync([...movedReplicas, ...services])).toEqual({ changed: 50, failed: [] });
    const srvBatches = server.batches().slice(before);
    const chars = services.reduce((n, s) => n + s.values.reduce((m, v) => m + v.length + 1, 0), 0);
    expect(srvBatches.length).toBeGreaterThanOrEqual(Math.ceil(chars / 32_000));
    expect(srvBatches.every((b) => b.records <= 1000 && b.chars <= 32_000)).toBe(true);
    expect(srvBatches.some((b) => b.chars > 30_000)).toBe(true); // packed close to the limit, not one set per request

    const stored = server.records(zoneId);
    expect(stored.length).toBe(2550);
    expect(stored.filter((r) => r.type === 'A').every((r) => r.values[0].startsWith('127.1.'))).toBe(true);
  });

  it('caps a record set too large for one request to a deterministic subset and applies everything else', async () => {
    const { server, zoneId, zone } = await setup();
    // 1,001 addresses of about 10 characters: Route 53's 400 values per set binds.
    const values = Array.from({ length: 1001 }, (_, i) => `127.1.${Math.floor(i / 250)}.${1 + (i % 250)}`);
    const huge = a('big.shop', ...values);
    const out = await zone.sync([huge, ...web]);
    expect(out.changed).toBe(5);
    expect(out.failed).toEqual([
      { name: huge.name, type: 'A', reason: 'capped', message: expect.stringMatching(/^A big\.shop\.skiff\.internal has 1001 values .*so kept 400$/) },
    ]);
    const stored = server.records(zoneId).find((r) => r.name === huge.name)!;
    expect(stored.values.length).toBe(400);
    expect(stored.values.every((v) => values.includes(v))).toBe(true);
    expect(server.records(zoneId).filter((r) => r.name !== huge.name)).toEqual([...web].sort((x, y) => (x.name < y.name ? -1 : 1)));
    // The same desired set keeps the same subset: nothing to send.
    const before = server.counts();
    expect((await zone.sync([huge, ...web])).changed).toBe(0);
    expect(server.counts()).toEqual(before);
  });

  it("syncs a service of 1,200 healthy replicas in several batches; the other services' names are right", async () => {
    // Route 53's own rate (5 requests/s) and the adapter's default pacing: never throttled.
    const { server, zoneId, zone } = await setup({ limits: {} }, { minIntervalMs: undefined });
    // 1,200 replicas on 12 hosts: an A record each, a service A record of 12 hosts, one SRV value each.
    const tasks = Array.from({ length: 1200 }, (_, i) => ({ id: `big-${i + 1}-abcde`, ip: `127.0.1.${1 + (i % 12)}`, port: 30000 + i }));
    const big = [
      a('big.shop', ...Array.from({ length: 12 }, (_, h) => `127.0.1.${h + 1}`)),
      ...tasks.map((t) => a(`${t.id}.big.shop`, t.ip)),
      srv('_http._tcp.big.shop', ...tasks.map((t) => `0 10 ${t.port} ${t.id}.big.shop.skiff.internal`)),
    ];
    const out = await zone.sync([...big, ...web]);
    expect(out.failed?.map((f) => [f.name, f.reason])).toEqual([['_http._tcp.big.shop.skiff.internal', 'capped']]);
    expect(out.changed).toBe(big.length + web.length);
    const batches = server.batches();
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.every((b) => b.records <= 1000 && b.chars <= 32_000)).toBe(true);
    const stored = server.records(zoneId);
    expect(stored.length).toBe(big.length + web.length);
    for (const r of web) expect(stored.find((x) => x.name === r.name && x.type === r.type)).toEqual(r);
    const capped = stored.find((r) => r.name === '_http._tcp.big.shop.skiff.internal')!;
    // Within what one set may hold (400 values), whichever way it is written later (an UPSERT counts twice).
    expect(capped.values.length).toBeLessThanOrEqual(400);
    expect(capped.values.reduce((n, v) => n + v.length + 1, 0)).toBeLessThanOrEqual(16_000);
    // Spread over the replicas, not the first ones in name order.
    expect(new Set(capped.values.map((v) => v.split(' ')[3].split('.')[0].split('-')[1].length)).size).toBeGreaterThan(1);

    // One replica gone: the capped set loses at most that one value and gains at most one.
    const fewer = [...big.filter((r) => r.name !== `${tasks[0].id}.big.shop.skiff.internal`), ...web].map((r) =>
      r.type === 'SRV' && r.name.startsWith('_http._tcp.big') ? { ...r, values: r.values.filter((v) => !v.includes(`${tasks[0].id}.`)) } : r,
    );
    await zone.sync(fewer);
    const after = server.records(zoneId).find((r) => r.name === capped.name)!;
    expect(after.values.filter((v) => !capped.values.includes(v)).length).toBeLessThanOrEqual(1);
    expect(server.errors().Throttling ?? 0).toBe(0);
  });

  it('caps an SRV record set whose long values exceed 16,000 characters', async () => {
    const { server, zoneId, zone } = await setup();
    // Service and namespace names of 40 characters: each SRV value is about 150 characters.
    const svc = `s${'v'.repeat(38)}c`;
    const ns = `n${'s'.repeat(38)}x`;
    const values = Array.from({ length: 200 }, (_, i) => `0 10 ${30000 + i} ${svc}-${i}-abcde.${svc}.${ns}.skiff.internal`);
    const long = srv(`_http._tcp.${svc}.${ns}`, ...values);
    const out = await zone.sync([long, ...web]);
    expect(out.failed).toEqual([{ name: long.name, type: 'SRV', reason: 'capped', message: expect.stringContaining('characters') }]);
    const stored = server.records(zoneId).find((r) => r.name === long.name)!;
    expect(stored.values.reduce((n, v) => n + v.length + 1, 0)).toBeLessThanOrEqual(16_000);
    expect(stored.values.length).toBeGreaterThan(90);
    expect(server.records(zoneId).length).toBe(5);
  });

  it('fails a record set Route 53 refuses alone, applies the others, and next time sends it apart', async () => {
    const { server, client, zoneId, zone } = await setup({ limits: {} }, { minIntervalMs: undefined });
    // Someone else's CNAME holds the name of Skiff's service: Route 53 refuses an A record beside it.
    await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: {
          Changes: [
            { Action: 'CREATE', ResourceRecordSet: { Name: 'db.shop.skiff.internal', Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'db.example.com' }] } },
          ],
        },
      }),
    );
    const replicas = Array.from({ length: 40 }, (_, i) => a(`api-${i}-aaaaa.api.shop`, `127.0.2.${i + 1}`));
    const poisoned = a('db.shop', '127.0.3.1');
    const out = await zone.sync([...replicas, poisoned, ...web]);
    expect(out.failed).toEqual([{ name: poisoned.name, type: 'A', reason: 'rejected', message: expect.stringContaining('conflicting RRSet of type CNAME') }]);
    expect(out.changed).toBe(replicas.length + web.length);
    const stored = server.records(zoneId);
    expect(stored.length).toBe(replicas.length + web.length);
    expect(stored.some((r) => r.name === poisoned.name)).toBe(false);

    // The next sync with one more replica: the refused set goes alone, the rest in one request.
    const refusedBefore = server.errors().InvalidChangeBatch;
    const more = [...replicas, a('api-99-aaaaa.api.shop', '127.0.2.99'), poisoned, ...web];
    const again = await zone.sync(more);
    expect(again).toMatchObject({ changed: 1, failed: [{ name: poisoned.name, reason: 'rejected' }] });
    expect(server.errors().InvalidChangeBatch - refusedBefore).toBe(1);
    expect(server.records(zoneId).length).toBe(replicas.length + web.length + 1);
    expect(server.errors().Throttling ?? 0).toBe(0);
  });

  it("retries PriorRequestNotComplete until the zone's previous change is in sync", async () => {
    const { server, zoneId, zone } = await setup({ pendingMs: 300 }, { baseDelayMs: 100 });
    await zone.sync(web.slice(0, 2));
    // The first change is PENDING for 300 ms; the next one is refused until it is INSYNC, then accepted.
    expect(await zone.sync(web)).toEqual({ changed: 2, failed: [] });
    expect(server.errors().PriorRequestNotComplete).toBeGreaterThanOrEqual(1);
    expect(server.records(zoneId).length).toBe(4);
  });

  it('gives up on a zone that stays busy with a retryable DnsZoneError', async () => {
    const waits: number[] = [];
    const { zone } = await setup({ pendingMs: 600_000 }, { maxAttempts: 3, sleep: async (ms) => void waits.push(ms), random: () => 0.5 });
    await zone.sync(web.slice(0, 1));
    const err = await errorOf(zone.sync(web));
    expect(err).toBeInstanceOf(DnsZoneError);
    expect(err).toMatchObject({ reason: 'busy', retryable: true });
    expect((err as Error).message).toMatch(/ChangeResourceRecordSets .* failed after 3 attempts: PriorRequestNotComplete/);
    expect(waits).toEqual([10, 20]); // full jitter at 0.5 of 20 ms, doubling
  });

  it('retries Throttling with backoff and gets through', async () => {
    const { server, zoneId, zone } = await setup({ limits: { requests: { rate: 4, burst: 1 } } }, { baseDelayMs: 200 });
    // A list and a change back to back: the second finds the bucket empty.
    expect(await zone.sync(web)).toEqual({ changed: 4, failed: [] });
    expect(server.errors().Throttling).toBeGreaterThanOrEqual(1);
    expect(server.records(zoneId).length).toBe(4);
  });

  it('paces its calls so that a zone limited to 5 requests per second never throttles it', async () => {
    const { server, zone } = await setup(
      { limits: { requests: { rate: 5, burst: 2 } } },
      { minIntervalMs: undefined, maxRecordsPerBatch: 2 }, // default pacing; few records per request
    );
    const four = [1, 2, 3, 4].map((i) => a(`web-${i}-aaaaa.web.shop`, `127.0.1.${i}`));
    expect(await zone.sync(four)).toEqual({ changed: 4, failed: [] }); // a list and 2 requests
    expect(await zone.sync(four.map((r) => ({ ...r, ttl: 30 })))).toEqual({ changed: 4, failed: [] }); // 4 UPSERTs, one each
    expect(await zone.sync([])).toEqual({ changed: 4, failed: [] }); // 2 requests
    expect(Object.values(server.counts()).reduce((n, c) => n + c, 0)).toBe(9);
    expect(server.errors().Throttling ?? 0).toBe(0);
  });

  it('lists the zone again and retries once when its view was stale', async () => {
    const { server, client, zoneId, zone } = await setup();
    await zone.sync(web);
    // Someone else deletes one of Skiff's records behind its back.
    await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: {
          Changes: [{ Action: 'DELETE', ResourceRecordSet: { Name: `${web[1].name}.`, Type: 'A', TTL: 5, ResourceRecords: [{ Value: '127.0.1.1' }] } }],
        },
      }),
    );
    expect(await zone.sync([web[0]])).toEqual({ changed: 2, failed: [] });
    expect(server.errors().InvalidChangeBatch).toBe(1);
    expect(server.records(zoneId)).toEqual([web[0]]);
  });

  it('applies only the newest of the syncs that arrive while one is running', async () => {
    const { server, zoneId, zone } = await setup();
    const first = zone.sync([web[0]]);
    const second = zone.sync([web[1]]);
    const third = zone.sync([web[2]]);
    await first;
    expect(await second).toEqual({ changed: 2, failed: [] });
    expect(await third).toEqual({ changed: 2, failed: [] });
    expect(server.batches().length).toBe(2); // web[1] was never written
    expect(server.records(zoneId)).toEqual([web[2]]);
  });

  const invalid: { case: string; desired: DnsRecordSet[]; path: string }[] = [
    { case: 'a name outside the zone', desired: [{ ...web[0], name: 'web.shop.example.com' }], path: 'desired[0].name' },
    { case: 'a name with the trailing dot', desired: [{ ...web[0], name: `${web[0].name}.` }], path: 'desired[0].name' },
    { case: 'a type Skiff does not own', desired: [{ ...web[0], type: 'TXT' as 'A' }], path: 'desired[0].type' },
    { case: 'no value', desired: [a('web.shop')], path: 'desired[0].values' },
    { case: 'a value that is no address', desired: [a('web.shop', '127.0.1.300')], path: 'desired[0].values' },
    { case: 'a malformed SRV value', desired: [srv('_http._tcp.web.shop', '0 10 web.shop.skiff.internal')], path: 'desired[0].values' },
    { case: 'a negative TTL', desired: [{ ...web[0], ttl: -1 }], path: 'desired[0].ttl' },
    { case: 'the same name and type twice', desired: [web[0], web[0]], path: 'desired[1]' },
  ];
  it.each(invalid)('rejects desired records with $case, naming the field', async ({ desired, path }) => {
    const { server, zone } = await setup();
    const err = await errorOf(zone.sync(desired));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path)).toContain(path);
    expect(server.counts()).toEqual({});
  });

  it('reports a hosted zone that does not exist as a DnsZoneError that needs a person', async () => {
    const { client } = await setup();
    const zone = new Route53Zone(client, { hostedZoneId: 'Z0000000000MISSING', zone: ZONE, minIntervalMs: 0 });
    const err = await errorOf(zone.sync(web));
    expect(err).toBeInstanceOf(DnsZoneError);
    expect(err).toMatchObject({ reason: 'no-zone', retryable: false });
  });
});

describe('the Route 53 stand-in', () => {
  it('creates and reads hosted zones through the SDK, with SOA and NS at the apex', async () => {
    const { client } = await setup();
    const created = await client.send(
      new CreateHostedZoneCommand({ Name: 'corp.example', CallerReference: 'ref-1', HostedZoneConfig: { PrivateZone: true, Comment: 'test' } }),
    );
    expect(created.HostedZone).toMatchObject({ Name: 'corp.example.', Config: { PrivateZone: true, Comment: 'test' } });
    expect(created.HostedZone?.Id).toMatch(/^\/hostedzone\/Z[A-Z0-9]+$/);
    const got = await client.send(new GetHostedZoneCommand({ Id: created.HostedZone!.Id! }));
    expect(got.HostedZone?.Name).toBe('corp.example.');
    expect((await listAll(client, created.HostedZone!.Id!)).map((r) => r.Type)).toEqual(['NS', 'SOA']);
    const again = await errorOf(client.send(new CreateHostedZoneCommand({ Name: 'corp.example', CallerReference: 'ref-1' })));
    expect((again as Error).name).toBe('HostedZoneAlreadyExists');
  });

  it('keeps a change PENDING for its window, then INSYNC', async () => {
    const { client, zoneId } = await setup({ pendingMs: 200 });
    const out = await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: {
          Changes: [{ Action: 'CREATE', ResourceRecordSet: { Name: 'x.skiff.internal', Type: 'A', TTL: 5, ResourceRecords: [{ Value: '127.0.1.1' }] } }],
        },
      }),
    );
    expect(out.ChangeInfo?.Status).toBe('PENDING');
    let status = out.ChangeInfo?.Status;
    for (let i = 0; i < 100 && status !== 'INSYNC'; i++) {
      await sleep(50);
      status = (await client.send(new GetChangeCommand({ Id: out.ChangeInfo!.Id! }))).ChangeInfo?.Status;
    }
    expect(status).toBe('INSYNC');
  });

  const oversized: { case: string; action: 'CREATE' | 'UPSERT'; values: number; pad: number; message: RegExp }[] = [
    { case: '1,001 ResourceRecord elements', action: 'CREATE', values: 1001, pad: 4, message: /^Number of records limit of 1000 exceeded\.$/ },
    { case: '501 elements in an UPSERT (counted twice)', action: 'UPSERT', values: 501, pad: 4, message: /^Number of records limit of 1000 exceeded\.$/ },
    { case: 'more than 32,000 value characters', action: 'CREATE', values: 640, pad: 40, message: /^RDATA character limit of 32000 exceeded\.$/ },
  ];
  it.each(oversized)('refuses a batch of $case with InvalidChangeBatch', async ({ action, values, pad, message }) => {
    const { client, zoneId, server } = await setup();
    const records = Array.from({ length: values }, (_, i) => ({ Value: `0 1 ${1000 + i} ${'t'.repeat(pad)}${i}.x` }));
    const err = await errorOf(
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: { Changes: [{ Action: action, ResourceRecordSet: { Name: '_x._tcp.skiff.internal', Type: 'SRV', TTL: 5, ResourceRecords: records } }] },
        }),
      ),
    );
    expect((err as Error).name).toBe('InvalidChangeBatch');
    expect((err as Error).message).toMatch(message);
    expect(server.records(zoneId)).toEqual([]);
  });

  it('accepts a batch of exactly 1,000 ResourceRecord elements', async () => {
    const { client, zoneId, server } = await setup();
    const records = Array.from({ length: 1000 }, (_, i) => ({ Value: `127.0.${Math.floor(i / 250)}.${i % 250}` }));
    // At most 400 values per record set: 400 + 400 + 200.
    const sets = [records.slice(0, 400), records.slice(400, 800), records.slice(800)];
    await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: {
          Changes: sets.map((ResourceRecords, i) => ({
            Action: 'CREATE' as const,
            ResourceRecordSet: { Name: `many${i}.skiff.internal`, Type: 'A' as const, TTL: 5, ResourceRecords },
          })),
        },
      }),
    );
    expect(server.batches()).toEqual([{ zoneId, changes: 3, records: 1000, chars: records.reduce((n, r) => n + r.Value.length, 0) }]);
  });

  it("refuses a record set of more than 400 values (Route 53's quota on values in a record)", async () => {
    const { client, zoneId, server } = await setup();
    const records = Array.from({ length: 401 }, (_, i) => ({ Value: `127.0.${Math.floor(i / 250)}.${i % 250}` }));
    const err = await errorOf(
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: { Changes: [{ Action: 'CREATE', ResourceRecordSet: { Name: 'many.skiff.internal', Type: 'A', TTL: 5, ResourceRecords: records } }] },
        }),
      ),
    );
    expect((err as Error).name).toBe('InvalidChangeBatch');
    expect((err as Error).message).toContain('has 401 values; a record may hold at most 400');
    expect(server.records(zoneId)).toEqual([]);
  });

  it('refuses changes that do not match the zone, all or nothing', async () => {
    const { client, zoneId, server } = await setup();
    const err = await errorOf(
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: {
            Changes: [
              { Action: 'CREATE', ResourceRecordSet: { Name: 'ok.skiff.internal', Type: 'A', TTL: 5, ResourceRecords: [{ Value: '127.0.1.1' }] } },
              { Action: 'DELETE', ResourceRecordSet: { Name: 'gone.skiff.internal', Type: 'A', TTL: 5, ResourceRecords: [{ Value: '127.0.1.1' }] } },
              { Action: 'CREATE', ResourceRecordSet: { Name: 'web.example.com', Type: 'A', TTL: 5, ResourceRecords: [{ Value: '127.0.1.1' }] } },
            ],
          },
        }),
      ),
    );
    expect((err as Error).name).toBe('InvalidChangeBatch');
    expect((err as Error).message).toContain("Tried to delete resource record set [name='gone.skiff.internal.', type='A'] but it was not found");
    expect((err as Error).message).toContain('RRSet with DNS name web.example.com. is not permitted in zone skiff.internal.');
    expect(server.records(zoneId)).toEqual([]);
  });

  it('refuses an A record beside a CNAME of the same name, and a CNAME beside other records, as Route 53 does', async () => {
    const { client, zoneId, server } = await setup();
    const change = (Action: 'CREATE', Name: string, Type: 'A' | 'CNAME', Value: string) =>
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: { Changes: [{ Action, ResourceRecordSet: { Name, Type, TTL: 5, ResourceRecords: [{ Value }] } }] },
        }),
      );
    await change('CREATE', 'db.skiff.internal', 'CNAME', 'db.example.com');
    const beside = await errorOf(change('CREATE', 'db.skiff.internal', 'A', '127.0.1.1'));
    expect((beside as Error).name).toBe('InvalidChangeBatch');
    expect((beside as Error).message).toContain(
      'RRSet of type A with DNS name db.skiff.internal. is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone skiff.internal.',
    );
    await change('CREATE', 'web.skiff.internal', 'A', '127.0.1.1');
    const cname = await errorOf(change('CREATE', 'web.skiff.internal', 'CNAME', 'web.example.com'));
    expect((cname as Error).message).toContain(
      'RRSet of type CNAME with DNS name web.skiff.internal. is not permitted as it conflicts with other records with the same DNS name in zone skiff.internal.',
    );
    expect(server.records(zoneId).map((r) => r.name)).toEqual(['web.skiff.internal']);
  });

  it('refuses routing policies it does not model instead of ignoring them', async () => {
    const { client, zoneId } = await setup();
    const err = await errorOf(
      client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: {
            Changes: [
              {
                Action: 'CREATE',
                ResourceRecordSet: {
                  Name: 'x.skiff.internal',
                  Type: 'A',
                  TTL: 5,
                  SetIdentifier: 'one',
                  MultiValueAnswer: true,
                  ResourceRecords: [{ Value: '127.0.1.1' }],
                },
              },
            ],
          },
        }),
      ),
    );
    expect((err as Error).name).toBe('InvalidInput');
    expect((err as Error).message).toMatch(/SetIdentifier is not supported/);
  });

  it("pages ListResourceRecordSets in Route 53's order (labels reversed)", async () => {
    const { client, zoneId } = await setup();
    const names = ['b.skiff.internal', 'a.b.skiff.internal', 'a.skiff.internal', 'z.a.skiff.internal', 'c-x.skiff.internal'];
    await client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: {
          Changes: names.map((Name) => ({
            Action: 'CREATE' as const,
            ResourceRecordSet: { Name, Type: 'A' as const, TTL: 5, ResourceRecords: [{ Value: '127.0.1.1' }] },
          })),
        },
      }),
    );
    const pages: string[][] = [];
    let start: { StartRecordName?: string; StartRecordType?: ResourceRecordSet['Type'] } = {};
    for (;;) {
      const page = await client.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, MaxItems: 2, ...start }));
      pages.push((page.ResourceRecordSets ?? []).map((r) => `${r.Name} ${r.Type}`));
      if (!page.IsTruncated) break;
      start = { StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType };
    }
    expect(pages).toEqual([
      ['skiff.internal. NS', 'skiff.internal. SOA'],
      ['a.skiff.internal. A', 'z.a.skiff.internal. A'],
      ['b.skiff.internal. A', 'a.b.skiff.internal. A'],
      ['c-x.skiff.internal. A'],
    ]);
  });

  it('keeps zones and records in its data file across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'skiff-r53-'));
    try {
      const dataFile = join(dir, 'route53.json');
      const { server, zoneId, zone } = await setup({ dataFile });
      await zone.sync(web);
      await server.close();
      const again = await startRoute53Server({ dataFile, limits: { requests: false } });
      started.push(again);
      expect(again.zones()).toEqual([{ id: zoneId, name: ZONE, recordSetCount: 6 }]);
      expect(again.records(zoneId)).toEqual(server.records(zoneId));
      expect(await again.ensureZone(ZONE)).toBe(zoneId);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('tells subscribers about every accepted change', async () => {
    const { server, zoneId, zone } = await setup();
    const seen: string[] = [];
    const unsubscribe = server.subscribe((id) => seen.push(id));
    await zone.sync(web);
    unsubscribe();
    await zone.sync([]);
    expect(seen).toEqual([zoneId]);
  });
});
