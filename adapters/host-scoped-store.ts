/**
 * The agent's store access in local mode, narrowed to what a host may write: its own status (with
 * its registration claim) and its own heartbeat, each built from an allow-list of fields. The same
 * rule as the host role's IAM policy on AWS (`dynamodb:LeadingKeys` on the host's partition plus
 * `dynamodb:Attributes`), where dynalite has no IAM: whatever the agent passes, the inner store
 * receives only these fields, for this host, within the schema's bounds (core/items.ts). The host
 * record is not among them: the control plane registers hosts from their claims
 * (app/scheduler/steps/register-hosts.ts), and alone moves them between states.
 *
 * It guards against an agent that is wrong, not one that is hostile: a local agent process could
 * still reach dynalite directly. What protects the control plane from a hostile writer is the read
 * side (every item checked against its schema and key, bad ones skipped and reported) and the
 * register step, which caps every claim by what it knows of the machine.
 */
import { ValidationError } from '../core/errors.ts';
import { HostStatusItemSchema } from '../core/items.ts';
import type { HostStatus } from '../core/types.ts';
import type { Store } from '../ports/index.ts';

/** What a host's agent may do with the store. */
export type AgentStoreAccess = Pick<Store, 'putHostStatus' | 'putHeartbeat'>;

/** The fields of a status a host writes; anything else (a `state`, a `capacity`, a `gsi1pk`) is dropped. */
export const HOST_STATUS_FIELDS = ['hostId', 'heartbeatAt', 'generation', 'tasks', 'agentVersion', 'events', 'runtime', 'claim', 'removedVolumes'] as const;

export class HostScopedStore implements AgentStoreAccess {
  constructor(
    private readonly inner: AgentStoreAccess,
    private readonly hostId: string,
  ) {}

  async putHostStatus(status: HostStatus): Promise<void> {
    this.own('hostId', status.hostId);
    const allowed = Object.fromEntries(HOST_STATUS_FIELDS.filter((f) => status[f] !== undefined).map((f) => [f, status[f]])) as unknown as HostStatus;
    // A status the control plane would skip as invalid is refused here, where the agent sees why.
    const parsed = HostStatusItemSchema.safeParse(allowed);
    if (!parsed.success) {
      throw new ValidationError(parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.join('.'), message: i.message })));
    }
    await this.inner.putHostStatus(allowed);
  }

  async putHeartbeat(hostId: string, at: string): Promise<void> {
    this.own('hostId', hostId);
    await this.inner.putHeartbeat(hostId, at);
  }

  private own(field: string, id: string): void {
    if (id !== this.hostId)
      throw new ValidationError([{ path: field, message: `host ${this.hostId} may write only its own items, not host ${JSON.stringify(id)}'s` }]);
  }
}
