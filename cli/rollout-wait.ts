/**
 * Waiting for a rollout (`skiff apply`, `skiff rollout status`): polls the rollout route until the
 * version is complete, and fails on a rollback or a failed rollout (docs/api.md, "Rollouts").
 */
import type { ApiClient } from './client.ts';
import { servicePath } from './views.ts';
import { waitUntil, type Progress } from './wait.ts';

/** The rollout route's answer (core/rollout.ts `RolloutView`). */
export interface RolloutStatus {
  namespace: string;
  name: string;
  specVersion: number;
  phase: 'progressing' | 'complete' | 'rolledBack' | 'failed';
  rollbackOf: number | null;
  message: string | null;
  replicas: number;
  updated: number;
  available: number;
  old: number;
  startedAt: string | null;
  progressDeadlineSeconds: number;
  pending: string | null;
}

/** A rollout that ended without its version serving: exit status 1 with the reason. */
export class RolloutFailed extends Error {
  constructor(
    message: string,
    readonly status: RolloutStatus,
  ) {
    super(message);
    this.name = 'RolloutFailed';
  }
}

/** `default/web: 3/4 running (version 2 progressing: 3 updated, 1 old)`: running counts available replicas of the version. */
export function rolloutLine(s: RolloutStatus): string {
  const what = s.rollbackOf !== null ? `version ${s.specVersion}, rolling back version ${s.rollbackOf},` : `version ${s.specVersion}`;
  const pending = s.pending ? ` — pending: ${s.pending}` : '';
  return `${s.namespace}/${s.name}: ${s.available}/${s.replicas} running (${what} ${s.phase}: ${s.updated} updated, ${s.old} old)${pending}`;
}

/**
 * Waits until `version` (default: whatever version the service is at on the first look) has
 * rolled out. Throws RolloutFailed when it was rolled back or failed, or a later version replaced
 * it before it finished.
 */
export async function waitForRollout(
  client: ApiClient,
  namespace: string,
  name: string,
  opts: { version?: number; timeoutS: number; progress?: Progress; everyMs?: number },
): Promise<RolloutStatus> {
  const path = `${servicePath(namespace, name)}/rollout`;
  let version = opts.version;
  return waitUntil(
    async () => {
      const s = await client.request<RolloutStatus>('GET', path);
      version ??= s.specVersion;
      const state = rolloutLine(s);
      if (s.specVersion < version) return { done: false, state };
      if (s.specVersion > version) {
        if (s.rollbackOf === version)
          throw new RolloutFailed(`version ${version} of ${namespace}/${name} failed and was rolled back: ${s.message ?? 'see skiff events'}`, s);
        throw new RolloutFailed(`version ${version} of ${namespace}/${name} was replaced by version ${s.specVersion} before it finished rolling out`, s);
      }
      if (s.phase === 'complete') return { done: true, value: s, state };
      if (s.phase === 'rolledBack')
        throw new RolloutFailed(`version ${version} of ${namespace}/${name} failed and is being rolled back: ${s.message ?? ''}`, s);
      if (s.phase === 'failed') throw new RolloutFailed(`rollout of version ${version} of ${namespace}/${name} failed: ${s.message ?? ''}`, s);
      return { done: false, state };
    },
    {
      what: `the rollout of ${namespace}/${name}`,
      timeoutS: opts.timeoutS,
      ...(opts.progress ? { progress: opts.progress } : {}),
      ...(opts.everyMs ? { everyMs: opts.everyMs } : {}),
    },
  );
}
