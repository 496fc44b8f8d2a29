import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchClient, GetMetricStatisticsCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { startCloudWatchServer, type AlarmStateChangeEvent, type CloudWatchServer } from '../../local/cloudwatch-server.ts';
import { CloudWatchAutoscaling } from '../../adapters/aws/cloudwatch-autoscaling.ts';
import type { Service } from '../../core/types.ts';
import { aService } from '../builders.ts';

let now = Date.parse('2026-12-07T04:00:00.000Z');
const events: AlarmStateChangeEvent[] = [];
let server: CloudWatchServer;
let client: CloudWatchClient;

function withRequests(service: Service, target: number): Service {
  const spec = service.spec;
  return {
    ...service,
    spec: {
      ...spec,
      spec: {
        ...spec.spec,
        ingress: { host: 'shop.example.com', port: 8080, sessionAffinity: false },
        autoscaling: { minReplicas: 1, maxReplicas: 5, targetRequestsPerReplica: target, scaleUpStabilizationSeconds: 0, scaleDownStabilizationSeconds: 300 },
      },
    },
  };
}

beforeAll(async () => {
  server = await startCloudWatchServer({ now: () => now, evaluateMs: 60_000, onAlarmStateChange: (e) => events.push(e) });
  client = new CloudWatchClient({ endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
});

afterAll(async () => {
  client.destroy();
  await server.close();
});

describe('the CloudWatch stand-in with the autoscaler adapter', () => {
  const adapter = () =>
    new CloudWatchAutoscaling(client, {
      alarmPrefix: 'skiff-test-autoscale-',
      targetGroupOf: async (_ns, name) => (name === 'web' ? 'targetgroup/skiff-test-0123456789/local' : undefined),
      now: () => new Date(now),
    });

  it('reads the load balancer’s requests per target as requests per second per replica', async () => {
    // The ALB publishes per-target sums each minute; 1,200 in the last minute = 20/s per target.
    server.record(
      'AWS/ApplicationELB',
      'RequestCountPerTarget',
      [{ Name: 'TargetGroup', Value: 'targetgroup/skiff-test-0123456789/local' }],
      1200,
      now - 90_000,
    );
    const rates = await adapter().requestsPerReplica([
      { namespace: 'default', name: 'web' },
      { namespace: 'default', name: 'other' },
    ]);
    expect([...rates]).toEqual([['default/web', 20]]);
  });

  it('keeps one alarm per request-rate service, whose state change is the EventBridge event', async () => {
    const web = withRequests(aService({ name: 'web' }), 10);
    expect(await adapter().syncAlarms([web])).toEqual({ put: 1, deleted: 0 });
    // Unchanged: no call.
    expect(await adapter().syncAlarms([web])).toEqual({ put: 0, deleted: 0 });
    now += 60_000;
    server.record(
      'AWS/ApplicationELB',
      'RequestCountPerTarget',
      [{ Name: 'TargetGroup', Value: 'targetgroup/skiff-test-0123456789/local' }],
      900,
      now - 30_000,
    );
    server.evaluate();
    expect(events.at(-1)).toMatchObject({
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      detail: { alarmName: 'skiff-test-autoscale-default-web-requests', state: { value: 'ALARM' } },
    });
    // The service lost its request target: its alarm goes.
    expect(await adapter().syncAlarms([])).toEqual({ put: 0, deleted: 1 });
  });

  it('reads again only after refreshMs, or when told to refresh (an alarm went off)', async () => {
    const cached = new CloudWatchAutoscaling(client, {
      alarmPrefix: 'skiff-test-autoscale-',
      targetGroupOf: async () => 'targetgroup/skiff-test-0123456789/local',
      now: () => new Date(now),
      refreshMs: 600_000,
    });
    const web = [{ namespace: 'default', name: 'web' }];
    const reads = () => server.counts().GetMetricData ?? 0;
    const before = reads();
    await cached.requestsPerReplica(web);
    await cached.requestsPerReplica(web);
    expect(reads()).toBe(before + 1);
    cached.refresh();
    await cached.requestsPerReplica(web);
    expect(reads()).toBe(before + 2);
  });

  it('refuses custom data in an AWS/ namespace, and serves its own back', async () => {
    await expect(
      client.send(new PutMetricDataCommand({ Namespace: 'AWS/ApplicationELB', MetricData: [{ MetricName: 'RequestCount', Value: 1 }] })),
    ).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    await client.send(new PutMetricDataCommand({ Namespace: 'Skiff/Test', MetricData: [{ MetricName: 'X', Value: 3, Timestamp: new Date(now - 1000) }] }));
    const out = await client.send(
      new GetMetricStatisticsCommand({
        Namespace: 'Skiff/Test',
        MetricName: 'X',
        StartTime: new Date(now - 60_000),
        EndTime: new Date(now),
        Period: 60,
        Statistics: ['Sum', 'Maximum'],
      }),
    );
    expect(out.Datapoints?.map((d) => [d.Sum, d.Maximum])).toEqual([[3, 3]]);
  });
});
