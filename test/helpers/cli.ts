/** Run the real `skiff` command (bin/skiff.mjs) as a child process, and a local cluster with it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { authedFetch, localToken } from './local-api.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const SKIFF = join(ROOT, 'bin', 'skiff.mjs');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `skiff ARGS` in `cwd` and collects its output. */
export function skiff(args: readonly string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [SKIFF, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? -1, stdout, stderr });
    });
  });
}

export function json<T = unknown>(r: CliResult): T {
  if (r.code !== 0) throw new Error(`skiff failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface RunningCluster {
  readonly child: ChildProcess;
  readonly api: string;
  /** The cluster's bearer token; `fetch` sends it. */
  readonly token: string;
  readonly fetch: typeof fetch;
  readonly output: () => string;
  /** SIGINT (Ctrl-C) and wait for the process to exit; returns its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `skiff local up ARGS` in `cwd` and waits until its status file names a healthy API. `env` is added
 * to its environment (and so to its agents', e.g. DOCKER_HOST).
 */
export async function startCluster(cwd: string, args: readonly string[], timeoutMs = 60_000, env?: Record<string, string>): Promise<RunningCluster> {
  const child = spawn(process.execPath, [SKIFF, 'local', 'up', ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const statusFile = join(cwd, '.skiff', 'local.json');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`skiff local up exited with ${child.exitCode}:\n${out}`);
    if (existsSync(statusFile)) {
      const api = (JSON.parse(readFileSync(statusFile, 'utf8')) as { api: string }).api;
      try {
        // Written before the API listens.
        const token = localToken(cwd);
        const authed = authedFetch(token);
        const res = await authed(`${api}/v1/healthz`);
        if (res.ok) return { child, api, token, fetch: authed, output: () => out, stop };
      } catch {
        // not listening yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`skiff local up did not become ready in ${timeoutMs} ms:\n${out}`);
}

const OVERRUN = Symbol('overrun');

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    // A check that never settles (a request to a server that accepted and went quiet) must not hold the
    // wait past its deadline: it is raced against the time left, and named when it loses.
    const overrun = new Promise<typeof OVERRUN>((ok) => {
      timer = setTimeout(() => ok(OVERRUN), Math.max(0, deadline - started));
    });
    let v: T | undefined | typeof OVERRUN;
    try {
      v = await Promise.race([check(), overrun]);
    } catch (err) {
      last = err;
      v = undefined;
    } finally {
      clearTimeout(timer);
    }
    if (v === OVERRUN) throw new Error(`timed out waiting for ${what}: its last check had not returned after ${Date.now() - started} ms`);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
