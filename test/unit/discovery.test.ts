import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_ZONE, checkZone, compareRecordSets, dnsRecords } from '../../core/discovery.ts';
import { ValidationError } from '../../core/errors.ts';
import type { Service, TaskView } from '../../core/types.ts';
import type { DnsRecordSet, DnsSetFailure, DnsZone, IngressRoute, LoadBalancer, RouteFailure, Store } from '../../ports/index.ts';
import { DiscoverySyncError, runDiscoverySync, type DiscoveryDeps } from '../../app/discovery.ts';
import { aService } from '../builders.ts';

const Z = DEFAULT_ZONE;

/** A task view of `service`, running and published on `ip:hostPort` unless overridden. */
function aView(service: Service, id: string, ip: string, hostPort: number, over: Partial<TaskView> = {}): TaskView {
  return {
    id,
    namespace: service.namespace,
    service: service.name,
    slot: 1,
    host: 'host-1',
    desired: 'running',
    state: 'running',
    ports: [{ container: 'app', containerPort: 8080, protocol: 'tcp', hostIp: ip, hostPort }],
    specVersion: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

/** A service whose container publishes the given ports. */
function withPorts(service: Service, ports: Service['spec']['spec']['containers'][number]['ports']): Service {
  const [container] = service.spec.spec.containers;
  return { ...service, spec: { ...service.spec, spec: { ...service.spec.spec, containers: [{ ...container, ports }] } } };
}

const web = aService({ name: 'web', namespace: 'shop' });
const api = aService({ name: 'api', namespace: 'shop' });

function names(records: readonly DnsRecordSet[]): string[] {
  return records.map((r) => `${r.type} ${r.name}`);
}

describe('dnsRecords', () => {
  it('names a service, each replica and its port, with one A value per distinct host IP', () => {
    const tasks = [aView(web, 'web-1-aaaaa', '127.0.1.2', 31001), aView(web, 'web-2-bbbbb', '127.0.1.1', 31002), aView(web, 'web-3-ccccc', '127.0.1.2', 31003)];
    expect(dnsRecords(Z, [web], tasks, 5)).toEqual([
      {
        name: '_8080._tcp.web.shop.skiff.internal',
        type: 'SRV',
        ttl: 5,
        values: [
          '0 10 31001 web-1-aaaaa.web.shop.skiff.internal',
          '0 10 31002 web-2-bbbbb.web.shop.skiff.internal',
          '0 10 31003 web-3-ccccc.web.shop.skiff.internal',
        ],
      },
      { name: 'web-1-aaaaa.web.shop.skiff.internal', type: 'A', ttl: 5, values: ['127.0.1.2'] },
      { name: 'web-2-bbbbb.web.shop.skiff.internal', type: 'A', ttl: 5, values: ['127.0.1.1'] },
      { name: 'web-3-ccccc.web.shop.skiff.internal', type: 'A', ttl: 5, values: ['127.0.1.2'] },
      { name: 'web.shop.skiff.internal', type: 'A', ttl: 5, values: ['127.0.1.1', '127.0.1.2'] },
    ]);
  });

  const readiness: { case: string; over: Partial<TaskView>; listed: boolean }[] = [
    { case: 'running with no probe', over: {}, listed: true },
    { case: 'running and healthy', over: { health: 'healthy' }, listed: true },
    { case: 'running but still starting its probe', over: { health: 'starting' }, listed: false },
    { case: 'running but unhealthy', over: { health: 'unhealthy' }, listed: false },
    { case: 'starting', over: { state: 'starting' }, listed: false },
    { case: 'assigned, not yet reported', over: { state: 'assigned', ports: [] }, listed: false },
    { case: 'lost with its host', over: { state: 'lost' }, listed: false },
    { case: 'exited', over: { state: 'exited' }, listed: false },
    { case: 'running but being shut down', over: { desired: 'shutdown' }, listed: false },
    { case: 'running with no published port', over: { ports: [] }, listed: false },
    {
      case: 'running, published on all interfaces only (no address to hand out)',
      over: { ports: [{ container: 'app', containerPort: 8080, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 31009 }] },
      listed: false,
    },
  ];
  it.each(readiness)('lists a replica that is $case: $listed', ({ over, listed }) => {
    const ready = aView(web, 'web-1-aaaaa', '127.0.1.1', 31001);
    const other = aView(web, 'web-2-bbbbb', '127.0.1.2', 31002, over);
    const records = dnsRecords(Z, [web], [ready, other], 5);
    const service = records.find((r) => r.name === 'web.shop.skiff.internal');
    expect(service?.values).toEqual(listed ? ['127.0.1.1', '127.0.1.2'] : ['127.0.1.1']);
    expect(records.some((r) => r.name.startsWith('web-2-bbbbb.'))).toBe(listed);
  });

  const absent: { case: string; services: Service[]; tasks: TaskView[] }[] = [
    { case: 'a service with no replica', services: [web], tasks: [] },
    { case: 'a service whose replicas are all unhealthy', services: [web], tasks: [aView(web, 'web-1-aaaaa', '127.0.1.1', 31001, { health: 'unhealthy' })] },
    { case: 'a service being deleted', services: [{ ...web, deleting: true }], tasks: [aView(web, 'web-1-aaaaa', '127.0.1.1', 31001)] },
    { case: 'tasks of a service that is not stored', services: [api], tasks: [aView(web, 'web-1-aaaaa', '127.0.1.1', 31001)] },
  ];
  it.each(absent)('gives no record at all (NXDOMAIN) for $case', ({ services, tasks }) => {
    const records = dnsRecords(Z, services, tasks, 5);
    expect(records.filter((r) => r.name.endsWith('web.shop.skiff.internal'))).toEqual([]);
  });

  const srvNames: { case: string; ports: Service['spec']['spec']['containers'][number]['ports']; published: TaskView['ports']; name: string }[] = [
    {
      case: 'a named port by its name',
      ports: [{ containerPort: 8080, name: 'http', protocol: 'tcp' }],
      published: [{ container: 'app', containerPort: 8080, protocol: 'tcp', hostIp: '127.0.1.1', hostPort: 31001 }],
      name: '_http._tcp.web.shop.skiff.internal',
    },
    {
      case: 'an unnamed port by its container port',
      ports: [{ containerPort: 8080, protocol: 'tcp' }],
      published: [{ container: 'app', containerPort: 8080, protocol: 'tcp', hostIp: '127.0.1.1', hostPort: 31001 }],
      name: '_8080._tcp.web.shop.skiff.internal',
    },
    {
      case: 'a UDP port under _udp',
      ports: [{ containerPort: 53, name: 'dns', protocol: 'udp' }],
      published: [{ container: 'app', containerPort: 53, protocol: 'udp', hostIp: '127.0.1.1', hostPort: 31053 }],
      name: '_dns._udp.web.shop.skiff.internal',
    },
    {
      case: 'a port the current spec no longer has by its container port',
      ports: [{ containerPort: 9090, name: 'metrics', protocol: 'tcp' }],
      published: [{ container: 'app', containerPort: 8080, protocol: 'tcp', hostIp: '127.0.1.1', hostPort: 31001 }],
      name: '_8080._tcp.web.shop.skiff.internal',
    },
  ];
  it.each(srvNames)('names the SRV record of $case', ({ ports, published, name }) => {
    const service = withPorts(web, ports);
    const records = dnsRecords(Z, [service], [aView(service, 'web-1-aaaaa', '127.0.1.1', 0, { ports: published })], 5);
    expect(records.filter((r) => r.type === 'SRV').map((r) => r.name)).toEqual([name]);
  });

  it('gives each published port of a replica its own SRV record, all pointing at the replica', () => {
    const service = withPorts(web, [
      { containerPort: 8080, name: 'http', protocol: 'tcp' },
      { containerPort: 9090, name: 'metrics', protocol: 'tcp' },
    ]);
    const view = aView(service, 'web-1-aaaaa', '127.0.1.1', 0, {
      ports: [
        { container: 'app', containerPort: 8080, protocol: 'tcp', hostIp: '127.0.1.1', hostPort: 31001 },
        { container: 'app', containerPort: 9090, protocol: 'tcp', hostIp: '127.0.1.1', hostPort: 31002 },
      ],
    });
    const srv = dnsRecords(Z, [service], [view], 5).filter((r) => r.type === 'SRV');
    expect(srv.map((r) => [r.name, r.values])).toEqual([
      ['_http._tcp.web.shop.skiff.internal', ['0 10 31001 web-1-aaaaa.web.shop.skiff.internal']],
      ['_metrics._tcp.web.shop.skiff.internal', ['0 10 31002 web-1-aaaaa.web.shop.skiff.internal']],
    ]);
  });

  it('keeps services of different namespaces apart', () => {
    const webProd = aService({ name: 'web', namespace: 'prod' });
    const records = dnsRecords(Z, [web, webProd], [aView(web, 'web-1-aaaaa', '127.0.1.1', 31001), aView(webProd, 'web-1-bbbbb', '127.0.1.3', 31002)], 5);
    expect(records.filter((r) => r.name.startsWith('web.')).map((r) => [r.name, r.values])).toEqual([
      ['web.prod.skiff.internal', ['127.0.1.3']],
      ['web.shop.skiff.internal', ['127.0.1.1']],
    ]);
  });

  it('sorts A values as addresses, not as text', () => {
    const tasks = ['127.0.1.10', '127.0.1.9', '127.0.1.100'].map((ip, i) => aView(web, `web-${i}-aaaaa`, ip, 31000 + i));
    const service = dnsRecords(Z, [web], tasks, 5).find((r) => r.name === 'web.shop.skiff.internal');
    expect(service?.values).toEqual(['127.0.1.9', '127.0.1.10', '127.0.1.100']);
  });

  it('uses the zone and TTL it is given', () => {
    const records = dnsRecords('svc.corp.example', [web], [aView(web, 'web-1-aaaaa', '127.0.1.1', 31001)], 30);
    expect(names(records)).toEqual(['SRV _8080._tcp.web.shop.svc.corp.example', 'A web-1-aaaaa.web.shop.svc.corp.example', 'A web.shop.svc.corp.example']);
    expect(records.every((r) => r.ttl === 30)).toBe(true);
  });

  it('returns the same sorted records whatever the order of its input', () => {
    const ips = ['127.0.1.1', '127.0.1.2', '127.0.1.3'];
    const tasks = Array.from({ length: 8 }, (_, i) => aView(i % 2 ? web : api, `${i % 2 ? 'web' : 'api'}-${i}-aaaaa`, ips[i % 3], 31000 + i));
    const expected = dnsRecords(Z, [web, api], tasks, 5);
    fc.assert(
      fc.property(fc.shuffledSubarray(tasks, { minLength: tasks.length }), fc.boolean(), (shuffled, flip) => {
        const got = dnsRecords(Z, flip ? [api, web] : [web, api], shuffled, 5);
        expect(got).toEqual(expected);
        expect([...got].sort(compareRecordSets)).toEqual(got);
      }),
    );
  });

  const badZones: { zone: string; message: RegExp }[] = [
    { zone: 'cluster.local', message: /multicast DNS/ },
    { zone: 'skiff.internal.', message: /trailing dot/ },
    { zone: 'internal', message: /two labels/ },
    { zone: 'Skiff.internal', message: /lowercase/ },
    { zone: 'a..internal', message: /label ""/ },
    { zone: `${'a'.repeat(60)}.${'b'.repeat(60)}.internal`, message: /at most 118 characters/ },
  ];
  it.each(badZones)('rejects the zone $zone', ({ zone, message }) => {
    expect(() => dnsRecords(zone, [], [], 5)).toThrow(ValidationError);
    expect(() => checkZone(zone)).toThrow(message);
  });

  it.each([-1, 1.5, 2 ** 31])('rejects the TTL %s', (ttl) => {
    expect(() => dnsRecords(Z, [], [], ttl)).toThrow(/ttl: must be an integer from 0/);
  });
});

describe('dnsRecords with container addressing (routed container subnets on AWS)', () => {
  const svc = withPorts(web, [
    { containerPort: 8080, name: 'http', protocol: 'tcp' },
    { containerPort: 9090, protocol: 'tcp' },
  ]);

  it('names each ready replica by its own address, with SRV records of the declared container ports', () => {
    const views = [
      aView(svc, 'web-1-aaaaa', '10.0.1.5', 32768, { address: '10.200.1.2' }),
      // Published nothing: container addressing still names it.
      aView(svc, 'web-2-bbbbb', '10.0.1.6', 0, { address: '10.200.2.2', ports: [] }),
    ];
    const records = dnsRecords(Z, [svc], views, 10, 'container');
    const a = records.find((r) => r.type === 'A' && r.name === `web.shop.${Z}`)!;
    expect(a.values).toEqual(['10.200.1.2', '10.200.2.2']);
    expect(records.find((r) => r.name === `web-1-aaaaa.web.shop.${Z}`)!.values).toEqual(['10.200.1.2']);
    expect(records.find((r) => r.name === `_http._tcp.web.shop.${Z}`)!.values).toEqual([
      `0 10 8080 web-1-aaaaa.web.shop.${Z}`,
      `0 10 8080 web-2-bbbbb.web.shop.${Z}`,
    ]);
    expect(records.find((r) => r.name === `_9090._tcp.web.shop.${Z}`)!.values).toHaveLength(2);
  });

  it('leaves out replicas that report no address yet, and those not ready', () => {
    const views = [aView(svc, 'web-1-aaaaa', '10.0.1.5', 32768), aView(svc, 'web-2-bbbbb', '10.0.1.6', 32769, { address: '10.200.2.2', health: 'unhealthy' })];
    expect(dnsRecords(Z, [svc], views, 10, 'container')).toEqual([]);
  });
});

describe('runDiscoverySync', () => {
  // The use case reads only these four lists; an empty cluster is enough to show what runs after what.
  const emptyStore = {
    listServices: async () => [],
    listAllTasks: async () => [],
    listHostStatuses: async () => [],
    listHosts: async () => [],
  } as unknown as Store;
  const failingZone: DnsZone = { sync: async () => Promise.reject(new Error('Route 53 denied access')) };
  const failingBalancer: LoadBalancer = { sync: async () => Promise.reject(new Error('ELBv2 unavailable')) };

  it('syncs the load balancer when the DNS sync fails whole, and reports both', async () => {
    const synced: IngressRoute[][] = [];
    const deps: DiscoveryDeps = {
      store: emptyStore,
      zone: { name: Z, ttl: 5, port: failingZone },
      loadBalancer: { sync: async (r) => void synced.push([...r]) },
    };
    const err = await runDiscoverySync(deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiscoverySyncError);
    expect((err as DiscoverySyncError).message).toBe('discovery sync failed: DNS: Route 53 denied access');
    expect((err as DiscoverySyncError).result).toMatchObject({ routesChanged: true, dnsChanged: false, dnsError: 'Route 53 denied access' });
    expect(synced).toEqual([[]]);
  });

  it('syncs DNS when the load-balancer sync fails whole, and tries the failed one again on the next pass', async () => {
    const zoneCalls: DnsRecordSet[][] = [];
    let lbCalls = 0;
    const deps: DiscoveryDeps = {
      store: emptyStore,
      zone: {
        name: Z,
        ttl: 5,
        port: {
          sync: async (d) => {
            zoneCalls.push([...d]);
            return { changed: 0 };
          },
        },
      },
      loadBalancer: {
        sync: async (r) => {
          lbCalls++;
          return failingBalancer.sync(r);
        },
      },
    };
    const err = await runDiscoverySync(deps).catch((e: unknown) => e);
    expect((err as DiscoverySyncError).result).toMatchObject({ dnsChanged: true, routesError: 'ELBv2 unavailable' });
    expect(zoneCalls).toEqual([[]]);
    await runDiscoverySync(deps).catch(() => undefined);
    expect(zoneCalls.length).toBe(1); // DNS unchanged: not sent again
    expect(lbCalls).toBe(2); // the failed sync is retried
  });

  it('returns the record sets and routes that failed alone, and warns once while they stay the same', async () => {
    const warnings: string[] = [];
    const dnsFailure: DnsSetFailure = { name: `web.shop.${Z}`, type: 'A', reason: 'rejected', message: 'conflicting CNAME' };
    const routeFailure: RouteFailure = { host: 'shop.example.com', namespace: 'shop', service: 'web', reason: 'quota', message: 'rule quota reached' };
    let lbCalls = 0;
    const deps: DiscoveryDeps = {
      store: emptyStore,
      zone: { name: Z, ttl: 5, port: { sync: async () => ({ changed: 0, failed: [dnsFailure] }) } },
      loadBalancer: {
        sync: async () => {
          lbCalls++;
          return { failed: [routeFailure] };
        },
      },
      warn: (m) => warnings.push(m),
    };
    const result = await runDiscoverySync(deps);
    expect(result).toMatchObject({ dnsFailed: [dnsFailure], routesFailed: [routeFailure] });
    expect(warnings).toEqual([
      `DNS record set A web.shop.${Z} rejected: conflicting CNAME`,
      'ingress shop.example.com of shop/web not served (quota): rule quota reached',
    ]);
    await runDiscoverySync(deps);
    expect(warnings.length).toBe(2);
    expect(lbCalls).toBe(1); // a quota is not retried until the routes change
  });
});
