import Dockerode from 'dockerode';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DockerExecutor } from '../../agent/docker.ts';
import { Prober, type ProbeState, type ProbeTarget } from '../../agent/probes.ts';
import { parseServiceYaml } from '../../core/spec.ts';
import type { ContainerSpec, Health, HostDocumentTask } from '../../core/types.ts';
import { TEST_IMAGE, execIn, removeClusterContainers, uniqueClusterName } from '../helpers/docker.ts';

const HOST_ADDRESS = '127.0.1.1';
const docker = new Dockerode();
const cluster = uniqueClusterName('probe');
const executor = new DockerExecutor({ docker, cluster, hostId: 'h1' });

const probers: Prober[] = [];

afterEach(async () => {
  try {
    await Promise.all(probers.splice(0).map((p) => p.stop()));
  } finally {
    await removeClusterContainers(docker, cluster);
  }
});

afterAll(async () => {
  await removeClusterContainers(docker, cluster);
});

/** The first container of a service spec written as people write it, health check included. */
function containerOf(yaml: string): ContainerSpec {
  return parseServiceYaml(`kind: Service\nmetadata: { name: web }\nspec:\n  containers:\n${yaml}`).spec.containers[0];
}

let slot = 0;
/** Creates and starts the container of a one-container task; returns its id, start time and published ports. */
async function run(container: ContainerSpec) {
  const task: HostDocumentTask = {
    id: `web-${slot}-${cluster}`,
    namespace: 'default',
    service: 'web',
    slot: slot++,
    specVersion: 1,
    pod: { containers: [container], restartPolicy: 'always' },
  };
  const id = await executor.create(task, container, { hostAddress: HOST_ADDRESS, podPorts: container.ports, hostname: task.id });
  await executor.start(id);
  const info = await executor.inspect(id);
  if (!info?.startedAt) throw new Error(`container ${id} did not start`);
  return { id, key: `${task.id}/${container.name}`, startedAt: Date.parse(info.startedAt), ports: info.ports };
}

function aProber() {
  const changes: { key: string; health: Health; message?: string }[] = [];
  const prober = new Prober({
    executor,
    now: () => Date.now(),
    onChange: (key: string, state: ProbeState) => changes.push({ key, health: state.health, message: state.lastMessage }),
  });
  probers.push(prober);
  return { prober, changes };
}

/** Waits until `condition` holds, polling; fails after `timeoutMs`. A bound, not a timing assertion. */
async function waitFor(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Prober with real containers', { timeout: 150_000 }, () => {
  it('finds an httpd healthy through its published port on the host address, and unhealthy when httpd dies', async () => {
    // httpd without -f runs in the background, so killing it leaves the container (and its port proxy) up.
    const web = containerOf(`    - name: web
      image: ${TEST_IMAGE}
      command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && httpd -p 8080 -h /www && exec sleep 600"]
      ports: [{ containerPort: 8080, name: http }]
      health: { http: { path: /index.html, port: http }, intervalSeconds: 0.5, failureThreshold: 2 }
`);
    expect(web.health?.http).toEqual({ path: '/index.html', port: 8080, status: [200, 399] });
    const started = await run(web);
    const published = started.ports.find((p) => p.containerPort === 8080)!;
    expect(published.hostIp).toBe(HOST_ADDRESS);
    const endpoint = { host: published.hostIp, port: published.hostPort };

    const { prober, changes } = aProber();
    const http: ProbeTarget = { key: started.key, containerId: started.id, check: web.health!, endpoint, startedAt: started.startedAt };
    // The same port probed over tcp: Docker's port proxy accepts for a dead server too, which the probe must see through.
    const tcp: ProbeTarget = { ...http, key: `${started.key}-tcp`, check: { ...web.health!, http: undefined, tcp: { port: 8080 } } };
    prober.sync([http, tcp]);

    await waitFor('both healthy', () => prober.health(http.key)?.health === 'healthy' && prober.health(tcp.key)?.health === 'healthy');
    expect(prober.health(http.key)?.lastMessage).toBe('HTTP 200');

    expect((await execIn(docker, started.id, ['killall', 'httpd'])).exitCode).toBe(0);
    await waitFor('both unhealthy', () => prober.health(http.key)?.health === 'unhealthy' && prober.health(tcp.key)?.health === 'unhealthy');

    expect(changes.filter((c) => c.key === http.key).map((c) => c.health)).toEqual(['healthy', 'unhealthy']);
    expect(changes.filter((c) => c.key === tcp.key).map((c) => c.health)).toEqual(['healthy', 'unhealthy']);
    // Through Docker's userland proxy the connection is accepted, then closed; without the proxy it is refused.
    expect(prober.health(tcp.key)?.lastMessage).toMatch(/closed right after it was accepted|ECONNREFUSED/);
  });

  it('runs an exec probe in the container and reports the turn to unhealthy when its file is removed', async () => {
    const app = containerOf(`    - name: app
      image: ${TEST_IMAGE}
      command: ["sh", "-c", "mkdir -p /tmp && touch /tmp/ok && exec sleep 600"]
      health: { exec: { command: ["test", "-f", "/tmp/ok"] }, intervalSeconds: 0.5, failureThreshold: 2 }
`);
    const started = await run(app);
    const { prober, changes } = aProber();
    prober.sync([{ key: started.key, containerId: started.id, check: app.health!, startedAt: started.startedAt }]);

    // An exec probe is a docker exec: seconds each on a loaded machine.
    await waitFor('healthy', () => prober.health(started.key)?.health === 'healthy', 60_000);
    expect((await execIn(docker, started.id, ['rm', '/tmp/ok'])).exitCode).toBe(0);
    await waitFor('unhealthy', () => prober.health(started.key)?.health === 'unhealthy', 60_000);
    // The file's removal is what fails it: a probe answers exit code 1 (on a loaded machine one may
    // time out first, and the turn to unhealthy can come from either).
    await waitFor('a probe answering exit code 1', () => prober.health(started.key)?.lastMessage === 'exit code 1', 60_000);

    // First healthy (exit 0), last unhealthy.
    expect(changes[0]).toEqual({ key: started.key, health: 'healthy', message: 'exit code 0' });
    expect(changes.at(-1)).toMatchObject({ key: started.key, health: 'unhealthy' });
    expect(prober.health(started.key)).toMatchObject({ lastResult: 'failure' });
  });
});
