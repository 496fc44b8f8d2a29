/**
 * The local cluster's status file (`.skiff/local.json`): written by `skiff local up`
 * (local/cluster.ts), read by every command that looks for the API. Its own module, with nothing
 * but node:fs, so that finding a local cluster does not load the cluster's code (Docker client,
 * DynamoDB stand-in, SDK clients): `skiff get tasks` starts in tens of milliseconds.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface LocalHost {
  readonly id: string;
  readonly address: string;
  /** The agent's pid when the cluster started (it changes when the host is started again). */
  readonly pid: number;
  readonly log: string;
}

export interface LocalStatus {
  readonly cluster: string;
  /** The process running the control plane (`skiff local up`). */
  readonly pid: number;
  readonly api: string;
  /** The DNS server: `127.0.0.1:PORT` (UDP and TCP). */
  readonly dns: string;
  /** The load balancer: `http://127.0.0.1:PORT`. */
  readonly proxy: string;
  readonly dataDir: string;
  readonly startedAt: string;
  readonly hosts: LocalHost[];
}

/** `.skiff/local.json` in this folder or the nearest parent that has one. */
export function statusFilePath(from = process.cwd()): string {
  let dir = resolve(from);
  for (;;) {
    const candidate = join(dir, '.skiff', 'local.json');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return join(resolve(from), '.skiff', 'local.json');
    dir = parent;
  }
}

/** The status in `file`, or undefined when there is none or it cannot be read (a start writes it atomically). */
export function readLocalStatus(file: string): LocalStatus | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LocalStatus;
  } catch {
    return undefined;
  }
}
