/**
 * Host reports on DynamoDB, in the host's own partition (the host role may write nothing else):
 * the status item (`STATUS`, also in the index under `HOSTSTATUS#<shard>`) and the heartbeat item (`BEAT`,
 * in no index). Reads merge the two, the later time winning.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../../../core/errors.ts';
import type { HostStatus } from '../../../core/types.ts';
import type { HostReportStore } from '../../../ports/index.ts';
import { checkItemSize, compare, toBeat, toHostStatus, valid, withBeat } from './items.ts';
import { GSI1, HOST_STATUS_INDEX_KEYS, hostStatusIndexKey, type Item } from './keys.ts';
import type { DynamoTable } from './table.ts';

export class DynamoHostReports implements HostReportStore {
  constructor(private readonly t: DynamoTable) {}

  async putHostStatus(status: HostStatus): Promise<void> {
    const label = `status of host ${status.hostId}`;
    const item: Item = {
      ...this.t.statusKey(status.hostId),
      gsi1pk: hostStatusIndexKey(status.hostId),
      gsi1sk: status.hostId,
      type: 'hoststatus',
      hostId: status.hostId,
      heartbeatAt: status.heartbeatAt,
      generation: status.generation,
      tasks: status.tasks,
      agentVersion: status.agentVersion,
      events: status.events,
      ...(status.runtime ? { runtime: status.runtime } : {}),
      ...(status.claim ? { claim: status.claim } : {}),
      ...(status.removedVolumes?.length ? { removedVolumes: status.removedVolumes } : {}),
    };
    checkItemSize(`${label} (${status.tasks.length} tasks)`, item);
    await this.t.call('PutItem', label, () => this.t.doc.send(new PutCommand({ TableName: this.t.table, Item: item })));
  }

  async putHeartbeat(hostId: string, at: string): Promise<void> {
    const label = `heartbeat of host ${hostId}`;
    if (Number.isNaN(Date.parse(at))) throw new ValidationError([{ path: 'heartbeatAt', message: `must be an ISO 8601 time, got ${JSON.stringify(at)}` }]);
    const item = { ...this.t.beatKey(hostId), type: 'heartbeat', hostId, heartbeatAt: at };
    await this.t.call('PutItem', label, () => this.t.doc.send(new PutCommand({ TableName: this.t.table, Item: item })));
  }

  async getHostStatus(hostId: string): Promise<HostStatus | undefined> {
    const [item, beat] = await Promise.all([
      this.t.get(this.t.statusKey(hostId), `status of host ${hostId}`),
      this.t.get(this.t.beatKey(hostId), `heartbeat of host ${hostId}`),
    ]);
    const status = item && toHostStatus(this.t.bad, this.t.hostArnPrefix, item);
    // A status is asked for by its host id: the key already says which host, and toHostStatus takes it from there.
    return status && withBeat(status, toBeat(this.t.bad, this.t.hostArnPrefix, beat));
  }

  async getHostStatuses(hostIds: readonly string[]): Promise<HostStatus[]> {
    const ids = [...new Set(hostIds)];
    if (ids.length === 0) return [];
    // Eventually consistent, as listHostStatuses reads them (half the read units): for views, whose
    // reports are a moment old anyway.
    const [items, beats] = await Promise.all([
      this.t.batchGet(
        ids.map((id) => this.t.statusKey(id)),
        'host statuses',
        { consistent: false },
      ),
      this.t.batchGet(
        ids.map((id) => this.t.beatKey(id)),
        'heartbeats',
        { consistent: false },
      ),
    ]);
    const byHost = new Map(valid(beats.map((b) => toBeat(this.t.bad, this.t.hostArnPrefix, b))).map((b) => [b.hostId, b]));
    return valid(items.map((i) => toHostStatus(this.t.bad, this.t.hostArnPrefix, i)))
      .sort((a, b) => compare(a.hostId, b.hostId))
      .map((s) => withBeat(s, byHost.get(s.hostId)));
  }

  async listHostStatuses(): Promise<HostStatus[]> {
    // Eventually consistent (index): the lag is far below any heartbeat grace period.
    // Every shard, and the partition of before the shards (keys.ts HOST_STATUS_INDEX_KEYS). A status
    // moved between them can show up in both for a moment (the index lags): the shard's copy, the newer
    // write, is kept.
    const found = (
      await Promise.all(
        HOST_STATUS_INDEX_KEYS.map((p) =>
          this.t.queryAll(
            { TableName: this.t.table, IndexName: GSI1, KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': p } },
            'host statuses',
          ),
        ),
      )
    ).flat();
    const items = [...new Map(found.map((i) => [`${String(i.pk)}\u0000${String(i.sk)}`, i])).values()];
    // The index holds whatever a host put under `gsi1pk = HOSTSTATUS…` in its partition: only a
    // STATUS item, whose host id is its key's, counts (sorted here, not by the host-written gsi1sk).
    const statuses = valid(items.map((i) => toHostStatus(this.t.bad, this.t.hostArnPrefix, i))).sort((a, b) => compare(a.hostId, b.hostId));
    if (statuses.length === 0) return statuses;
    // Half a read unit per host (eventually consistent): far cheaper than every heartbeat rewriting the report.
    const beats = await this.t.batchGet(
      statuses.map((s) => this.t.beatKey(s.hostId)),
      'heartbeats',
      { consistent: false },
    );
    const byHost = new Map(valid(beats.map((b) => toBeat(this.t.bad, this.t.hostArnPrefix, b))).map((b) => [b.hostId, b]));
    return statuses.map((s) => withBeat(s, byHost.get(s.hostId)));
  }
}
