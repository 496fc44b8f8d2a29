import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ingressRoutes } from '../../core/ingress.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import type { Service, TaskView } from '../../core/types.ts';

interface ServiceOptions {
  namespace?: string;
  name?: string;
  ingress?: { host: string; port: string | number; sessionAffinity?: boolean; path?: string; tls?: unknown };
  createdAt?: string;
  deleting?: boolean;
}

/** A stored service whose pod serves 8080/tcp ("http") and 9090/tcp ("admin"). */
function aService(o: ServiceOptions = {}): Service {
  const namespace = o.namespace ?? 'default';
  const name = o.name ?? 'web';
  const spec = parseServiceSpec({
    kind: 'Service',
    metadata: { name, namespace },
    spec: {
      replicas: 3,
      containers: [
        {
          name: 'app',
          image: 'skiff/busybox:latest',
          ports: [
            { containerPort: 8080, name: 'http' },
            { containerPort: 9090, name: 'admin' },
          ],
        },
      ],
      ...(o.ingress ? { ingress: o.ingress } : {}),
    },
  });
  const createdAt = o.createdAt ?? '2026-01-01T00:00:00.000Z';
  return { namespace, name, spec, specVersion: 1, createdAt, updatedAt: createdAt, deleting: o.deleting ?? false };
}

type Port = TaskView['ports'][number];

