/**
 * The attributes a host's agent may name when it writes its own items: the host role's IAM
 * allow-list (`dynamodb:Attributes`, infra/state.ts). Kept next to the item mapping that writes
 * them (hosts.ts `registerHost`, reports.ts) and checked against what those calls really send
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
  // The host record (`#HOST`), created and re-registered by the agent itself (hosts.ts
  // `registerHost`): its claim (address, capacity, labels) and, on creation, the record's initial
  // state, version and empty allocations. IAM cannot tell the record from the reports (no
  // condition key names the sort key), so these are writable on every item of the host's partition.
  'id',
  'address',
  'capacity',
  'labels',
  'state',
  'registeredAt',
  'version',
  'allocations',
] as const;
