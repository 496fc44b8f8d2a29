/**
 * The e2e teardown (test/helpers/docker.ts tearDownCluster) with agents kept running by `local down
 * --keep-hosts`: it stops them, and waits for them to exit, before it removes the cluster's containers,
 * networks and rules (a running agent writes its rules again). Real child processes stand in for the
 * agents: `node -e` with an argument ending in agent/main.ts and the agent's environment, which is what
 * local/cluster.ts findAgent checks. No Docker: the teardown gets a Docker client that records what ran
 * when. It runs iptables (removeNetwork) for a cluster name nobody else uses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { hostFiles } from '../../local/cluster.ts';
import { tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';

const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Gone: no such process, or a zombie (it has exited; its parent has not collected it yet). */
function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** A stand-in agent of `cluster` with pid file `pidFile`; like the agent, it takes a moment to exit on SIGTERM. */
async function standIn(dir: string, cluster: string, pidFile: string): Promise<number> {
  const script = "process.on('SIGTERM', () => setTimeout(() => process.exit(0), 300)); setInterval(() => undefined, 1000); process.stdout.write('ready\\n');";
  const child = spawn(process.execPath, ['-e', script, join(dir, 'agent', 'main.ts')], {
    env: { ...process.env, SKIFF_CLUSTER: cluster, SKIFF_PID_FILE: pidFile },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.push(child);
  // Its SIGTERM handler is in place once it says so.
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the stand-in agent exited with ${code} before it was ready`)));
  });
  writeFileSync(pidFile, String(child.pid));
  return child.pid!;
}

describe('tearDownCluster with kept agents', () => {
  it('stops the agents of the cluster the status file names, and waits for them to exit, before it removes anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-keep-'));
    const dataDir = join(dir, 'data');
    const cluster = uniqueClusterName('keep');
    try {
      mkdirSync(join(dataDir, 'run'), { recursive: true });
      mkdirSync(join(dir, '.skiff'), { recursive: true });
      // What `local down --keep-hosts` leaves: the status file (naming a control plane that has stopped) and the agents' pid files.
      writeFileSync(join(dir, '.skiff', 'local.json'), JSON.stringify({ cluster, pid: 0, api: 'http://127.0.0.1:9', dataDir, hosts: [] }));
      const agents = [await standIn(dir, cluster, hostFiles(dataDir, 'host-1').pid), await standIn(dir, cluster, hostFiles(dataDir, 'host-2').pid)];
      // A process with this data dir's pid file but of another cluster is not this cluster's agent: left alone.
      const other = await standIn(dir, uniqueClusterName('other'), hostFiles(dataDir, 'host-3').pid);

      const seen: string[] = [];
      const docker = {
        listContainers: async () => {
          seen.push(`containers listed; agents exited: ${agents.map(exited).join(',')}`);
          return [];
        },
        listNetworks: async () => {
          seen.push(`networks listed; agents exited: ${agents.map(exited).join(',')}`);
          return [];
        },
        listVolumes: async () => ({ Volumes: [] }),
      } as unknown as Dockerode;
      await tearDownCluster(undefined, cluster, dir, docker);

      expect(seen.length).toBeGreaterThan(0);
      for (const line of seen) expect(line).toMatch(/exited: true,true$/);
      expect(agents.map(exited)).toEqual([true, true]);
      expect(exited(other)).toBe(false);
      expect(existsSync(dir)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
