/** The local waker sends SIGUSR1 only to a pid its check takes for the host's agent: SIGUSR1 kills a process that does not handle it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SignalWaker } from '../../local/waker.ts';
import { findAgent } from '../../local/cluster.ts';

let dir: string;
let sleeper: ChildProcess;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-waker-'));
  sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  await new Promise<void>((r, j) => sleeper.once('spawn', r).once('error', j));
});

afterEach(() => {
  if (sleeper.exitCode === null && sleeper.signalCode === null) sleeper.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it.skipIf(process.platform !== 'linux')('does not signal a stale pid file that names another process, which survives', async () => {
  // The layout of a data dir: <dataDir>/run/<host>.pid.
  const runDir = join(dir, 'run');
  mkdirSync(runDir);
  writeFileSync(join(runDir, 'host-1.pid'), String(sleeper.pid));
  // The check local/cluster.ts gives it: the pid must be this cluster's agent of that host.
  const waker = new SignalWaker(runDir, (id, pid) => findAgent(dir, 'local', id)?.pid === pid);
  await waker.wake(['host-1']);
  await new Promise((r) => setTimeout(r, 100));
  expect(sleeper.exitCode).toBeNull();
  expect(sleeper.signalCode).toBeNull();
  // Taken at its word, the same pid file kills it (sleep dies of SIGUSR1): the check is what saved it.
  await new SignalWaker(runDir).wake(['host-1']);
  await new Promise<void>((r) => sleeper.once('exit', () => r()));
  expect(sleeper.signalCode).toBe('SIGUSR1');
});
