/**
 * HAProxy as the local data plane (opt-in: `skiff local up --ingress haproxy`; the Node proxy
 * stays the default). Same interface as the Node proxy (`ProxyServer`), so local/cluster.ts can
 * run either.
 *
 * - HAProxy runs in master-worker mode (`-W -S <master socket>`), a child of this process, stopped
 *   by its pid on `close`.
 * - `sync(routes)` changes HAProxy the cheapest way that gives the table:
 *   - when only targets changed (replicas came, left or came back), through the runtime API on the
 *     workers' stats socket, without a reload: each backend has a pool of server slots
 *     (local/haproxy-slots.ts), `set server ... addr/state ready` puts a new replica in a free
 *     slot, `state maint` takes a leaving one out of balancing while its requests finish, and its
 *     slot is free again once it has no session (or after `hardStopAfterMs`, shutting those left).
 *     A command HAProxy refuses is logged and the table is applied by a reload instead;
 *   - otherwise (routes, hosts, paths, TLS, affinity; a backend out of free slots) by a reload:
 *     the configuration (local/haproxy-config.ts) is checked (`haproxy -c`), written atomically, and
 *     applied by a seamless reload through the master socket: the new worker takes the listening
 *     sockets over, the old one finishes the requests it has (that drain is per reload) and leaves
 *     within `hardStopAfterMs`.
 *   Syncs within `debounceMs` of each other share one change; one that changes nothing changes
 *   nothing (discovery syncs every 250 ms).
 * - TLS: a certificate per routed host, issued by the local CA once and kept as a file, listed in
 *   a crt-list; clients that send no known name get a localhost certificate, as with the Node proxy.
 * - `requestCounts()` reads `show stat` from the workers' stats socket every second; a reload
 *   starts a worker's counters from zero, so the old worker's last counts are carried over (a
 *   runtime change keeps the worker and its counters).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { IngressRoute } from '../ports/index.ts';
import { loadLocalCa, type CaFiles, type LocalCa } from './ca.ts';
import { backendNames, type HaproxyConfigOptions, haproxyConfig, requestCountsFromStat, serverSessionsFromStat } from './haproxy-config.ts';
import { emptied, type Layout, layoutForReload, planTargets, releaseSlots, runtimeAnswerOk, type TargetPlan } from './haproxy-slots.ts';
import { stderrLog, type ProxyServer } from './proxy.ts';

const run = promisify(execFile);

/** HAProxy's lines that come with every reload (a worker forked, the old one's proxies stopped and it exited): not worth a log line. */
const BENIGN = /\[NOTICE\]|Proxy \S+ stopped \(cumulated conns|Former worker \(\d+\) exited with code 0/;

export interface HaproxyOptions {
  /** Address to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Plain HTTP port; 0 picks a free one (HAProxy binds only given ports, so it is picked here). @default 0 */
  readonly port?: number;
  /** The local CA's files: when given, an HTTPS listener (h2 and HTTP/1.1) on `httpsPort`. */
  readonly ca?: CaFiles;
  /** @default 0 */
  readonly httpsPort?: number;
  /** Where the configuration, sockets and certificates go. @default a temporary folder, removed on close */
  readonly runDir?: string;
  /** How long an old worker may keep connections after a reload (downloads, WebSockets). @default 60000 */
  readonly hardStopAfterMs?: number;
  /** Syncs this close together share one reload. @default 100 */
  readonly debounceMs?: number;
  /** The haproxy executable. @default 'haproxy' */
  readonly binary?: string;
  readonly log?: (line: string) => void;
}

/** What `local up --ingress haproxy` says when HAProxy is not there. */
export function haproxyMissing(binary: string, cause: string): Error {
  return new Error(
    `--ingress haproxy needs HAProxy (2.6 or later) on the PATH, but running "${binary} -v" failed: ${cause}. Install it (Debian/Ubuntu: apt-get install haproxy), or leave --ingress out to use the built-in Node proxy`,
  );
}

/** The first line of `haproxy -v`; throws `haproxyMissing` when there is no HAProxy 2.6 or later. */
export async function haproxyVersion(binary = 'haproxy'): Promise<string> {
  try {
    const { stdout } = await run(binary, ['-v']);
    const first = stdout.split('\n')[0].trim();
    const m = /version (\d+)\.(\d+)/.exec(first);
    if (!m || Number(m[1]) * 100 + Number(m[2]) < 206) throw new Error(`found ${first || 'an unknown version'}`);
    return first;
  } catch (err) {
    throw haproxyMissing(binary, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such program' : (err as Error).message);
  }
}

/** The HAProxy data plane: a `ProxyServer`, and how it applied the tables (tests and benchmarks). */
export interface HaproxyServer extends ProxyServer {
  /** Reloads made: route, host, TLS or affinity changes, a backend out of slots, a refused runtime command. */
  reloads(): number;
  /** Target changes applied through the runtime API, without a reload. */
  runtimeUpdates(): number;
  /** The pid of HAProxy's current worker (a reload replaces it). */
  workerPid(): Promise<number | undefined>;
  /** Each route's server slots (`host path`: `s1=<task id>`, `s2=<task id> (leaving)`, `s3=` when free), for tests and debugging. */
  slots(): Record<string, string[]>;
}

/** Starts HAProxy with no routes (every host answers 404); resolves once it listens. */
export async function startHaproxy(options: HaproxyOptions = {}): Promise<HaproxyServer> {
  const binary = options.binary ?? 'haproxy';
  const log = options.log ?? stderrLog;
  await haproxyVersion(binary);
  const address = options.host ?? '127.0.0.1';
  const ownDir = options.runDir === undefined;
  const dir = options.runDir ?? (await mkdtemp(join(tmpdir(), 'skiff-haproxy-')));
  await mkdir(join(dir, 'certs'), { recursive: true, mode: 0o700 });
  const cfgPath = join(dir, 'haproxy.cfg');
  // A Unix socket's path has at most 107 bytes: a deep data folder gets its sockets in a temporary folder.
  const socketDir = join(dir, 'master.sock').length > 100 ? await mkdtemp(join(tmpdir(), 'skiff-haproxy-')) : dir;
  const statsSocket = join(socketDir, 'stats.sock');
  const masterSocket = join(socketDir, 'master.sock');
  const crtList = join(dir, 'crt-list.txt');
  const debounceMs = options.debounceMs ?? 100;
  const port = options.port || (await freePort(address));
  let httpsPort: number | undefined;
  let ca: LocalCa | undefined;
  const defaultCertificate = join(dir, 'certs', 'default.pem');
  if (options.ca) {
    httpsPort = options.httpsPort || (await freePort(address));
    ca = await loadLocalCa(options.ca);
    const pair = await ca.issue('localhost', ['127.0.0.1', '::1']);
    await writeSecret(defaultCertificate, `${pair.cert}${pair.key}`);
  }
  /** Certificate files by host name, issued once. */
  const certificates = new Map<string, string>();
  const configOptions = async (routes: readonly IngressRoute[]): Promise<HaproxyConfigOptions> => {
    if (ca) {
      const hosts = [...new Set(routes.map((r) => r.host))].sort();
      for (const host of hosts) {
        if (certificates.has(host)) continue;
        const pair = await ca.issue(host);
        const file = join(dir, 'certs', `${host.replace('*', '_wildcard_')}.pem`);
        await writeSecret(file, `${pair.cert}${pair.key}`);
        certificates.set(host, file);
      }
      await writeAtomic(crtList, hosts.map((h) => `${certificates.get(h)} ${h}\n`).join(''), 0o600);
    }
    return {
      address,
      port,
      statsSocket,
      ...(httpsPort === undefined ? {} : { https: { port: httpsPort, defaultCertificate, crtList } }),
      ...(options.hardStopAfterMs === undefined ? {} : { hardStopAfterMs: options.hardStopAfterMs }),
    };
  };

  await writeAtomic(cfgPath, haproxyConfig([], await configOptions([])), 0o600);
  let stderrTail = '';
  let closed = false;
  // Its own process group: a Ctrl-C in the terminal reaches `local up`, which stops HAProxy by its
  // pid in its own order, rather than HAProxy at once. But not its own session (spawn's `detached`):
  // with the kernel's autogroups (Linux's default) a new session is scheduled as a group of its own
  // against everything else, and that halved HAProxy's throughput on a busy 2-core machine
  // (bench/ingress-tls.ts; docs/load-balancing.md).
  const [file, args, detached] = inOwnProcessGroup(binary, ['-W', '-S', `${masterSocket},mode,600`, '-f', cfgPath], await hasPerl());
  const child: ChildProcess = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], detached });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
    // Notices (a worker forked, loading succeeded) come with every reload; warnings and alerts are worth a line.
    if (closed) return;
    for (const line of chunk.split('\n')) if (line.trim() !== '' && !BENIGN.test(line)) log(`haproxy: ${line.trim()}`);
  });
  let exited = false;
  let listening = false;
  child.once('exit', (code, signal) => {
    exited = true;
    if (listening && !closed) log(`haproxy exited unexpectedly (${signal ?? `code ${code}`}); ingress is down until the cluster starts again`);
  });
  try {
    await waitUntil(
      async () => {
        if (exited) {
          const inUse = /Address already in use|cannot bind socket/i.test(stderrTail);
          throw Object.assign(
            new Error(`haproxy exited before it listened: ${stderrTail.trim().split('\n').slice(-3).join(' / ')}`),
            inUse ? { code: 'EADDRINUSE' } : {},
          );
        }
        return (
          (await canConnect(address, port)) &&
          (await command(masterSocket, 'show proc').then(
            () => true,
            () => false,
          ))
        );
      },
      10_000,
      'haproxy to listen',
    );
  } catch (err) {
    if (!exited && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    if (ownDir) await rm(dir, { recursive: true, force: true });
    if (socketDir !== dir) await rm(socketDir, { recursive: true, force: true });
    throw err;
  }

  listening = true;
  let routes: IngressRoute[] = [];
  let failedReloads = 0;
  let reloadCount = 0;
  let runtimeCount = 0;
  /** The replicas in each backend's server slots, as HAProxy has them now. */
  let layout: Layout = new Map();
  /** The configuration in force with every slot free: a table with another shape needs a reload. */
  let appliedShape = shapeOf([], layout, await configOptions([]));
  /** Set when runtime commands failed part-way: what HAProxy has is unknown until a reload succeeds. */
  let mustReload = false;
  const forceAfterMs = options.hardStopAfterMs ?? 60_000;
  /** Counts of the workers before the current one; the current one's last reading. */
  const base: Record<string, number> = {};
  let current: Record<string, number> = {};

  /** Every change to HAProxy (a reload, runtime commands, freeing slots) runs in this chain, one at a time. */
  let applying: Promise<void> = Promise.resolve();

  /** Reads the counts, and frees the slots of leaving replicas with no session left (or past `forceAfterMs`). */
  const tick = async (): Promise<void> => {
    const stat = await command(statsSocket, 'show stat');
    if (!stat.includes('# pxname')) return;
    current = requestCountsFromStat(stat);
    if (![...layout.values()].some((pool) => pool.some((s) => s.leavingSince !== undefined))) return;
    const released = releaseSlots(layout, backendNames(routes), serverSessionsFromStat(stat), Date.now(), forceAfterMs);
    for (const line of released.commands) {
      const answer = await command(statsSocket, line);
      if (!runtimeAnswerOk(line, answer)) log(`haproxy: the runtime API refused "${line}": ${answer.trim()}`);
    }
    layout = released.layout;
  };
  let ticking = false;
  const poll = setInterval(() => {
    if (ticking) return;
    ticking = true;
    applying = applying.then(() =>
      tick()
        .catch(() => {})
        .finally(() => {
          ticking = false;
        }),
    );
  }, 1000);
  poll.unref();

  /** The table the next change applies, and who waits for it. */
  let wanted: IngressRoute[] | undefined;
  let waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  let timer: NodeJS.Timeout | undefined;

  /** Target changes through the runtime API; false (after a log line) when HAProxy refused a command, so the caller reloads. */
  const applyAtRuntime = async (next: IngressRoute[], plan: Extract<TargetPlan, { kind: 'runtime' }>, text: string): Promise<boolean> => {
    for (const line of plan.commands) {
      const answer = await command(statsSocket, line).catch((err: Error) => `(${err.message})`);
      if (!runtimeAnswerOk(line, answer)) {
        log(`haproxy: the runtime API refused "${line}": ${answer.trim() || 'no answer'}; applying the routes by a reload instead`);
        return false;
      }
    }
    runtimeCount++;
    layout = plan.layout;
    routes = next;
    // The file on disk describes what runs, for people and for the next `haproxy -c`.
    await writeAtomic(cfgPath, text, 0o600);
    return true;
  };

  const apply = async (next: IngressRoute[]): Promise<void> => {
    const opts = await configOptions(next);
    const names = backendNames(next);
    const plan = planTargets(layout, next, names, Date.now());
    if (!mustReload && plan.kind === 'runtime' && shapeOf(next, plan.layout, opts) === appliedShape) {
      if (plan.commands.length === 0) {
        routes = next;
        return;
      }
      if (await applyAtRuntime(next, plan, haproxyConfig(next, opts, plan.layout))) return;
      // Some commands may have taken effect: the reload writes the whole plan, and until one
      // succeeds, no table is taken as applied at runtime.
      layout = plan.layout;
      mustReload = true;
    }
    await reload(next, layoutForReload(layout, next), opts);
  };

  const reload = async (next: IngressRoute[], nextLayout: Layout, opts: HaproxyConfigOptions): Promise<void> => {
    const text = haproxyConfig(next, opts, nextLayout);
    const candidate = `${cfgPath}.next`;
    await writeFile(candidate, text, { mode: 0o600 });
    try {
      await run(binary, ['-c', '-q', '-f', candidate]);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`haproxy refused the configuration for ${next.length} routes: ${(e.stderr ?? e.message).trim()}`);
    }
    await rename(candidate, cfgPath);
    const before = workerPid(await command(masterSocket, 'show proc'));
    reloadCount++;
    await command(masterSocket, 'reload').catch(() => '');
    // The reload is done when a new worker serves and the old one is stopping: it no longer
    // accepts connections (in between, both do) and finishes those it has (that drain is per
    // reload: every connection of the old worker, whatever its replica).
    await waitUntil(
      async () => {
        if (exited) throw new Error(`haproxy exited during a reload: ${stderrTail.trim().split('\n').slice(-3).join(' / ')}`);
        const proc = await command(masterSocket, 'show proc').catch(() => '');
        const failed = /master\s+\d+\s+\[failed: (\d+)\]/.exec(proc);
        if (failed && Number(failed[1]) > failedReloads) {
          failedReloads = Number(failed[1]);
          throw new Error(`haproxy failed to reload: ${stderrTail.trim().split('\n').slice(-3).join(' / ')}`);
        }
        const now = workerPid(proc);
        return now !== undefined && now !== before;
      },
      10_000,
      'haproxy to start a worker with the new routes',
    );
    if (before !== undefined) {
      await waitUntil(
        async () => {
          const info = await command(masterSocket, `@!${before} show info`).catch(() => '');
          return !/^Stopping: 0/m.test(info);
        },
        10_000,
        `haproxy's old worker ${before} to stop accepting connections`,
      );
      // Its final counts: it takes no new request once stopping.
      const last = await command(masterSocket, `@!${before} show stat`).catch(() => '');
      const counts = last.includes('# pxname') ? requestCountsFromStat(last) : current;
      for (const [k, v] of Object.entries(counts)) base[k] = (base[k] ?? 0) + v;
    }
    current = {};
    mustReload = false;
    layout = nextLayout;
    appliedShape = shapeOf(next, nextLayout, opts);
    routes = next;
  };

  const flush = (): void => {
    timer = undefined;
    const next = wanted!;
    const mine = waiters;
    wanted = undefined;
    waiters = [];
    applying = applying.then(() =>
      apply(next).then(
        () => {
          for (const w of mine) w.resolve();
        },
        (err: Error) => {
          log(err.message);
          for (const w of mine) w.reject(err);
        },
      ),
    );
  };

  return {
    url: `http://${address}:${port}`,
    port,
    ...(httpsPort === undefined ? {} : { httpsUrl: `https://${address}:${httpsPort}`, httpsPort }),
    sync(next: readonly IngressRoute[]): Promise<void> {
      if (closed) return Promise.reject(new Error('the HAProxy data plane is closed'));
      wanted = structuredClone([...next]);
      return new Promise<void>((resolve, reject) => {
        waiters.push({ resolve, reject });
        timer ??= setTimeout(flush, debounceMs);
      });
    },
    routes: () => structuredClone(routes),
    reloads: () => reloadCount,
    runtimeUpdates: () => runtimeCount,
    workerPid: async () => workerPid(await command(masterSocket, 'show proc')),
    slots: () =>
      Object.fromEntries(
        [...layout].map(([key, pool]) => [key, pool.map((s) => `${s.server}=${s.target?.taskId ?? ''}${s.leavingSince === undefined ? '' : ' (leaving)'}`)]),
      ),
    requestCounts: () => {
      const out: Record<string, number> = { ...base };
      for (const [k, v] of Object.entries(current)) out[k] = (out[k] ?? 0) + v;
      return out;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(poll);
      clearTimeout(timer);
      for (const w of waiters) w.reject(new Error('the HAProxy data plane closed before applying the routes'));
      waiters = [];
      await applying.catch(() => {});
      if (!exited && child.pid !== undefined) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        // SIGTERM to the master stops it and its workers at once (a hard stop, as the Node proxy's close).
        process.kill(child.pid, 'SIGTERM');
        const kill = setTimeout(() => child.pid !== undefined && !exited && process.kill(child.pid, 'SIGKILL'), 5000);
        await gone;
        clearTimeout(kill);
      }
      if (ownDir) await rm(dir, { recursive: true, force: true });
      if (socketDir !== dir) await rm(socketDir, { recursive: true, force: true });
    },
  };
}

