/**
 * The `LogStore` port (ports/logs.ts) on CloudWatch Logs: one log group per cluster (created by
 * the stack, infra/logs.ts; by `createGroup` locally), a stream per task container, agent and
 * control function. PutLogEvents no longer takes sequence tokens, so a put is one call, plus
 * CreateLogStream the first time a stream is written. Reads merge the streams under a prefix with
 * FilterLogEvents (time order, one call a page); a stream's tail is GetLogEvents from the end.
 */
import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  PutLogEventsCommand,
  type CloudWatchLogsClient,
} from '@aws-sdk/client-cloudwatch-logs';
import { checkChronological, splitBatch } from '../../core/logs.ts';
import type { LogEvent, LogPage, LogReadQuery, LogStore, StoredLogEvent } from '../../ports/logs.ts';
import { sdkDomainError } from './sdk-errors.ts';

const isNamed = (err: unknown, name: string): boolean => (err as { name?: string })?.name === name;

export class CloudWatchLogStore implements LogStore {
  /** Streams known to exist: CreateLogStream is called once per stream and process. */
  private readonly created = new Set<string>();

  constructor(
    private readonly client: CloudWatchLogsClient,
    private readonly group: string,
  ) {}

  /** Creates the log group when absent (local mode; on AWS the stack owns it). */
  async createGroup(): Promise<void> {
    try {
      await this.client.send(new CreateLogGroupCommand({ logGroupName: this.group }));
    } catch (err) {
      if (!isNamed(err, 'ResourceAlreadyExistsException')) throw sdkDomainError('CloudWatch Logs', 'CreateLogGroup', this.group, err);
    }
  }

  async put(stream: string, events: readonly LogEvent[]): Promise<void> {
    if (events.length === 0) return;
    checkChronological(stream, events);
    for (const batch of splitBatch(events)) {
      const command = new PutLogEventsCommand({
        logGroupName: this.group,
        logStreamName: stream,
        logEvents: batch.map((e) => ({ timestamp: e.at, message: e.message === '' ? ' ' : e.message })),
      });
      if (!this.created.has(stream)) await this.createStream(stream);
      try {
        await this.client.send(command);
      } catch (err) {
        // A stream another process (or an earlier run) knew, deleted since: create it and put again once.
        if (!isNamed(err, 'ResourceNotFoundException')) throw sdkDomainError('CloudWatch Logs', 'PutLogEvents', `${this.group}/${stream}`, err);
        this.created.delete(stream);
        await this.createStream(stream);
        try {
          await this.client.send(command);
        } catch (again) {
          throw sdkDomainError('CloudWatch Logs', 'PutLogEvents', `${this.group}/${stream}`, again);
        }
      }
    }
  }

  private async createStream(stream: string): Promise<void> {
    try {
      await this.client.send(new CreateLogStreamCommand({ logGroupName: this.group, logStreamName: stream }));
    } catch (err) {
      if (!isNamed(err, 'ResourceAlreadyExistsException')) throw sdkDomainError('CloudWatch Logs', 'CreateLogStream', `${this.group}/${stream}`, err);
    }
    this.created.add(stream);
  }

  async read(q: LogReadQuery): Promise<LogPage> {
    try {
      const out = await this.client.send(
        new FilterLogEventsCommand({
          logGroupName: this.group,
          logStreamNamePrefix: q.prefix,
          ...(q.since !== undefined ? { startTime: q.since } : {}),
          // FilterLogEvents' endTime is inclusive; the port's `until` is not.
          ...(q.until !== undefined ? { endTime: q.until - 1 } : {}),
          limit: q.limit ?? 1000,
          ...(q.token !== undefined ? { nextToken: q.token } : {}),
        }),
      );
      return {
        events: (out.events ?? []).map((e) => ({ stream: e.logStreamName ?? '', at: e.timestamp ?? 0, message: e.message ?? '' })),
        ...(out.nextToken ? { next: out.nextToken } : {}),
      };
    } catch (err) {
      // No stream written yet under the prefix (or no group yet): nothing to read.
      if (isNamed(err, 'ResourceNotFoundException')) return { events: [] };
      throw sdkDomainError('CloudWatch Logs', 'FilterLogEvents', `${this.group}/${q.prefix}*`, err);
    }
  }

  async tail(stream: string, count: number): Promise<StoredLogEvent[]> {
    if (count <= 0) return [];
    try {
      const out = await this.client.send(
        new GetLogEventsCommand({ logGroupName: this.group, logStreamName: stream, startFromHead: false, limit: Math.min(count, 10_000) }),
      );
      return (out.events ?? []).map((e) => ({ stream, at: e.timestamp ?? 0, message: e.message ?? '' }));
    } catch (err) {
      if (isNamed(err, 'ResourceNotFoundException')) return [];
      throw sdkDomainError('CloudWatch Logs', 'GetLogEvents', `${this.group}/${stream}`, err);
    }
  }

  async streams(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let nextToken: string | undefined;
    try {
      do {
        const out = await this.client.send(
          new DescribeLogStreamsCommand({
            logGroupName: this.group,
            ...(prefix ? { logStreamNamePrefix: prefix } : {}),
            limit: 50,
            ...(nextToken ? { nextToken } : {}),
          }),
        );
        for (const s of out.logStreams ?? []) if (s.logStreamName) names.push(s.logStreamName);
        nextToken = out.nextToken;
      } while (nextToken);
    } catch (err) {
      if (isNamed(err, 'ResourceNotFoundException')) return [];
      throw sdkDomainError('CloudWatch Logs', 'DescribeLogStreams', `${this.group}/${prefix}*`, err);
    }
    return names.sort();
  }
}
