/**
 * `spec.network.allowFrom`: a service lets named namespaces in (issue 14). The spec field, its place in
 * the pod (a change rolls the replicas), the stored task keeping it, and the networks the agent joins a
 * pod's first container to (over fakes: no Docker).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { namespaceNetworkName, namespaceNetworksOf } from '../../agent/namespace-network.ts';
import { parseTaskItem } from '../../core/items.ts';
import { podOf } from '../../core/reconciler.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import { allowedNamespaces } from '../../core/spec/network.ts';
import { jsonEqual } from '../../core/json.ts';
import type { HostDocument, HostDocumentTask, Service, ServiceSpec } from '../../core/types.ts';
import { documentChannel, RecordingExecutor, startTestAgent, stopTestAgents, until } from '../helpers/agent-harness.ts';

const specOf = (network: unknown, namespace = 'team'): ServiceSpec =>
  parseServiceSpec({
    kind: 'Service',
    metadata: { name: 'db', namespace },
    spec: { ...(network === undefined ? {} : { network }), containers: [{ name: 'app', image: 'skiff/busybox' }] },
  });

const serviceOf = (spec: ServiceSpec): Service => ({
  namespace: spec.metadata.namespace,
  name: spec.metadata.name,
  spec,
  specVersion: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  deleting: false,
});

function issuesOf(network: unknown): { path: string; message: string }[] {
  try {
    specOf(network);
  } catch (err) {
    return (err as { issues: { path: string; message: string }[] }).issues;
  }
  throw new Error('accepted');
}

describe('spec.network.allowFrom', () => {
  it('takes a list of namespace names, kept in the pod', () => {
    const spec = specOf({ allowFrom: ['shop', 'billing'] });
    expect(spec.spec.network).toEqual({ allowFrom: ['shop', 'billing'] });
    expect(podOf(serviceOf(spec)).network).toEqual({ allowFrom: ['shop', 'billing'] });
    // Without it the pod has none: pods stored before the field existed compare equal.
    expect('network' in podOf(serviceOf(specOf(undefined)))).toBe(false);
  });

  it.each([
    [{ allowFrom: 'shop' }, 'spec.network.allowFrom', 'must be a list of namespace names, such as [shop, billing]; got "shop"'],
    [{ allowFrom: ['Shop'] }, 'spec.network.allowFrom[0]', 'must be a DNS label'],
    [{ allowFrom: ['shop', 'shop'] }, 'spec.network.allowFrom[1]', 'names the namespace shop twice'],
    [{ allow: ['shop'] }, 'spec.network.allow', 'unknown field "allow"'],
    ['shop', 'spec.network', 'must be a map such as { allowFrom: [shop] }'],
    [{ allowFrom: Array.from({ length: 17 }, (_, i) => `n${i}`) }, 'spec.network.allowFrom', 'must list at most 16 namespaces; got 17'],
  ])('refuses %j, naming %s', (network, path, message) => {
    const [issue] = issuesOf(network);
    expect(issue.path).toBe(path);
    expect(issue.message).toContain(message);
  });

  it('is part of the pod: letting another namespace in rolls the replicas, as any pod change does', () => {
    const before = podOf(serviceOf(specOf({ allowFrom: ['shop'] })));
    const after = podOf(serviceOf(specOf({ allowFrom: ['shop', 'billing'] })));
    expect(jsonEqual(before, after)).toBe(false);
  });

  it('survives the stored task item check', () => {
    const service = serviceOf(specOf({ allowFrom: ['shop'] }));
    const task = {
      id: 'db-1-aaaaa',
      namespace: 'team',
      service: 'db',
      slot: 1,
      incarnation: 1,
      specVersion: 1,
      pod: podOf(service),
      desired: 'running',
      createdAt: service.createdAt,
    };
    const read = parseTaskItem(JSON.parse(JSON.stringify(task)), { namespace: 'team', service: 'db', slot: 1 });
    expect(read.ok && read.value.pod.network).toEqual({ allowFrom: ['shop'] });
  });

  it("drops the pod's own namespace: it is always in", () => {
    expect(allowedNamespaces('team', { allowFrom: ['shop', 'team', 'default'] })).toEqual(['shop', 'default']);
    expect(allowedNamespaces('team', undefined)).toEqual([]);
  });
});

/** Networks made on demand, as NamespaceNetworks does, recording each ensure. */
function fakeNetworks(base = 'skiff-c') {
  const ensured: string[] = [];
  return {
    ensured,
    async ensure(ns: string) {
      ensured.push(ns);
      return namespaceNetworkName(base, ns);
    },
  };
}

