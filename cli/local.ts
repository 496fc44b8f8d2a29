/**
 * `skiff local ...`: the one-machine cluster from the command line.
 *
 * `local up` runs the control plane in the foreground and answers three signals:
 * SIGINT (Ctrl-C) and SIGTERM stop everything (agents, the cluster's containers, the control plane;
 * state is kept); SIGUSR2 stops only the control plane (`local down --keep-hosts`): the agents and
 * their containers keep running, and the next `local up` adopts them on the same endpoints.
 *
 * The host commands (kill-host, pause-host, resume-host, start-host) act on the agents directly,
 * through the pid and configuration files in the data dir, so they work with the control plane down.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  controlPlaneMismatch,
  findAgent,
  hostFiles,
  hostState,
  isAlive,
  killHost,
  removeContainers,
  removeNetwork,
  startAgent,
  startLocalCluster,
  stopAgent,
  type HostState,
  type LocalClusterOptions,
  type LocalStatus,
} from '../local/cluster.ts';
import { readTrustedStatus, statusFilePath } from './local-status.ts';
import { table } from './format.ts';

type Out = { log: (s: string) => void; err: (s: string) => void };

type StopKind = 'all' | 'control-plane';

/** The status file of this folder when there is one that may be believed (cli/local-status.ts); an error when there is one that may not. */
function trustedStatus(cwd?: string): { file: string; status: LocalStatus | undefined } {
  const file = statusFilePath(cwd);
  const found = readTrustedStatus(file);
  if (found?.untrusted) throw new Error(`not using ${file}: ${found.untrusted}`);
  return { file, status: found?.status };
}

export async function localUp(opts: Omit<LocalClusterOptions, 'statusFile' | 'log'>, out: Out): Promise<number> {
  let statusFile = statusFilePath();
  const found = readTrustedStatus(statusFile);
  if (found?.untrusted) {
    // Found in a parent folder and not to be trusted: this folder gets a status file of its own.
    const own = join(process.cwd(), '.skiff', 'local.json');
    if (own === statusFile) throw new Error(`not using ${statusFile}: ${found.untrusted}; remove it, or make it yours alone`);
    out.err(`skiff: ignoring ${statusFile}: ${found.untrusted}; the status goes to ${own}`);
    statusFile = own;
  }
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as typeof opts;
  // Listen before starting: SIGUSR2's default action would kill this process and skip every cleanup.
  let requested: { kind: StopKind; signal: string } | undefined;
  let onRequest: (() => void) | undefined;
  const request = (kind: StopKind, signal: string) => {
    if (requested) return;
    requested = { kind, signal };
    onRequest?.();
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ['SIGINT', () => request('all', 'SIGINT')],
    ['SIGTERM', () => request('all', 'SIGTERM')],
    ['SIGUSR2', () => request('control-plane', 'SIGUSR2')],
  ];
  for (const [s, h] of handlers) process.on(s, h);
  try {
    const cluster = await startLocalCluster({ ...defined, statusFile, log: out.log });
    const { status } = cluster;
    out.log(
      `skiff: local cluster "${status.cluster}" is up with ${status.hosts.length} host(s); API ${status.api}, DNS ${status.dns}, load balancer ${status.proxy}${status.proxyHttps ? ` and ${status.proxyHttps}` : ''}`,
    );
    if (status.ca) out.log(`skiff: local CA certificate ${status.ca} (curl --cacert ${status.ca} https://<ingress host>/)`);
    out.log(`skiff: in another terminal: npx skiff apply -f examples/hello.yaml && npx skiff get tasks`);
    out.log('skiff: Ctrl-C stops the cluster and removes its containers; `skiff local down --keep-hosts` stops only the control plane');
    await new Promise<void>((resolve) => {
      onRequest = resolve;
      if (requested) resolve();
    });
    const { kind, signal } = requested!;
    if (kind === 'all') {
      out.log(`skiff: ${signal}: stopping the local cluster`);
      await cluster.stop();
      out.log('skiff: stopped');
    } else {
      out.log(`skiff: ${signal}: stopping the control plane; the hosts keep running`);
      await cluster.stopControlPlane();
      out.log(`skiff: control plane stopped; \`skiff local up\` with the same --cluster and --data brings it back and adopts the hosts`);
    }
    return 0;
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
  }
}

interface HostView {
  readonly id: string;
  readonly address: string;
  readonly pid: number | null;
  readonly state: HostState;
  readonly log: string;
}

function hostViews(status: LocalStatus): HostView[] {
  return status.hosts.map((h) => ({ id: h.id, address: h.address, ...hostState(status.dataDir, status.cluster, h.id), log: h.log }));
}

/**
 * Shows the control plane and each host's agent as they are now. Exit 0 when anything of the cluster
 * runs (the control plane, or hosts kept running without it), 1 when nothing does.
 */
