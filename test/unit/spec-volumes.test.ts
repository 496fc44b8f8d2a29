import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../core/errors.ts';
import type { FieldIssue } from '../../core/errors.ts';
import { parseServiceSpec, serviceSpecToJson } from '../../core/spec.ts';
import { podOf } from '../../core/reconciler.ts';
import { allocationFor } from '../../core/allocations.ts';
import type { Service, Task } from '../../core/types.ts';

type Raw = Record<string, any>;

function aSpec(change: (spec: Raw) => void = () => {}): Raw {
  const spec: Raw = {
    kind: 'Service',
    metadata: { name: 'db' },
    spec: {
      volumes: [
        { name: 'scratch', emptyDir: {} },
        { name: 'data', persistent: {} },
      ],
      containers: [
        {
          name: 'app',
          image: 'skiff/busybox:latest',
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'scratch', mountPath: '/tmp/s' },
          ],
        },
        { name: 'side', image: 'skiff/busybox:latest', volumeMounts: [{ name: 'scratch', mountPath: '/s', readOnly: true }] },
      ],
      initContainers: [
        {
          name: 'prepare',
          image: 'skiff/busybox:latest',
          command: ['sh', '-c', 'echo ok > /data/ready'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
    },
  };
  change(spec);
  return spec;
}

function issuesOf(raw: Raw): readonly FieldIssue[] {
  try {
    parseServiceSpec(raw);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected a ValidationError, but the spec was accepted');
}

describe('spec.volumes, volumeMounts and initContainers', () => {
  it("parses the issue's shape and keeps volumes, mounts and init containers as written", () => {
    const spec = parseServiceSpec(aSpec());
    expect(spec.spec.volumes).toEqual([
      { name: 'scratch', emptyDir: {} },
      { name: 'data', persistent: {} },
    ]);
    expect(spec.spec.containers[1].volumeMounts).toEqual([{ name: 'scratch', mountPath: '/s', readOnly: true }]);
    expect(spec.spec.initContainers?.map((c) => c.name)).toEqual(['prepare']);
    expect(parseServiceSpec(serviceSpecToJson(spec))).toEqual(spec);
  });

  it('leaves the fields out when a spec declares none, so pods stored before them compare equal', () => {
    const spec = parseServiceSpec({ kind: 'Service', metadata: { name: 'web' }, spec: { containers: [{ name: 'app', image: 'skiff/busybox' }], volumes: [] } });
    expect('volumes' in spec.spec).toBe(false);
    expect('initContainers' in spec.spec).toBe(false);
    expect('volumeMounts' in spec.spec.containers[0]).toBe(false);
  });

  it.each<[string, (s: Raw) => void, FieldIssue[]]>([
    [
      'a mount naming an absent volume',
      (s) => (s.spec.containers[0].volumeMounts[0].name = 'dta'),
      [
        {
          path: 'spec.containers[0].volumeMounts[0].name',
          message: 'names the volume "dta", which spec.volumes does not declare (did you mean "data"?); declared: scratch, data',
        },
      ],
    ],
    [
      'a mount when no volume is declared',
      (s) => delete s.spec.volumes,
      [
        {
          path: 'spec.containers[0].volumeMounts[0].name',
          message:
            'names the volume "data", but spec.volumes declares none; add { name: data, emptyDir: {} } or { name: data, persistent: {} } to spec.volumes',
        },
        {
          path: 'spec.containers[0].volumeMounts[1].name',
          message:
            'names the volume "scratch", but spec.volumes declares none; add { name: scratch, emptyDir: {} } or { name: scratch, persistent: {} } to spec.volumes',
        },
        {
          path: 'spec.containers[1].volumeMounts[0].name',
          message:
            'names the volume "scratch", but spec.volumes declares none; add { name: scratch, emptyDir: {} } or { name: scratch, persistent: {} } to spec.volumes',
        },
        {
          path: 'spec.initContainers[0].volumeMounts[0].name',
          message:
            'names the volume "data", but spec.volumes declares none; add { name: data, emptyDir: {} } or { name: data, persistent: {} } to spec.volumes',
        },
      ],
    ],
    [
      'a volume of no kind',
      (s) => (s.spec.volumes[0] = { name: 'scratch' }),
      [
        {
          path: 'spec.volumes[0]',
          message:
            'must set one kind: emptyDir: {} (scratch space shared by the pod, gone with it) or persistent: {} (kept across restarts, rollouts and host moves)',
        },
      ],
    ],
    [
      'a volume of two kinds',
      (s) => (s.spec.volumes[0] = { name: 'scratch', emptyDir: {}, persistent: {} }),
      [{ path: 'spec.volumes[0]', message: 'must set only one of emptyDir and persistent' }],
    ],
    [
      'options on a kind that takes none',
      (s) => (s.spec.volumes[0].emptyDir = { medium: 'Memory' }),
      [{ path: 'spec.volumes[0].emptyDir.medium', message: 'unknown field "medium"' }],
    ],
    [
      'a duplicate volume name',
      (s) => (s.spec.volumes[1].name = 'scratch'),
      [
        { path: 'spec.volumes[1].name', message: 'duplicate volume name "scratch" (also at spec.volumes[0].name): volume names must be unique within the pod' },
        {
          path: 'spec.containers[0].volumeMounts[0].name',
          message: 'names the volume "data", which spec.volumes does not declare; declared: scratch',
        },
        {
          path: 'spec.initContainers[0].volumeMounts[0].name',
          message: 'names the volume "data", which spec.volumes does not declare; declared: scratch',
        },
      ],
    ],
    [
      'a relative mount path',
      (s) => (s.spec.containers[0].volumeMounts[0].mountPath = 'data'),
      [{ path: 'spec.containers[0].volumeMounts[0].mountPath', message: 'must be an absolute path in the container, such as /data; got "data"' }],
    ],
    [
      'the root as mount path',
      (s) => (s.spec.containers[0].volumeMounts[0].mountPath = '/'),
      [
        {
          path: 'spec.containers[0].volumeMounts[0].mountPath',
          message: 'must not be "/": a volume cannot replace the container\'s whole filesystem; mount it on a directory such as /data',
        },
      ],
    ],
    [
      'a path with ".."',
      (s) => (s.spec.containers[0].volumeMounts[0].mountPath = '/data/../etc'),
      [{ path: 'spec.containers[0].volumeMounts[0].mountPath', message: 'must be a normalised path (no "//", ".", ".." or trailing "/"); got "/data/../etc"' }],
    ],
    [
      "a path with Docker's separator",
      (s) => (s.spec.containers[0].volumeMounts[0].mountPath = '/data:ro'),
      [
        {
          path: 'spec.containers[0].volumeMounts[0].mountPath',
          message: 'must not contain ":", ",", spaces or control characters (they separate Docker\'s mount options); got "/data:ro"',
        },
      ],
    ],
    [
      'two mounts on one path',
      (s) => (s.spec.containers[0].volumeMounts[1].mountPath = '/data'),
      [
        {
          path: 'spec.containers[0].volumeMounts[1].mountPath',
          message: 'mount path "/data" is already used at spec.containers[0].volumeMounts[0].mountPath: one volume per path',
        },
      ],
    ],
    [
      'readOnly that is not a boolean',
      (s) => (s.spec.containers[1].volumeMounts[0].readOnly = 'yes'),
      [{ path: 'spec.containers[1].volumeMounts[0].readOnly', message: 'must be true or false (true mounts the volume read-only); got "yes"' }],
    ],
    [
      'an init container named like an app container',
      (s) => (s.spec.initContainers[0].name = 'side'),
      [
        {
          path: 'spec.initContainers[0].name',
          message: 'duplicate container name "side" (also in spec.containers): names must be unique over containers and initContainers',
        },
      ],
    ],
    [
      'an init container with ports and a probe',
      (s) => {
        s.spec.initContainers[0].ports = [{ containerPort: 80 }];
        s.spec.initContainers[0].health = { tcp: { port: 80 } };
      },
      [
        { path: 'spec.initContainers[0].ports', message: 'init containers may not declare ports: they run to completion before the pod serves anything' },
        { path: 'spec.initContainers[0].health', message: 'init containers may not declare a health check: their exit code says whether they succeeded' },
      ],
    ],
  ])('refuses %s with a message naming the field', (_name, change, expected) => {
    expect(issuesOf(aSpec(change))).toEqual(expected);
  });

  it('gives the pod its volumes and init containers, and sizes it by the larger of init and app containers', () => {
    const spec = parseServiceSpec(
      aSpec((s) => {
        s.spec.containers[0].resources = { cpu: '100m', memory: '64Mi' };
        s.spec.containers[1].resources = { cpu: '100m', memory: '64Mi' };
        s.spec.initContainers[0].resources = { cpu: '500m', memory: '32Mi' };
      }),
    );
    const service = { namespace: 'default', name: 'db', spec, specVersion: 1, createdAt: 'x', updatedAt: 'x', deleting: false } as Service;
    const pod = podOf(service);
    expect(pod.volumes).toEqual(spec.spec.volumes);
    expect(pod.initContainers).toEqual(spec.spec.initContainers);
    const task = { id: 'db-1-abcde', namespace: 'default', service: 'db', slot: 1, pod } as Task;
    expect(allocationFor(task).resources).toEqual({ cpu: 500, memory: 128 * 1024 * 1024 });
  });
});
