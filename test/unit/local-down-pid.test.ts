/**
 * `skiff local down` signals only the process the status file claims: `skiff local up` of this
 * user, from this folder, with this data folder. A harmless child stands for a process whose pid
 * a stale or forged status file names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localDown } from '../../cli/local.ts';
import { controlPlaneMismatch, findAgent, isAlive } from '../../local/cluster.ts';
import type { LocalStatus } from '../../cli/local-status.ts';

const linux = process.platform === 'linux';
let dir: string;
let children: ChildProcess[];

function child(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): ChildProcess {
  const c = spawn(command, args, { cwd, stdio: 'ignore', ...(env ? { env } : {}) });
  children.push(c);
  return c;
}

function writeStatus(pid: number, extra: Partial<LocalStatus> = {}): { file: string; status: LocalStatus } {
  const dataDir = join(dir, '.skiff', 'local');
  mkdirSync(join(dataDir, 'run'), { recursive: true });
  const status: LocalStatus = {
    cluster: 'local',
    pid,
    api: 'http://127.0.0.1:7000',
    dns: '127.0.0.1:7001',
    proxy: 'http://127.0.0.1:7002',
    dataDir,
    startedAt: new Date().toISOString(),
    hosts: [],
    ...extra,
  };
  const file = join(dir, '.skiff', 'local.json');
  writeFileSync(file, JSON.stringify(status));
  return { file, status };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-down-'));
  children = [];
});

afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function started(c: ChildProcess): Promise<number> {
  await new Promise<void>((r, j) => c.once('spawn', r).once('error', j));
  return c.pid!;
}

describe.skipIf(!linux)('local down signals only the process the status file claims', () => {
  it('refuses to signal a pid that is not `skiff local up` (nor an agent), and that process survives', async () => {
    const sleeper = await started(child('sleep', ['60'], dir));
    const { file, status } = writeStatus(sleeper, { hosts: [{ id: 'host-1', address: '127.0.1.1', pid: sleeper, log: join(dir, 'h1.log') }] });
    writeFileSync(join(status.dataDir, 'run', 'host-1.pid'), String(sleeper));
    expect(controlPlaneMismatch(status, file)).toMatch(/is not `skiff local up`/);
    expect(findAgent(status.dataDir, 'local', 'host-1')).toBeUndefined();
    const errs: string[] = [];
    await expect(localDown({ keepHosts: false }, { log: () => undefined, err: (s) => errs.push(s) }, dir)).rejects.toThrow(
      /is not running, and none of its hosts is/,
    );
    expect(errs.join('\n')).toContain(`not signalling pid ${sleeper} named by ${file}`);
    // Still there: not even SIGTERM reached it (sleep dies of SIGTERM).
    await new Promise((r) => setTimeout(r, 100));
    expect(children[0]!.exitCode).toBeNull();
    expect(children[0]!.signalCode).toBeNull();
    expect(isAlive(sleeper)).toBe(true);
  });

  it("takes for a host's agent a process running its sources or its bundle, of this cluster and pid file, and nothing else", async () => {
    const dataDir = join(dir, '.skiff', 'local');
    const pidFile = join(dataDir, 'run', 'host-1.pid');
    mkdirSync(join(dataDir, 'run'), { recursive: true });
    const idle = 'setTimeout(() => {}, 60000)';
    const agent = (script: string, cluster = 'local') =>
      started(child(process.execPath, ['-e', idle, script], dir, { ...process.env, SKIFF_CLUSTER: cluster, SKIFF_PID_FILE: pidFile }));
    for (const script of [join(dir, 'agent', 'main.ts'), join(dir, 'dist', 'agent', 'main.mjs')]) {
      const pid = await agent(script);
      writeFileSync(pidFile, String(pid));
      expect(findAgent(dataDir, 'local', 'host-1')).toMatchObject({ pid, state: 'running' });
    }
    writeFileSync(pidFile, String(await agent(join(dir, 'dist', 'cli', 'main.mjs'))));
    expect(findAgent(dataDir, 'local', 'host-1')).toBeUndefined();
    writeFileSync(pidFile, String(await agent(join(dir, 'dist', 'agent', 'main.mjs'), 'other')));
    expect(findAgent(dataDir, 'local', 'host-1')).toBeUndefined();
  });

  it('takes for the control plane a `skiff local up` run from this folder with this data folder, and nothing else', async () => {
    const entry = join(dir, 'bin', 'skiff.mjs');
    const idle = 'setTimeout(() => {}, 60000)';
    const up = await started(child(process.execPath, ['-e', idle, entry, 'local', 'up', '--hosts', '1'], dir));
    const { file, status } = writeStatus(up);
    expect(controlPlaneMismatch(status, file)).toBeUndefined();
    // Another data folder than the status says.
    const other = await started(child(process.execPath, ['-e', idle, entry, 'local', 'up', '--data', 'elsewhere'], dir));
    expect(controlPlaneMismatch({ ...status, pid: other }, file)).toMatch(/keeps its data in .*elsewhere/);
    // Another folder.
    const away = mkdtempSync(join(tmpdir(), 'skiff-away-'));
    try {
      const elsewhere = await started(child(process.execPath, ['-e', idle, entry, 'local', 'up'], away));
      expect(controlPlaneMismatch({ ...status, pid: elsewhere }, file)).toMatch(/runs from .*, not from this folder/);
    } finally {
      for (const c of children) c.kill('SIGKILL');
      rmSync(away, { recursive: true, force: true });
    }
    // A pid nobody has.
    expect(controlPlaneMismatch({ ...status, pid: 2 ** 22 + 1 }, file)).toMatch(/no process of yours/);
  });
});