/** Sets a process group and then runs the program (`exec` keeps the pid): Node's spawn sets a process group only with a new session. */
const SETPGRP = 'setpgrp(0, 0) or die "setpgrp: $!\\n"; exec { $ARGV[0] } @ARGV or die "cannot run $ARGV[0]: $!\\n"';

/**
 * How to start `binary` in a process group of its own but in this process's session: through
 * perl's `setpgrp` and `exec` when perl is there (Debian and Ubuntu always have it), otherwise in
 * a new session (`detached`), which keeps the Ctrl-C away too but schedules it apart.
 */
export function inOwnProcessGroup(binary: string, args: readonly string[], perl: boolean): [file: string, args: string[], detached: boolean] {
  return perl ? ['perl', ['-e', SETPGRP, binary, ...args], false] : [binary, [...args], true];
}

let perlFound: Promise<boolean> | undefined;
function hasPerl(): Promise<boolean> {
  perlFound ??= run('perl', ['-e', '1']).then(
    () => true,
    () => false,
  );
  return perlFound;
}

/** One command on an HAProxy CLI socket (master or stats); the answer, read until its empty line or until HAProxy closes. */
/** The configuration for `routes` with every slot free: equal for two tables that differ only in their targets. */
function shapeOf(routes: readonly IngressRoute[], layout: Layout, options: HaproxyConfigOptions): string {
  return haproxyConfig(routes, options, emptied(layout));
}

function command(socketPath: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let out = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer to "${line}" on ${socketPath} within 5 s`)));
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (chunk: string) => {
      out += chunk;
      // The master's CLI keeps the connection open after an answer, which ends with an empty line.
      if (out.endsWith('\n\n')) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
}

/** The pid of the current worker in the master's `show proc`. */
function workerPid(proc: string): number | undefined {
  const m = /# workers\n(\d+)\s+worker/.exec(proc);
  return m ? Number(m[1]) : undefined;
}

async function waitUntil(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A port free now on `host` (HAProxy takes no port 0); the bind that follows may still lose a race, and says so. */
async function freePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, resolve);
  });
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, path);
}

async function writeSecret(path: string, text: string): Promise<void> {
  await writeAtomic(path, text, 0o600);
  await chmod(path, 0o600);
}
