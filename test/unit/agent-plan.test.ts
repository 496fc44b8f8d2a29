import { describe, expect, it } from 'vitest';
import { backoffDelay, nextRestart, plan, shouldRestart, taskStatus, BACKOFF } from '../../agent/plan.ts';
import type { ContainerInfo } from '../../agent/executor.ts';
import { SANDBOX } from '../../agent/pod-sandbox.ts';
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
/** The pod's sandbox (agent/pod-sandbox.ts), running unless told otherwise. */
const sandbox = (taskId: string, over: Partial<ContainerInfo> = {}): ContainerInfo => container(taskId, SANDBOX, { specHash: 'any', ...over });
const run = (tasks: HostDocumentTask[], containers: ContainerInfo[], restarts = new Map(), now = 1000) => plan({ tasks, containers, hashOf, restarts, now });
const kinds = (p: ReturnType<typeof plan>) =>
  p.actions.map((a) => `${a.kind}:${a.kind === 'createPod' ? a.task.id : a.kind === 'createContainer' ? `${a.task.id}-${a.spec.name}` : a.container.id}`);

describe('agent plan', () => {
  it('creates the pods of new tasks and keeps running ones', () => {
    expect(kinds(run([task('a'), task('b')], [sandbox('a'), container('a', 'web')]))).toEqual(['createPod:b']);
  });

  it('removes containers of tasks that are no longer in the document', () => {
    expect(kinds(run([], [container('gone', 'web')]))).toEqual(['remove:gone-web']);
  });

  it('recreates a pod whose container runs an old spec', () => {
    const p = run([task('a', [spec('web', 'img2')])], [sandbox('a'), container('a', 'web')]);
    expect(kinds(p)).toEqual(['remove:a-_sandbox', 'remove:a-web', 'createPod:a']);
    expect(p.actions[1].reason).toBe('container web runs an old spec');
  });

  it('creates a missing container alone in the running sandbox, keeping the others', () => {
    const p = run([task('a', [spec('web'), spec('side')])], [sandbox('a'), container('a', 'side')]);
    expect(kinds(p)).toEqual(['createContainer:a-web']);
    expect(p.actions[0]).toMatchObject({ sandbox: { id: 'a-_sandbox' } });
  });

  it('restarts a crashed app container alone: its sidecar and the sandbox stay', () => {
    const p = run([task('a', [spec('web'), spec('side')])], [sandbox('a'), container('a', 'web', { state: 'exited', exitCode: 1 }), container('a', 'side')]);
    expect(kinds(p)).toEqual(['start:a-web']);
  });

  it('recreates the whole pod when its sandbox exited or is gone (the network namespace went with it)', () => {
    const two = task('a', [spec('web'), spec('side')]);
    expect(kinds(run([two], [sandbox('a', { state: 'exited', exitCode: 137 }), container('a', 'web'), container('a', 'side')]))).toEqual([
      'remove:a-_sandbox',
      'remove:a-web',
      'remove:a-side',
      'createPod:a',
    ]);
    const p = run([two], [container('a', 'web'), container('a', 'side')]);
    expect(kinds(p)).toEqual(['remove:a-web', 'remove:a-side', 'createPod:a']);
    expect(p.actions[2].reason).toBe('the pod sandbox is gone');
  });

  it('leaves the exited sandbox of a pod whose containers all ended for good', () => {
    const once = task('a', [spec('web')], 'never');
    expect(kinds(run([once], [sandbox('a', { state: 'exited', exitCode: 0 }), container('a', 'web', { state: 'exited', exitCode: 0 })]))).toEqual([]);
  });

  it('runs init containers one at a time, in order, before the app containers', () => {
    const t: HostDocumentTask = {
      ...task('a', [spec('web'), spec('side')]),
      pod: { ...task('a').pod, containers: [spec('web'), spec('side')], initContainers: [spec('one'), spec('two')] },
    };
    expect(kinds(run([t], [sandbox('a')]))).toEqual(['createContainer:a-one']);
    expect(kinds(run([t], [sandbox('a'), container('a', 'one')]))).toEqual([]);
    expect(kinds(run([t], [sandbox('a'), container('a', 'one', { state: 'exited', exitCode: 0 })]))).toEqual(['createContainer:a-two']);
    const inits = [container('a', 'one', { state: 'exited', exitCode: 0 }), container('a', 'two', { state: 'exited', exitCode: 0 })];
    expect(kinds(run([t], [sandbox('a'), ...inits]))).toEqual(['createContainer:a-web', 'createContainer:a-side']);
    // Past the init phase, a crashed app container restarts alone: the init containers do not run again.
    expect(kinds(run([t], [sandbox('a'), ...inits, container('a', 'web', { state: 'exited', exitCode: 1 }), container('a', 'side')]))).toEqual(['start:a-web']);
  });

  it('retries a failed init container with back-off and reports it', () => {
    const t: HostDocumentTask = { ...task('a'), pod: { ...task('a').pod, initContainers: [spec('one')] } };
    const failed = [sandbox('a'), container('a', 'one', { state: 'exited', exitCode: 3 })];
    expect(kinds(run([t], failed))).toEqual(['start:a-one']);
    const restarts = new Map([['a/one', { count: 1, notBefore: 4000 }]]);
    const waiting = run([t], failed, restarts, 1000);
    expect(waiting.actions).toEqual([]);
    expect(waiting.backingOff.get('a')).toBe(4000);
    expect(taskStatus(t, failed, 4000, 1000, undefined)).toMatchObject({
      state: 'failed',
      exitCode: 3,
      message: 'init container one (1 of 1) failed: exited with code 3; retrying in 3s (back-off)',
    });
    expect(taskStatus(t, [sandbox('a'), container('a', 'one')], undefined, 1000, undefined)).toMatchObject({
      state: 'starting',
      message: 'running init container one (1 of 1)',
    });
    const never: HostDocumentTask = { ...t, pod: { ...t.pod, restartPolicy: 'never' } };
    expect(kinds(run([never], failed))).toEqual([]);
    expect(taskStatus(never, failed, undefined, 1000, undefined).message).toBe(
      'init container one (1 of 1) failed: exited with code 3; restartPolicy is never',
    );
  });

  it('reports an OOM-killed container as OOMKilled, in its restart reason and in the task message', () => {
    const oom = container('a', 'web', { state: 'exited', exitCode: 137, oomKilled: true });
    const p = run([task('a')], [sandbox('a'), oom]);
    expect(p.actions[0].reason).toBe('exited with code 137 (OOMKilled: over its memory limit)');
    expect(taskStatus(task('a'), [sandbox('a'), oom], 3000, 1000, undefined)).toMatchObject({
      state: 'failed',
      exitCode: 137,
      message: 'container web was OOMKilled (it used more than its memory limit); restarting in 2s (crash loop back-off)',
    });
    expect(taskStatus(task('a', [spec('web')], 'never'), [sandbox('a'), oom], undefined, 1000, undefined).message).toBe(
      'container web was OOMKilled (it used more than its memory limit)',
    );
  });

  it.each([
    ['always', 0, true],
    ['always', 1, true],
    ['on-failure', 0, false],
    ['on-failure', 137, true],
    ['never', 1, false],
  ] as const)('restart policy %s with exit code %i restarts: %s', (policy, code, restarts) => {
    expect(shouldRestart(policy, code)).toBe(restarts);
    const p = run([task('a', [spec('web')], policy)], [sandbox('a'), container('a', 'web', { state: 'exited', exitCode: code })]);
    expect(kinds(p)).toEqual(restarts ? ['start:a-web'] : []);
  });

  it('replaces the pod of a task its probe declared unhealthy', () => {
    const p = plan({
      tasks: [task('a')],
      containers: [sandbox('a'), container('a', 'web')],
      hashOf,
      restarts: new Map(),
      now: 1000,
      unhealthy: new Map([['a', 'container web unhealthy']]),
    });
    expect(kinds(p)).toEqual(['remove:a-_sandbox', 'remove:a-web', 'createPod:a']);
    expect(p.actions[2].reason).toBe('container web unhealthy');
  });

  it('starts a container that was created but never started', () => {
    expect(kinds(run([task('a')], [sandbox('a'), container('a', 'web', { state: 'created' })]))).toEqual(['start:a-web']);
  });

  it('waits out the back-off of a crash loop', () => {
    const restarts = new Map([['a/web', { count: 2, notBefore: 5000 }]]);
    const p = run([task('a')], [sandbox('a'), container('a', 'web', { state: 'exited', exitCode: 1 })], restarts, 1000);
    expect(p.actions).toEqual([]);
    expect(p.backingOff.get('a')).toBe(5000);
    expect(kinds(run([task('a')], [sandbox('a'), container('a', 'web', { state: 'exited', exitCode: 1 })], restarts, 5000))).toEqual(['start:a-web']);
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
    const t = task('a', [{ ...spec('web'), ports: [{ containerPort: 80, protocol: 'tcp' }] }]);
    // The sandbox publishes the pod's ports; each is reported under the container that declares it.
    const published = [{ container: SANDBOX, containerPort: 80, protocol: 'tcp' as const, hostIp: '127.0.1.1', hostPort: 3000 }];
    const running = taskStatus(t, [sandbox('a', { ports: published }), container('a', 'web')], undefined, 1000, undefined);
    expect(running).toMatchObject({ state: 'running', ports: [{ container: 'web', hostPort: 3000 }], since: new Date(1000).toISOString() });
    expect(running.containers).toEqual([{ name: 'web', id: 'a-web', state: 'running' }]);
    expect(taskStatus(t, [sandbox('a'), container('a', 'web')], undefined, 5000, running).since).toBe(running.since);
    expect(taskStatus(t, [], undefined, 1000, undefined).state).toBe('creating');
    expect(taskStatus(t, [sandbox('a')], undefined, 1000, undefined).state).toBe('creating');
    const looping = taskStatus(t, [sandbox('a'), container('a', 'web', { state: 'exited', exitCode: 2 })], 4000, 1000, undefined);
    expect(looping).toMatchObject({ state: 'failed', exitCode: 2, message: 'restarting in 3s (crash loop back-off)' });
    const done = taskStatus(
      task('a', [spec('web')], 'never'),
      [sandbox('a'), container('a', 'web', { state: 'exited', exitCode: 0 })],
      undefined,
      1000,
      undefined,
    );
    expect(done).toMatchObject({ state: 'exited', exitCode: 0 });
  });
});