/** A running replica with 8080 published on 127.0.1.1:30000 + slot and 9090 on 127.0.1.1:31000 + slot. */
function aTask(o: Partial<Omit<TaskView, 'ports'>> & { ports?: Port[] } = {}): TaskView {
  const slot = o.slot ?? 0;
  const namespace = o.namespace ?? 'default';
  const service = o.service ?? 'web';
  return {
    id: o.id ?? `${service}-${slot}-abcde`,
    namespace,
    service,
    slot,
    host: o.host === undefined ? 'h1' : o.host,
    desired: o.desired ?? 'running',
    state: o.state ?? 'running',
    ...(o.health ? { health: o.health } : {}),
    ports: o.ports ?? [
      { containerPort: 8080, hostIp: '127.0.1.1', hostPort: 30000 + slot, protocol: 'tcp', container: 'app' },
      { containerPort: 9090, hostIp: '127.0.1.1', hostPort: 31000 + slot, protocol: 'tcp', container: 'app' },
    ],
    specVersion: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

const shop = { host: 'shop.example.com', port: 'http' };

describe('ingressRoutes', () => {
  it('routes the host of each service with an ingress to its replicas, where their ingress port is published', () => {
    const services = [aService({ ingress: shop }), aService({ name: 'worker' })];
    const tasks = [aTask({ slot: 0 }), aTask({ slot: 1, host: 'h2' }), aTask({ service: 'worker' })];
    expect(ingressRoutes(services, tasks)).toEqual([
      {
        host: 'shop.example.com',
        namespace: 'default',
        service: 'web',
        sessionAffinity: false,
        targets: [
          { taskId: 'web-0-abcde', ip: '127.0.1.1', port: 30000 },
          { taskId: 'web-1-abcde', ip: '127.0.1.1', port: 30001 },
        ],
      },
    ]);
  });

  it('gives each service its own route on one host by path, with wildcard hosts and TLS carried, sorted by host then path', () => {
    const services = [
      aService({ name: 'web', ingress: { ...shop, tls: true } }),
      aService({ name: 'api', ingress: { ...shop, path: '/api' } }),
      aService({ name: 'any', ingress: { host: '*.example.com', port: 'http' } }),
    ];
    const tasks = [aTask({ service: 'web' }), aTask({ service: 'api', slot: 1 }), aTask({ service: 'any', slot: 2 })];
    expect(
      ingressRoutes(services, tasks).map((r) => ({ host: r.host, path: r.path, tls: r.tls, service: r.service, targets: r.targets.map((t) => t.taskId) })),
    ).toEqual([
      { host: '*.example.com', path: undefined, tls: undefined, service: 'any', targets: ['any-2-abcde'] },
      { host: 'shop.example.com', path: undefined, tls: true, service: 'web', targets: ['web-0-abcde'] },
      { host: 'shop.example.com', path: '/api', tls: undefined, service: 'api', targets: ['api-1-abcde'] },
    ]);
  });

  it('gives a host and path claimed by two services to the older one', () => {
    const services = [
      aService({ name: 'young', ingress: { ...shop, path: '/api' }, createdAt: '2026-02-01T00:00:00.000Z' }),
      aService({ name: 'old', ingress: { ...shop, path: '/api' }, createdAt: '2026-01-01T00:00:00.000Z' }),
    ];
    expect(ingressRoutes(services, []).map((r) => `${r.host}${r.path} ${r.service}`)).toEqual(['shop.example.com/api old']);
  });

  it('uses the port the ingress names, and carries session affinity', () => {
    const [route] = ingressRoutes([aService({ ingress: { host: 'admin.example.com', port: 9090, sessionAffinity: true } })], [aTask()]);
    expect(route).toMatchObject({ sessionAffinity: true, targets: [{ taskId: 'web-0-abcde', ip: '127.0.1.1', port: 31000 }] });
  });

  it.each<[string, Partial<TaskView> & { ports?: Port[] }, boolean]>([
    ['running with no probe', {}, true],
    ['running and healthy', { health: 'healthy' }, true],
    ['running but still starting', { health: 'starting' }, false],
    ['running but unhealthy', { health: 'unhealthy' }, false],
    ['pending', { state: 'pending', host: null, ports: [] }, false],
    ['assigned, not yet reported', { state: 'assigned', ports: [] }, false],
    ['starting', { state: 'starting' }, false],
    ['exited', { state: 'exited' }, false],
    ['on a host that is down', { state: 'lost', ports: [] }, false],
    ['running but about to be stopped', { desired: 'shutdown' }, false],
    [
      'running without the ingress port published',
      { ports: [{ containerPort: 9090, hostIp: '127.0.1.1', hostPort: 31000, protocol: 'tcp', container: 'app' }] },
      false,
    ],
    [
      'running with the port published only over udp',
      { ports: [{ containerPort: 8080, hostIp: '127.0.1.1', hostPort: 30000, protocol: 'udp', container: 'app' }] },
      false,
    ],
  ])('a replica %s is a target: %s', (_name, task, isTarget) => {
    const [route] = ingressRoutes([aService({ ingress: shop })], [aTask(task)]);
    expect(route.targets.length).toBe(isTarget ? 1 : 0);
  });

  it('keeps the route of a service with no healthy replica, with no targets, so the proxy can say which service is down', () => {
    expect(ingressRoutes([aService({ ingress: shop })], [aTask({ health: 'unhealthy' })])).toEqual([
      { host: 'shop.example.com', namespace: 'default', service: 'web', sessionAffinity: false, targets: [] },
    ]);
  });

  it('drops the route of a service being deleted', () => {
    expect(ingressRoutes([aService({ ingress: shop, deleting: true })], [aTask()])).toEqual([]);
  });

  it('does not mix in replicas of a service of the same name in another namespace', () => {
    const routes = ingressRoutes([aService({ ingress: shop })], [aTask({ namespace: 'other', id: 'web-0-zzzzz' }), aTask()]);
    expect(routes[0].targets.map((t) => t.taskId)).toEqual(['web-0-abcde']);
  });

  it('prefers the IPv4 binding of a port published on several addresses', () => {
    const ports: Port[] = [
      { containerPort: 8080, hostIp: '::', hostPort: 30000, protocol: 'tcp', container: 'app' },
      { containerPort: 8080, hostIp: '10.0.1.5', hostPort: 30000, protocol: 'tcp', container: 'app' },
    ];
    expect(ingressRoutes([aService({ ingress: shop })], [aTask({ ports })])[0].targets).toEqual([{ taskId: 'web-0-abcde', ip: '10.0.1.5', port: 30000 }]);
  });

  it('gives a host claimed by two services (two applies that raced) to the older one, whatever the order of the input', () => {
    const older = aService({ namespace: 'b', name: 'first', ingress: shop, createdAt: '2026-01-01T00:00:00.000Z' });
    const newer = aService({ namespace: 'a', name: 'second', ingress: shop, createdAt: '2026-01-02T00:00:00.000Z' });
    for (const services of [
      [older, newer],
      [newer, older],
    ]) {
      expect(ingressRoutes(services, []).map((r) => `${r.host} ${r.namespace}/${r.service}`)).toEqual(['shop.example.com b/first']);
    }
  });

  it('sorts routes by host and targets by task id, the same for any order of services and tasks', () => {
    const services = [
      aService({ name: 'web', ingress: { host: 'www.example.com', port: 'http' } }),
      aService({ name: 'api', ingress: { host: 'api.example.com', port: 'http' } }),
      aService({ name: 'admin', namespace: 'ops', ingress: { host: 'admin.example.com', port: 'admin', sessionAffinity: true } }),
    ];
    const tasks = ['web', 'api', 'admin'].flatMap((service) =>
      [0, 1, 2, 3].map((slot) => aTask({ service, slot, namespace: service === 'admin' ? 'ops' : 'default', health: slot === 3 ? 'unhealthy' : undefined })),
    );
    const expected = ingressRoutes(services, tasks);
    expect(expected.map((r) => r.host)).toEqual(['admin.example.com', 'api.example.com', 'www.example.com']);
    expect(expected.map((r) => r.targets.map((t) => t.taskId))).toEqual([
      ['admin-0-abcde', 'admin-1-abcde', 'admin-2-abcde'],
      ['api-0-abcde', 'api-1-abcde', 'api-2-abcde'],
      ['web-0-abcde', 'web-1-abcde', 'web-2-abcde'],
    ]);
    fc.assert(
      fc.property(
        fc.shuffledSubarray(services, { minLength: 3, maxLength: 3 }),
        fc.shuffledSubarray(tasks, { minLength: tasks.length, maxLength: tasks.length }),
        (s, t) => {
          expect(ingressRoutes(s, t)).toEqual(expected);
        },
      ),
      { numRuns: 50 },
    );
  });

  it("only ever targets running, healthy replicas of the route's own service, on their ingress port", () => {
    const service = aService({ ingress: shop });
    const arbitraryTask = fc.record({
      slot: fc.integer({ min: 0, max: 9 }),
      service: fc.constantFrom('web', 'other'),
      state: fc.constantFrom('pending', 'assigned', 'starting', 'running', 'exited', 'failed', 'stopped', 'lost') as fc.Arbitrary<TaskView['state']>,
      desired: fc.constantFrom('running', 'shutdown') as fc.Arbitrary<TaskView['desired']>,
      health: fc.constantFrom(undefined, 'starting', 'healthy', 'unhealthy') as fc.Arbitrary<TaskView['health']>,
    });
    fc.assert(
      fc.property(fc.uniqueArray(arbitraryTask, { selector: (t) => `${t.service}-${t.slot}` }), (specs) => {
        const tasks = specs.map((t) => aTask({ ...t, health: t.health }));
        const [route] = ingressRoutes([service], tasks);
        for (const target of route.targets) {
          const task = tasks.find((t) => t.id === target.taskId)!;
          expect(task).toMatchObject({ service: 'web', state: 'running', desired: 'running' });
          expect([undefined, 'healthy']).toContain(task.health);
          expect(target.port).toBe(30000 + task.slot);
        }
        const eligible = tasks.filter((t) => t.service === 'web' && t.state === 'running' && t.desired === 'running' && (t.health ?? 'healthy') === 'healthy');
        expect(route.targets).toHaveLength(eligible.length);
      }),
      { numRuns: 100 },
    );
  });
});
