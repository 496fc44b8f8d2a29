import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HEALTH_DEFAULTS, formatPath, isDnsLabel, parseConstraint, parseServiceSpec, parseServiceYaml, serviceSpecToJson } from '../../core/spec.ts';
import { ValidationError } from '../../core/errors.ts';
import type { FieldIssue } from '../../core/errors.ts';
import type { ServiceSpec } from '../../core/types.ts';
import { formatCpu, formatMemory } from '../../core/quantity.ts';
import { closest, editDistanceAtMost } from '../../core/spec/suggest.ts';
import {
  MAX_ARGS,
  MAX_ARG_LENGTH,
  MAX_CONSTRAINTS,
  MAX_CONSTRAINT_LENGTH,
  MAX_ENV,
  MAX_ENV_NAME_LENGTH,
  MAX_ENV_VALUE_LENGTH,
  MAX_HTTP_PATH_LENGTH,
  MAX_IMAGE_LENGTH,
  MAX_LABELS,
  MAX_PORTS,
  MAX_SPEC_BYTES,
  MAX_YAML_LENGTH,
} from '../../core/spec.ts';

const Mi = 1024 ** 2;

/** A raw spec as a person writes it; tests change one thing at a time. */
type Raw = Record<string, any>;

function aSpec(change: (spec: Raw) => void = () => {}): Raw {
  const spec: Raw = {
    kind: 'Service',
    metadata: { name: 'web' },
    spec: {
      containers: [{ name: 'app', image: 'skiff/busybox:latest' }],
    },
  };
  change(spec);
  return spec;
}

function issuesOf(fn: () => unknown): readonly FieldIssue[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected a ValidationError, but the spec was accepted');
}

const container = (s: Raw): Raw => s.spec.containers[0];

describe('parseServiceSpec defaults', () => {
  it('fills every default into a minimal spec, so the stored spec shows them', () => {
    expect(parseServiceSpec(aSpec())).toEqual({
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default', labels: {} },
      spec: {
        replicas: 1,
        containers: [
          {
            name: 'app',
            image: 'skiff/busybox:latest',
            env: {},
            ports: [],
            resources: { cpu: 100, memory: 64 * Mi },
          },
        ],
        restartPolicy: 'always',
        pidsLimit: 512,
        terminationGracePeriodSeconds: 30,
        placement: { strategy: 'spread', constraints: [] },
        update: { maxSurge: '25%', maxUnavailable: 0, minReadySeconds: 0, progressDeadlineSeconds: 600, autoRollback: true, revisionHistoryLimit: 10 },
      },
    } satisfies ServiceSpec);
  });

  it('leaves optional fields out instead of writing undefined', () => {
    const spec = parseServiceSpec(aSpec((s) => (container(s).ports = [{ containerPort: 80 }])));
    const c = spec.spec.containers[0];
    expect(Object.keys(c)).toEqual(['name', 'image', 'env', 'ports', 'resources']);
    expect(Object.keys(c.ports[0])).toEqual(['containerPort', 'protocol']);
  });

  it('keeps env names that are also Object.prototype names as ordinary entries', () => {
    const text =
      'kind: Service\nmetadata: { name: web }\nspec:\n  containers:\n    - { name: app, image: skiff/busybox, env: { __proto__: "a", constructor: "b" } }\n';
    const env = parseServiceYaml(text).spec.containers[0].env;
    expect(Object.entries(env)).toEqual([
      ['__proto__', 'a'],
      ['constructor', 'b'],
    ]);
    expect(Object.getPrototypeOf(env)).toBe(Object.prototype);
  });

  it('defaults each resource on its own when only one is given', () => {
    const spec = parseServiceSpec(aSpec((s) => (container(s).resources = { cpu: '250m' })));
    expect(spec.spec.containers[0].resources).toEqual({ cpu: 250, memory: 64 * Mi });
  });
});

describe('parseServiceSpec accepts', () => {
  it.each<[string, (s: Raw) => void, (spec: ServiceSpec) => unknown, unknown]>([
    ['replicas 0 (a stopped service)', (s) => (s.spec.replicas = 0), (r) => r.spec.replicas, 0],
    ['replicas 1000', (s) => (s.spec.replicas = 1000), (r) => r.spec.replicas, 1000],
    ['replicas written as 3.0', (s) => (s.spec.replicas = 3.0), (r) => r.spec.replicas, 3],
    ['a 40-character name', (s) => (s.metadata.name = 'a'.repeat(40)), (r) => r.metadata.name, 'a'.repeat(40)],
    ['a name starting with a digit (RFC 1123)', (s) => (s.metadata.name = '1st-web'), (r) => r.metadata.name, '1st-web'],
    ['a namespace', (s) => (s.metadata.namespace = 'shop'), (r) => r.metadata.namespace, 'shop'],
    [
      'labels',
      (s) => (s.metadata.labels = { tier: 'frontend', 'example.com/team': 'a_b.c', empty: '' }),
      (r) => r.metadata.labels,
      { tier: 'frontend', 'example.com/team': 'a_b.c', empty: '' },
    ],
    ['cpu as a number of cores', (s) => (container(s).resources = { cpu: 0.5 }), (r) => r.spec.containers[0].resources.cpu, 500],
    ['cpu in millicores', (s) => (container(s).resources = { cpu: '1500m' }), (r) => r.spec.containers[0].resources.cpu, 1500],
    ['memory as plain bytes', (s) => (container(s).resources = { memory: 33554432 }), (r) => r.spec.containers[0].resources.memory, 32 * Mi],
    ['memory of exactly 6Mi', (s) => (container(s).resources = { memory: '6Mi' }), (r) => r.spec.containers[0].resources.memory, 6 * Mi],
    ['memory in decimal units', (s) => (container(s).resources = { memory: '500M' }), (r) => r.spec.containers[0].resources.memory, 500_000_000],
    ['restartPolicy on-failure', (s) => (s.spec.restartPolicy = 'on-failure'), (r) => r.spec.restartPolicy, 'on-failure'],
    ['restartPolicy never', (s) => (s.spec.restartPolicy = 'never'), (r) => r.spec.restartPolicy, 'never'],
    [
      'placement binpack, constraints defaulted',
      (s) => (s.spec.placement = { strategy: 'binpack' }),
      (r) => r.spec.placement,
      { strategy: 'binpack', constraints: [] },
    ],
    [
      'constraints, written back with single spaces',
      (s) => (s.spec.placement = { constraints: ['zone == a', 'disk!=hdd', '  example.com/rack ==  r1 '] }),
      (r) => r.spec.placement,
      { strategy: 'spread', constraints: ['zone == a', 'disk != hdd', 'example.com/rack == r1'] },
    ],
    [
      'env as strings',
      (s) => (container(s).env = { LOG_LEVEL: 'info', PORT: '8080', 'my.var': '' }),
      (r) => r.spec.containers[0].env,
      { LOG_LEVEL: 'info', PORT: '8080', 'my.var': '' },
    ],
    [
      'command and args',
      (s) => Object.assign(container(s), { command: ['sh', '-c'], args: ['echo hi'] }),
      (r) => [r.spec.containers[0].command, r.spec.containers[0].args],
      [['sh', '-c'], ['echo hi']],
    ],
    ['empty args', (s) => (container(s).args = []), (r) => r.spec.containers[0].args, []],
    [
      'a full port',
      (s) => (container(s).ports = [{ containerPort: 53, name: 'dns', protocol: 'udp', hostPort: 5353 }]),
      (r) => r.spec.containers[0].ports,
      [{ containerPort: 53, name: 'dns', protocol: 'udp', hostPort: 5353 }],
    ],
    [
      'one port number over tcp and udp',
      (s) => (container(s).ports = [{ containerPort: 53 }, { containerPort: 53, protocol: 'udp' }]),
      (r) => r.spec.containers[0].ports.map((p) => p.protocol),
      ['tcp', 'udp'],
    ],
    [
      'ten containers with distinct names and ports',
      (s) => (s.spec.containers = Array.from({ length: 10 }, (_, i) => ({ name: `c${i}`, image: 'skiff/busybox', ports: [{ containerPort: 8000 + i }] }))),
      (r) => r.spec.containers.length,
      10,
    ],
    [
      'an image from a registry with a port',
      (s) => (container(s).image = 'registry.local:5000/team/app:1.4'),
      (r) => r.spec.containers[0].image,
      'registry.local:5000/team/app:1.4',
    ],
    [
      'an image by digest',
      (s) => (container(s).image = `skiff/busybox@sha256:${'a'.repeat(64)}`),
      (r) => r.spec.containers[0].image,
      `skiff/busybox@sha256:${'a'.repeat(64)}`,
    ],
    ['an image with an uppercase tag', (s) => (container(s).image = 'busybox:Stable_1.36'), (r) => r.spec.containers[0].image, 'busybox:Stable_1.36'],
  ])('%s', (_name, change, select, expected) => {
    expect(select(parseServiceSpec(aSpec(change)))).toEqual(expected);
  });
});

