/**
 * A local stand-in for the CloudWatch subset Skiff's autoscaler calls, speaking the AWS JSON 1.0
 * protocol of `@aws-sdk/client-cloudwatch` (X-Amz-Target `GraniteServiceVersion20100801.<Op>`):
 * PutMetricData, GetMetricData (MetricStat queries), GetMetricStatistics, PutMetricAlarm,
 * DescribeAlarms, DeleteAlarms. Alarms are evaluated on a timer as CloudWatch does (the last
 * `EvaluationPeriods` periods, `DatapointsToAlarm` of them breaching), and every state change is
 * handed to `onAlarmStateChange` as the EventBridge event CloudWatch sends ("CloudWatch Alarm
 * State Change"), so local mode runs the autoscaler exactly as the AWS rule does.
 *
 * Like CloudWatch, it refuses custom data in an `AWS/` namespace: what AWS services publish there
 * (the load balancer's RequestCountPerTarget) comes in through `record`, which local mode's load
 * balancer calls, as the ALB publishes without the API. Data is kept in memory for `retentionMs`.
 */
import { ApiError, awsJsonHandler, checkStandInOptions, serveHttp, type StandInOptions } from './stand-in.ts';

/** CloudWatch's quotas that Skiff's calls could reach (CloudWatch service quotas page). */
export const CLOUDWATCH_QUOTAS = {
  /** Metric data per PutMetricData request. */
  putMetricDataItems: 1000,
  /** Request size of PutMetricData: 1 MB. */
  maxBodyBytes: 1024 * 1024,
  /** Dimensions per metric. */
  maxDimensions: 30,
  /** Queries per GetMetricData request. */
  getMetricDataQueries: 500,
  /** Alarm names per DeleteAlarms / DescribeAlarms request; DescribeAlarms pages at 100. */
  maxAlarmNames: 100,
  alarmNameLength: 255,
} as const;

export interface Dimension {
  readonly Name: string;
  readonly Value: string;
}

/** The EventBridge event CloudWatch sends on an alarm's state change (the fields Skiff reads). */
export interface AlarmStateChangeEvent {
  readonly source: 'aws.cloudwatch';
  readonly 'detail-type': 'CloudWatch Alarm State Change';
  readonly time: string;
  readonly resources: readonly string[];
  readonly detail: {
    readonly alarmName: string;
    readonly state: { readonly value: AlarmState; readonly reason: string; readonly timestamp: string };
    readonly previousState: { readonly value: AlarmState };
  };
}

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

export interface CloudWatchServerOptions extends StandInOptions {
  /** Called on every alarm state change, as the EventBridge rule would invoke its target. */
  readonly onAlarmStateChange?: (event: AlarmStateChangeEvent) => void;
  /** How often alarms are evaluated (CloudWatch: every minute; faster here). @default 1000 */
  readonly evaluateMs?: number;
  /** How long data points are kept. @default 3 hours */
  readonly retentionMs?: number;
  /** The clock, in ms. @default Date.now */
  readonly now?: () => number;
}

export interface CloudWatchServer {
  readonly endpoint: string;
  readonly port: number;
  /** Data an AWS service publishes itself (the ALB's metrics), bypassing the API's `AWS/` refusal. */
  record(namespace: string, metricName: string, dimensions: readonly Dimension[], value: number, at?: number): void;
  /** Evaluates every alarm now (also runs on the timer). */
  evaluate(): void;
  /** Requests received per operation. */
  counts(): Record<string, number>;
  close(): Promise<void>;
}

const OPTION_KEYS = new Set(['host', 'port', 'onAlarmStateChange', 'evaluateMs', 'retentionMs', 'now']);
const TARGET_PREFIX = 'GraniteServiceVersion20100801.';
const ACCOUNT_ID = '123456789012';
const REGION = 'us-east-1';

interface Point {
  readonly at: number;
  readonly value: number;
}

