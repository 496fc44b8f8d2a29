/**
 * The local cluster's status file (`.skiff/local.json`): written by `skiff local up`
 * (local/cluster.ts), read by every command that looks for the API. Its own module, with nothing
 * but node:fs, so that finding a local cluster does not load the cluster's code (Docker client,
 * DynamoDB stand-in, SDK clients): `skiff get tasks` starts in tens of milliseconds.
 */
import { existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
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
  /** The load balancer's HTTPS listener: `https://127.0.0.1:PORT` (h2 and HTTP/1.1); absent in a status written before it existed. */
  readonly proxyHttps?: string;
  /** The local CA's certificate (PEM): what `curl --cacert` and browsers trust for tls ingress hosts. */
  readonly ca?: string;
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

/** True for a URL whose host is a loopback address: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Why a file of local mode (the status file, the token file) must not be believed, or undefined
 * when it may. It is found in any parent folder, so anyone who can write there could point the CLI
 * at an API of their own (and collect the specs and the token sent to it) or make `local down`
 * signal a process of their choosing: the file and its folder must be the user's alone.
 */
export function untrustedReason(file: string): string | undefined {
  const uid = process.getuid?.();
  // No uids (Windows): nothing to compare with.
  if (uid === undefined) return undefined;
  const st = lstatSync(file);
  if (st.isSymbolicLink()) return 'it is a symbolic link';
  if (!st.isFile()) return 'it is not a regular file';
  if (st.uid !== uid) return `it belongs to uid ${st.uid}, not to you (uid ${uid})`;
  if (st.mode & 0o022) return `others may write it (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`;
  const dir = statSync(dirname(file));
  if (dir.uid !== uid && dir.uid !== 0) return `its folder belongs to uid ${dir.uid}, not to you (uid ${uid})`;
  if (dir.mode & 0o022) return `others may write its folder (mode ${(dir.mode & 0o777).toString(8).padStart(4, '0')})`;
  return undefined;
}

export type TrustedStatus = { readonly status: LocalStatus; readonly untrusted?: undefined } | { readonly status?: undefined; readonly untrusted: string };

/**
 * The status in `file` when it may be believed: owned by the user, not writable by others (nor its
 * folder), and naming a loopback API. Undefined when there is no (readable) file; `untrusted` the
 * reason when there is one that must be ignored.
 */
export function readTrustedStatus(file: string): TrustedStatus | undefined {
  if (!existsSync(file)) return undefined;
  let reason: string | undefined;
  try {
    reason = untrustedReason(file);
  } catch (err) {
    return { untrusted: `it cannot be checked (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  if (reason) return { untrusted: reason };
  const status = readLocalStatus(file);
  if (!status) return undefined;
  if (typeof status.api !== 'string' || !isLoopbackUrl(status.api))
    return { untrusted: `its API ${JSON.stringify(status.api)} is not a loopback address (127.0.0.0/8, ::1, localhost)` };
  return { status };
}

/** The local API's bearer token: `<dataDir>/token`, written by `skiff local up` (local/token.ts), mode 0600. */
export function tokenFilePath(dataDir: string): string {
  return join(dataDir, 'token');
}

/**
 * The local cluster's token from `<dataDir>/token`, under the same checks as the status file (the
 * user's own, not writable by others): undefined when there is none, `untrusted` the reason to ignore one.
 */
export function readLocalToken(
  dataDir: string,
): { readonly token: string; readonly untrusted?: undefined } | { readonly token?: undefined; readonly untrusted: string } | undefined {
  const file = tokenFilePath(dataDir);
  if (!existsSync(file)) return undefined;
  try {
    const reason = untrustedReason(file);
    if (reason) return { untrusted: reason };
    const token = readFileSync(file, 'utf8').trim();
    return token ? { token } : { untrusted: 'it is empty' };
  } catch (err) {
    return { untrusted: `it cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
}