export function localStatus(mode: 'table' | 'json', out: Out, cwd?: string): number {
  const { file, status } = trustedStatus(cwd);
  const hosts = status ? hostViews(status) : [];
  const controlPlane = status !== undefined && controlPlaneMismatch(status, file) === undefined;
  if (!status || (!controlPlane && hosts.every((h) => h.state === 'dead'))) {
    if (mode === 'json') out.log(JSON.stringify({ running: false }));
    else out.err('skiff: no local cluster is running from this folder (start one with `npm start`)');
    return 1;
  }
  if (mode === 'json') {
    out.log(JSON.stringify({ running: controlPlane, controlPlane: controlPlane ? 'running' : 'stopped', ...status, hosts }, null, 2));
    return 0;
  }
  out.log(
    controlPlane
      ? `cluster ${status.cluster}: API ${status.api} (pid ${status.pid}), DNS ${status.dns}, load balancer ${status.proxy}${status.proxyHttps ? ` and ${status.proxyHttps}` : ''}${status.ca ? ` (CA ${status.ca})` : ''}, data in ${status.dataDir}`
      : `cluster ${status.cluster}: control plane stopped (\`skiff local up\` brings it back on ${status.api}), data in ${status.dataDir}`,
  );
  out.log(
    table([['HOST', 'ADDRESS', 'AGENT PID', 'STATE', 'LOG'], ...hosts.map((h) => [h.id, h.address, h.pid === null ? '-' : String(h.pid), h.state, h.log])]),
  );
  return 0;
}

/**
 * Stops the local cluster of this folder. With `keepHosts`, only its control plane (SIGUSR2 to
 * `local up`). With the control plane already gone and hosts kept running, stops those hosts and
 * removes the cluster's containers itself. Signals the pid the status file names only when it is that
 * control plane (controlPlaneMismatch), and the agents only when they are (findAgent).
 */
export async function localDown(opts: { keepHosts: boolean }, out: Out, cwd?: string): Promise<number> {
  const { file, status } = trustedStatus(cwd);
  if (!status) throw new Error('no local cluster is running from this folder');
  const mismatch = controlPlaneMismatch(status, file);
  if (mismatch && isAlive(status.pid)) out.err(`skiff: not signalling pid ${status.pid} named by ${file}: ${mismatch}; taking the control plane for stopped`);
  const isControlPlane = () => controlPlaneMismatch(status, file) === undefined;
  if (!mismatch) {
    process.kill(status.pid, opts.keepHosts ? 'SIGUSR2' : 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (isControlPlane() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (isControlPlane()) throw new Error(`the local cluster (pid ${status.pid}) did not stop within 30 s`);
    if (!opts.keepHosts) {
      out.log(`skiff: local cluster "${status.cluster}" stopped`);
      return 0;
    }
    const kept = hostViews(status).filter((h) => h.state !== 'dead');
    out.log(
      `skiff: control plane of local cluster "${status.cluster}" stopped; ${kept.length} host(s) keep running (${kept.map((h) => `${h.id} pid ${h.pid}`).join(', ') || 'none'}); \`skiff local up\` adopts them`,
    );
    return 0;
  }
  const alive = hostViews(status).filter((h) => h.state !== 'dead');
  if (opts.keepHosts || alive.length === 0) {
    if (alive.length === 0) rmSync(file, { force: true });
    throw new Error(`the control plane of local cluster "${status.cluster}" is not running${alive.length ? '' : ', and none of its hosts is'}`);
  }
  await Promise.all(alive.map((h) => stopAgent(status.dataDir, status.cluster, h.id)));
  const removed = await removeContainers(status.cluster);
  await removeNetwork(status.cluster);
  rmSync(file, { force: true });
  out.log(`skiff: stopped the ${alive.length} host(s) of local cluster "${status.cluster}" and removed its ${removed} container(s)`);
  return 0;
}

export type HostAction = 'kill' | 'pause' | 'resume' | 'start';

/** kill-host, pause-host, resume-host, start-host: rehearse a dead machine, a partition, a recovery. */
export async function localHost(action: HostAction, id: string, out: Out): Promise<number> {
  const { status } = trustedStatus();
  if (!status) throw new Error('no local cluster from this folder (start one with `skiff local up`)');
  const valid = status.hosts.map((h) => h.id);
  if (!valid.includes(id)) throw new Error(`no host "${id}" in local cluster "${status.cluster}"; its hosts are ${valid.join(', ')}`);
  const { dataDir, cluster } = status;
  const agent = findAgent(dataDir, cluster, id);
  switch (action) {
    case 'kill': {
      const killed = await killHost(dataDir, cluster, id);
      out.log(`${id}: ${killed.pid ? `killed its agent (pid ${killed.pid})` : 'its agent was already dead'} and ${killed.containers} running container(s)`);
      return 0;
    }
    case 'pause':
      if (!agent) throw new Error(`${id} is dead: nothing to pause (\`skiff local start-host ${id}\` starts it)`);
      process.kill(agent.pid, 'SIGSTOP');
      out.log(`${id}: paused its agent (pid ${agent.pid}); its containers keep running`);
      return 0;
    case 'resume':
      if (!agent) throw new Error(`${id} is dead: nothing to resume (\`skiff local start-host ${id}\` starts it)`);
      process.kill(agent.pid, 'SIGCONT');
      out.log(`${id}: ${agent.state === 'paused' ? 'resumed' : 'was not paused; left running'} its agent (pid ${agent.pid})`);
      return 0;
    case 'start': {
      if (agent?.state === 'paused') throw new Error(`${id} is paused, not dead (agent pid ${agent.pid}): \`skiff local resume-host ${id}\` resumes it`);
      if (agent) {
        out.log(`${id}: already running (agent pid ${agent.pid})`);
        return 0;
      }
      const pid = startAgent(dataDir, id);
      out.log(`${id}: started its agent (pid ${pid}, log ${hostFiles(dataDir, id).log})`);
      return 0;
    }
  }
}
