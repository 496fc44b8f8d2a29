/**
 * The autoscaler's CloudWatch side (docs/autoscaling.md), over an injected SDK client, so the same
 * code runs against CloudWatch and against local mode's stand-in (local/cloudwatch-server.ts):
 *
 * - `requestsPerReplica`: the load balancer's `RequestCountPerTarget` (AWS/ApplicationELB, per
 *   target group; AWS publishes it every minute at no charge), one GetMetricData query per
 *   request-rate service, as requests per second per target.
 * - `syncAlarms`: one alarm per request-rate service on that metric, above the target by the
 *   tolerance; its state change (EventBridge) wakes the autoscaler between its periodic runs. Made
 *   at run time because services are applied at run time; stale ones are deleted.
 *
 * CPU and memory have no CloudWatch metric: they come from the agents' reports in the store, which
 * the periodic run reads (docs/cost.md: a custom metric per service would cost more than the
 * whole rest of the autoscaler).
 */
import {
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  PutMetricAlarmCommand,
  type CloudWatchClient,
  type MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import { TOLERANCE } from '../../core/autoscale.ts';
import type { Service } from '../../core/types.ts';
import type { RequestRates } from '../../app/autoscaler.ts';

/** The ALB's metric the request-rate target follows. */
export const REQUEST_METRIC = { namespace: 'AWS/ApplicationELB', name: 'RequestCountPerTarget' } as const;
/** The ALB publishes per minute: the shortest period that has data. */
const PERIOD_SECONDS = 60;
/** GetMetricData takes at most 500 queries. */
const MAX_QUERIES = 500;
/** DeleteAlarms takes at most 100 names. */
const MAX_DELETE = 100;

export interface CloudWatchAutoscalingOptions {
  /** Alarm names start with it (`skiff-<cluster>-autoscale-`); the EventBridge rule matches it, and the IAM policy limits PutMetricAlarm to it. */
  readonly alarmPrefix: string;
  /** The `TargetGroup` dimension of a service's target group (`targetgroup/<name>/<id>`), if it has one. */
  readonly targetGroupOf: (namespace: string, name: string) => Promise<string | undefined>;
  readonly now?: () => Date;
  /**
   * Reuse the last request rates and alarm sync for this long (`refresh()` drops them: an alarm
   * went off). GetMetricData is billed per metric read: at one read per service a minute, 50
   * services cost $21.90 a month; every 10 minutes, $2.19 (docs/cost.md). The scale-down window
   * (300 s by default) is as long as that lag anyway.
   * @default 0: every run reads
   */
  readonly refreshMs?: number;
}

export class CloudWatchAutoscaling implements RequestRates {
  private rates: { at: number; key: string; value: ReadonlyMap<string, number> } | undefined;
  private synced: { at: number; key: string } | undefined;

  constructor(
    private readonly client: CloudWatchClient,
    private readonly options: CloudWatchAutoscalingOptions,
  ) {}

  /** Forget what was read: the next run reads CloudWatch again. */
  refresh(): void {
    this.rates = undefined;
    this.synced = undefined;
  }

  private fresh(entry: { at: number; key: string } | undefined, key: string): boolean {
    const now = (this.options.now ?? (() => new Date()))().getTime();
    return entry !== undefined && entry.key === key && now - entry.at < (this.options.refreshMs ?? 0);
  }

  async requestsPerReplica(services: readonly { namespace: string; name: string }[]): Promise<ReadonlyMap<string, number>> {
    const key = services.map((s) => `${s.namespace}/${s.name}`).join(',');
    if (this.fresh(this.rates, key)) return this.rates!.value;
    const rates = await this.readRates(services);
    this.rates = { at: (this.options.now ?? (() => new Date()))().getTime(), key, value: rates };
    return rates;
  }

  private async readRates(services: readonly { namespace: string; name: string }[]): Promise<Map<string, number>> {
    const rates = new Map<string, number>();
    const groups = await Promise.all(services.map(async (s) => ({ s, group: await this.options.targetGroupOf(s.namespace, s.name) })));
    const known = groups.filter((g): g is { s: (typeof services)[number]; group: string } => g.group !== undefined);
    const end = (this.options.now ?? (() => new Date()))();
    // Three periods back: the newest minute may not be published yet; the newest one present is used.
    const start = new Date(end.getTime() - 3 * PERIOD_SECONDS * 1000);
    for (let i = 0; i < known.length; i += MAX_QUERIES) {
      const chunk = known.slice(i, i + MAX_QUERIES);
      const out = await this.client.send(
        new GetMetricDataCommand({
          StartTime: start,
          EndTime: end,
          MetricDataQueries: chunk.map(({ group }, j) => ({
            Id: `r${j}`,
            MetricStat: {
              Metric: { Namespace: REQUEST_METRIC.namespace, MetricName: REQUEST_METRIC.name, Dimensions: [{ Name: 'TargetGroup', Value: group }] },
              Period: PERIOD_SECONDS,
              Stat: 'Sum',
            },
          })),
        }),
      );
      const byId = new Map((out.MetricDataResults ?? []).map((r) => [r.Id, r]));
      chunk.forEach(({ s }, j) => {
        // Newest first: the last whole minute's requests per target, per second.
        const perTarget = byId.get(`r${j}`)?.Values?.[0];
        if (perTarget !== undefined) rates.set(`${s.namespace}/${s.name}`, perTarget / PERIOD_SECONDS);
      });
    }
    return rates;
  }

  alarmName(namespace: string, name: string): string {
    return `${this.options.alarmPrefix}${namespace}-${name}-requests`;
  }

  /** One alarm per service with a request-rate target; alarms under the prefix for anything else are deleted. Returns the calls it made. */
  async syncAlarms(services: readonly Service[]): Promise<{ put: number; deleted: number }> {
    const key = services
      .filter((s) => s.spec.spec.autoscaling?.targetRequestsPerReplica !== undefined && !s.deleting)
      .map((s) => `${s.namespace}/${s.name}=${s.spec.spec.autoscaling?.targetRequestsPerReplica}`)
      .join(',');
    if (this.fresh(this.synced, key)) return { put: 0, deleted: 0 };
    const result = await this.sync(services);
    this.synced = { at: (this.options.now ?? (() => new Date()))().getTime(), key };
    return result;
  }

  private async sync(services: readonly Service[]): Promise<{ put: number; deleted: number }> {
    const existing = new Map<string, MetricAlarm>();
    let token: string | undefined;
    do {
      const out = await this.client.send(new DescribeAlarmsCommand({ AlarmNamePrefix: this.options.alarmPrefix, MaxRecords: 100, NextToken: token }));
      for (const a of out.MetricAlarms ?? []) if (a.AlarmName) existing.set(a.AlarmName, a);
      token = out.NextToken;
    } while (token);
    const wanted = new Set<string>();
    let put = 0;
    for (const s of services) {
      const target = s.spec.spec.autoscaling?.targetRequestsPerReplica;
      if (target === undefined || s.deleting) continue;
      const group = await this.options.targetGroupOf(s.namespace, s.name);
      if (!group) continue;
      const name = this.alarmName(s.namespace, s.name);
      wanted.add(name);
      // Per target per minute, above the target by the tolerance: the decision would scale up.
      const threshold = target * PERIOD_SECONDS * (1 + TOLERANCE);
      const have = existing.get(name);
      if (have && have.Threshold === threshold && have.Dimensions?.[0]?.Value === group) continue;
      await this.client.send(
        new PutMetricAlarmCommand({
          AlarmName: name,
          AlarmDescription: `Skiff: ${s.namespace}/${s.name} above ${target} requests/s per replica; wakes the autoscaler`,
          Namespace: REQUEST_METRIC.namespace,
          MetricName: REQUEST_METRIC.name,
          Dimensions: [{ Name: 'TargetGroup', Value: group }],
          Statistic: 'Sum',
          Period: PERIOD_SECONDS,
          EvaluationPeriods: 1,
          Threshold: threshold,
          ComparisonOperator: 'GreaterThanThreshold',
          // No traffic is no reason to wake anything: the periodic run scales in.
          TreatMissingData: 'notBreaching',
        }),
      );
      put++;
    }
    const stale = [...existing.keys()].filter((n) => !wanted.has(n));
    for (let i = 0; i < stale.length; i += MAX_DELETE) await this.client.send(new DeleteAlarmsCommand({ AlarmNames: stale.slice(i, i + MAX_DELETE) }));
    return { put, deleted: stale.length };
  }
}
