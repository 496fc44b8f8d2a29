/**
 * The attributes a host's agent may name when it writes its own items: the host role's IAM
 * allow-list (`dynamodb:Attributes`, infra/state.ts). Kept next to the item mapping that writes
 * them (reports.ts) and checked against what those calls really send
 * (test/unit/host-writable-attributes.test.ts).
 *
 * A plain constant with no imports: the CDK app imports it without pulling in the AWS SDK.
 */
export const HOST_WRITABLE_ATTRIBUTES = [
  // Every write names the table key; the status and host items are also listed in the index.
  'pk',
  'sk',
  'gsi1pk',
  'gsi1sk',
  'type',
  // The status item (`STATUS`) and the heartbeat item (`BEAT`): reports.ts.
  'hostId',
  'heartbeatAt',
  'generation',
  'tasks',
  'agentVersion',
  'events',
  'runtime',
  // The agent's registration claim, in its status item. The host record (`#HOST`: address,
  // capacity, labels, state, version, allocations) is written by the control plane alone
  // (app/scheduler/steps/register-hosts.ts), so none of its attributes is here: a host cannot
  // rewrite its state or capacity, and a put over its record can only make it invalid (skipped,
  // and never re-registered over: registration creates a record only where none exists).
  'claim',
  // The volumes the host deleted as its document asked (`--delete-volumes`), in its status item.
  'removedVolumes',
] as const;
