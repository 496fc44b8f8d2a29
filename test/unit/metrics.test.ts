import { describe, expect, it } from 'vitest';
import { emitMetric, metricLine, METRIC_NAMESPACE, SKIFF_METRICS } from '../../app/metrics.ts';

describe('EMF metric lines', () => {
  it('declares the metric in namespace Skiff with the Cluster dimension and carries its value', () => {
    const doc = JSON.parse(metricLine('StaleHosts', 2, 'prod', 1_700_000_000_000));
    expect(doc).toEqual({
      _aws: {
        Timestamp: 1_700_000_000_000,
        CloudWatchMetrics: [{ Namespace: 'Skiff', Dimensions: [['Cluster']], Metrics: [{ Name: 'StaleHosts', Unit: 'Count' }] }],
      },
      Cluster: 'prod',
      StaleHosts: 2,
    });
  });

  it('publishes a zero, so a cleared condition shows as 0 and not as missing data', () => {
    expect(JSON.parse(metricLine('UnplaceableTasks', 0, 'skiff', 0)).UnplaceableTasks).toBe(0);
  });

  it('writes exactly one newline-terminated JSON line, stamped with the injected clock', () => {
    const lines: string[] = [];
    emitMetric(
      SKIFF_METRICS.UnplaceableTasks,
      3,
      'skiff',
      () => 42,
      (l) => lines.push(l),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(lines[0]!.slice(0, -1)).not.toContain('\n');
    const doc = JSON.parse(lines[0]!);
    expect(doc._aws.Timestamp).toBe(42);
    expect(doc._aws.CloudWatchMetrics[0].Namespace).toBe(METRIC_NAMESPACE);
    expect(doc.UnplaceableTasks).toBe(3);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects the count %s and names the metric', (value) => {
    expect(() => metricLine('StaleHosts', value, 'skiff', 0)).toThrow(`metric StaleHosts must be a finite count of 0 or more, got ${value}`);
  });

  it('rejects an empty cluster name, which would publish a metric no alarm watches', () => {
    expect(() => metricLine('StaleHosts', 1, '', 0)).toThrow('metric StaleHosts needs a cluster name for its Cluster dimension');
  });
});
