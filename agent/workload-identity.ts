/**
 * Workload identity on the host (docs/identity.md): the executor wrapped so that each app container of
 * a task gets
 * - with `spec.identity.awsRole`: `AWS_CONTAINER_CREDENTIALS_FULL_URI` (the credentials endpoint:
 *   `http://169.254.170.2/...` when the host routes that address of the pod to it, core/credentials-routes.ts,
 *   else the endpoint's own address on the pod's network) and `AWS_CONTAINER_AUTHORIZATION_TOKEN` (the
 *   task's token), added to its env at create, never to its spec (whose hash labels it);
 * - when the agent has an API to ask: its task's workload token, a file at
 *   `/var/run/skiff/identity/token`, from a host directory mounted read-only. The token is fetched
 *   before the first container starts (a create fails, and is retried next round, until it is there,
 *   as a Kubernetes pod waits for its projected token), and renewed at 80% of its life by `refresh`,
 *   replaced atomically inside the directory: a bind mount of the directory, not of the file, so the
 *   container sees each new file (a file's bind mount would keep the replaced inode).
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../adapters/fs/atomic-write.ts';
import { linkLocalCredentialsUri } from '../core/credentials-routes.ts';
import { tokenRenewalAt } from '../core/workload-identity.ts';
import type { ContainerSpec, HostDocumentTask } from '../core/types.ts';
import { credentialsPath, type CredentialsEndpoint } from './credentials-endpoint.ts';
import type { CreateOptions, Executor, Mount } from './executor.ts';
import { SANDBOX } from './pod-sandbox.ts';

/** Where the token is in the container; scripts read it there. */
export const WORKLOAD_TOKEN_DIR = '/var/run/skiff/identity';
export const WORKLOAD_TOKEN_FILE = `${WORKLOAD_TOKEN_DIR}/token`;
/** The AWS SDKs' names (the container credentials provider). */
export const CREDENTIALS_URI_ENV = 'AWS_CONTAINER_CREDENTIALS_FULL_URI';
export const CREDENTIALS_TOKEN_ENV = 'AWS_CONTAINER_AUTHORIZATION_TOKEN';

/** A workload token as the API issues it. */
export interface FetchedWorkloadToken {
  readonly token: string;
  readonly id: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
}

/** Asks the control plane for a task's workload token (the agent's host proves itself: agent/api-token-client.ts). */
export type WorkloadTokenSource = (task: Pick<HostDocumentTask, 'id' | 'namespace'>) => Promise<FetchedWorkloadToken>;

export interface WorkloadIdentityOptions {
  /** `<stateDir>/identity`: one directory per task holding its token. */
  readonly dir: string;
  /** Absent: no AWS credentials are served (no STS). */
  readonly endpoint?: CredentialsEndpoint;
  /** The address the endpoint listens on for a pod of `namespace` (its network's gateway), where the container reaches it. */
  readonly endpointAddress?: (namespace: string) => Promise<string>;
  /**
   * Routes 169.254.170.2:80 from the pod of `task` (its sandbox `sandboxId`) to the endpoint's `listener`;
   * false when the host cannot (then the container gets the listener's own URI). Absent: never routed.
   */
  readonly linkLocal?: (task: HostDocumentTask, sandboxId: string, listener: { address: string; port: number }) => Promise<boolean>;
  /** Absent: tasks get no workload token (the agent has no API to ask). */
  readonly tokens?: WorkloadTokenSource;
  readonly now: () => number;
  readonly log: (level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>) => void;
  /** Every token written for a task becomes an event (the audit trail of what each task was given). */
  readonly onToken?: (task: HostDocumentTask, token: FetchedWorkloadToken) => void;
}

export class WorkloadIdentity {
  /** Tokens held, by task: when to renew. */
  private readonly held = new Map<string, { task: HostDocumentTask; renewAt: number; expiresAt: number }>();

  constructor(private readonly options: WorkloadIdentityOptions) {}

  /** The task's token directory on the host. */
  tokenDir(taskId: string): string {
    return join(this.options.dir, taskId);
  }

