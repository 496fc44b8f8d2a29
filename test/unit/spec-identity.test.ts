import { describe, expect, it } from 'vitest';
import { parseServiceSpec, serviceSpecToJson } from '../../core/spec.ts';
import { ValidationError } from '../../core/errors.ts';
import { podOf } from '../../core/reconciler.ts';
import { TaskItemSchema } from '../../core/items.ts';
import { roleArnProblem } from '../../core/spec/identity.ts';

const spec = (identity: unknown) => ({
  kind: 'Service',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { containers: [{ name: 'app', image: 'skiff/busybox:latest' }], identity },
});

function issuesOf(input: unknown): { path: string; message: string }[] {
  try {
    parseServiceSpec(input);
  } catch (err) {
    if (err instanceof ValidationError) return err.issues.map((i) => ({ path: i.path, message: i.message }));
    throw err;
  }
  return [];
}

describe('spec.identity.awsRole', () => {
  it('accepts a role ARN, with or without a path, in every partition', () => {
    for (const arn of [
      'arn:aws:iam::123456789012:role/shop-web',
      'arn:aws:iam::123456789012:role/skiff/prod/shop-web',
      'arn:aws-cn:iam::123456789012:role/a+b=c,d.e@f_g-h',
      'arn:aws-us-gov:iam::123456789012:role/x',
    ]) {
      expect(roleArnProblem(arn)).toBeUndefined();
      expect(parseServiceSpec(spec({ awsRole: arn })).spec.identity).toEqual({ awsRole: arn });
    }
  });

  it.each([
    ['arn:aws:iam::123456789012:user/alice', 'this is a user, not a role'],
    ['arn:aws:sts::123456789012:assumed-role/shop-web/s1', 'STS session ARN'],
    ['shop-web', 'must be an IAM role ARN'],
    ['arn:aws:iam::12345:role/x', 'must be an IAM role ARN'],
    ['arn:aws:iam::123456789012:role/', 'must be an IAM role ARN'],
    [`arn:aws:iam::123456789012:role/${'r'.repeat(65)}`, 'must be an IAM role ARN'],
    ['arn:aws:s3:::bucket', 'must be an IAM role ARN'],
  ])('refuses %s, naming the field and why', (arn, why) => {
    const issues = issuesOf(spec({ awsRole: arn }));
    expect(issues).toHaveLength(1);
    expect(issues[0].path).toBe('spec.identity.awsRole');
    expect(issues[0].message).toContain(why);
  });

  it('refuses a missing role, a non-string, an unknown key and a non-map', () => {
    expect(issuesOf(spec({}))).toEqual([{ path: 'spec.identity.awsRole', message: 'is required' }]);
    expect(issuesOf(spec({ awsRole: 42 }))[0].path).toBe('spec.identity.awsRole');
    expect(issuesOf(spec({ awsRole: 'arn:aws:iam::123456789012:role/x', gcpAccount: 'y' }))[0].path).toMatch(/^spec\.identity/);
    expect(issuesOf(spec('arn:aws:iam::123456789012:role/x'))[0]).toMatchObject({ path: 'spec.identity', message: expect.stringContaining('awsRole') });
  });

  it('is part of the pod, so the agent knows the role, and survives a round trip through the stored item', () => {
    const parsed = parseServiceSpec(spec({ awsRole: 'arn:aws:iam::123456789012:role/shop-web' }));
    expect(parseServiceSpec(serviceSpecToJson(parsed))).toEqual(parsed);
    const service = { namespace: 'shop', name: 'web', spec: parsed, specVersion: 1, createdAt: 'x', updatedAt: 'x', deleting: false };
    expect(podOf(service).identity).toEqual({ awsRole: 'arn:aws:iam::123456789012:role/shop-web' });
    expect(podOf({ ...service, spec: parseServiceSpec(spec(undefined)) })).not.toHaveProperty('identity');
    const task = {
      id: 'web-1-abcde',
      namespace: 'shop',
      service: 'web',
      slot: 1,
      incarnation: 1,
      specVersion: 1,
      pod: podOf(service),
      desired: 'running',
      createdAt: '2026-01-01T00:00:00.000Z',
    };
    expect(TaskItemSchema.parse(task).pod.identity).toEqual({ awsRole: 'arn:aws:iam::123456789012:role/shop-web' });
    expect(TaskItemSchema.safeParse({ ...task, pod: { ...task.pod, identity: { awsRole: 'nope' } } }).success).toBe(false);
  });
});

describe('a changed identity', () => {
  it('rolls the replicas: a task created before the role was given (or changed) is not current', async () => {
    const { reconcileService } = await import('../../core/reconciler.ts');
    const { rng } = await import('../../core/random.ts');
    const { aService, aTask } = await import('../builders.ts');
    const before = aService({ replicas: 1 });
    const task = aTask(before, 1, { host: 'h1', pod: podOf(before) });
    const withRole = {
      ...before,
      specVersion: 2,
      spec: { ...before.spec, spec: { ...before.spec.spec, identity: { awsRole: 'arn:aws:iam::123456789012:role/x' } } },
    };
    const hosts = new Map([['h1', { id: 'h1', state: 'ready' as const }]]);
    const input = { tasks: [task], hosts, stillOnHosts: true, now: '2026-01-01T00:00:00.000Z', random: rng('t') };
    expect(reconcileService({ ...input, service: before }).create).toHaveLength(0);
    const rolled = reconcileService({ ...input, service: withRole });
    expect(rolled.create).toHaveLength(1);
    expect(rolled.create[0].task.pod.identity).toEqual({ awsRole: 'arn:aws:iam::123456789012:role/x' });
  });
});
