import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CgroupUsageSource, UsageSampler, type ContainerCounters } from '../../agent/usage.ts';
import type { ContainerInfo } from '../../agent/executor.ts';
import type { HostDocumentTask } from '../../core/types.ts';
import { parseHostStatusItem } from '../../core/items.ts';

const Mi = 1024 ** 2;

const task = (id: string, cpu = 500, memory = 64 * Mi): HostDocumentTask => ({
  id,
  namespace: 'default',
  service: 'web',
  slot: 0,
  specVersion: 1,
  pod: { restartPolicy: 'always', containers: [{ name: 'app', image: 'skiff/busybox:latest', env: {}, ports: [], resources: { cpu, memory } }] },
});

const container = (id: string, taskId: string, state: ContainerInfo['state'] = 'running'): ContainerInfo => ({
  id,
  name: id,
  taskId,
  container: 'app',
  specHash: 'h',
  state,
  ports: [],
});

describe('UsageSampler', () => {
  it('reports CPU as millicores over the interval and memory as bytes, once two samples exist', async () => {
    let now = 0;
    const counters = new Map<string, ContainerCounters>([['c1', { cpuNanos: 0, memoryBytes: 10 * Mi }]]);
    const sampler = new UsageSampler({ read: async (id) => counters.get(id) }, { now: () => now });
    sampler.track([task('t1')], [container('c1', 't1')]);
    await sampler.sample();
    expect(sampler.usageOf('t1')).toBeUndefined();
    now = 5000;
    // 2.5 s of CPU in 5 s: half a core.
    counters.set('c1', { cpuNanos: 2.5e9, memoryBytes: 20 * Mi });
    expect(await sampler.sample()).toBe(true);
    expect(sampler.usageOf('t1')).toEqual({ cpu: 500, memory: 20 * Mi });
  });

  it('holds the reported figure until it moves by 5% of the reservation, so an idle report does not change', async () => {
    let now = 0;
    let cpu = 0;
    const sampler = new UsageSampler({ read: async () => ({ cpuNanos: cpu, memoryBytes: 10 * Mi }) }, { now: () => now, smallMoveMs: 0 });
    sampler.track([task('t1', 1000)], [container('c1', 't1')]);
    await sampler.sample();
    const step = async (millicores: number): Promise<boolean> => {
      now += 1000;
      cpu += millicores * 1e6;
      return sampler.sample();
    };
    expect(await step(100)).toBe(true);
    expect(await step(130)).toBe(false); // 30m is under 5% of 1000m
    expect(sampler.usageOf('t1')?.cpu).toBe(100);
    expect(await step(160)).toBe(true);
    expect(sampler.usageOf('t1')?.cpu).toBe(160);
  });

  it('forgets tasks that stopped running and skips a task whose counters cannot be read', async () => {
    let now = 0;
    const sampler = new UsageSampler({ read: async (id) => (id === 'c1' ? { cpuNanos: now * 1e6, memoryBytes: Mi } : undefined) }, { now: () => now });
    sampler.track([task('t1'), task('t2')], [container('c1', 't1'), container('c2', 't2')]);
    await sampler.sample();
    now = 1000;
    await sampler.sample();
    expect(sampler.usageOf('t1')).toEqual({ cpu: 1000, memory: Mi });
    expect(sampler.usageOf('t2')).toBeUndefined();
    sampler.track([task('t1')], [container('c1', 't1', 'exited')]);
    expect(sampler.usageOf('t1')).toBeUndefined();
  });
});

it('reports a large move at once and a small one at most every five minutes, bounding report rewrites', async () => {
  let now = 0;
  let cpu = 0;
  const sampler = new UsageSampler({ read: async () => ({ cpuNanos: cpu, memoryBytes: 10 * Mi }) }, { now: () => now });
  sampler.track([task('t1', 1000)], [container('c1', 't1')]);
  await sampler.sample();
  const step = async (millicores: number, ms = 5000): Promise<boolean> => {
    now += ms;
    cpu += (millicores * 1e6 * ms) / 1000;
    return sampler.sample();
  };
  expect(await step(100)).toBe(true); // the first figure
  expect(await step(180)).toBe(false); // 8% of the reservation, too soon
  expect(await step(400)).toBe(true); // 30%: at once
  expect(await step(460)).toBe(false);
  expect(await step(460, 5 * 60_000)).toBe(true); // 6%, five minutes later
});

describe('CgroupUsageSource', () => {
  let root: string;
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads cgroup v1 (cgroupfs driver): cpuacct.usage, and memory without the inactive page cache', async () => {
    root = mkdtempSync(join(tmpdir(), 'cg1-'));
    mkdirSync(join(root, 'cpuacct/docker/abc'), { recursive: true });
    mkdirSync(join(root, 'memory/docker/abc'), { recursive: true });
    writeFileSync(join(root, 'cpuacct/docker/abc/cpuacct.usage'), '123456789\n');
    writeFileSync(join(root, 'memory/docker/abc/memory.usage_in_bytes'), `${30 * Mi}\n`);
    writeFileSync(join(root, 'memory/docker/abc/memory.stat'), `cache 5\ntotal_inactive_file ${10 * Mi}\n`);
    const source = new CgroupUsageSource(root);
    expect(await source.read('abc')).toEqual({ cpuNanos: 123456789, memoryBytes: 20 * Mi });
    expect(await source.read('absent')).toBeUndefined();
  });

  it('reads cgroup v2 (systemd driver): cpu.stat usage_usec and memory.current', async () => {
    root = mkdtempSync(join(tmpdir(), 'cg2-'));
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory\n');
    const dir = join(root, 'system.slice/docker-abc.scope');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 2000\nuser_usec 1500\n');
    writeFileSync(join(dir, 'memory.current'), `${8 * Mi}\n`);
    writeFileSync(join(dir, 'memory.stat'), `anon 1\ninactive_file ${Mi}\n`);
    expect(await new CgroupUsageSource(root).read('abc')).toEqual({ cpuNanos: 2_000_000, memoryBytes: 7 * Mi });
  });
});

describe('a reported usage read from the store', () => {
  const status = (usage: unknown) => ({
    heartbeatAt: '2026-12-07T04:00:00.000Z',
    generation: 1,
    agentVersion: '1',
    tasks: [{ taskId: 't1', namespace: 'default', service: 'web', state: 'running', ports: [], containers: [], since: '2026-12-07T04:00:00.000Z', usage }],
  });

  it('is kept when within bounds', () => {
    const parsed = parseHostStatusItem(status({ cpu: 250, memory: 64 * Mi }), { hostId: 'h1' });
    expect(parsed.ok && parsed.value.tasks[0].usage).toEqual({ cpu: 250, memory: 64 * Mi });
  });

  it.each([[{ cpu: -1, memory: 0 }], [{ cpu: 1e12, memory: 0 }], [{ cpu: 0.5, memory: 0 }], [{ cpu: 1 }], ['lots']])(
    'refuses the status holding %j',
    (usage) => {
      expect(parseHostStatusItem(status(usage), { hostId: 'h1' }).ok).toBe(false);
    },
  );
});