  /** The env and mounts one app container of `task` gets; `sandboxId`: the pod's sandbox, whose network namespace it joins. */
  async forContainer(task: HostDocumentTask, sandboxId?: string): Promise<{ env: Record<string, string>; mounts: Mount[] }> {
    const env: Record<string, string> = {};
    const mounts: Mount[] = [];
    const role = task.pod.identity?.awsRole;
    if (role && this.options.endpoint && this.options.endpointAddress) {
      const address = await this.options.endpointAddress(task.namespace);
      const port = Number(new URL(await this.options.endpoint.listen(address)).port || 80);
      // Routed before the container exists: its SDK may ask at once.
      const routed = sandboxId !== undefined && this.options.linkLocal !== undefined && (await this.options.linkLocal(task, sandboxId, { address, port }));
      env[CREDENTIALS_URI_ENV] = routed ? linkLocalCredentialsUri(credentialsPath(task.id)) : this.options.endpoint.uriFor(address, task.id);
      env[CREDENTIALS_TOKEN_ENV] = this.options.endpoint.tokenFor(task.id);
    }
    if (this.options.tokens) {
      if (!this.held.has(task.id)) await this.renew(task);
      mounts.push({ type: 'bind', source: this.tokenDir(task.id), target: WORKLOAD_TOKEN_DIR, readOnly: true });
    }
    return { env, mounts };
  }

  /** Renews the tokens due (80% of their life), and forgets the tasks no longer in `live`. One failure does not stop the others. */
  async refresh(live: readonly HostDocumentTask[]): Promise<void> {
    const ids = new Set(live.map((t) => t.id));
    this.options.endpoint?.forgetAllBut(ids);
    for (const id of [...this.held.keys()]) if (!ids.has(id)) this.held.delete(id);
    if (!this.options.tokens) return;
    const now = this.options.now();
    for (const task of live) {
      const h = this.held.get(task.id);
      // A task without a held token is one this agent adopted after a restart (its container is mounted on
      // the directory, whose token would expire unrenewed), or one not started yet: either way, one now.
      if (h && now < h.renewAt) continue;
      try {
        await this.renew(task);
      } catch (err) {
        // The old token stays in place until it expires; the next refresh tries again.
        this.options.log(h && now >= h.expiresAt ? 'error' : 'warn', 'workload token renewal failed', { task: task.id, error: (err as Error).message });
      }
    }
    // Without any task (an agent before its first document, too) nothing is pruned: a directory left
    // behind holds a token that expires within the hour, and a mounted one must not vanish.
    if (live.length > 0) await this.prune(ids);
  }

  private async renew(task: HostDocumentTask): Promise<void> {
    const fetched = await this.options.tokens!({ id: task.id, namespace: task.namespace });
    const dir = this.tokenDir(task.id);
    // 0755 and 0644: the container may run as any uid, and sees only this directory of the host.
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFileAtomic(join(dir, 'token'), fetched.token, { mode: 0o644 });
    const issuedAt = Date.parse(fetched.issuedAt);
    const expiresAt = Date.parse(fetched.expiresAt);
    this.held.set(task.id, { task, renewAt: tokenRenewalAt(issuedAt, expiresAt), expiresAt });
    this.options.onToken?.(task, fetched);
  }

  /** Removes the token directories of tasks gone from the host (and any left by an earlier run). */
  private async prune(live: ReadonlySet<string>): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(this.options.dir);
    } catch {
      return;
    }
    for (const name of entries) if (!live.has(name)) await rm(join(this.options.dir, name), { recursive: true, force: true }).catch(() => {});
  }
}

/** The executor with each app container's identity env and token mount added at create (the sandbox gets none). */
export function withWorkloadIdentity(inner: Executor, identity: WorkloadIdentity): Executor {
  const create = async (task: HostDocumentTask, container: ContainerSpec, options: CreateOptions): Promise<string> => {
    if (container.name === SANDBOX) return inner.create(task, container, options);
    const { env, mounts } = await identity.forContainer(task, options.joinNetworkOf);
    if (Object.keys(env).length === 0 && mounts.length === 0) return inner.create(task, container, options);
    return inner.create(task, container, {
      ...options,
      // Added to the env at create like secret values: never part of the spec or its hash.
      secretEnv: { ...options.secretEnv, ...env },
      mounts: [...(options.mounts ?? []).filter((m) => m.target !== WORKLOAD_TOKEN_DIR), ...mounts],
    });
  };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'create') return create;
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