describe('namespaceNetworksOf', () => {
  it("gives the pod its namespace's network, and the allowed namespaces' networks in order, each made if missing", async () => {
    const nets = fakeNetworks();
    expect(await namespaceNetworksOf(nets, 'team', ['shop', 'default'])).toEqual({ network: 'skiff-c-ns-team', alsoOn: ['skiff-c-ns-shop', 'skiff-c'] });
    expect(nets.ensured).toEqual(['team', 'shop', 'default']);
    expect(await namespaceNetworksOf(nets, 'team', [])).toEqual({ network: 'skiff-c-ns-team' });
    // The default namespace's network is the cluster's: a default pod letting shop in joins shop's.
    expect(await namespaceNetworksOf(nets, 'default', ['shop', 'shop'])).toEqual({ network: 'skiff-c', alsoOn: ['skiff-c-ns-shop'] });
  });
});

afterEach(stopTestAgents);

describe('the agent and allowFrom', () => {
  it("joins a pod's first container to the allowed namespaces' networks; its other containers share its network", async () => {
    const runtime = new RecordingExecutor();
    const service = serviceOf(specOf({ allowFrom: ['shop'] }));
    const task: HostDocumentTask = { id: 'db-1-aaaaa', namespace: 'team', service: 'db', slot: 1, specVersion: 1, pod: podOf(service) };
    const doc: HostDocument = { cluster: 'c', hostId: 'h1', generation: 1, tasks: [task] };
    startTestAgent({ channel: documentChannel({ current: doc }), executor: runtime, namespaceNetworks: fakeNetworks() });
    await until(() => (runtime.creates.length >= 2 ? true : undefined), 'the sandbox and the app container created');
    const [sandbox, app] = runtime.creates;
    expect(sandbox.options).toMatchObject({ network: 'skiff-c-ns-team', alsoOn: ['skiff-c-ns-shop'] });
    expect(app.name).toBe('app');
    expect(app.options.alsoOn).toBeUndefined();
    expect(app.options.joinNetworkOf).toBeDefined();
  });
});

describe('DockerExecutor and allowFrom (a fake Docker API)', () => {
  /** The calls a create makes, in order; `failConnect` makes the connect to that network fail. */
  function fakeDocker(failConnect?: string) {
    const calls: string[] = [];
    const docker = {
      async createContainer(body: { name: string; NetworkingConfig?: { EndpointsConfig: Record<string, unknown> } }) {
        calls.push(`create ${body.name} on ${Object.keys(body.NetworkingConfig?.EndpointsConfig ?? {}).join(',')}`);
        return { id: 'c1' };
      },
      getNetwork(name: string) {
        return {
          async connect(o: { Container: string; EndpointConfig: { Aliases: string[] } }) {
            calls.push(`connect ${o.Container} to ${name} as ${o.EndpointConfig.Aliases.join(' ')}`);
            if (name === failConnect) throw Object.assign(new Error('no such network'), { statusCode: 404 });
          },
        };
      },
      getContainer(id: string) {
        return {
          async stop() {
            calls.push(`stop ${id}`);
          },
          async inspect() {
            throw Object.assign(new Error('gone'), { statusCode: 404 });
          },
          async remove() {
            calls.push(`remove ${id}`);
          },
        };
      },
    };
    return { calls, docker: docker as unknown as import('dockerode') };
  }

  const service = serviceOf(specOf({ allowFrom: ['shop'] }));
  const task: HostDocumentTask = { id: 'db-1-aaaaa', namespace: 'team', service: 'db', slot: 1, specVersion: 1, pod: podOf(service) };
  const container = task.pod.containers[0];

  it('connects the created container to each allowed network with its service and task names, before it starts', async () => {
    const { DockerExecutor } = await import('../../agent/docker.ts');
    const { calls, docker } = fakeDocker();
    const executor = new DockerExecutor({ docker, cluster: 'c', hostId: 'h1', zone: 'skiff.local' });
    expect(await executor.create(task, container, { hostAddress: '127.0.1.1', network: 'skiff-c-ns-team', alsoOn: ['skiff-c-ns-shop', 'skiff-c'] })).toBe('c1');
    expect(calls).toEqual([
      'create skiff.c.team.db-1-aaaaa.app on skiff-c-ns-team',
      'connect c1 to skiff-c-ns-shop as db.team.skiff.local db-1-aaaaa.db.team.skiff.local',
      'connect c1 to skiff-c as db.team.skiff.local db-1-aaaaa.db.team.skiff.local',
    ]);
  });

  it('removes a container it could not connect everywhere, and says why', async () => {
    const { DockerExecutor } = await import('../../agent/docker.ts');
    const { calls, docker } = fakeDocker('skiff-c-ns-shop');
    const executor = new DockerExecutor({ docker, cluster: 'c', hostId: 'h1', zone: 'skiff.local' });
    await expect(executor.create(task, container, { hostAddress: '127.0.1.1', network: 'skiff-c-ns-team', alsoOn: ['skiff-c-ns-shop'] })).rejects.toThrow(
      /connect .* to skiff-c-ns-shop/,
    );
    expect(calls.slice(-2)).toEqual(['stop c1', 'remove c1']);
  });
});
