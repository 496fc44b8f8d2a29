/**
 * What the ingress benchmarks (bench/ingress-tls.ts, bench/haproxy-placement.ts, bench/discovery.ts)
 * run beside Skiff's proxies to compare them with: a bare HAProxy peer started as a plain child, a
 * fast node:http replica, wrk and the reading of its output, and the small helpers around them.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A port free now on 127.0.0.1 (HAProxy takes no port 0); the bind that follows may still lose a race. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** The median: the middle value, or the mean of the two middle ones for an even count. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * A bare HAProxy configuration: one backend of `servers` (`host:port`, round robin) with no rules,
 * behind a plain frontend on 127.0.0.1:`plainPort` and, with `tlsPort` and `pem` (a PEM holding
 * the certificate chain and its key), a TLS one. Keep-alive both sides, so the peer is measured at
 * its best, not at a connection per request.
 */
export function bareHaproxyConfig(options: { plainPort: number; tlsPort?: number; pem?: string; servers: string[] }): string {
  const tls =
    options.tlsPort !== undefined && options.pem !== undefined
      ? `frontend tls
  bind 127.0.0.1:${options.tlsPort} ssl crt ${options.pem} alpn h2,http/1.1
  default_backend web
`
      : '';
  return `global
  maxconn 1024
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend plain
  bind 127.0.0.1:${options.plainPort}
  default_backend web
${tls}backend web
  balance roundrobin
${options.servers.map((s, i) => `  server r${i} ${s}`).join('\n')}
`;
}

/** An HAProxy started as a child of the benchmark. */
export interface HaproxyChild {
  child: ChildProcess;
  pid: number | undefined;
  plainPort: number;
  /** Only when started with TLS. */
  tlsPort: number | undefined;
  /** SIGTERM to its pid, unless it has exited already. */
  stop(): void;
}

/**
 * HAProxy on the configuration `config` makes of free ports (a plain one, and a TLS one with
 * `tls`), written to `file`. `detached` starts it in a new session (scheduled apart by Linux's
 * autogroups). It is not waited for: whether it is listening is the caller's to check.
 */
export async function spawnHaproxy(options: {
  file: string;
  config: (ports: { plainPort: number; tlsPort: number | undefined }) => string;
  tls?: boolean;
  detached?: boolean;
}): Promise<HaproxyChild> {
  const plainPort = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  await writeFile(options.file, options.config({ plainPort, tlsPort }));
  const child = spawn('haproxy', ['-f', options.file], { stdio: 'ignore', detached: options.detached ?? false });
  return {
    child,
    pid: child.pid,
    plainPort,
    tlsPort,
    stop: () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    },
  };
}

/** HAProxy on bareHaproxyConfig to `servers`, with a TLS frontend when given `pem`. */
export function startBareHaproxy(options: { file: string; servers: string[]; pem?: string; detached?: boolean }): Promise<HaproxyChild> {
  return spawnHaproxy({
    file: options.file,
    tls: options.pem !== undefined,
    detached: options.detached,
    config: ({ plainPort, tlsPort }) => bareHaproxyConfig({ plainPort, tlsPort, pem: options.pem, servers: options.servers }),
  });
}

export interface Replica {
  port: number;
  close(): Promise<void>;
}

/**
 * A replica as fast as node:http gets on 127.0.0.1: it answers every request with its name, and
 * holds idle connections 30 s, so wrk's keep-alive connections stay open between requests.
 */
export async function startReplica(name: string): Promise<Replica> {
  const body = `${name}\n`;
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * wrk's figures: requests per second (NaN when it printed none), the failed requests, and what
 * they were (`2 non-2xx/3xx, read 3`; empty when none failed).
 */
export function parseWrk(stdout: string): { rate: number; failed: number; failures: string } {
  // A rate is only worth printing with what failed: answers that were not 2xx/3xx, socket errors (timeouts among them).
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const kinds: [string, number][] = [
    ['non-2xx/3xx', non2xx],
    ...(['connect', 'read', 'write', 'timeout'].map((k, i) => [k, Number(socket?.[i + 1] ?? 0)]) as [string, number][]),
  ];
  const failed = kinds.reduce((sum, [, n]) => sum + n, 0);
  const failures = kinds
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  return { rate: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN), failed, failures };
}

/**
 * wrk, 2 threads, 8 connections, for `seconds`, with a Host header when given `host`. It runs
 * asynchronously: a proxy that lives in the benchmark's own process would not serve while a
 * synchronous child runs.
 */
export async function wrk(
  url: string,
  options: { seconds: number; host?: string; timeoutMs?: number },
): Promise<{ rate: number; failed: number; failures: string; stdout: string }> {
  const args = ['-t2', '-c8', `-d${options.seconds}s`, ...(options.host ? ['-H', `Host: ${options.host}`] : []), url];
  const { stdout } = await run('wrk', args, { encoding: 'utf8', maxBuffer: 1 << 20, timeout: options.timeoutMs ?? 0 });
  return { ...parseWrk(stdout), stdout };
}

/** wrk's requests per second; an error when it printed no rate or any request failed. */
export async function wrkRate(url: string, options: { seconds: number; host?: string }): Promise<number> {
  const { rate, failed, stdout } = await wrk(url, options);
  if (Number.isNaN(rate)) throw new Error(`wrk printed no rate:\n${stdout}`);
  if (failed > 0) throw new Error(`wrk saw ${failed} failed requests (answers not 2xx/3xx, socket errors) from ${url}:\n${stdout}`);
  return rate;
}