interface Alarm {
  readonly AlarmName: string;
  readonly AlarmArn: string;
  readonly Namespace: string;
  readonly MetricName: string;
  readonly Dimensions: readonly Dimension[];
  readonly Statistic: Stat;
  readonly Period: number;
  readonly EvaluationPeriods: number;
  readonly DatapointsToAlarm: number;
  readonly Threshold: number;
  readonly ComparisonOperator: string;
  readonly TreatMissingData: string;
  readonly AlarmActions: readonly string[];
  StateValue: AlarmState;
  StateReason: string;
  StateUpdatedTimestamp: number;
}

type Stat = 'Sum' | 'Average' | 'Minimum' | 'Maximum' | 'SampleCount';
const STATS: ReadonlySet<string> = new Set(['Sum', 'Average', 'Minimum', 'Maximum', 'SampleCount']);
const COMPARISONS: Readonly<Record<string, (v: number, t: number) => boolean>> = {
  GreaterThanThreshold: (v, t) => v > t,
  GreaterThanOrEqualToThreshold: (v, t) => v >= t,
  LessThanThreshold: (v, t) => v < t,
  LessThanOrEqualToThreshold: (v, t) => v <= t,
};

/** CloudWatch's query error codes and the shapes its JSON protocol names them by. */
const SHAPES: Readonly<Record<string, string>> = {
  InvalidParameterValue: 'InvalidParameterValueException',
  MissingParameter: 'MissingRequiredParameterException',
  InternalFailure: 'InternalServiceFault',
  RequestEntityTooLarge: 'RequestEntityTooLargeException',
};

function metricKey(namespace: string, name: string, dimensions: readonly Dimension[]): string {
  const dims = [...dimensions].sort((a, b) => a.Name.localeCompare(b.Name)).map((d) => `${d.Name}=${d.Value}`);
  return `${namespace}\n${name}\n${dims.join('\n')}`;
}

function statOf(stat: Stat, values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  switch (stat) {
    case 'Sum':
      return values.reduce((a, b) => a + b, 0);
    case 'Average':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'Minimum':
      return Math.min(...values);
    case 'Maximum':
      return Math.max(...values);
    case 'SampleCount':
      return values.length;
  }
}

/** Reads a required field, with CloudWatch's error for a missing one. */
function required<T>(input: Record<string, unknown>, field: string): T {
  if (input[field] === undefined || input[field] === null) throw new ApiError('MissingParameter', `The parameter ${field} is required.`);
  return input[field] as T;
}

function dimensionsOf(value: unknown, where: string): Dimension[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > CLOUDWATCH_QUOTAS.maxDimensions) {
    throw new ApiError('InvalidParameterValue', `${where}.Dimensions must be a list of at most ${CLOUDWATCH_QUOTAS.maxDimensions} dimensions`);
  }
  return value.map((d: Dimension) => {
    if (typeof d?.Name !== 'string' || typeof d?.Value !== 'string' || d.Name === '' || d.Value === '') {
      throw new ApiError('InvalidParameterValue', `${where}.Dimensions: each dimension needs a non-empty Name and Value`);
    }
    return { Name: d.Name, Value: d.Value };
  });
}

/** Epoch seconds (JSON 1.0 timestamps) to ms. */
const ms = (seconds: unknown, fallback: number): number => (typeof seconds === 'number' ? seconds * 1000 : fallback);

