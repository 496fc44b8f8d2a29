import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DockerError, DockerTimeoutError } from '../../agent/docker-calls.ts';
import { DockerExecutor, containerName, containerSpecHash, cpuShares } from '../../agent/docker.ts';
import { LABELS } from '../../agent/executor.ts';
import type { ContainerSpec, HostDocumentTask } from '../../core/types.ts';
import { TEST_IMAGE, execIn, fetchWhenReady, removeClusterContainers, uniqueClusterName, waitForExit } from '../helpers/docker.ts';

const HOST_ADDRESS = '127.0.1.1';
const docker = new Dockerode();
const cluster = uniqueClusterName();
const executor = new DockerExecutor({ docker, cluster, hostId: 'h1' });

let taskCounter = 0;
function aTask(overrides: Partial<HostDocumentTask> = {}): HostDocumentTask {
  const slot = taskCounter++;
  return {
    id: `web-${slot}-${cluster}`,
    namespace: 'shop',
    service: 'web',
    slot,
    specVersion: 1,
    pod: { containers: [], restartPolicy: 'always' },
    ...overrides,
  };
}

function aContainer(overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name: 'app',
    image: TEST_IMAGE,
    command: ['sleep', '600'],
    env: {},
    ports: [],
    resources: { cpu: 100, memory: 32 * 1024 * 1024 },
    ...overrides,
  };
}

/** busybox httpd on 8080 serving $GREETING at /. */
function anHttpd(overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return aContainer({
    name: 'web',
    command: ['sh', '-c', 'mkdir -p /www && echo "$GREETING" > /www/index.html && exec httpd -f -p 8080 -h /www'],
    env: { GREETING: 'hello from skiff' },
    ports: [{ containerPort: 8080, protocol: 'tcp', name: 'http' }],
    ...overrides,
  });
}

afterEach(async () => {
  await removeClusterContainers(docker, cluster);
});

afterAll(async () => {
  await removeClusterContainers(docker, cluster);
});

