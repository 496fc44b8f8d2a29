import { describe, expect, it } from 'vitest';
import { backoffDelay, nextRestart, plan, shouldRestart, taskStatus, BACKOFF } from '../../agent/plan.ts';
import type { ContainerInfo } from '../../agent/executor.ts';
import type { ContainerSpec, HostDocumentTask } from '../../core/types.ts';

const hashOf = (spec: ContainerSpec) => `h-${spec.name}-${spec.image}`;
const spec = (name: string, image = 'img'): ContainerSpec => ({ name, image, env: {}, ports: [], resources: { cpu: 100, memory: 1 } });
const task = (id: string, containers = [spec('web')], restartPolicy: 'always' | 'on-failure' | 'never' = 'always'): HostDocumentTask => ({
  id,
  namespace: 'default',
  service: 'svc',
  slot: 1,
  specVersion: 1,
  pod: { containers, restartPolicy },
});
const container = (taskId: string, name: string, over: Partial<ContainerInfo> = {}): ContainerInfo => ({
  id: `${taskId}-${name}`,
  name: `x.${taskId}.${name}`,
  taskId,
  container: name,
  specHash: `h-${name}-img`,
  state: 'running',
  ports: [],
  ...over,
});
const run = (tasks: HostDocumentTask[], containers: ContainerInfo[], restarts = new Map(), now = 1000) => plan({ tasks, containers, hashOf, restarts, now });
const kinds = (p: ReturnType<typeof plan>) => p.actions.map((a) => `${a.kind}:${a.kind === 'createPod' ? a.task.id : a.container.id}`);

describe('agent plan', () => {
  it('creates the pods of new tasks and keeps running ones', () => {
    expect(kinds(run([task('a'), task('b')], [container('a', 'web')]))).toEqual(['createPod:b']);
  });

  it('removes containers of tasks that are no longer in the document', () => {
    expect(kinds(run([], [container('gone', 'web')]))).toEqual(['remove:gone-web']);
  });

  it('recreates a pod whose container runs an old spec', () => {
    const p = run([task('a', [spec('web', 'img2')])], [container('a', 'web')]);
    expect(kinds(p)).toEqual(['remove:a-web', 'createPod:a']);
    expect(p.actions[1].reason).toBe('container web runs an old spec');
  });

  it('recreates an incomplete pod and one whose network owner exited', () => {
    expect(kinds(run([task('a', [spec('web'), spec('side')])], [container('a', 'side')]))).toEqual(['remove:a-side', 'createPod:a']);
    const p = run([task('a', [spec('web'), spec('side')])], [container('a', 'web', { state: 'exited', exitCode: 1 }), container('a', 'side')]);
    expect(kinds(p)).toEqual(['remove:a-web', 'remove:a-side', 'createPod:a']);
  });

  it.each([
    ['always', 0, true],
    ['always', 1, true],
    ['on-failure', 0, false],
    ['on-failure', 137, true],
    ['never', 1, false],
  ] as const)('restart policy %s with exit code %i restarts: %s', (policy, code, restarts) => {
    expect(shouldRestart(policy, code)).toBe(restarts);
    const p = run([task('a', [spec('web')], policy)], [container('a', 'web', { state: 'exited', exitCode: code })]);
    expect(kinds(p)).toEqual(restarts ? ['start:a-web'] : []);
  });

  it('replaces the pod of a task its probe declared unhealthy', () => {
    const p = plan({
      tasks: [task('a')],
      containers: [container('a', 'web')],
      hashOf,
      restarts: new Map(),
      now: 1000,
      unhealthy: new Map([['a', 'container web unhealthy']]),
    });
    expect(kinds(p)).toEqual(['remove:a-web', 'createPod:a']);
    expect(p.actions[1].reason).toBe('container web unhealthy');
  });

  it('starts a container that was created but never started', () => {
    expect(kinds(run([task('a')], [container('a', 'web', { state: 'created' })]))).toEqual(['start:a-web']);
  });

  it('waits out the back-off of a crash loop', () => {
    const restarts = new Map([['a/web', { count: 2, notBefore: 5000 }]]);
    const p = run([task('a')], [container('a', 'web', { state: 'exited', exitCode: 1 })], restarts, 1000);
    expect(p.actions).toEqual([]);
    expect(p.backingOff.get('a')).toBe(5000);
    expect(kinds(run([task('a')], [container('a', 'web', { state: 'exited', exitCode: 1 })], restarts, 5000))).toEqual(['start:a-web']);
  });

  it('backs off exponentially up to a cap, and forgets a crash loop after a long run', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(backoffDelay)).toEqual([0, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    const first = nextRestart(undefined, 100, 0);
    expect(first).toEqual({ count: 0, notBefore: BACKOFF.baseMs });
    const second = nextRestart(first, 100, 2000);
    expect(second).toEqual({ count: 1, notBefore: 2000 + 2000 });
    expect(nextRestart(second, BACKOFF.resetAfterMs + 1, 9000)).toEqual({ count: 0, notBefore: 9000 + 1000 });
  });

  it('derives task status from containers, keeping `since` while the state holds', () => {
    const t = task('a');
    const running = taskStatus(
      t,
      [container('a', 'web', { ports: [{ container: 'web', containerPort: 80, protocol: 'tcp', hostIp: '127.0.1.1', hostPort: 3000 }] })],
      undefined,
      1000,
      undefined,
    );
    expect(running).toMatchObject({ state: 'running', ports: [{ hostPort: 3000 }], since: new Date(1000).toISOString() });
    expect(taskStatus(t, [container('a', 'web')], undefined, 5000, running).since).toBe(running.since);
    expect(taskStatus(t, [], undefined, 1000, undefined).state).toBe('creating');
    const looping = taskStatus(t, [container('a', 'web', { state: 'exited', exitCode: 2 })], 4000, 1000, undefined);
    expect(looping).toMatchObject({ state: 'failed', exitCode: 2, message: 'restarting in 3s (crash loop back-off)' });
    const done = taskStatus(task('a', [spec('web')], 'never'), [container('a', 'web', { state: 'exited', exitCode: 0 })], undefined, 1000, undefined);
    expect(done).toMatchObject({ state: 'exited', exitCode: 0 });
  });
});