export async function startCloudWatchServer(opts: CloudWatchServerOptions = {}): Promise<CloudWatchServer> {
  const { host, port } = checkStandInOptions('startCloudWatchServer', opts, OPTION_KEYS);
  const now = opts.now ?? Date.now;
  const retentionMs = opts.retentionMs ?? 3 * 3_600_000;
  const series = new Map<string, Point[]>();
  const alarms = new Map<string, Alarm>();
  const counts: Record<string, number> = {};

  const record = (namespace: string, name: string, dimensions: readonly Dimension[], value: number, at = now()): void => {
    const key = metricKey(namespace, name, dimensions);
    const points = series.get(key) ?? [];
    points.push({ at, value });
    const cutoff = now() - retentionMs;
    while (points.length > 0 && points[0].at < cutoff) points.shift();
    series.set(key, points);
  };

  /** The statistic of each `period`-second bucket from `start` to `end` (ms), oldest first, empty buckets left out. */
  const buckets = (key: string, stat: Stat, periodS: number, start: number, end: number): { at: number; value: number }[] => {
    const periodMs = periodS * 1000;
    const byBucket = new Map<number, number[]>();
    for (const p of series.get(key) ?? []) {
      if (p.at < start || p.at >= end) continue;
      const b = start + Math.floor((p.at - start) / periodMs) * periodMs;
      byBucket.set(b, [...(byBucket.get(b) ?? []), p.value]);
    }
    return [...byBucket.entries()].sort((a, b) => a[0] - b[0]).map(([at, values]) => ({ at, value: statOf(stat, values)! }));
  };

  const evaluate = (): void => {
    const t = now();
    for (const alarm of alarms.values()) {
      const key = metricKey(alarm.Namespace, alarm.MetricName, alarm.Dimensions);
      const start = t - alarm.EvaluationPeriods * alarm.Period * 1000;
      const points = buckets(key, alarm.Statistic, alarm.Period, start, t);
      const compare = COMPARISONS[alarm.ComparisonOperator];
      const breaching = points.filter((p) => compare(p.value, alarm.Threshold)).length;
      let next: AlarmState;
      let reason: string;
      if (points.length === 0) {
        if (alarm.TreatMissingData === 'breaching') next = 'ALARM';
        else if (alarm.TreatMissingData === 'notBreaching') next = 'OK';
        else if (alarm.TreatMissingData === 'ignore') next = alarm.StateValue;
        else next = 'INSUFFICIENT_DATA';
        reason = `no datapoints in the last ${alarm.EvaluationPeriods} period(s) of ${alarm.Period} s (treat missing data: ${alarm.TreatMissingData})`;
      } else {
        next = breaching >= alarm.DatapointsToAlarm ? 'ALARM' : 'OK';
        reason = `Threshold Crossed: ${breaching} out of the last ${points.length} datapoints [${points.map((p) => p.value).join(', ')}] ${next === 'ALARM' ? 'crossed' : 'did not cross'} the threshold (${alarm.Threshold}).`;
      }
      if (next === alarm.StateValue) continue;
      const previous = alarm.StateValue;
      alarm.StateValue = next;
      alarm.StateReason = reason;
      alarm.StateUpdatedTimestamp = t;
      opts.onAlarmStateChange?.({
        source: 'aws.cloudwatch',
        'detail-type': 'CloudWatch Alarm State Change',
        time: new Date(t).toISOString(),
        resources: [alarm.AlarmArn],
        detail: { alarmName: alarm.AlarmName, state: { value: next, reason, timestamp: new Date(t).toISOString() }, previousState: { value: previous } },
      });
    }
  };

  const dispatch = (op: string, input: Record<string, unknown>): Record<string, unknown> => {
    switch (op) {
      case 'PutMetricData': {
        const namespace = required<string>(input, 'Namespace');
        if (typeof namespace !== 'string' || namespace === '' || namespace.startsWith('AWS/')) {
          throw new ApiError(
            'InvalidParameterValue',
            `The value ${String(namespace)} for parameter Namespace is invalid: namespaces starting with "AWS/" are reserved.`,
          );
        }
        const data = required<unknown[]>(input, 'MetricData');
        if (!Array.isArray(data) || data.length === 0 || data.length > CLOUDWATCH_QUOTAS.putMetricDataItems) {
          throw new ApiError('InvalidParameterValue', `MetricData must hold from 1 to ${CLOUDWATCH_QUOTAS.putMetricDataItems} items`);
        }
        data.forEach((raw, i) => {
          const d = raw as Record<string, unknown>;
          const where = `MetricData.member.${i + 1}`;
          if (typeof d.MetricName !== 'string' || d.MetricName === '') throw new ApiError('MissingParameter', `The parameter ${where}.MetricName is required.`);
          if (typeof d.Value !== 'number' || !Number.isFinite(d.Value)) throw new ApiError('InvalidParameterValue', `${where}.Value must be a finite number`);
          record(namespace, d.MetricName, dimensionsOf(d.Dimensions, where), d.Value, ms(d.Timestamp, now()));
        });
        return {};
      }
      case 'GetMetricData': {
        const queries = required<Record<string, unknown>[]>(input, 'MetricDataQueries');
        if (!Array.isArray(queries) || queries.length > CLOUDWATCH_QUOTAS.getMetricDataQueries) {
          throw new ApiError('InvalidParameterValue', `MetricDataQueries must hold at most ${CLOUDWATCH_QUOTAS.getMetricDataQueries} queries`);
        }
        const start = ms(required(input, 'StartTime'), 0);
        const end = ms(required(input, 'EndTime'), 0);
        return {
          MetricDataResults: queries.map((q) => {
            const stat = q.MetricStat as
              | { Metric?: { Namespace?: string; MetricName?: string; Dimensions?: Dimension[] }; Period?: number; Stat?: string }
              | undefined;
            if (!stat?.Metric?.Namespace || !stat.Metric.MetricName || !stat.Period || !STATS.has(stat.Stat ?? '')) {
              throw new ApiError(
                'InvalidParameterValue',
                `query ${String(q.Id)}: only MetricStat queries with Namespace, MetricName, Period and a Stat of ${[...STATS].join(', ')} are supported locally`,
              );
            }
            const key = metricKey(stat.Metric.Namespace, stat.Metric.MetricName, dimensionsOf(stat.Metric.Dimensions, `query ${String(q.Id)}`));
            // CloudWatch returns the newest first by default (ScanBy TimestampDescending).
            const points = buckets(key, stat.Stat as Stat, stat.Period, start, end).reverse();
            return {
              Id: q.Id,
              Label: stat.Metric.MetricName,
              Timestamps: points.map((p) => p.at / 1000),
              Values: points.map((p) => p.value),
              StatusCode: 'Complete',
            };
          }),
        };
      }
      case 'GetMetricStatistics': {
        const key = metricKey(required(input, 'Namespace'), required(input, 'MetricName'), dimensionsOf(input.Dimensions, 'GetMetricStatistics'));
        const stats = required<string[]>(input, 'Statistics');
        const period = required<number>(input, 'Period');
        const start = ms(required(input, 'StartTime'), 0);
        const end = ms(required(input, 'EndTime'), 0);
        const rows = new Map<number, Record<string, number>>();
        for (const s of stats) {
          if (!STATS.has(s)) throw new ApiError('InvalidParameterValue', `Statistics: ${s} is not one of ${[...STATS].join(', ')}`);
          for (const p of buckets(key, s as Stat, period, start, end)) rows.set(p.at, { ...(rows.get(p.at) ?? {}), [s]: p.value });
        }
        return { Label: input.MetricName, Datapoints: [...rows.entries()].map(([at, values]) => ({ Timestamp: at / 1000, ...values })) };
      }
      case 'PutMetricAlarm': {
        const name = required<string>(input, 'AlarmName');
        if (typeof name !== 'string' || name === '' || name.length > CLOUDWATCH_QUOTAS.alarmNameLength) {
          throw new ApiError('InvalidParameterValue', `AlarmName must have from 1 to ${CLOUDWATCH_QUOTAS.alarmNameLength} characters`);
        }
        const statistic = required<string>(input, 'Statistic');
        if (!STATS.has(statistic)) throw new ApiError('InvalidParameterValue', `Statistic must be one of ${[...STATS].join(', ')}`);
        const comparison = required<string>(input, 'ComparisonOperator');
        if (!COMPARISONS[comparison]) throw new ApiError('InvalidParameterValue', `ComparisonOperator must be one of ${Object.keys(COMPARISONS).join(', ')}`);
        const evaluationPeriods = required<number>(input, 'EvaluationPeriods');
        const previous = alarms.get(name);
        alarms.set(name, {
          AlarmName: name,
          AlarmArn: `arn:aws:cloudwatch:${REGION}:${ACCOUNT_ID}:alarm:${name}`,
          Namespace: required(input, 'Namespace'),
          MetricName: required(input, 'MetricName'),
          Dimensions: dimensionsOf(input.Dimensions, 'PutMetricAlarm'),
          Statistic: statistic as Stat,
          Period: required(input, 'Period'),
          EvaluationPeriods: evaluationPeriods,
          DatapointsToAlarm: typeof input.DatapointsToAlarm === 'number' ? input.DatapointsToAlarm : evaluationPeriods,
          Threshold: required(input, 'Threshold'),
          ComparisonOperator: comparison,
          TreatMissingData: typeof input.TreatMissingData === 'string' ? input.TreatMissingData : 'missing',
          AlarmActions: Array.isArray(input.AlarmActions) ? (input.AlarmActions as string[]) : [],
          // CloudWatch keeps the state of an updated alarm and evaluates it again.
          StateValue: previous?.StateValue ?? 'INSUFFICIENT_DATA',
          StateReason: previous?.StateReason ?? 'Unchecked: Initial alarm creation',
          StateUpdatedTimestamp: previous?.StateUpdatedTimestamp ?? now(),
        });
        return {};
      }
      case 'DescribeAlarms': {
        const names = Array.isArray(input.AlarmNames) ? new Set(input.AlarmNames as string[]) : undefined;
        const prefix = typeof input.AlarmNamePrefix === 'string' ? input.AlarmNamePrefix : '';
        const max = typeof input.MaxRecords === 'number' ? Math.min(100, input.MaxRecords) : 50;
        const all = [...alarms.values()]
          .filter((a) => (!names || names.has(a.AlarmName)) && a.AlarmName.startsWith(prefix) && (!input.StateValue || a.StateValue === input.StateValue))
          .sort((a, b) => a.AlarmName.localeCompare(b.AlarmName));
        const from = typeof input.NextToken === 'string' ? Number(input.NextToken) : 0;
        const page = all.slice(from, from + max);
        return {
          MetricAlarms: page.map((a) => ({ ...a, StateUpdatedTimestamp: a.StateUpdatedTimestamp / 1000 })),
          ...(from + max < all.length ? { NextToken: String(from + max) } : {}),
        };
      }
      case 'DeleteAlarms': {
        const names = required<string[]>(input, 'AlarmNames');
        if (!Array.isArray(names) || names.length > CLOUDWATCH_QUOTAS.maxAlarmNames) {
          throw new ApiError('InvalidParameterValue', `AlarmNames must hold at most ${CLOUDWATCH_QUOTAS.maxAlarmNames} names`);
        }
        for (const n of names) alarms.delete(n);
        return {};
      }
      default:
        throw new ApiError('UnknownOperationException', `operation ${JSON.stringify(op)} is not supported by the local CloudWatch stand-in`);
    }
  };

  const handle = awsJsonHandler(
    {
      version: '1.0',
      targetPrefix: TARGET_PREFIX,
      service: 'CloudWatch',
      maxBodyBytes: CLOUDWATCH_QUOTAS.maxBodyBytes,
      internalError: 'InternalFailure',
      // The JSON protocol names the Smithy shape; the query-compatible header keeps the old code (the SDK reads both).
      errorAnswer: (e) => ({
        headers: { 'x-amzn-query-error': `${e.code};Sender` },
        body: { __type: `com.amazonaws.cloudwatch#${SHAPES[e.code] ?? e.code}`, message: e.message },
      }),
    },
    counts,
    dispatch,
  );

  const timer = setInterval(evaluate, opts.evaluateMs ?? 1000);
  timer.unref();
  const http = await serveHttp(
    (req, res) => void handle(req, res),
    host,
    port,
    async () => clearInterval(timer),
  );
  return { endpoint: http.endpoint, port: http.port, record, evaluate, counts: () => ({ ...counts }), close: http.close };
}