describe('DockerExecutor with a real Docker daemon', () => {
  it('publishes a task port on the host address, where it answers over loopback', async () => {
    const task = aTask();
    const spec = anHttpd();
    const id = await executor.create(task, spec, { hostAddress: HOST_ADDRESS, hostname: task.id });
    await executor.start(id);

    const info = await executor.inspect(id);
    expect(info).toMatchObject({ id, taskId: task.id, container: 'web', state: 'running', specHash: containerSpecHash(spec) });
    expect(info?.startedAt).toBeDefined();
    expect(info?.exitCode).toBeUndefined();
    expect(info?.ports).toHaveLength(1);
    const [port] = info!.ports;
    expect(port).toMatchObject({ container: 'web', containerPort: 8080, protocol: 'tcp', hostIp: HOST_ADDRESS });
    expect(port.hostPort).toBeGreaterThan(0);

    const response = await fetchWhenReady(`http://${HOST_ADDRESS}:${port.hostPort}/`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hello from skiff\n');
  });

  it('lists the containers of its own cluster and host, in every state, with their labels', async () => {
    const task = aTask();
    const spec = aContainer();
    const mine = await executor.create(task, spec, { hostAddress: HOST_ADDRESS });
    const otherHost = new DockerExecutor({ docker, cluster, hostId: 'h2' });
    const theirs = await otherHost.create(aTask(), aContainer(), { hostAddress: '127.0.1.2' });

    const listed = await executor.list();
    expect(listed.map((c) => c.id)).toEqual([mine]);
    expect(listed[0]).toMatchObject({
      name: containerName(cluster, 'shop', task.id, 'app'),
      taskId: task.id,
      container: 'app',
      specHash: containerSpecHash(spec),
      state: 'created',
      ports: [],
    });
    expect((await otherHost.list()).map((c) => c.id)).toEqual([theirs]);

    const labels = (await docker.getContainer(mine).inspect()).Config.Labels;
    expect(labels).toMatchObject({
      [LABELS.cluster]: cluster,
      [LABELS.host]: 'h1',
      [LABELS.task]: task.id,
      [LABELS.namespace]: 'shop',
      [LABELS.service]: 'web',
      [LABELS.slot]: String(task.slot),
      [LABELS.container]: 'app',
      [LABELS.specHash]: containerSpecHash(spec),
    });
  });

  it('applies the memory limit and CPU shares of the spec, with an init and no Docker restart policy', async () => {
    const spec = aContainer({ resources: { cpu: 250, memory: 64 * 1024 * 1024 }, env: { A: 'x=y' } });
    const id = await executor.create(aTask(), spec, { hostAddress: HOST_ADDRESS });

    const { HostConfig, Config } = await docker.getContainer(id).inspect();
    expect(HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(HostConfig.MemorySwap).toBe(64 * 1024 * 1024);
    expect(HostConfig.CpuShares).toBe(256);
    expect(HostConfig.Init).toBe(true);
    expect(HostConfig.RestartPolicy?.Name).toBe('no');
    expect(Config.Env).toContain('A=x=y');
  });

  it('reports the exit code and the start and finish times of a container that exited', async () => {
    const id = await executor.create(aTask(), aContainer({ command: ['sh', '-c', 'exit 3'] }), { hostAddress: HOST_ADDRESS });
    await executor.start(id);
    expect(await waitForExit(docker, id)).toBe(3);

    const info = await executor.inspect(id);
    expect(info).toMatchObject({ state: 'exited', exitCode: 3 });
    expect(info?.startedAt).toBeDefined();
    expect(info?.finishedAt).toBeDefined();
    // No order check between the two: for a process that exits at once Docker can record its finish a few
    // milliseconds before its start (seen here: 9 ms), so the agent never relies on that order.
    expect(Number.isFinite(Date.parse(info!.finishedAt!))).toBe(true);
  });

  it('tells a watcher when one of its containers dies, and not about other hosts', async () => {
    const seen: string[] = [];
    let stop = () => {};
    await new Promise<void>((ready) => (stop = executor.watchExits((id) => seen.push(id), ready)));
    const other = new DockerExecutor({ docker, cluster, hostId: 'h2' });
    try {
      const theirs = await other.create(aTask({ id: 'theirs-1-aaaaa' }), aContainer({ command: ['sh', '-c', 'exit 4'] }), { hostAddress: HOST_ADDRESS });
      const mine = await executor.create(aTask(), aContainer({ command: ['sh', '-c', 'exit 2'] }), { hostAddress: HOST_ADDRESS });
      await other.start(theirs);
      await executor.start(mine);
      await waitForExit(docker, theirs);
      await waitForExit(docker, mine);
      for (let i = 0; i < 50 && !seen.includes(mine); i++) await new Promise((r) => setTimeout(r, 100));
      expect(seen).toContain(mine);
      expect(seen).not.toContain(theirs);
    } finally {
      stop();
    }
  });

  it('stopAndRemove removes running and never-started containers, and is a no-op for an unknown id', async () => {
    const running = await executor.create(aTask(), aContainer(), { hostAddress: HOST_ADDRESS });
    await executor.start(running);
    const created = await executor.create(aTask(), aContainer(), { hostAddress: HOST_ADDRESS });

    await executor.stopAndRemove(running, 10);
    await executor.stopAndRemove(created, 10);

    expect(await executor.inspect(running)).toBeUndefined();
    expect(await executor.inspect(created)).toBeUndefined();
    expect(await executor.list()).toEqual([]);
    await expect(executor.stopAndRemove(running, 10)).resolves.toEqual({});
    await expect(executor.stopAndRemove('0123456789ab', 10)).resolves.toEqual({});
  });

  it('stops on SIGTERM a process that would ignore it as PID 1, because the init is PID 1', async () => {
    // `sleep` as PID 1 has no SIGTERM handler, so the kernel would drop the signal and Docker would kill it
    // after the grace period (exit 137). Under the init it dies of the SIGTERM itself: 128 + 15.
    const id = await executor.create(aTask(), aContainer({ command: ['sleep', '600'] }), { hostAddress: HOST_ADDRESS });
    await executor.start(id);
    // Once the init runs sleep: a SIGTERM that comes before the init has set up its handlers is lost
    // like any signal to a PID 1 without one (the race of a stop a moment after the start).
    for (let i = 0; i < 100; i++) {
      const top = await docker.getContainer(id).top();
      // The process whose command is `sleep 600` itself, not the init whose command line holds it.
      if (top.Processes?.some((p: string[]) => p.at(-1) === 'sleep 600')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await docker.getContainer(id).stop({ t: 300 });

    expect(await executor.inspect(id)).toMatchObject({ state: 'exited', exitCode: 143 });
  });

  it('runs the containers of a pod in the network namespace of its first container', async () => {
    const task = aTask();
    const web = anHttpd();
    const sidecar = aContainer({ name: 'sidecar', ports: [{ containerPort: 9090, protocol: 'tcp' }] });
    const first = await executor.create(task, web, { hostAddress: HOST_ADDRESS, hostname: task.id, podPorts: [...web.ports, ...sidecar.ports] });
    const second = await executor.create(task, sidecar, { hostAddress: HOST_ADDRESS, joinNetworkOf: first });
    await executor.start(first);
    await executor.start(second);

    // The pod's ports, the sidecar's too, are published on the first container; the second has none.
    const firstInfo = await executor.inspect(first);
    expect(firstInfo?.ports.map((p) => p.containerPort)).toEqual([8080, 9090]);
    expect((await executor.inspect(second))?.ports).toEqual([]);
    const http = firstInfo!.ports.find((p) => p.containerPort === 8080)!;
    await fetchWhenReady(`http://${HOST_ADDRESS}:${http.hostPort}/`);

    const fromSidecar = await execIn(docker, second, ['wget', '-qO-', 'http://127.0.0.1:8080/']);
    expect(fromSidecar).toMatchObject({ exitCode: 0, stdout: 'hello from skiff\n' });
    expect((await execIn(docker, first, ['hostname'])).stdout.trim()).toBe(task.id);
  });

  it('puts a pod on the network its create names, with its aliases, and reports its address there, listed or inspected', async () => {
    // A network of this cluster in 10.232.0.0/16 (no route here uses it, nor the other tests); nothing is sent to it.
    const network = `skiff-${cluster}-net`;
    const subnet = `10.232.${Math.floor(Math.random() * 256)}`;
    await docker.createNetwork({ Name: network, Driver: 'bridge', IPAM: { Config: [{ Subnet: `${subnet}.0/24` }] }, Labels: { [LABELS.cluster]: cluster } });
    const task = aTask();
    const first = await executor.create(task, aContainer(), { hostAddress: HOST_ADDRESS, hostname: task.id, network });
    const second = await executor.create(task, aContainer({ name: 'sidecar' }), { hostAddress: HOST_ADDRESS, joinNetworkOf: first });
    await executor.start(first);
    await executor.start(second);

    const inspected = await executor.inspect(first);
    expect(inspected?.address?.startsWith(`${subnet}.`)).toBe(true);
    const listed = (await executor.list()).find((c) => c.id === first);
    expect(listed?.address).toBe(inspected?.address);
    // The sidecar shares the first container's network namespace and has no address of its own.
    expect((await executor.inspect(second))?.address).toBeUndefined();
    const endpoint = (await docker.getContainer(first).inspect()).NetworkSettings.Networks[network];
    expect(endpoint.Aliases).toEqual(expect.arrayContaining([`web.shop.skiff.internal`, `${task.id}.web.shop.skiff.internal`]));
  });

  it("reports the address on Docker's default bridge when no network is named", async () => {
    const id = await executor.create(aTask(), aContainer(), { hostAddress: HOST_ADDRESS });
    await executor.start(id);
    expect((await executor.inspect(id))?.address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // Not running: no address.
    await docker.getContainer(id).kill();
    await waitForExit(docker, id);
    expect((await executor.inspect(id))?.address).toBeUndefined();
  });

  it('exec runs a command in a running container and returns its exit code and output, stdout and stderr alike', async () => {
    const id = await executor.create(aTask(), aContainer(), { hostAddress: HOST_ADDRESS });
    await executor.start(id);

    expect(await executor.exec(id, ['sh', '-c', 'echo out; exit 3'], 10_000)).toEqual({ exitCode: 3, output: 'out\n' });
    expect(await executor.exec(id, ['sh', '-c', 'echo err >&2'], 10_000)).toEqual({ exitCode: 0, output: 'err\n' });
    expect(await executor.exec(id, ['test', '-d', '/proc/1'], 10_000)).toEqual({ exitCode: 0, output: '' });
    // No shell: the arguments reach the program as given.
    expect(await executor.exec(id, ['echo', '$HOME; exit 1'], 10_000)).toEqual({ exitCode: 0, output: '$HOME; exit 1\n' });
  });

  it('exec keeps only the last 4096 bytes of a long output', async () => {
    const id = await executor.create(aTask(), aContainer(), { hostAddress: HOST_ADDRESS });
    await executor.start(id);

    const { exitCode, output } = await executor.exec(id, ['sh', '-c', "head -c 20000 /dev/zero | tr '\\0' x; echo END"], 10_000);
    expect(exitCode).toBe(0);
    expect(output).toHaveLength(4096);
    expect(output.endsWith('xxxEND\n')).toBe(true);
  });

  it('exec of a program the image lacks answers with a failing exit code', async () => {
    const id = await executor.create(aTask(), aContainer(), { hostAddress: HOST_ADDRESS });
    await executor.start(id);

    const result = await executor.exec(id, ['/no/such/program'], 10_000);
    expect(result.exitCode).toBeGreaterThan(0);
  });

  it('exec gives up on a command that outlasts its timeout with a retryable timeout error', async () => {
    const id = await executor.create(aTask(), aContainer(), { hostAddress: HOST_ADDRESS });
    await executor.start(id);

    const err = await executor.exec(id, ['sleep', '30'], 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerTimeoutError);
    expect(err).toMatchObject({ retryable: true, call: `exec ${id.slice(0, 12)} sleep 30`, timeoutMs: 300 });
  });

  it('exec in a container that is not running fails with an error that is not retryable', async () => {
    const id = await executor.create(aTask(), aContainer(), { hostAddress: HOST_ADDRESS });

    const err = await executor.exec(id, ['true'], 10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    expect(err).toMatchObject({ retryable: false, statusCode: 409 });
    expect((err as Error).message).toMatch(/is not running/);
  });

  it('knows the test image is present and a never-built tag is not', async () => {
    expect(await executor.hasImage(TEST_IMAGE)).toBe(true);
    expect(await executor.hasImage(`skiff/busybox:never-built-${cluster}`)).toBe(false);
  });

  it('fails a create for an absent image with an error that names it and is not retryable', async () => {
    // Creating never pulls (only the docker CLI does), so this image reference stays local.
    const image = `skiff/busybox:never-built-${cluster}`;
    const err = await executor.create(aTask(), aContainer({ image }), { hostAddress: HOST_ADDRESS }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    expect(err).toMatchObject({ retryable: false, statusCode: 404 });
    expect((err as Error).message).toContain(image);
  });
});

describe('DockerExecutor when the daemon misbehaves', () => {
  const dirs: string[] = [];
  const servers: Server[] = [];

  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A wedged daemon on a unix socket: it never answers, except a pull, which it starts to answer with
   * one progress line and then stalls (a registry connection that hangs).
   */
  async function aWedgedDaemon(): Promise<Dockerode> {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-wedged-'));
    dirs.push(dir);
    const socketPath = join(dir, 'docker.sock');
    const server = createServer((req, res) => {
      if (req.url?.includes('/images/create')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"status":"Pulling from skiff/busybox","id":"latest"}\n');
      }
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    return new Dockerode({ socketPath });
  }

  it('raises a retryable timeout error naming the call when the daemon does not answer', async () => {
    const wedged = new DockerExecutor({ docker: await aWedgedDaemon(), cluster, hostId: 'h1', timeouts: { list: 200, inspect: 200 } });

    const listErr = await wedged.list().catch((e: unknown) => e);
    expect(listErr).toBeInstanceOf(DockerTimeoutError);
    expect(listErr).toMatchObject({ retryable: true, call: `list containers of cluster ${cluster} host h1` });
    expect((listErr as Error).message).toMatch(/^docker list containers .* timed out after 200 ms$/);

    const inspectErr = await wedged.inspect('0123456789ab').catch((e: unknown) => e);
    expect(inspectErr).toMatchObject({ name: 'DockerTimeoutError', call: 'inspect 0123456789ab', retryable: true });
  });

  it('abandons a pull that stops making progress, and one that takes too long overall', async () => {
    const daemon = await aWedgedDaemon();
    const stalled = new DockerExecutor({ docker: daemon, cluster, hostId: 'h1', timeouts: { pullIdle: 200, pullTotal: 60_000 } });
    await expect(stalled.pull(TEST_IMAGE)).rejects.toMatchObject({ name: 'DockerTimeoutError', call: `pull ${TEST_IMAGE} (no progress)`, retryable: true });

    const slow = new DockerExecutor({ docker: daemon, cluster, hostId: 'h1', timeouts: { pullIdle: 60_000, pullTotal: 200 } });
    await expect(slow.pull(TEST_IMAGE)).rejects.toMatchObject({ name: 'DockerTimeoutError', call: `pull ${TEST_IMAGE}`, retryable: true });
  });

  it('raises a retryable error when the daemon socket is absent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-nodaemon-'));
    dirs.push(dir);
    const absent = new DockerExecutor({ docker: new Dockerode({ socketPath: join(dir, 'docker.sock') }), cluster, hostId: 'h1' });

    const err = await absent.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    expect(err).toMatchObject({ retryable: true, statusCode: undefined });
  });

  it('rejects unknown options and a cluster name that cannot be part of a container name', () => {
    expect(() => new DockerExecutor({ cluster: 'a.b', hostId: 'h1' })).toThrow(/DockerExecutor.cluster/);
    expect(() => new DockerExecutor({ cluster: 'c', hostId: '' })).toThrow(/DockerExecutor.hostId/);
    expect(() => new DockerExecutor({ cluster: 'c', hostId: 'h1', netwrk: 'x' } as never)).toThrow(/DockerExecutor.netwrk: unknown option/);
  });
});

/** The capability bits of the `CapEff:` line of /proc/self/status, as printed by the kernel in hex. */
async function effectiveCapabilities(id: string): Promise<bigint> {
  const { exitCode, stdout } = await execIn(docker, id, ['grep', 'CapEff', '/proc/self/status']);
  expect(exitCode).toBe(0);
  return BigInt(`0x${stdout.trim().split(/\s+/)[1]}`);
}

// Linux capability numbers (include/uapi/linux/capability.h).
const CAP = { CHOWN: 0, DAC_OVERRIDE: 1, FOWNER: 3, KILL: 5, SETGID: 6, SETUID: 7, NET_BIND_SERVICE: 10, NET_RAW: 13, SYS_CHROOT: 18 } as const;
const mask = (...names: (keyof typeof CAP)[]): bigint => names.reduce((m, n) => m | (1n << BigInt(CAP[n])), 0n);
const DEFAULT_MASK = mask('CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'SETGID', 'SETUID', 'NET_BIND_SERVICE');

describe('DockerExecutor locks containers down', () => {
  it('drops every capability but the default set (no NET_RAW), with no-new-privileges, a pid limit and log rotation', async () => {
    const id = await executor.create(aTask(), aContainer(), { hostAddress: HOST_ADDRESS });
    await executor.start(id);

    const caps = await effectiveCapabilities(id);
    expect(caps & (1n << BigInt(CAP.NET_RAW))).toBe(0n);
    expect(caps).toBe(DEFAULT_MASK);
    const status = await execIn(docker, id, ['grep', 'NoNewPrivs', '/proc/self/status']);
    expect(status.stdout.trim()).toMatch(/^NoNewPrivs:\s+1$/);

    const { HostConfig } = await docker.getContainer(id).inspect();
    expect(HostConfig.CapDrop).toEqual(['ALL']);
    expect(HostConfig.SecurityOpt).toEqual(['no-new-privileges:true']);
    expect(HostConfig.PidsLimit).toBe(512);
    expect(HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
    expect(HostConfig.ReadonlyRootfs).toBe(false);
    expect(HostConfig.Init).toBe(true);
    expect(HostConfig.Privileged).toBe(false);
  });

  it('still runs httpd as root on a published port with the default set', async () => {
    const task = aTask();
    const id = await executor.create(task, anHttpd(), { hostAddress: HOST_ADDRESS, hostname: task.id });
    await executor.start(id);
    const [port] = (await executor.inspect(id))!.ports;
    const response = await fetchWhenReady(`http://${HOST_ADDRESS}:${port.hostPort}/`);
    expect(await response.text()).toBe('hello from skiff\n');
    // An exec probe runs under the same restrictions.
    expect(await executor.exec(id, ['test', '-f', '/www/index.html'], 5000)).toMatchObject({ exitCode: 0 });
  });

  it("adds the spec's capabilities to the default set, and drops the ones it names", async () => {
    const added = await executor.create(aTask(), aContainer({ securityContext: { capabilities: { add: ['SYS_CHROOT'] } } }), { hostAddress: HOST_ADDRESS });
    await executor.start(added);
    expect(await effectiveCapabilities(added)).toBe(DEFAULT_MASK | mask('SYS_CHROOT'));

    const minimal = await executor.create(aTask(), aContainer({ securityContext: { capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } } }), {
      hostAddress: HOST_ADDRESS,
    });
    await executor.start(minimal);
    expect(await effectiveCapabilities(minimal)).toBe(mask('NET_BIND_SERVICE'));
  });

  it("stops a fork loop at the pod's pidsLimit", async () => {
    const task = aTask({ pod: { containers: [], restartPolicy: 'always', pidsLimit: 32 } });
    const id = await executor.create(task, aContainer(), { hostAddress: HOST_ADDRESS });
    await executor.start(id);

    // 100 background sleeps: the shell's fork fails once the container holds 32 processes, and ash exits on it.
    const loop = await execIn(docker, id, ['sh', '-c', 'for i in $(seq 1 100); do sleep 600 & done; echo all started']);
    expect(loop.stdout).not.toContain('all started');
    expect(loop.stderr).toMatch(/fork/i);
    const stats = (await docker.getContainer(id).stats({ stream: false })) as { pids_stats?: { current?: number; limit?: number } };
    expect(stats.pids_stats?.limit).toBe(32);
    expect(stats.pids_stats?.current).toBeLessThanOrEqual(32);
    expect((await docker.getContainer(id).inspect()).HostConfig.PidsLimit).toBe(32);
  });

  it('runs as runAsUser:runAsGroup, with no effective capabilities', async () => {
    const id = await executor.create(aTask(), aContainer({ securityContext: { runAsUser: 1000, runAsGroup: 2000 } }), { hostAddress: HOST_ADDRESS });
    await executor.start(id);
    expect((await execIn(docker, id, ['id', '-u'])).stdout.trim()).toBe('1000');
    expect((await execIn(docker, id, ['id', '-g'])).stdout.trim()).toBe('2000');
    expect(await effectiveCapabilities(id)).toBe(0n);
    expect((await docker.getContainer(id).inspect()).Config.User).toBe('1000:2000');
  });

  it('makes the root filesystem read-only with readOnlyRootFilesystem', async () => {
    const id = await executor.create(aTask(), aContainer({ securityContext: { readOnlyRootFilesystem: true } }), { hostAddress: HOST_ADDRESS });
    await executor.start(id);
    const write = await execIn(docker, id, ['touch', '/written']);
    expect(write.exitCode).not.toBe(0);
    expect(write.stderr).toMatch(/read-only file system/i);
    expect((await docker.getContainer(id).inspect()).HostConfig.ReadonlyRootfs).toBe(true);
  });

  it('refuses to create a runAsNonRoot container whose image runs as root, saying why', async () => {
    const err = await executor.create(aTask(), aContainer({ securityContext: { runAsNonRoot: true } }), { hostAddress: HOST_ADDRESS }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerError);
    expect(err).toMatchObject({ retryable: false });
    expect((err as Error).message).toMatch(/runAsNonRoot is true but the image skiff\/busybox:latest runs as root/);
    expect(await executor.list()).toEqual([]);

    // With a non-root uid it starts.
    const id = await executor.create(aTask(), aContainer({ securityContext: { runAsNonRoot: true, runAsUser: 1000 } }), { hostAddress: HOST_ADDRESS });
    await executor.start(id);
    expect((await execIn(docker, id, ['id', '-u'])).stdout.trim()).toBe('1000');
  });
});

describe('containerSpecHash', () => {
  it('is the same for equal specs whatever their key order, and changes with any field', () => {
    const spec = aContainer({ env: { A: '1', B: '2' } });
    const reordered: ContainerSpec = {
      resources: { memory: spec.resources.memory, cpu: spec.resources.cpu },
      ports: [],
      env: { B: '2', A: '1' },
      command: ['sleep', '600'],
      image: TEST_IMAGE,
      name: 'app',
    };
    expect(containerSpecHash(reordered)).toBe(containerSpecHash(spec));
    expect(containerSpecHash({ ...spec, args: undefined })).toBe(containerSpecHash(spec));

    expect(containerSpecHash({ ...spec, env: { A: '1', B: '3' } })).not.toBe(containerSpecHash(spec));
    expect(containerSpecHash({ ...spec, command: ['sleep', '601'] })).not.toBe(containerSpecHash(spec));
    expect(containerSpecHash({ ...spec, resources: { ...spec.resources, cpu: 200 } })).not.toBe(containerSpecHash(spec));
  });
});

describe('cpuShares', () => {
  it('gives 1024 shares per CPU and never less than the kernel minimum', () => {
    expect(cpuShares(1000)).toBe(1024);
    expect(cpuShares(250)).toBe(256);
    expect(cpuShares(0)).toBe(2);
  });
});
