/**
 * Short names (issue 16): a pod's resolver searches its namespace's domain, so `db` resolves as
 * `db.<namespace>.<zone>` (the alias every replica of service db has on the namespace network, and
 * the Route 53 name on AWS), as services of one Compose project reach each other under docker
 * compose. The create calls are captured by a Docker client that records them; nothing runs.
 */
import type Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerExecutor, dnsSearchDomain } from '../../agent/docker.ts';
import type { ContainerSpec, HostDocumentTask } from '../../core/types.ts';

function recordingDocker() {
  const bodies: Dockerode.ContainerCreateOptions[] = [];
  const docker = {
    createContainer: async (body: Dockerode.ContainerCreateOptions) => {
      bodies.push(body);
      return { id: `c${bodies.length}` };
    },
  } as unknown as Dockerode;
  return { docker, bodies };
}

const spec = (name: string): ContainerSpec => ({ name, image: 'skiff/busybox:latest', env: {}, ports: [], resources: { cpu: 100, memory: 16 * 2 ** 20 } });
const task: HostDocumentTask = {
  id: 'web-1-abcde',
  namespace: 'shop',
  service: 'web',
  slot: 1,
  specVersion: 1,
  pod: { containers: [spec('app')], restartPolicy: 'always' },
};

describe('DNS search domain of a pod', () => {
  it("puts the pod's namespace domain in the resolver of its first container, beside its aliases", async () => {
    const { docker, bodies } = recordingDocker();
    const executor = new DockerExecutor({ docker, cluster: 'c1', hostId: 'h1', network: 'skiff-c1-ns-shop', zone: 'skiff.internal' });
    await executor.create(task, spec('_sandbox'), { hostAddress: '127.0.1.1', hostname: task.id });
    expect(bodies[0].HostConfig?.DnsSearch).toEqual(['shop.skiff.internal']);
    // The search domain completes `web` into the alias the network answers for.
    const aliases = bodies[0].NetworkingConfig?.EndpointsConfig?.['skiff-c1-ns-shop']?.Aliases ?? [];
    expect(aliases).toContain(`web.${dnsSearchDomain('shop', 'skiff.internal')}`);
  });

  it('follows the configured zone', async () => {
    const { docker, bodies } = recordingDocker();
    const executor = new DockerExecutor({ docker, cluster: 'c1', hostId: 'h1', zone: 'corp.example' });
    await executor.create({ ...task, namespace: 'default' }, spec('_sandbox'), { hostAddress: '127.0.1.1', hostname: task.id });
    expect(bodies[0].HostConfig?.DnsSearch).toEqual(['default.corp.example']);
  });

  it('sets no DNS option on a container that joins the sandbox network (Docker refuses them; it shares the resolv.conf)', async () => {
    const { docker, bodies } = recordingDocker();
    const executor = new DockerExecutor({ docker, cluster: 'c1', hostId: 'h1', network: 'skiff-c1-ns-shop' });
    await executor.create(task, spec('app'), { hostAddress: '127.0.1.1', joinNetworkOf: 'sandbox-id' });
    expect(bodies[0].HostConfig?.NetworkMode).toBe('container:sandbox-id');
    expect(bodies[0].HostConfig?.DnsSearch).toBeUndefined();
  });
});