describe('parseServiceSpec rejects', () => {
  it.each<[string, (s: Raw) => void, string, string]>([
    ['a missing kind', (s) => delete s.kind, 'kind', 'is required'],
    ['another kind', (s) => (s.kind = 'Deployment'), 'kind', 'must be "Service"'],
    ['a missing metadata', (s) => delete s.metadata, 'metadata', 'is required'],
    ['a missing name', (s) => delete s.metadata.name, 'metadata.name', 'is required'],
    ['an uppercase name', (s) => (s.metadata.name = 'Web'), 'metadata.name', 'must be a DNS label'],
    ['an underscore in the name', (s) => (s.metadata.name = 'my_web'), 'metadata.name', 'must be a DNS label'],
    ['a name ending in "-"', (s) => (s.metadata.name = 'web-'), 'metadata.name', 'must be a DNS label'],
    ['an empty name', (s) => (s.metadata.name = ''), 'metadata.name', 'must be a DNS label'],
    [
      'a 41-character name, saying why',
      (s) => (s.metadata.name = 'a'.repeat(41)),
      'metadata.name',
      'at most 40 characters (task ids append "-<slot>-<5 characters>"',
    ],
    ['a bad namespace', (s) => (s.metadata.namespace = 'Shop'), 'metadata.namespace', 'must be a DNS label'],
    ['a 41-character namespace', (s) => (s.metadata.namespace = 'n'.repeat(41)), 'metadata.namespace', 'at most 40 characters'],
    ['a number as a label value', (s) => (s.metadata.labels = { tier: 1 }), 'metadata.labels.tier', 'quote it in YAML ("1")'],
    ['a label key with a space', (s) => (s.metadata.labels = { 'my tier': 'a' }), 'metadata.labels["my tier"]', 'label key "my tier"'],
    ['a label value with a space', (s) => (s.metadata.labels = { tier: 'front end' }), 'metadata.labels.tier', 'must be empty or at most 63'],
    ['labels as a list', (s) => (s.metadata.labels = ['a']), 'metadata.labels', 'must be a map of names to strings; got a list'],
    ['a missing spec', (s) => delete s.spec, 'spec', 'is required'],
    ['negative replicas', (s) => (s.spec.replicas = -1), 'spec.replicas', 'must be an integer from 0 to 1000; got -1'],
    ['1001 replicas', (s) => (s.spec.replicas = 1001), 'spec.replicas', 'must be an integer from 0 to 1000; got 1001'],
    ['fractional replicas', (s) => (s.spec.replicas = 1.5), 'spec.replicas', 'must be an integer from 0 to 1000; got 1.5'],
    ['replicas as a string', (s) => (s.spec.replicas = '3'), 'spec.replicas', 'must be an integer from 0 to 1000; got "3"'],
    ['missing containers', (s) => delete s.spec.containers, 'spec.containers', 'is required'],
    ['no containers', (s) => (s.spec.containers = []), 'spec.containers', 'must list from 1 to 10 containers; got 0'],
    [
      'eleven containers',
      (s) => (s.spec.containers = Array.from({ length: 11 }, (_, i) => ({ name: `c${i}`, image: 'skiff/busybox' }))),
      'spec.containers',
      'must list from 1 to 10 containers; got 11',
    ],
    ['a container that is not a map', (s) => (s.spec.containers = ['web']), 'spec.containers[0]', 'must be a map; got "web"'],
    ['a bad container name', (s) => (container(s).name = 'Web_1'), 'spec.containers[0].name', 'must be a DNS label'],
    ['a 64-character container name', (s) => (container(s).name = 'c'.repeat(64)), 'spec.containers[0].name', 'at most 63 characters'],
    ['a missing image', (s) => delete container(s).image, 'spec.containers[0].image', 'is required'],
    ['an empty image', (s) => (container(s).image = ''), 'spec.containers[0].image', 'must not be empty'],
    ['an image with a space', (s) => (container(s).image = 'skiff/busybox latest'), 'spec.containers[0].image', 'must not contain spaces'],
    ['an uppercase repository', (s) => (container(s).image = 'Skiff/BusyBox:latest'), 'spec.containers[0].image', 'repository name must be lowercase'],
    ['an empty tag', (s) => (container(s).image = 'skiff/busybox:'), 'spec.containers[0].image', 'invalid tag'],
    ['a bad digest', (s) => (container(s).image = 'skiff/busybox@sha256:xyz'), 'spec.containers[0].image', 'invalid digest'],
    ['an empty path component', (s) => (container(s).image = 'skiff//busybox'), 'spec.containers[0].image', 'not a valid repository path component'],
    [
      'command as a string',
      (s) => (container(s).command = 'sh -c true'),
      'spec.containers[0].command',
      'must be a list of strings, such as ["sh", "-c", "exec httpd -f"]; got "sh -c true"',
    ],
    ['an empty command', (s) => (container(s).command = []), 'spec.containers[0].command', 'must not be empty'],
    ['a number in command', (s) => (container(s).command = ['sleep', 10]), 'spec.containers[0].command[1]', 'quote it in YAML ("10")'],
    ['a number in args', (s) => (container(s).args = [1]), 'spec.containers[0].args[0]', 'quote it in YAML ("1")'],
    [
      'a number as an env value',
      (s) => (container(s).env = { PORT: 8080 }),
      'spec.containers[0].env.PORT',
      'must be a string; got the number 8080: quote it in YAML ("8080")',
    ],
    [
      'a boolean as an env value',
      (s) => (container(s).env = { DEBUG: true }),
      'spec.containers[0].env.DEBUG',
      'got the boolean true: quote it in YAML ("true")',
    ],
    ['an empty env value written as nothing', (s) => (container(s).env = { EMPTY: null }), 'spec.containers[0].env.EMPTY', 'must be a string; got null'],
    ['an env name with "="', (s) => (container(s).env = { 'A=B': 'x' }), 'spec.containers[0].env["A=B"]', 'must not contain "="'],
    ['env as a list', (s) => (container(s).env = ['A=B']), 'spec.containers[0].env', 'must be a map of names to strings'],
    ['ports as a map', (s) => (container(s).ports = { containerPort: 80 }), 'spec.containers[0].ports', 'must be a list of ports'],
    ['a port without containerPort', (s) => (container(s).ports = [{ name: 'http' }]), 'spec.containers[0].ports[0].containerPort', 'is required'],
    [
      'containerPort 0',
      (s) => (container(s).ports = [{ containerPort: 0 }]),
      'spec.containers[0].ports[0].containerPort',
      'containerPort must be an integer from 1 to 65535; got 0',
    ],
    [
      'containerPort 65536',
      (s) => (container(s).ports = [{ containerPort: 65536 }]),
      'spec.containers[0].ports[0].containerPort',
      'from 1 to 65535; got 65536',
    ],
    [
      'containerPort as a string',
      (s) => (container(s).ports = [{ containerPort: '80' }]),
      'spec.containers[0].ports[0].containerPort',
      'from 1 to 65535; got "80"',
    ],
    [
      'hostPort 0',
      (s) => (container(s).ports = [{ containerPort: 80, hostPort: 0 }]),
      'spec.containers[0].ports[0].hostPort',
      'hostPort must be an integer from 1 to 65535; got 0',
    ],
    ['hostPort 70000', (s) => (container(s).ports = [{ containerPort: 80, hostPort: 70000 }]), 'spec.containers[0].ports[0].hostPort', 'from 1 to 65535'],
    [
      'an uppercase protocol',
      (s) => (container(s).ports = [{ containerPort: 80, protocol: 'TCP' }]),
      'spec.containers[0].ports[0].protocol',
      'must be one of "tcp", "udp"; got "TCP" (did you mean "tcp"?)',
    ],
    ['sctp', (s) => (container(s).ports = [{ containerPort: 80, protocol: 'sctp' }]), 'spec.containers[0].ports[0].protocol', 'must be one of "tcp", "udp"'],
    [
      'a 16-character port name',
      (s) => (container(s).ports = [{ containerPort: 80, name: 'abcdefghijklmnop' }]),
      'spec.containers[0].ports[0].name',
      'must be an IANA service name',
    ],
    [
      'an uppercase port name',
      (s) => (container(s).ports = [{ containerPort: 80, name: 'HTTP' }]),
      'spec.containers[0].ports[0].name',
      'must be an IANA service name',
    ],
    [
      'a port name without a letter',
      (s) => (container(s).ports = [{ containerPort: 80, name: '8080' }]),
      'spec.containers[0].ports[0].name',
      'must be an IANA service name',
    ],
    [
      'a port name with "--"',
      (s) => (container(s).ports = [{ containerPort: 80, name: 'my--http' }]),
      'spec.containers[0].ports[0].name',
      'must be an IANA service name',
    ],
    [
      'a port name ending in "-"',
      (s) => (container(s).ports = [{ containerPort: 80, name: 'http-' }]),
      'spec.containers[0].ports[0].name',
      'must be an IANA service name',
    ],
    ['cpu 0', (s) => (container(s).resources = { cpu: 0 }), 'spec.containers[0].resources.cpu', 'cpu must be more than 0'],
    ['negative cpu', (s) => (container(s).resources = { cpu: '-1' }), 'spec.containers[0].resources.cpu', 'cpu must not be negative'],
    ['cpu finer than 1m', (s) => (container(s).resources = { cpu: '0.0001' }), 'spec.containers[0].resources.cpu', 'whole number of millicores'],
    ['cpu with an unknown suffix', (s) => (container(s).resources = { cpu: '1 core' }), 'spec.containers[0].resources.cpu', 'such as 250m, 0.5 or 2'],
    ['cpu as a boolean', (s) => (container(s).resources = { cpu: true }), 'spec.containers[0].resources.cpu', 'such as 250m, 0.5 or 2'],
    [
      'memory below 6Mi, saying why',
      (s) => (container(s).resources = { memory: '4Mi' }),
      'spec.containers[0].resources.memory',
      'at least 6Mi (6291456 bytes), the smallest limit Docker accepts; got 4Mi',
    ],
    ['memory of 6M (less than 6Mi)', (s) => (container(s).resources = { memory: '6M' }), 'spec.containers[0].resources.memory', 'at least 6Mi'],
    [
      'memory in MB',
      (s) => (container(s).resources = { memory: '128MB' }),
      'spec.containers[0].resources.memory',
      'memory must be a Kubernetes quantity such as 128Mi, 1Gi or 500M',
    ],
    ['a fraction of a byte', (s) => (container(s).resources = { memory: '6291456.5' }), 'spec.containers[0].resources.memory', 'whole number of bytes'],
    ['negative memory', (s) => (container(s).resources = { memory: -1 }), 'spec.containers[0].resources.memory', 'must not be negative'],
    ['resources as a string', (s) => (container(s).resources = '100m'), 'spec.containers[0].resources', 'must be a map'],
    [
      'restartPolicy Always',
      (s) => (s.spec.restartPolicy = 'Always'),
      'spec.restartPolicy',
      'must be one of "always", "on-failure", "never"; got "Always" (did you mean "always"?)',
    ],
    ['restartPolicy on_failure', (s) => (s.spec.restartPolicy = 'on_failure'), 'spec.restartPolicy', '(did you mean "on-failure"?)'],
    ['an unknown strategy', (s) => (s.spec.placement = { strategy: 'random' }), 'spec.placement.strategy', 'must be one of "spread", "binpack"'],
    [
      'a constraint with "="',
      (s) => (s.spec.placement = { constraints: ['zone = a'] }),
      'spec.placement.constraints[0]',
      'must be a constraint "key == value" or "key != value"',
    ],
    ['a constraint without a value', (s) => (s.spec.placement = { constraints: ['zone =='] }), 'spec.placement.constraints[0]', 'must be a constraint'],
    [
      'a constraint with two words as value',
      (s) => (s.spec.placement = { constraints: ['zone == a b'] }),
      'spec.placement.constraints[0]',
      'must be a constraint',
    ],
    ['constraints as a string', (s) => (s.spec.placement = { constraints: 'zone == a' }), 'spec.placement.constraints', 'must be a list of constraints'],
    [
      'two containers with one name',
      (s) => s.spec.containers.push({ name: 'app', image: 'skiff/busybox' }),
      'spec.containers[1].name',
      'duplicate container name "app" (also at spec.containers[0].name)',
    ],
    [
      'one containerPort twice in the pod',
      (s) => {
        container(s).ports = [{ containerPort: 80 }];
        s.spec.containers.push({ name: 'side', image: 'skiff/busybox', ports: [{ containerPort: 80, protocol: 'tcp' }] });
      },
      'spec.containers[1].ports[0].containerPort',
      'containerPort 80/tcp is already used at spec.containers[0].ports[0].containerPort: the containers of a pod share one network namespace',
    ],
    [
      'one port name twice in the pod',
      (s) => {
        container(s).ports = [{ containerPort: 80, name: 'http' }];
        s.spec.containers.push({ name: 'side', image: 'skiff/busybox', ports: [{ containerPort: 81, name: 'http' }] });
      },
      'spec.containers[1].ports[0].name',
      'duplicate port name "http"',
    ],
    [
      'one hostPort twice in the pod',
      (s) =>
        (container(s).ports = [
          { containerPort: 80, hostPort: 8080 },
          { containerPort: 81, hostPort: 8080 },
        ]),
      'spec.containers[0].ports[1].hostPort',
      'hostPort 8080/tcp is already used',
    ],
    ['a string instead of a spec', (s) => (s.spec = 'web'), 'spec', 'must be a map; got "web"'],
  ])('%s', (_name, change, path, fragment) => {
    const issues = issuesOf(() => parseServiceSpec(aSpec(change)));
    expect(issues).toContainEqual({ path, message: expect.stringContaining(fragment) });
  });

  it('rejects input that is not a map at all', () => {
    expect(issuesOf(() => parseServiceSpec([]))).toEqual([{ path: '', message: 'a service spec must be a map with kind, metadata and spec; got a list' }]);
    expect(issuesOf(() => parseServiceSpec(null))).toEqual([{ path: '', message: 'a service spec must be a map with kind, metadata and spec; got null' }]);
    expect(issuesOf(() => parseServiceSpec(undefined))).toEqual([
      { path: '', message: 'a service spec must be a map with kind, metadata and spec; got nothing' },
    ]);
  });

  it('throws a 400 ValidationError whose message lists each issue with its path', () => {
    let caught: unknown;
    try {
      parseServiceSpec(aSpec((s) => (s.spec.replicas = -1)));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const error = caught as ValidationError;
    expect(error.status).toBe(400);
    expect(error.message).toBe('spec.replicas: must be an integer from 0 to 1000; got -1');
    expect(error.toJSON()).toMatchObject({ error: 'ValidationError', issues: [{ path: 'spec.replicas' }] });
  });
});

describe('unknown fields', () => {
  it.each<[string, (s: Raw) => void, string, string]>([
    ['a typo at the top', (s) => (s.knd = 'Service'), 'knd', 'unknown field "knd" (did you mean "kind"?)'],
    ['apiVersion, which Skiff does not use', (s) => (s.apiVersion = 'v1'), 'apiVersion', 'unknown field "apiVersion"'],
    ['a typo in metadata', (s) => (s.metadata.namespce = 'shop'), 'metadata.namespce', 'unknown field "namespce" (did you mean "namespace"?)'],
    ['a wrong case in spec', (s) => (s.spec.Replicas = 2), 'spec.Replicas', 'unknown field "Replicas" (did you mean "replicas"?)'],
    [
      'a wrong case beyond 2 edits',
      (s) => (s.spec.RESTARTPOLICY = 'never'),
      'spec.RESTARTPOLICY',
      'unknown field "RESTARTPOLICY" (did you mean "restartPolicy"?)',
    ],
    ['a typo in a container', (s) => (container(s).imgae = 'x'), 'spec.containers[0].imgae', 'unknown field "imgae" (did you mean "image"?)'],
    [
      'a typo in a port',
      (s) => (container(s).ports = [{ containerPort: 80, hostport: 80 }]),
      'spec.containers[0].ports[0].hostport',
      'unknown field "hostport" (did you mean "hostPort"?)',
    ],
    [
      'a typo in resources',
      (s) => (container(s).resources = { memroy: '64Mi' }),
      'spec.containers[0].resources.memroy',
      'unknown field "memroy" (did you mean "memory"?)',
    ],
    ['a typo in placement', (s) => (s.spec.placement = { stratgy: 'spread' }), 'spec.placement.stratgy', 'unknown field "stratgy" (did you mean "strategy"?)'],
    ['a field far from every known one', (s) => (container(s).lifecycle = {}), 'spec.containers[0].lifecycle', 'unknown field "lifecycle"'],
    [
      'a typo of volumeMounts',
      (s) => (container(s).volumeMount = []),
      'spec.containers[0].volumeMount',
      'unknown field "volumeMount" (did you mean "volumeMounts"?)',
    ],
    ['a typo of health', (s) => (container(s).helth = {}), 'spec.containers[0].helth', 'unknown field "helth" (did you mean "health"?)'],
  ])('%s', (_name, change, path, message) => {
    expect(issuesOf(() => parseServiceSpec(aSpec(change)))).toEqual([{ path, message }]);
  });

  it('does not suggest a field for a short unrelated word', () => {
    expect(issuesOf(() => parseServiceSpec(aSpec((s) => (container(s).xy = 1))))).toEqual([{ path: 'spec.containers[0].xy', message: 'unknown field "xy"' }]);
  });

  it('reports each unknown field of one object separately', () => {
    const issues = issuesOf(() => parseServiceSpec(aSpec((s) => Object.assign(s.spec, { replica: 2, foo: 1 }))));
    expect(issues.map((i) => i.path)).toEqual(['spec.replica', 'spec.foo']);
  });
});

describe('securityContext', () => {
  const withContext = (securityContext: unknown) => (s: Raw) => (container(s).securityContext = securityContext);
  const contextOf = (securityContext: unknown) => parseServiceSpec(aSpec(withContext(securityContext))).spec.containers[0].securityContext;
  const issuesWith = (securityContext: unknown) => issuesOf(() => parseServiceSpec(aSpec(withContext(securityContext))));
  const allowed =
    'the capabilities that may be added are CHOWN, DAC_OVERRIDE, FOWNER, KILL, NET_BIND_SERVICE, SETGID, SETUID, AUDIT_WRITE, FSETID, MKNOD, SETFCAP, SETPCAP, SYS_CHROOT';

  it('is absent unless given, and kept as written', () => {
    expect(parseServiceSpec(aSpec()).spec.containers[0].securityContext).toBeUndefined();
    const given = {
      runAsUser: 1000,
      runAsGroup: 1000,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
    };
    expect(contextOf(given)).toEqual(given);
  });

  it('accepts every capability of the allow-list, and the defaults or ALL in drop', () => {
    const add = [
      'CHOWN',
      'DAC_OVERRIDE',
      'FOWNER',
      'KILL',
      'NET_BIND_SERVICE',
      'SETGID',
      'SETUID',
      'AUDIT_WRITE',
      'FSETID',
      'MKNOD',
      'SETFCAP',
      'SETPCAP',
      'SYS_CHROOT',
    ];
    expect(contextOf({ capabilities: { add, drop: ['ALL', 'CHOWN'] } })?.capabilities).toEqual({ add, drop: ['ALL', 'CHOWN'] });
  });

  it.each<[string, string]>([
    [
      'SYS_ADMIN',
      `capability "SYS_ADMIN" may not be added: it reaches beyond the container (the host's network, mounts, kernel, devices or other processes); ${allowed}`,
    ],
    [
      'NET_ADMIN',
      `capability "NET_ADMIN" may not be added: it reaches beyond the container (the host's network, mounts, kernel, devices or other processes); ${allowed}`,
    ],
    ['NET_RAW', `"NET_RAW" may not be added: raw sockets let a container forge ARP and IP packets on the bridge it shares with other pods; ${allowed}`],
    ['ALL', `"ALL" may not be added: it would give the container every capability of the host's root; ${allowed}`],
    ['CAP_CHOWN', 'must be written "CHOWN", Kubernetes\' name, without "CAP_" and in capitals; got "CAP_CHOWN"'],
    ['net_bind_service', 'must be written "NET_BIND_SERVICE", Kubernetes\' name, without "CAP_" and in capitals; got "net_bind_service"'],
  ])('refuses to add %s, naming the field', (name, message) => {
    expect(issuesWith({ capabilities: { add: ['CHOWN', name] } })).toEqual([{ path: 'spec.containers[0].securityContext.capabilities.add[1]', message }]);
  });

  it('refuses a capability outside the allow-list in drop too (a typo would otherwise drop nothing)', () => {
    expect(issuesWith({ capabilities: { drop: ['SYS_ADMIN'] } }).map((i) => i.path)).toEqual(['spec.containers[0].securityContext.capabilities.drop[0]']);
  });

  it.each<[string, unknown, string, string]>([
    ['a negative uid', { runAsUser: -1 }, 'runAsUser', 'must be a uid from 0 to 2147483647; got -1'],
    ['a fractional gid', { runAsGroup: 1.5 }, 'runAsGroup', 'must be a gid from 0 to 2147483647; got 1.5'],
    ['a uid as a string', { runAsUser: '1000' }, 'runAsUser', 'must be a uid from 0 to 2147483647; got "1000"'],
    [
      'runAsNonRoot as a string',
      { runAsNonRoot: 'yes' },
      'runAsNonRoot',
      `must be true or false (true refuses to start the container as root, the image's user included); got "yes"`,
    ],
    [
      'allowPrivilegeEscalation: true',
      { allowPrivilegeEscalation: true },
      'allowPrivilegeEscalation',
      'must be false: every container runs with no-new-privileges, so setuid programs cannot gain privileges; got true',
    ],
    [
      'runAsNonRoot with uid 0',
      { runAsNonRoot: true, runAsUser: 0 },
      'runAsUser',
      'must not be 0 (root) when runAsNonRoot is true: the container could never start; give a non-zero uid or drop runAsNonRoot',
    ],
  ])('refuses %s', (_name, given, field, message) => {
    expect(issuesWith(given)).toEqual([{ path: `spec.containers[0].securityContext.${field}`, message }]);
  });

  it('accepts uid 0 without runAsNonRoot (root, as the image would be)', () => {
    expect(contextOf({ runAsUser: 0 })).toEqual({ runAsUser: 0 });
  });

  it.each<[string, (s: Raw) => void, string, string]>([
    [
      'privileged in securityContext',
      withContext({ privileged: true }),
      'spec.containers[0].securityContext.privileged',
      '"privileged" is not allowed: privileged containers are refused: they get every capability and every device of the host; add the few capabilities needed in capabilities.add',
    ],
    [
      'privileged on a container',
      (s) => (container(s).privileged = true),
      'spec.containers[0].privileged',
      '"privileged" is not allowed: privileged containers are refused: they get every capability and every device of the host; add the few capabilities needed in securityContext.capabilities.add',
    ],
    [
      'devices',
      (s) => (container(s).devices = ['/dev/kvm']),
      'spec.containers[0].devices',
      '"devices" is not allowed: host devices are refused: a device node gives the container the host\'s hardware, shared by every pod',
    ],
    [
      'a host path',
      (s) => (container(s).hostPath = '/var/run/docker.sock'),
      'spec.containers[0].hostPath',
      '"hostPath" is not allowed: host paths are refused: a host directory in a container bypasses every other isolation; use spec.volumes (emptyDir or persistent) and volumeMounts',
    ],
    [
      'hostNetwork',
      (s) => (s.spec.hostNetwork = true),
      'spec.hostNetwork',
      '"hostNetwork" is not allowed: the host\'s network is refused: the pod could bind any host address and see every pod\'s traffic; a pod shares the host only through its published ports',
    ],
    [
      'hostPID',
      (s) => (s.spec.hostPID = true),
      'spec.hostPID',
      '"hostPID" is not allowed: the host\'s process namespace is refused: the pod could see and signal every process on the host; a pod shares the host only through its published ports',
    ],
    [
      'hostIPC',
      (s) => (s.spec.hostIPC = true),
      'spec.hostIPC',
      '"hostIPC" is not allowed: the host\'s IPC namespace is refused: the pod could read other processes\' shared memory; a pod shares the host only through its published ports',
    ],
  ])('refuses %s with the reason', (_name, change, path, message) => {
    expect(issuesOf(() => parseServiceSpec(aSpec(change)))).toEqual([{ path, message }]);
  });

  it('is part of the container spec hash input: a changed context is a changed spec', () => {
    const a = parseServiceSpec(aSpec(withContext({ runAsUser: 1000 }))).spec.containers[0];
    const b = parseServiceSpec(aSpec(withContext({ runAsUser: 1001 }))).spec.containers[0];
    expect(a).not.toEqual(b);
  });
});

describe('pidsLimit', () => {
  it('defaults to 512 and keeps a value within bounds', () => {
    expect(parseServiceSpec(aSpec()).spec.pidsLimit).toBe(512);
    expect(parseServiceSpec(aSpec((s) => (s.spec.pidsLimit = 16))).spec.pidsLimit).toBe(16);
    expect(parseServiceSpec(aSpec((s) => (s.spec.pidsLimit = 16384))).spec.pidsLimit).toBe(16384);
  });

  it.each([15, 16385, 0, -1, 100.5, '512', null])('refuses %s', (value) => {
    const issues = issuesOf(() => parseServiceSpec(aSpec((s) => (s.spec.pidsLimit = value))));
    expect(issues).toHaveLength(1);
    expect(issues[0].path).toBe('spec.pidsLimit');
    expect(issues[0].message).toMatch(
      /^must be an integer from 16 to 16384: the processes and threads each container of the pod may run \(default 512\); got /,
    );
  });
});

describe('health checks', () => {
  /** A container serving 8080/tcp named "http" and 53/udp named "dns", with this health check. */
  const withHealth = (health: unknown) => (s: Raw) => {
    container(s).ports = [
      { containerPort: 8080, name: 'http' },
      { containerPort: 53, name: 'dns', protocol: 'udp' },
    ];
    container(s).health = health;
  };
  const healthOf = (health: unknown) => parseServiceSpec(aSpec(withHealth(health))).spec.containers[0].health;

  it('parses the documented example and fills every default', () => {
    const text = [
      'kind: Service',
      'metadata: { name: web }',
      'spec:',
      '  containers:',
      '    - name: app',
      '      image: skiff/busybox',
      '      ports: [{ containerPort: 8080 }]',
      '      health: { http: { path: /, port: 8080 }, intervalSeconds: 1, failureThreshold: 3 }',
      '',
    ].join('\n');
    expect(parseServiceYaml(text).spec.containers[0].health).toEqual({
      http: { path: '/', port: 8080, status: [200, 399] },
      intervalSeconds: 1,
      timeoutSeconds: 1,
      startPeriodSeconds: 0,
      failureThreshold: 3,
      successThreshold: 1,
    });
  });

  it('defaults every timing of a bare probe to the documented values', () => {
    expect(healthOf({ tcp: { port: 8080 } })).toEqual({ tcp: { port: 8080 }, ...HEALTH_DEFAULTS });
    expect(HEALTH_DEFAULTS).toEqual({ intervalSeconds: 10, timeoutSeconds: 1, startPeriodSeconds: 0, failureThreshold: 3, successThreshold: 1 });
  });

  it.each<[string, unknown, unknown]>([
    ['an http probe by port name, stored with its number', { http: { port: 'http' } }, { http: { path: '/', port: 8080, status: [200, 399] } }],
    [
      'an http path with a query and a status range',
      { http: { path: '/healthz?full=1', port: 8080, status: [200, 204] } },
      { http: { path: '/healthz?full=1', port: 8080, status: [200, 204] } },
    ],
    ['a tcp probe by port name', { tcp: { port: 'http' } }, { tcp: { port: 8080 } }],
    ['an exec probe', { exec: { command: ['test', '-f', '/tmp/ok'] } }, { exec: { command: ['test', '-f', '/tmp/ok'] } }],
    ['fractional interval and timeout', { tcp: { port: 8080 }, intervalSeconds: 0.5, timeoutSeconds: 0.25 }, { intervalSeconds: 0.5, timeoutSeconds: 0.25 }],
    ['a timeout equal to the interval', { tcp: { port: 8080 }, intervalSeconds: 2, timeoutSeconds: 2 }, { intervalSeconds: 2, timeoutSeconds: 2 }],
    ['the default timeout shortened to an interval below 1 s', { tcp: { port: 8080 }, intervalSeconds: 0.5 }, { intervalSeconds: 0.5, timeoutSeconds: 0.5 }],
    [
      'thresholds and a start period',
      { tcp: { port: 8080 }, startPeriodSeconds: 30, failureThreshold: 5, successThreshold: 2 },
      { startPeriodSeconds: 30, failureThreshold: 5, successThreshold: 2 },
    ],
  ])('accepts %s', (_name, health, expected) => {
    expect(healthOf(health)).toMatchObject(expected as object);
  });

  it('resolves a port declared by another container of the pod, which shares its network', () => {
    const spec = parseServiceSpec(
      aSpec((s) => {
        container(s).health = { http: { port: 'metrics', path: '/metrics' } };
        s.spec.containers.push({ name: 'exporter', image: 'skiff/busybox', ports: [{ containerPort: 9100, name: 'metrics' }] });
      }),
    );
    expect(spec.spec.containers[0].health?.http?.port).toBe(9100);
  });

  it.each<[string, unknown, string, string]>([
    ['no probe', { intervalSeconds: 5 }, 'health', 'must have exactly one probe, http, tcp or exec, such as http: { path: /healthz, port: 8080 }; got none'],
    [
      'two probes',
      { http: { port: 8080 }, tcp: { port: 8080 } },
      'health',
      'must have exactly one probe, http, tcp or exec, such as http: { path: /healthz, port: 8080 }; got http and tcp',
    ],
    ['health as a list', [{ tcp: { port: 8080 } }], 'health', 'must be a map; got a list'],
    [
      'an undeclared port number, saying why it must be declared',
      { tcp: { port: 9090 } },
      'health.tcp.port',
      'port 9090 is not a containerPort declared in the pod: the agent probes a port through its published host endpoint, and only declared ports are published; add it to ports (such as ports: [{ containerPort: 9090 }])',
    ],
    [
      'an unknown port name, suggesting a close one',
      { http: { port: 'htp' } },
      'health.http.port',
      'port "htp" is not the name of a port declared in the pod (did you mean "http"?): the agent probes a port through its published host endpoint',
    ],
    ['an unknown port name, listing the names', { http: { port: 'admin' } }, 'health.http.port', 'the pod\'s port names are "http", "dns"'],
    ['a udp port', { tcp: { port: 'dns' } }, 'health.tcp.port', 'port "dns" is declared with protocol udp, but tcp probes connect over tcp'],
    ['a udp port by number', { http: { port: 53 } }, 'health.http.port', 'port 53 is declared with protocol udp, but http probes connect over tcp'],
    ['a quoted port number', { tcp: { port: '8080' } }, 'health.tcp.port', 'must be a number or a port name; got the string "8080": write it without quotes'],
    ['port 0', { tcp: { port: 0 } }, 'health.tcp.port', 'must be a containerPort number (1 to 65535) or the name of a port declared in the pod; got 0'],
    ['a missing port', { http: { path: '/' } }, 'health.http.port', 'is required'],
    [
      'a path without a leading "/"',
      { http: { port: 8080, path: 'healthz' } },
      'health.http.path',
      'must be a URL path starting with "/", such as /healthz; got "healthz"',
    ],
    ['a path with a space', { http: { port: 8080, path: '/a b' } }, 'health.http.path', 'must not contain spaces'],
    ['a status range upside down', { http: { port: 8080, status: [399, 200] } }, 'health.http.status', 'must be [min, max] with min <= max; got [399, 200]'],
    [
      'a single status',
      { http: { port: 8080, status: 200 } },
      'health.http.status',
      'must be [min, max], two HTTP statuses from 100 to 599, such as [200, 399]; got 200',
    ],
    ['a status out of range', { http: { port: 8080, status: [200, 600] } }, 'health.http.status', 'got [200,600]'],
    [
      'an exec command as a string',
      { exec: { command: 'test -f /tmp/ok' } },
      'health.exec.command',
      'must be a list of strings, such as ["test", "-f", "/tmp/ready"]; got "test -f /tmp/ok"',
    ],
    ['an empty exec command', { exec: { command: [] } }, 'health.exec.command', 'must not be empty'],
    ['an empty string in an exec command', { exec: { command: ['test', ''] } }, 'health.exec.command', 'must not hold an empty string'],
    ['a number in an exec command', { exec: { command: ['sleep', 1] } }, 'health.exec.command[1]', 'quote it in YAML ("1")'],
    [
      'an interval below 0.1 s',
      { tcp: { port: 8080 }, intervalSeconds: 0.05 },
      'health.intervalSeconds',
      'must be a number of seconds from 0.1 to 3600; got 0.05',
    ],
    ['an interval over an hour', { tcp: { port: 8080 }, intervalSeconds: 3601 }, 'health.intervalSeconds', 'from 0.1 to 3600'],
    ['a timeout as a string', { tcp: { port: 8080 }, timeoutSeconds: '1s' }, 'health.timeoutSeconds', 'must be a number of seconds from 0.1 to 3600; got "1s"'],
    [
      'a timeout longer than the interval',
      { tcp: { port: 8080 }, intervalSeconds: 1, timeoutSeconds: 2 },
      'health.timeoutSeconds',
      "must not be longer than intervalSeconds (1): a container's probes never overlap; got 2",
    ],
    [
      'a timeout longer than the default interval',
      { tcp: { port: 8080 }, timeoutSeconds: 30 },
      'health.timeoutSeconds',
      'must not be longer than intervalSeconds (10, the default)',
    ],
    [
      'a negative start period',
      { tcp: { port: 8080 }, startPeriodSeconds: -1 },
      'health.startPeriodSeconds',
      'must be a number of seconds from 0 to 86400; got -1',
    ],
    ['a failure threshold of 0', { tcp: { port: 8080 }, failureThreshold: 0 }, 'health.failureThreshold', 'must be an integer of at least 1; got 0'],
    ['a fractional success threshold', { tcp: { port: 8080 }, successThreshold: 1.5 }, 'health.successThreshold', 'must be an integer of at least 1; got 1.5'],
  ])('rejects %s', (_name, health, path, fragment) => {
    const issues = issuesOf(() => parseServiceSpec(aSpec(withHealth(health))));
    expect(issues).toContainEqual({ path: `spec.containers[0].${path}`, message: expect.stringContaining(fragment) });
  });

  it.each<[string, string]>([
    ['interval', 'unknown field "interval" (did you mean "intervalSeconds"?)'],
    ['retries', 'unknown field "retries" (did you mean "failureThreshold"?)'],
    ['httpGet', 'unknown field "httpGet" (did you mean "http"?)'],
    ['timeoutseconds', 'unknown field "timeoutseconds" (did you mean "timeoutSeconds"?)'],
    ['failureTreshold', 'unknown field "failureTreshold" (did you mean "failureThreshold"?)'],
  ])('answers the unknown field %s with the name Skiff uses', (key, message) => {
    const issues = issuesOf(() => parseServiceSpec(aSpec(withHealth({ tcp: { port: 8080 }, [key]: 1 }))));
    expect(issues).toEqual([{ path: `spec.containers[0].health.${key}`, message }]);
  });

  it('suggests field names inside a probe', () => {
    const issues = issuesOf(() => parseServiceSpec(aSpec(withHealth({ http: { port: 8080, pth: '/' } }))));
    expect(issues).toEqual([{ path: 'spec.containers[0].health.http.pth', message: 'unknown field "pth" (did you mean "path"?)' }]);
  });

  it('does not take an inherited property name for an alias', () => {
    const issues = issuesOf(() => parseServiceSpec(aSpec(withHealth(JSON.parse('{ "tcp": { "port": 8080 }, "constructor": 1 }')))));
    expect(issues).toEqual([{ path: 'spec.containers[0].health.constructor', message: 'unknown field "constructor"' }]);
  });

  it('reports health problems together with the other problems of the spec', () => {
    const issues = issuesOf(() =>
      parseServiceSpec(
        aSpec((s) => {
          s.spec.replicas = -1;
          container(s).health = { tcp: { port: 9090 }, exec: { command: [] } };
        }),
      ),
    );
    expect(issues.map((i) => i.path).sort()).toEqual(
      ['spec.replicas', 'spec.containers[0].health', 'spec.containers[0].health.tcp.port', 'spec.containers[0].health.exec.command'].sort(),
    );
  });

  it('gives a stored spec whose JSON document parses back to the same spec', () => {
    const spec = parseServiceSpec(aSpec(withHealth({ http: { port: 'http', path: '/ready' }, intervalSeconds: 0.5 })));
    expect(parseServiceSpec(JSON.parse(JSON.stringify(serviceSpecToJson(spec))))).toEqual(spec);
  });
});

describe('a spec with many errors', () => {
  it('reports all of them at once, each with its path', () => {
    const spec = {
      kind: 'Service',
      apiVersion: 'v1',
      metadata: { name: 'Web', labels: { tier: 3 } },
      spec: {
        replicas: 2000,
        restartPolicy: 'sometimes',
        containers: [
          { name: 'app', image: 'Bad Image', env: { PORT: 80 }, ports: [{ containerPort: 80 }], resources: { cpu: '-1', memory: '1Mi' }, helth: {} },
          { name: 'app', image: 'skiff/busybox', ports: [{ containerPort: 80 }] },
        ],
      },
    };
    const issues = issuesOf(() => parseServiceSpec(spec));
    expect(issues.map((i) => i.path).sort()).toEqual(
      [
        'apiVersion',
        'metadata.name',
        'metadata.labels.tier',
        'spec.replicas',
        'spec.restartPolicy',
        'spec.containers[0].image',
        'spec.containers[0].env.PORT',
        'spec.containers[0].resources.cpu',
        'spec.containers[0].resources.memory',
        'spec.containers[0].helth',
        // Pod-wide rules are reported along with the field errors, not after they are fixed.
        'spec.containers[1].name',
        'spec.containers[1].ports[0].containerPort',
      ].sort(),
    );
  });
});

describe('spec.update', () => {
  it('accepts counts and percentages and keeps them as written', () => {
    const spec = parseServiceSpec(
      aSpec((s) => (s.spec.update = { maxSurge: 2, maxUnavailable: '50%', minReadySeconds: 5, progressDeadlineSeconds: 60, autoRollback: false })),
    );
    expect(spec.spec.update).toEqual({
      maxSurge: 2,
      maxUnavailable: '50%',
      minReadySeconds: 5,
      progressDeadlineSeconds: 60,
      autoRollback: false,
      revisionHistoryLimit: 10,
    });
  });

  it.each<[string, (s: Raw) => void, string, string]>([
    ['both budgets zero', (s) => (s.spec.update = { maxSurge: 0, maxUnavailable: '0%' }), 'spec.update', 'must not both be 0'],
    ['surge zero and unavailable defaulted', (s) => (s.spec.update = { maxSurge: '0%' }), 'spec.update', 'must not both be 0'],
    ['a negative surge', (s) => (s.spec.update = { maxSurge: -1 }), 'spec.update.maxSurge', 'a percentage of the replicas such as "25%"'],
    ['a percentage over 100', (s) => (s.spec.update = { maxUnavailable: '150%' }), 'spec.update.maxUnavailable', 'got "150%"'],
    ['a fractional count', (s) => (s.spec.update = { maxSurge: 1.5 }), 'spec.update.maxSurge', 'got 1.5'],
    ['a zero progress deadline', (s) => (s.spec.update = { progressDeadlineSeconds: 0 }), 'spec.update.progressDeadlineSeconds', 'from 1 to 86400'],
    ['autoRollback as a string', (s) => (s.spec.update = { autoRollback: 'yes' }), 'spec.update.autoRollback', 'must be true or false'],
    ['a history of 0', (s) => (s.spec.update = { revisionHistoryLimit: 0 }), 'spec.update.revisionHistoryLimit', 'from 1 to 50'],
    ["Nomad's auto_revert", (s) => (s.spec.update = { auto_revert: true }), 'spec.update.auto_revert', 'autoRollback'],
  ])('refuses %s with a message naming the field', (_, edit, path, message) => {
    const issues = issuesOf(() => parseServiceSpec(aSpec(edit)));
    const issue = issues.find((i) => i.path === path);
    expect(issue?.message, JSON.stringify(issues)).toContain(message);
  });
});

describe('examples/hello.yaml', () => {
  it('parses to the stored spec with every default filled in', () => {
    const text = readFileSync(new URL('../../examples/hello.yaml', import.meta.url), 'utf8');
    expect(parseServiceYaml(text)).toEqual({
      kind: 'Service',
      metadata: { name: 'hello', namespace: 'default', labels: {} },
      spec: {
        replicas: 3,
        containers: [
          {
            name: 'web',
            image: 'skiff/busybox:latest',
            command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'],
            env: {},
            ports: [{ containerPort: 8080, protocol: 'tcp' }],
            resources: { cpu: 100, memory: 32 * Mi },
          },
        ],
        restartPolicy: 'always',
        pidsLimit: 512,
        terminationGracePeriodSeconds: 30,
        placement: { strategy: 'spread', constraints: [] },
        update: { maxSurge: '25%', maxUnavailable: 0, minReadySeconds: 0, progressDeadlineSeconds: 600, autoRollback: true, revisionHistoryLimit: 10 },
      },
    } satisfies ServiceSpec);
  });
});

describe('parseServiceYaml', () => {
  it.each<[string, string, string]>([
    ['an empty file', '', 'the file is empty'],
    ['a file of comments', '# nothing here\n', 'the file is empty'],
    ['a lone document marker', '---\n', 'the file is empty'],
    ['two documents', 'kind: Service\n---\nkind: Service\n', 'the file holds 2 YAML documents separated by "---"'],
    ['a duplicate key, with its position', 'kind: Service\nkind: Service\n', 'YAML syntax error at line 2, column 1: Map keys must be unique'],
    ['an unclosed flow list, with its position', 'kind: Service\nspec:\n  containers: [\n', 'YAML syntax error at line 4, column 1'],
    ['an alias to no anchor', 'kind: *nothing\n', 'Unresolved alias'],
    ['a scalar instead of a map', 'hello\n', 'a service spec must be a map with kind, metadata and spec; got "hello"'],
  ])('rejects %s', (_name, text, fragment) => {
    const issues = issuesOf(() => parseServiceYaml(text));
    expect(issues.map((i) => i.message).join('\n')).toContain(fragment);
  });

  it('accepts a trailing document marker', () => {
    const text = 'kind: Service\nmetadata: { name: web }\nspec:\n  containers: [{ name: app, image: skiff/busybox }]\n---\n';
    expect(parseServiceYaml(text).metadata.name).toBe('web');
  });

  it('reports validation errors of a YAML spec by path', () => {
    const text = 'kind: Service\nmetadata: { name: web }\nspec:\n  containers:\n    - name: app\n      image: skiff/busybox\n      env: { PORT: 8080 }\n';
    expect(issuesOf(() => parseServiceYaml(text))).toEqual([
      { path: 'spec.containers[0].env.PORT', message: 'must be a string; got the number 8080: quote it in YAML ("8080")' },
    ]);
  });

  it('keeps YAML 1.1 booleans such as "yes" as strings (YAML 1.2 core schema)', () => {
    const text = 'kind: Service\nmetadata: { name: web }\nspec:\n  containers:\n    - { name: app, image: skiff/busybox, env: { ENABLED: yes } }\n';
    expect(parseServiceYaml(text).spec.containers[0].env).toEqual({ ENABLED: 'yes' });
  });
});

describe('serviceSpecToJson', () => {
  it('writes quantities back in Kubernetes form', () => {
    const spec = parseServiceSpec(aSpec((s) => (container(s).resources = { cpu: 1.5, memory: '1Gi' })));
    expect(serviceSpecToJson(spec).spec.containers[0].resources).toEqual({ cpu: '1.5', memory: '1Gi' });
  });

  it('gives a document that parses back to the same spec', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64_000 }),
        fc.integer({ min: 6 * Mi, max: 64 * 1024 * Mi }),
        fc.integer({ min: 0, max: 1000 }),
        (cpu, memory, replicas) => {
          const spec = parseServiceSpec(
            aSpec((s) => {
              s.spec.replicas = replicas;
              container(s).resources = { cpu: formatCpu(cpu), memory: formatMemory(memory) };
            }),
          );
          expect(parseServiceSpec(serviceSpecToJson(spec))).toEqual(spec);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('helpers', () => {
  it.each<[string, ReturnType<typeof parseConstraint>]>([
    ['zone == a', { key: 'zone', op: '==', value: 'a' }],
    ['zone!=b', { key: 'zone', op: '!=', value: 'b' }],
    ['example.com/disk == ssd', { key: 'example.com/disk', op: '==', value: 'ssd' }],
    ['zone = a', undefined],
    ['zone == ', undefined],
    ['== a', undefined],
    ['zone == a b', undefined],
  ])('parseConstraint(%j)', (text, expected) => {
    expect(parseConstraint(text)).toEqual(expected);
  });

  it.each<[string, boolean]>([
    ['web', true],
    ['web-1', true],
    ['1web', true],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    ['Web', false],
    ['-web', false],
    ['web-', false],
    ['we_b', false],
    ['', false],
  ])('isDnsLabel(%j) is %s', (value, expected) => {
    expect(isDnsLabel(value)).toBe(expected);
  });

  it('formats paths with indexes and quoted odd keys', () => {
    expect(formatPath(['spec', 'containers', 0, 'env', 'MY-VAR'])).toBe('spec.containers[0].env["MY-VAR"]');
    expect(formatPath([])).toBe('');
  });
});

describe('spec.ingress', () => {
  /** A container serving 8080/tcp named "http" and 53/udp named "dns", with this ingress. */
  const withIngress = (ingress: unknown) => (s: Raw) => {
    container(s).ports = [
      { containerPort: 8080, name: 'http' },
      { containerPort: 53, name: 'dns', protocol: 'udp' },
    ];
    s.spec.ingress = ingress;
  };

  it('stores the port name as its number and sessionAffinity defaulted to false', () => {
    const spec = parseServiceSpec(aSpec(withIngress({ host: 'shop.example.com', port: 'http' })));
    expect(spec.spec.ingress).toEqual({ host: 'shop.example.com', port: 8080, sessionAffinity: false });
  });

  it('accepts a containerPort number and session affinity', () => {
    const spec = parseServiceSpec(aSpec(withIngress({ host: 'api.shop-1.example.com', port: 8080, sessionAffinity: true })));
    expect(spec.spec.ingress).toEqual({ host: 'api.shop-1.example.com', port: 8080, sessionAffinity: true });
  });

  it('accepts a one-label host and a host of 253 characters', () => {
    const long = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');
    expect(long).toHaveLength(253);
    for (const host of ['intranet', long]) {
      expect(parseServiceSpec(aSpec(withIngress({ host, port: 8080 }))).spec.ingress?.host).toBe(host);
    }
  });

  it('leaves ingress out of a spec that has none', () => {
    expect('ingress' in parseServiceSpec(aSpec()).spec).toBe(false);
  });

  it('parses the YAML form of the spec document, and gives JSON that parses back to the same spec', () => {
    const text = [
      'kind: Service',
      'metadata: { name: web, namespace: shop }',
      'spec:',
      '  containers:',
      '    - { name: app, image: shop/web:1.4, ports: [{ containerPort: 8080, name: http }] }',
      '  ingress: { host: shop.example.com, port: http, sessionAffinity: true }',
    ].join('\n');
    const spec = parseServiceYaml(text);
    expect(spec.spec.ingress).toEqual({ host: 'shop.example.com', port: 8080, sessionAffinity: true });
    expect(parseServiceSpec(serviceSpecToJson(spec))).toEqual(spec);
  });

  it.each<[string, unknown, string, string]>([
    ['a host with capitals', { host: 'Shop.Example.com', port: 'http' }, 'spec.ingress.host', 'must be lowercase (did you mean "shop.example.com"?)'],
    [
      'a URL',
      { host: 'https://shop.example.com/app', port: 'http' },
      'spec.ingress.host',
      'must be a host name without a scheme or path (did you mean "shop.example.com"?)',
    ],
    [
      'a host with a port',
      { host: 'shop.example.com:8080', port: 'http' },
      'spec.ingress.host',
      'must be a host name without a port (did you mean "shop.example.com"?)',
    ],
    [
      'a trailing dot',
      { host: 'shop.example.com.', port: 'http' },
      'spec.ingress.host',
      'must be written without the trailing "." (did you mean "shop.example.com"?)',
    ],
    ['a wildcard over a top-level domain', { host: '*.com', port: 'http' }, 'spec.ingress.host', 'a domain of at least two labels'],
    ['a wildcard inside the name', { host: 'www.*.example.com', port: 'http' }, 'spec.ingress.host', 'only as its whole first label'],
    ['a path without its leading slash', { host: 'shop.example.com', port: 'http', path: 'api' }, 'spec.ingress.path', 'did you mean "/api"?'],
    ['a path with a trailing slash', { host: 'shop.example.com', port: 'http', path: '/api/' }, 'spec.ingress.path', 'did you mean "/api"?'],
    ['a path pattern', { host: 'shop.example.com', port: 'http', path: '/api/*' }, 'spec.ingress.path', 'must be a literal prefix'],
    ['a path with a query', { host: 'shop.example.com', port: 'http', path: '/a?b' }, 'spec.ingress.path', 'must be a literal prefix'],
    ['a path with dot segments', { host: 'shop.example.com', port: 'http', path: '/a/../b' }, 'spec.ingress.path', 'normalised'],
    ['tls as a string', { host: 'shop.example.com', port: 'http', tls: 'yes' }, 'spec.ingress.tls', 'must be true'],
    ['tls with an unknown key', { host: 'shop.example.com', port: 'http', tls: { arn: 'x' } }, 'spec.ingress.tls', '{ certificateArn: arn:aws:acm:'],
    [
      'a certificate ARN that is not ACM',
      { host: 'shop.example.com', port: 'http', tls: { certificateArn: 'arn:aws:iam::123456789012:server-certificate/shop' } },
      'spec.ingress.tls.certificateArn',
      'must be the ARN of an ACM certificate',
    ],
    ['an IP address', { host: '10.0.0.1', port: 'http' }, 'spec.ingress.host', 'must be a DNS name, not an IP address'],
    ['two dots in a row', { host: 'shop..example.com', port: 'http' }, 'spec.ingress.host', 'an empty label (two dots in a row, or a leading dot) is not one'],
    ['an underscore', { host: 'my_shop.example.com', port: 'http' }, 'spec.ingress.host', 'the label "my_shop" is not one'],
    ['a label of 64 characters', { host: `${'a'.repeat(64)}.example.com`, port: 'http' }, 'spec.ingress.host', 'each label at most 63 characters'],
    [
      'a name of 254 characters',
      { host: `${'a.'.repeat(126)}ab`, port: 'http' },
      'spec.ingress.host',
      'must be at most 253 characters (the longest DNS name); got 254 characters',
    ],
    ['an empty host', { host: '', port: 'http' }, 'spec.ingress.host', 'got an empty string'],
    ['a missing host', { port: 'http' }, 'spec.ingress.host', 'is required'],
    ['a missing port', { host: 'shop.example.com' }, 'spec.ingress.port', 'is required'],
    ['a port the pod does not declare', { host: 'shop.example.com', port: 9090 }, 'spec.ingress.port', 'port 9090 is not a containerPort declared in the pod'],
    ['a udp port', { host: 'shop.example.com', port: 53 }, 'spec.ingress.port', 'port 53 is declared with protocol udp, but ingress carries HTTP over tcp'],
    ['a udp port by name', { host: 'shop.example.com', port: 'dns' }, 'spec.ingress.port', 'port "dns" is declared with protocol udp'],
    [
      'a misspelt port name',
      { host: 'shop.example.com', port: 'htp' },
      'spec.ingress.port',
      'port "htp" is not the name of a port declared in the pod (did you mean "http"?)',
    ],
    ['a quoted port number', { host: 'shop.example.com', port: '8080' }, 'spec.ingress.port', 'got the string "8080": write it without quotes'],
    [
      'a port out of range',
      { host: 'shop.example.com', port: 70000 },
      'spec.ingress.port',
      'must be a containerPort number (1 to 65535) or the name of a port declared in the pod; got 70000',
    ],
    [
      "Kubernetes' ClientIP affinity",
      { host: 'shop.example.com', port: 'http', sessionAffinity: 'ClientIP' },
      'spec.ingress.sessionAffinity',
      'must be true or false (true keeps each client on one replica, with a cookie); got "ClientIP"',
    ],
    [
      'an ingress that is not a map',
      'shop.example.com',
      'spec.ingress',
      'must be a map such as { host: shop.example.com, port: http }; got "shop.example.com"',
    ],
    [
      'a typo of a field',
      { host: 'shop.example.com', port: 'http', sessionAfinity: true },
      'spec.ingress.sessionAfinity',
      'unknown field "sessionAfinity" (did you mean "sessionAffinity"?)',
    ],
    [
      "another tool's name for a field",
      { hostname: 'shop.example.com', host: 'shop.example.com', port: 'http' },
      'spec.ingress.hostname',
      'unknown field "hostname" (did you mean "host"?)',
    ],
    [
      'sticky for sessionAffinity',
      { host: 'shop.example.com', port: 'http', sticky: true },
      'spec.ingress.sticky',
      'unknown field "sticky" (did you mean "sessionAffinity"?)',
    ],
  ])('rejects %s', (_name, ingress, path, fragment) => {
    const issues = issuesOf(() => parseServiceSpec(aSpec(withIngress(ingress))));
    expect(issues).toHaveLength(1);
    expect(issues[0].path).toBe(path);
    expect(issues[0].message).toContain(fragment);
  });

  it('accepts a wildcard host, a path prefix and TLS, and stores path and tls only when set', () => {
    const arn = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';
    const wild = parseServiceSpec(aSpec(withIngress({ host: '*.shop.example.com', port: 'http', path: '/api', tls: true })));
    expect(wild.spec.ingress).toEqual({ host: '*.shop.example.com', port: 8080, sessionAffinity: false, path: '/api', tls: true });
    const own = parseServiceSpec(aSpec(withIngress({ host: 'shop.example.com', port: 'http', path: '/', tls: { certificateArn: arn } })));
    expect(own.spec.ingress).toEqual({ host: 'shop.example.com', port: 8080, sessionAffinity: false, tls: { certificateArn: arn } });
    const plain = parseServiceSpec(aSpec(withIngress({ host: 'shop.example.com', port: 'http', tls: false })));
    expect(plain.spec.ingress).toEqual({ host: 'shop.example.com', port: 8080, sessionAffinity: false });
  });

  it('does not suggest a host that would itself be invalid', () => {
    const [issue] = issuesOf(() => parseServiceSpec(aSpec(withIngress({ host: 'https://Bad_Host/x', port: 'http' }))));
    expect(issue.message).not.toContain('did you mean');
  });

  it('reports host, port and affinity problems together with the rest of the spec', () => {
    const issues = issuesOf(() =>
      parseServiceSpec(
        aSpec((s) => {
          withIngress({ host: 'Shop.example.com', port: 'web', sessionAffinity: 'yes' })(s);
          s.spec.replicas = -1;
        }),
      ),
    );
    expect(issues.map((i) => i.path).sort()).toEqual(['spec.ingress.host', 'spec.ingress.port', 'spec.ingress.sessionAffinity', 'spec.replicas']);
  });

  it('answers a Kubernetes-style paths list with the one path field', () => {
    const issues = issuesOf(() => parseServiceSpec(aSpec(withIngress({ host: 'shop.example.com', port: 'http', paths: ['/'] }))));
    expect(issues).toEqual([{ path: 'spec.ingress.paths', message: 'unknown field "paths" (did you mean "path"?)' }]);
  });
});

describe('"did you mean", at a bounded cost', () => {
  /** The textbook Levenshtein distance, the oracle for the bounded one. */
  function levenshtein(a: string, b: string): number {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const row = [i];
      for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row;
    }
    return prev[b.length];
  }

  it('computes the edit distance exactly up to the bound, and bound + 1 beyond it', () => {
    const word = fc.string({ maxLength: 12, unit: fc.constantFrom('a', 'b', 'c') });
    fc.assert(
      fc.property(word, word, fc.integer({ min: 0, max: 4 }), (a, b, max) => {
        expect(editDistanceAtMost(a, b, max)).toBe(Math.min(levenshtein(a, b), max + 1));
      }),
      { numRuns: 2000 },
    );
  });

  it('suggests nothing for a word far longer than any field name, and does not compare it', () => {
    expect(closest('image', ['image', 'name'])).toBe('image');
    expect(closest('imagee', ['image', 'name'])).toBe('image');
    expect(closest(`${'a'.repeat(100_000)}b`, [`${'a'.repeat(100_000)}c`])).toBeUndefined();
  });

  // The issue's case: both names are the user's, so the naive distance cost their product
  // (209 ms at 4 K characters, minutes at 120 K). The test's timeout is far above the bounded cost.
  it('answers a probe port near a 30 K-character port name at once, without a suggestion', () => {
    const long = 'a'.repeat(30_000);
    const issues = issuesOf(() =>
      parseServiceSpec(
        aSpec((s) => {
          container(s).ports = [{ containerPort: 80, name: `${long}b` }];
          container(s).health = { tcp: { port: `${long}c` } };
        }),
      ),
    );
    const probe = issues.find((i) => i.path === 'spec.containers[0].health.tcp.port');
    expect(probe?.message).toContain('is not the name of a port declared in the pod');
    expect(probe?.message).not.toContain('did you mean');
    // Messages quote long values shortened, so a refusal is not a copy of the request.
    expect(probe!.message.length).toBeLessThan(1000);
  }, 10_000);
});

describe('limits', () => {
  const many = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
  const entries = (n: number, make: (i: number) => [string, string]) => Object.fromEntries(many(n, make));
  const ports = (n: number, from = 1000) => many(n, (i) => ({ containerPort: from + i }));

  it('accepts a spec at every count limit', () => {
    const spec = parseServiceSpec(
      aSpec((s) => {
        s.metadata.labels = entries(MAX_LABELS, (i) => [`l${i}`, 'x']);
        s.spec.placement = { constraints: many(MAX_CONSTRAINTS, (i) => `zone != z${i}`) };
        s.spec.containers = [
          { name: 'a', image: 'skiff/busybox', ports: ports(MAX_PORTS / 2), env: entries(MAX_ENV, (i) => [`E${i}`, 'v']), command: many(MAX_ARGS, () => 'x') },
          { name: 'b', image: 'skiff/busybox', ports: ports(MAX_PORTS / 2, 2000), health: { exec: { command: many(MAX_ARGS, () => 'x') } } },
        ];
      }),
    );
    expect(spec.spec.containers.flatMap((c) => c.ports)).toHaveLength(MAX_PORTS);
  });

  it.each<[string, (s: Raw) => void, string, string]>([
    ['a spec over 64 KiB', (s) => (container(s).env = entries(5, (i) => [`E${i}`, 'x'.repeat(15_000)])), '', `more than ${MAX_SPEC_BYTES} bytes as JSON`],
    [
      "the issue's 120 K-character port name and probe port",
      (s) => {
        container(s).ports = [{ containerPort: 80, name: `${'a'.repeat(120_000)}b` }];
        container(s).health = { tcp: { port: `${'a'.repeat(120_000)}c` } };
      },
      '',
      `more than ${MAX_SPEC_BYTES} bytes`,
    ],
    ['a spec nested 20 deep', (s) => (container(s).extra = JSON.parse(`${'['.repeat(20)}${']'.repeat(20)}`)), '', 'nested more than 16 levels deep'],
    [
      'a container with 65 ports',
      (s) => (container(s).ports = ports(MAX_PORTS + 1)),
      'spec.containers[0].ports',
      `must list at most ${MAX_PORTS} ports; got 65`,
    ],
    [
      'a pod with 65 ports over two containers',
      (s) => {
        s.spec.containers = [
          { name: 'a', image: 'skiff/busybox', ports: ports(40) },
          { name: 'b', image: 'skiff/busybox', ports: ports(25, 2000) },
        ];
      },
      'spec.containers',
      `the pod declares 65 ports; at most ${MAX_PORTS}`,
    ],
    [
      '257 env entries',
      (s) => (container(s).env = entries(MAX_ENV + 1, (i) => [`E${i}`, 'v'])),
      'spec.containers[0].env',
      `must have at most ${MAX_ENV} entries; got 257`,
    ],
    [
      'an env value over 16 KiB',
      (s) => (container(s).env = { BIG: 'x'.repeat(MAX_ENV_VALUE_LENGTH + 1) }),
      'spec.containers[0].env.BIG',
      `must be at most ${MAX_ENV_VALUE_LENGTH} characters; got 16385`,
    ],
    [
      'an env name over 256 characters',
      (s) => (container(s).env = { ['E'.repeat(MAX_ENV_NAME_LENGTH + 1)]: 'v' }),
      `spec.containers[0].env.${'E'.repeat(257)}`,
      `must be at most ${MAX_ENV_NAME_LENGTH} characters`,
    ],
    [
      '65 labels',
      (s) => (s.metadata.labels = entries(MAX_LABELS + 1, (i) => [`l${i}`, 'x'])),
      'metadata.labels',
      `must have at most ${MAX_LABELS} entries; got 65`,
    ],
    [
      '33 constraints',
      (s) => (s.spec.placement = { constraints: many(MAX_CONSTRAINTS + 1, () => 'zone == a') }),
      'spec.placement.constraints',
      `must list at most ${MAX_CONSTRAINTS} constraints; got 33`,
    ],
    [
      'a constraint over 512 characters',
      (s) => (s.spec.placement = { constraints: [`zone == ${'a'.repeat(MAX_CONSTRAINT_LENGTH)}`] }),
      'spec.placement.constraints[0]',
      `must be at most ${MAX_CONSTRAINT_LENGTH} characters`,
    ],
    [
      'a command of 257 items',
      (s) => (container(s).command = many(MAX_ARGS + 1, () => 'x')),
      'spec.containers[0].command',
      `must list at most ${MAX_ARGS} items; got 257`,
    ],
    [
      'an argument over 16 KiB',
      (s) => (container(s).args = ['x'.repeat(MAX_ARG_LENGTH + 1)]),
      'spec.containers[0].args[0]',
      `must be at most ${MAX_ARG_LENGTH} characters`,
    ],
    [
      'an exec probe of 257 items',
      (s) => (container(s).health = { exec: { command: many(MAX_ARGS + 1, () => 'x') } }),
      'spec.containers[0].health.exec.command',
      `must list at most ${MAX_ARGS} items`,
    ],
    [
      'an image over 512 characters',
      (s) => (container(s).image = `skiff/${'a'.repeat(MAX_IMAGE_LENGTH)}`),
      'spec.containers[0].image',
      `must be at most ${MAX_IMAGE_LENGTH} characters`,
    ],
    [
      'an http probe path over 2 KiB',
      (s) => {
        container(s).ports = [{ containerPort: 80 }];
        container(s).health = { http: { port: 80, path: `/${'a'.repeat(MAX_HTTP_PATH_LENGTH)}` } };
      },
      'spec.containers[0].health.http.path',
      `must be at most ${MAX_HTTP_PATH_LENGTH} characters`,
    ],
  ])('refuses %s, naming the field and the limit', (_name, change, path, fragment) => {
    const issues = issuesOf(() => parseServiceSpec(aSpec(change)));
    const issue = issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(issues).slice(0, 500)).toBeDefined();
    expect(issue!.message).toContain(fragment);
  });

  it('refuses a document nested 100,000 deep as a ValidationError, not a stack overflow', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(issuesOf(() => parseServiceSpec({ kind: 'Service', metadata: { name: 'web' }, spec: deep }))[0].message).toContain(
      'nested more than 16 levels deep',
    );
  });

  it.each([
    ['flow collections nested 5,000 deep', `kind: Service\nspec: ${'['.repeat(5000)}${']'.repeat(5000)}\n`],
    ['block sequences nested 20,000 deep on one line', `${'- '.repeat(20_000)}x\n`],
    ['explicit keys nested 20,000 deep', `${'? '.repeat(20_000)}x\n`],
    ['block maps indented 700 deep', many(700, (i) => `${' '.repeat(i)}k:`).join('\n')],
    // Found by test/integration/api-fuzz.test.ts: a stack overflow (a 5xx) before the limit counted them.
    ['20,000 anchors on one line', `kind:\n  ${'&a '.repeat(20_000)}x\n`],
  ])('refuses YAML with %s before parsing it, naming the nesting', (_name, text) => {
    const issues = issuesOf(() => parseServiceYaml(text));
    expect(issues).toHaveLength(1);
    expect(issues[0].message).toMatch(/nest/);
  });

  // Found by test/integration/api-fuzz.test.ts: the yaml library compares each key with every other
  // key of its map, seconds for thousands of keys. The test's timeout is far above the linear cost.
  it('finds a duplicate key among 20,000 keys of a map at once, with its position', () => {
    const text = `{\n${many(20_000, (i) => `k${i}: v,`).join('\n')}\nk7: v }`;
    const issues = issuesOf(() => parseServiceYaml(text));
    expect(issues).toEqual([{ path: '', message: expect.stringMatching(/^YAML syntax error at line 20002, column 1: Map keys must be unique$/) }]);
  }, 10_000);

  it('refuses a line with more than 256 indicators', () => {
    const text = `{ ${many(300, (i) => `k${i}: v`).join(', ')} }`;
    expect(issuesOf(() => parseServiceYaml(text))[0].message).toContain('YAML nested too deeply at line 1');
  });

  it('reads a JSON object as JSON, however many keys share its line, and validates it as any document', () => {
    const text = `{ ${many(300, (i) => `"k${i}": "v"`).join(', ')} }`;
    const messages = issuesOf(() => parseServiceYaml(text)).map((i) => i.message);
    expect(messages.join('\n')).not.toContain('YAML nested too deeply');
    expect(messages.join('\n')).toMatch(/unknown field/);
  });

  // Found by test/integration/api-fuzz.test.ts: the library's pretty errors cost time linear in the
  // text per error (273 s for this text). The test's timeout is far above the linear cost.
  it('answers a text of 128 K quotes at once, with the first 20 syntax errors', () => {
    const issues = issuesOf(() => parseServiceYaml('"'.repeat(128_000)));
    expect(issues).toHaveLength(21);
    expect(issues[0].message).toMatch(/^YAML syntax error at line 1, column \d+: /);
    expect(issues[20].message).toMatch(/^and \d+ more YAML errors$/);
  }, 20_000);

  it('refuses a YAML text over 256 KiB', () => {
    const issues = issuesOf(() => parseServiceYaml(`# ${'x'.repeat(MAX_YAML_LENGTH)}\nkind: Service\n`));
    expect(issues[0].message).toContain(`the limit is ${MAX_YAML_LENGTH}`);
  });

  it('refuses a YAML document that refers to itself', () => {
    const issues = issuesOf(() => parseServiceYaml('kind: Service\nmetadata: &m { name: web, self: *m }\nspec: { containers: [] }\n'));
    expect(issues.map((i) => i.message).join('; ')).toMatch(/nested more than 16 levels deep|YAML error/);
  });

  it('accepts YAML with quoted brackets, block scalars and JSON-style nesting', () => {
    const text = [
      '{',
      '  "kind": "Service", "metadata": { "name": "web", "labels": { "a": "b" } },',
      '  "spec": { "containers": [ { "name": "app", "image": "skiff/busybox",',
      '    "command": ["sh", "-c", "[ -f x ] && echo \\"]]]]\\" - : ? ok"],',
      '    "env": { "A": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" } } ] }',
      '}',
    ].join('\n');
    expect(parseServiceYaml(text).spec.containers[0].env.A).toHaveLength(72);
  });
});
