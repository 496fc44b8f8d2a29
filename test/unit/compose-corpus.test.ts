/**
 * The Compose corpus (test/fixtures/compose/): files in the shapes of popular public example
 * collections, written for this repository, each converted as `skiff convert` does (the file, the
 * .env and env_file files beside it) with an empty environment, and checked field by field. The
 * bad files give errors naming the path of each problem.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeDocument, convertComposeFile, documentsYaml } from '../../cli/compose.ts';
import type { ComposeConversion } from '../../core/compose/convert.ts';
import { parseDocumentsText } from '../../core/spec/documents.ts';

const ROOT = join(import.meta.dirname, '..', 'fixtures', 'compose');

interface Converted extends ComposeConversion {
  /** What the shell printed to stderr (warnings, skipped services). */
  readonly printed: readonly string[];
}

function convert(fixture: string, flags: { strict?: boolean; profile?: string; namespace?: string } = {}, env: NodeJS.ProcessEnv = {}): Converted {
  const file = fixture.endsWith('.yaml') ? join(ROOT, fixture) : join(ROOT, fixture, 'compose.yaml');
  const printed: string[] = [];
  const doc = composeDocument(readFileSync(file, 'utf8'));
  if (doc === undefined) throw new Error(`${fixture} is not a Compose file`);
  const result = convertComposeFile(file, doc, flags, { log: () => {}, err: (s) => printed.push(s), isTTY: false }, env);
  return { ...result, printed };
}

function failure(fixture: string, flags: { strict?: boolean } = {}, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    convert(fixture, flags, env);
  } catch (err) {
    return (err as Error).message
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
  }
  throw new Error(`${fixture} converted without an error`);
}

const paths = (r: Converted) => r.warnings.map((w) => w.path);
const doc = (r: Converted, name: string) => {
  const found = r.documents.find((d) => (d.metadata as { name: string }).name === name);
  if (!found) throw new Error(`no document ${name}`);
  return found;
};
const stored = (r: Converted, name: string) => {
  const found = r.specs.find((s) => s.metadata.name === name);
  if (!found) throw new Error(`no spec ${name}`);
  return found;
};

describe('the Compose corpus', () => {
  it('holds at least 15 valid Compose files, each converting', () => {
    const dirs = readdirSync(ROOT).filter((d) => d !== 'bad');
    expect(dirs.length).toBeGreaterThanOrEqual(15);
    for (const d of dirs) {
      const r = convert(d, {}, { TAG: '1.0' });
      expect(r.documents.length, d).toBeGreaterThan(0);
      expect(r.specs.length, d).toBe(r.documents.length);
    }
  });

  it('prints, for every file, YAML that the apply parser reads back into the very specs -o json shows', () => {
    for (const d of readdirSync(ROOT).filter((x) => x !== 'bad')) {
      const r = convert(d, {}, { TAG: '1.0' });
      const back = parseDocumentsText(documentsYaml(r, 'compose.yaml')).map((x) => (x.kind === 'Secret' ? x.secret : x.spec));
      expect(JSON.parse(JSON.stringify(back)), d).toEqual(JSON.parse(JSON.stringify(r.specs)));
    }
  });

  it('web + database + cache: three services in the project namespace, a health check, named volumes, an ingress', () => {
    const r = convert('web-db-cache');
    expect(r.namespace).toBe('shop');
    expect(r.documents.map((d) => (d.metadata as { name: string }).name)).toEqual(['web', 'db', 'cache']);
    expect(doc(r, 'web')).toEqual({
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'registry.example.com/shop/web:1.4',
            env: { DATABASE_URL: 'postgres://shop:secret@db:5432/shop', REDIS_URL: 'redis://cache:6379/0', WORKERS: '4' },
            ports: [{ containerPort: 8000, protocol: 'tcp', hostPort: 8000 }],
            resources: { cpu: '500m', memory: '256Mi' },
          },
        ],
        ingress: { host: 'shop.example.com', port: 8000 },
      },
    });
    expect(doc(r, 'db')).toEqual({
      kind: 'Service',
      metadata: { name: 'db', namespace: 'shop' },
      spec: {
        containers: [
          {
            name: 'db',
            image: 'postgres:16-alpine',
            env: { POSTGRES_USER: 'shop', POSTGRES_PASSWORD: 'secret', POSTGRES_DB: 'shop' },
            health: {
              exec: { command: ['sh', '-c', 'pg_isready -U shop'] },
              intervalSeconds: 10,
              timeoutSeconds: 5,
              startPeriodSeconds: 0,
              failureThreshold: 5,
            },
            resources: { cpu: '1', memory: '1Gi' },
            volumeMounts: [{ name: 'db-data', mountPath: '/var/lib/postgresql/data' }],
          },
        ],
        volumes: [{ name: 'db-data', persistent: {} }],
      },
    });
    expect(doc(r, 'cache').spec).toMatchObject({
      containers: [{ args: ['redis-server', '--appendonly', 'yes'], resources: { cpu: '250m', memory: '128Mi' } }],
    });
    // unless-stopped is Skiff's always, the default; the start order is a warning.
    expect(stored(r, 'web').spec.restartPolicy).toBe('always');
    expect(paths(r)).toEqual(['services.web.depends_on']);
    expect(r.warnings[0].message).toContain('without waiting for db (service_healthy)');
  });

  it('wordpress: environment lists, expose, mem_limit and cpus, restart always, the folder as namespace', () => {
    const r = convert('wordpress');
    expect(r.namespace).toBe('wordpress');
    expect(doc(r, 'db').spec).toEqual({
      containers: [
        {
          name: 'db',
          image: 'mysql:8.0',
          args: ['--default-authentication-plugin=mysql_native_password'],
          env: { MYSQL_ROOT_PASSWORD: 'somewordpress', MYSQL_DATABASE: 'wordpress', MYSQL_USER: 'wordpress', MYSQL_PASSWORD: 'wordpress' },
          ports: [
            { containerPort: 3306, protocol: 'tcp' },
            { containerPort: 33060, protocol: 'tcp' },
          ],
          resources: { cpu: '1', memory: '512Mi' },
          volumeMounts: [{ name: 'db-data', mountPath: '/var/lib/mysql' }],
        },
      ],
      volumes: [{ name: 'db-data', persistent: {} }],
    });
    expect(doc(r, 'wordpress').spec).toMatchObject({
      containers: [{ env: { WORDPRESS_DB_HOST: 'db' }, ports: [{ containerPort: 80, hostPort: 80 }], resources: { cpu: '500m', memory: '256Mi' } }],
    });
    expect(r.warnings).toEqual([]);
  });

  it('interpolation: .env and the environment, defaults, required, alternate, nested, $$, numbers read after interpolating', () => {
    const r = convert('interpolation');
    expect(r.namespace).toBe('interp');
    expect(doc(r, 'api').spec).toEqual({
      replicas: 3,
      containers: [
        {
          name: 'api',
          image: 'registry.example.com/api:2.3.1',
          env: {
            LOG_LEVEL: 'debug',
            EMPTY_KEPT: '',
            EMPTY_REPLACED: 'fallback',
            PRICE: '$5',
            GREETING: 'hello Ada Lovelace',
            NESTED: '2.3.1-nested',
            ALTERNATE: 'tagged',
          },
          ports: [{ containerPort: 8080, protocol: 'tcp', hostPort: 8080 }],
          resources: { cpu: '100m', memory: '32Mi' },
        },
      ],
    });
    expect(paths(r)).toEqual(['services.api.environment.FROM_SHELL', 'services.api.ports']);
    // The environment wins over .env; a variable with no value takes the environment's.
    const shell = convert('interpolation', {}, { TAG: '9.9', FROM_SHELL: 'yes', API_PORT: '9000', PROJECT: 'other' });
    expect(shell.namespace).toBe('other');
    expect(doc(shell, 'api').spec).toMatchObject({
      containers: [{ image: 'registry.example.com/api:9.9', env: { FROM_SHELL: 'yes' }, ports: [{ containerPort: 8080, hostPort: 9000 }] }],
    });
  });

  it('profiles: services of inactive profiles are skipped and said so; --profile and COMPOSE_PROFILES activate them', () => {
    const r = convert('profiles');
    expect(r.documents.map((d) => (d.metadata as { name: string }).name)).toEqual(['app']);
    expect(r.skipped).toEqual([
      { service: 'adminer', profiles: ['debug'] },
      { service: 'mailhog', profiles: ['debug', 'mail'] },
    ]);
    expect(r.printed).toContain('skipped: services.adminer: its profiles (debug) are not active (--profile)');
    expect(convert('profiles', { profile: 'mail' }).documents.map((d) => (d.metadata as { name: string }).name)).toEqual(['app', 'mailhog']);
    expect(convert('profiles', {}, { COMPOSE_PROFILES: 'debug' }).documents).toHaveLength(3);
    expect(convert('profiles', { profile: '*' }).skipped).toEqual([]);
  });

  it('global mode: one replica per host, node.labels constraints become host-label constraints, others are named', () => {
    const r = convert('global-agent');
    expect(doc(r, 'node-exporter').spec).toEqual({
      mode: 'global',
      containers: [
        {
          name: 'node-exporter',
          image: 'prom/node-exporter:v1.8.2',
          args: ['--path.rootfs=/host', '--collector.disable-defaults'],
          ports: [{ containerPort: 9100, protocol: 'tcp' }],
          resources: { cpu: '100m', memory: '48Mi' },
        },
      ],
      placement: { constraints: ['monitoring == true'] },
    });
    expect(stored(r, 'node-exporter').spec.mode).toBe('global');
    expect(paths(r)).toEqual(['services.node-exporter.deploy.placement.constraints[1]']);
  });

  it('a swarm stack: replicas, labels, update_config as budgets, restart_policy, pids, reservations', () => {
    const r = convert('swarm-stack');
    expect(doc(r, 'api')).toEqual({
      kind: 'Service',
      metadata: { name: 'api', namespace: 'swarm-stack', labels: { team: 'payments', tier: 'backend' } },
      spec: {
        replicas: 4,
        containers: [
          {
            name: 'api',
            image: 'registry.example.com/stack/api:3.2',
            ports: [{ containerPort: 9000, protocol: 'tcp' }],
            resources: { cpu: '750m', memory: '384Mi' },
          },
        ],
        pidsLimit: 256,
        placement: { constraints: ['zone != b'] },
        update: { maxSurge: 2, maxUnavailable: 0, minReadySeconds: 30, autoRollback: true },
        restartPolicy: 'on-failure',
      },
    });
    // parallelism 0 is all at once; stop-first (Swarm's default) spends the unavailable budget.
    expect(doc(r, 'worker').spec).toMatchObject({ replicas: 0, update: { maxSurge: 0, maxUnavailable: '100%', autoRollback: false } });
    expect(stored(r, 'worker').spec.containers[0].resources).toEqual({ cpu: 500, memory: 256 * 2 ** 20 });
    expect(stored(r, 'api').spec.update).toEqual({
      maxSurge: 2,
      maxUnavailable: 0,
      minReadySeconds: 30,
      progressDeadlineSeconds: 600,
      autoRollback: true,
      revisionHistoryLimit: 10,
    });
    expect(paths(r)).toEqual([
      'services.api.deploy.resources.reservations.cpus',
      'services.api.deploy.resources.reservations.memory',
      'services.api.deploy.update_config.delay',
      'services.api.deploy.rollback_config',
      'services.api.deploy.restart_policy.max_attempts',
      'services.worker.deploy.resources.reservations.cpus',
      'services.worker.deploy.resources.reservations.memory',
    ]);
  });

  it('health checks: CMD, CMD-SHELL, a string, NONE and disable; durations in seconds; Docker defaults', () => {
    const r = convert('healthchecks');
    const health = (name: string) => (doc(r, name).spec as { containers: { health?: unknown }[] }).containers[0].health;
    expect(health('exec')).toEqual({
      exec: { command: ['curl', '-f', 'http://localhost:8080/health'] },
      intervalSeconds: 90,
      timeoutSeconds: 10,
      startPeriodSeconds: 40,
      failureThreshold: 3,
    });
    expect(health('shell')).toEqual({
      exec: { command: ['sh', '-c', 'wget -qO- http://localhost:8080/ || exit 1'] },
      intervalSeconds: 0.5,
      timeoutSeconds: 0.5,
      startPeriodSeconds: 0,
      failureThreshold: 3,
    });
    expect(health('string')).toEqual({
      exec: { command: ['sh', '-c', 'test -f /tmp/ready'] },
      intervalSeconds: 30,
      timeoutSeconds: 30,
      startPeriodSeconds: 0,
      failureThreshold: 3,
    });
    expect(health('none')).toBeUndefined();
    expect(health('disabled')).toBeUndefined();
    expect(stored(r, 'exec').spec.containers[0].health).toMatchObject({ successThreshold: 1 });
    expect(r.warnings).toEqual([]);
  });

  it('ports: short and long syntax, ranges, udp, a host address named, expose', () => {
    const r = convert('ports');
    expect((doc(r, 'edge').spec as { containers: { ports: unknown }[] }).containers[0].ports).toEqual([
      { containerPort: 3000, protocol: 'tcp' },
      { containerPort: 80, protocol: 'tcp', hostPort: 8000 },
      { containerPort: 8080, protocol: 'tcp', hostPort: 9090 },
      { containerPort: 8081, protocol: 'tcp', hostPort: 9091 },
      { containerPort: 443, protocol: 'tcp', hostPort: 8443 },
      { containerPort: 53, protocol: 'udp', hostPort: 5353 },
      { containerPort: 7000, protocol: 'tcp', hostPort: 7001, name: 'admin' },
      { containerPort: 6000, protocol: 'tcp' },
    ]);
    expect(paths(r)).toEqual(['services.edge.ports[3]']);
    expect(r.warnings[0].message).toContain('the host address is left out');
  });

  it('command and entrypoint: strings split as a shell would, lists as they are; entrypoint is command, command is args', () => {
    const r = convert('commands');
    expect(doc(r, 'string-forms').spec).toMatchObject({
      containers: [{ command: ['/docker-entrypoint.sh'], args: ['bundle', 'exec', 'rails', 'server', '-b', '0.0.0.0', '-p', '3000'] }],
    });
    expect(doc(r, 'list-forms').spec).toMatchObject({ containers: [{ command: ['sh', '-c'], args: ['echo $HOME && exec sleep 3600'] }] });
  });

  it('env_file: files in order, an optional one missing, quotes and expansion, environment winning', () => {
    const r = convert('env-files');
    expect((doc(r, 'app').spec as { containers: { env: unknown }[] }).containers[0].env).toEqual({
      MODE: 'production',
      TZ: 'UTC',
      GREETING: 'hello\nworld',
      SECRET_PATH: '/run/$notavar',
      PORT: '3000',
      URL: 'http://localhost:3000/',
    });
    expect(r.warnings).toEqual([]);
  });

  it('monitoring: numeric users become runAsUser, names are warned about; labels that Skiff cannot keep are named', () => {
    const r = convert('monitoring');
    expect(doc(r, 'prometheus')).toMatchObject({
      metadata: { labels: { 'com.example.role': 'metrics' } },
      spec: {
        containers: [{ securityContext: { runAsUser: 65534, runAsGroup: 65534 }, volumeMounts: [{ name: 'prom-data', mountPath: '/prometheus' }] }],
        volumes: [{ name: 'prom-data', persistent: {} }],
      },
    });
    expect(doc(r, 'grafana')).toMatchObject({
      metadata: { labels: { 'com.example.role': 'dashboards' } },
      spec: { volumes: [{ name: 'grafana-data', persistent: {} }] },
    });
    expect((doc(r, 'grafana').spec as { containers: { securityContext?: unknown }[] }).containers[0].securityContext).toBeUndefined();
    expect(paths(r)).toEqual(['services.prometheus.labels.com.example.description', 'services.grafana.user']);
  });

  it('a built app: the image is deployed, build, container_name and working_dir are named; depends_on says there is no start order', () => {
    const r = convert('django-build');
    expect(doc(r, 'web').spec).toMatchObject({
      containers: [{ image: 'registry.example.com/django-app:latest', args: ['python', 'manage.py', 'runserver', '0.0.0.0:8000'] }],
    });
    expect(paths(r)).toEqual(['services.web.working_dir', 'services.web.container_name', 'services.web.build', 'services.web.depends_on']);
    expect(convert('django-build', {}, { TAG: '2.0' }).documents[0]).toMatchObject({
      spec: { containers: [{ image: 'registry.example.com/django-app:2.0' }] },
    });
  });

  it('unsupported attributes: each named with its path and what to do instead, nothing left out silently', () => {
    const r = convert('unsupported');
    expect(paths(r)).toEqual([
      'networks',
      'secrets',
      'services.proxy.hostname',
      'services.proxy.extra_hosts',
      'services.proxy.logging',
      'services.proxy.secrets',
      'services.proxy.sysctls',
      'services.proxy.privileged',
      'services.proxy.network_mode',
      'services.proxy.cap_add[0]',
      'services.sidecar.links',
      'services.sidecar.network_mode',
    ]);
    const by = (p: string) => r.warnings.find((w) => w.path === p)?.message;
    expect(by('services.proxy.privileged')).toContain('cap_add');
    expect(by('services.sidecar.network_mode')).toContain('containers of one Skiff Service');
    expect(by('services.proxy.cap_add[0]')).toContain('NET_ADMIN');
    expect(doc(r, 'proxy').spec).toMatchObject({ containers: [{ securityContext: { capabilities: { add: ['NET_BIND_SERVICE'] } } }] });
    // --strict: every warning is an error, with its path.
    const strict = failure('unsupported', { strict: true });
    expect(strict).toHaveLength(12);
    expect(strict[0]).toMatch(/^networks: .*\(an error under --strict\)$/);
  });

  it('a minimal file: the image and its command, the folder as namespace, the default resources named', () => {
    const r = convert('minimal');
    expect(r.documents).toEqual([
      {
        kind: 'Service',
        metadata: { name: 'hello', namespace: 'minimal' },
        spec: { containers: [{ name: 'hello', image: 'skiff/busybox:latest', args: ['httpd', '-f', '-p', '8080'] }] },
      },
    ]);
    expect(stored(r, 'hello').spec.containers[0].resources).toEqual({ cpu: 100, memory: 64 * 2 ** 20 });
    expect(paths(r)).toEqual(['services.hello.deploy.resources.limits']);
    // -n names the namespace over the folder.
    expect(convert('minimal', { namespace: 'demo' }).specs[0].metadata.namespace).toBe('demo');
  });

  it('gitea: stop signals (TERM and SIGTERM forms), grace periods, restart on-failure with a limit, labels', () => {
    const r = convert('gitea');
    expect(r.namespace).toBe('git');
    expect(doc(r, 'server')).toMatchObject({
      metadata: { labels: { app: 'gitea', tier: 'frontend' } },
      spec: {
        containers: [
          {
            stopSignal: 'SIGQUIT',
            ports: [
              { containerPort: 3000, hostPort: 3000 },
              { containerPort: 22, hostPort: 222 },
            ],
          },
        ],
        terminationGracePeriodSeconds: 90,
      },
    });
    expect(doc(r, 'db').spec).toMatchObject({ containers: [{ stopSignal: 'SIGINT' }], terminationGracePeriodSeconds: 45, restartPolicy: 'on-failure' });
    expect(stored(r, 'db').spec.terminationGracePeriodSeconds).toBe(45);
    expect(paths(r)).toEqual(['volumes.gitea.driver', 'services.db.restart']);
  });

  it('security: read_only, numeric user, cap_drop ALL with cap_add, pids_limit, restart "no"', () => {
    const r = convert('security');
    expect(doc(r, 'api').spec).toEqual({
      containers: [
        {
          name: 'api',
          image: 'registry.example.com/api:2',
          resources: { cpu: '200m', memory: '96Mi' },
          securityContext: { capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsUser: 10001 },
        },
      ],
      pidsLimit: 100,
      restartPolicy: 'never',
    });
    expect(r.warnings).toEqual([]);
  });

  it('scratch volumes: anonymous volumes and tmpfs become emptyDir; a shared named volume and replicas with a volume are named', () => {
    const r = convert('scratch-volumes');
    expect(doc(r, 'worker').spec).toMatchObject({
      replicas: 2,
      containers: [
        {
          volumeMounts: [
            { name: 'anon-1', mountPath: '/var/cache/worker' },
            { name: 'tmpfs-2', mountPath: '/tmp' },
            { name: 'shared', mountPath: '/shared', readOnly: true },
            { name: 'tmpfs-3', mountPath: '/run' },
          ],
        },
      ],
      volumes: [
        { name: 'anon-1', emptyDir: {} },
        { name: 'tmpfs-2', emptyDir: {} },
        { name: 'shared', persistent: {} },
        { name: 'tmpfs-3', emptyDir: {} },
      ],
    });
    expect(paths(r)).toEqual(['services.worker.volumes[1]', 'services.worker.tmpfs', 'services.worker.volumes', 'volumes.shared']);
  });

  it('anchors and merge keys: services sharing an x- anchor, each overriding what it needs', () => {
    const r = convert('anchors');
    expect(r.documents.map((d) => (d.metadata as { name: string }).name)).toEqual(['web', 'worker', 'beat', 'redis', 'db']);
    const env = { DATABASE_URL: 'postgres://app@db/app', REDIS_URL: 'redis://redis:6379/0' };
    expect(doc(r, 'web').spec).toEqual({
      containers: [
        {
          name: 'web',
          image: 'registry.example.com/app:1.0',
          args: ['gunicorn', 'app.wsgi', '-b', '0.0.0.0:8000'],
          env,
          ports: [{ containerPort: 8000, protocol: 'tcp' }],
          resources: { cpu: '250m', memory: '128Mi' },
        },
      ],
    });
    // A merge is shallow: worker's own deploy replaces the anchor's whole deploy.
    expect(doc(r, 'worker').spec).toMatchObject({ replicas: 2, containers: [{ env, resources: { cpu: '500m', memory: '256Mi' } }] });
    expect(doc(r, 'beat').spec).toMatchObject({ containers: [{ args: ['celery', '-A', 'app', 'beat'], env: { ...env, ROLE: 'beat' } }] });
    expect(r.warnings).toEqual([]);
    expect(
      convert('anchors', {}, { TAG: '2.0' })
        .specs.map((s) => s.spec.containers[0].image)
        .slice(0, 3),
    ).toEqual(['registry.example.com/app:2.0', 'registry.example.com/app:2.0', 'registry.example.com/app:2.0']);
  });

  it('the busybox pair the end-to-end test deploys: two services of one namespace, web exposing 8080', () => {
    const r = convert('busybox-pair');
    expect(r.namespace).toBe('pair');
    expect(doc(r, 'web').spec).toMatchObject({ containers: [{ image: 'skiff/busybox:latest', ports: [{ containerPort: 8080, protocol: 'tcp' }] }] });
    expect(doc(r, 'client').spec).toMatchObject({ containers: [{ env: { WEB_URL: 'http://web:8080/' } }] });
  });
  it('the busybox stack the end-to-end test deploys: replicas, a shell healthcheck, the ingress host from .env, a named volume', () => {
    const r = convert('busybox-stack');
    expect(r.namespace).toBe('stack');
    const web = stored(r, 'web');
    expect(web.spec.replicas).toBe(2);
    expect(web.spec.ingress).toMatchObject({ host: 'stack.compose.test', port: 8080 });
    expect(web.spec.containers[0].env).toEqual({ GREETING: 'hello' });
    expect(web.spec.containers[0].resources).toEqual({ cpu: 200, memory: 16 * 2 ** 20 });
    expect(web.spec.containers[0].health).toMatchObject({
      exec: { command: ['sh', '-c', 'wget -qO- http://127.0.0.1:8080/ || exit 1'] },
      intervalSeconds: 1,
      timeoutSeconds: 1,
      failureThreshold: 3,
    });
    // $$ is a literal $, for the container's shell.
    expect(web.spec.containers[0].args?.[2]).toContain('echo "$GREETING from $(hostname)"');
    const store = stored(r, 'store');
    expect(store.spec.volumes).toEqual([{ name: 'store-data', persistent: {} }]);
    expect(store.spec.containers[0].volumeMounts).toEqual([{ name: 'store-data', mountPath: '/data' }]);
    expect(convert('busybox-stack', {}, { GREETING: 'hi' }).specs.find((x) => x.metadata.name === 'web')?.spec.containers[0].env).toEqual({ GREETING: 'hi' });
  });
});

describe('bad Compose files', () => {
  it('bind mounts are refused with the reason, the Docker socket too', () => {
    expect(failure('bad/bind-mount.yaml')).toEqual([
      expect.stringMatching(/^services\.web\.volumes\[0\]: binds the host path "\.\/html": refused, .*COPY in a Dockerfile/),
      expect.stringMatching(/^services\.web\.volumes\[1\]: mounts the Docker socket/),
    ]);
  });

  it('a service without an image, with or without build', () => {
    expect(failure('bad/no-image.yaml')).toEqual([
      expect.stringMatching(/^services\.app\.build: Skiff does not build images: build and push the image/),
      'services.other.image: is required: the image each replica runs, such as nginx:1.27',
    ]);
  });

  it('an undeclared volume, with a suggestion', () => {
    expect(failure('bad/undefined-volume.yaml')).toEqual([
      'services.db.volumes[0]: names the volume "dbdata", which the top-level volumes map does not declare (did you mean "db-data"?): add volumes: { dbdata: {} }',
    ]);
  });

  it('a required variable not set, and a lone $', () => {
    expect(failure('bad/required-variable.yaml')).toEqual([
      'services.api.image: required variable TAG is not set: set TAG to the release',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the message shows Compose's ${NAME} syntax
      'services.api.environment.COST: invalid interpolation format in "5$": "$" must start a variable ($NAME or ${NAME}); write "$$" for a literal "$"',
    ]);
    expect(failure('bad/required-variable.yaml', {}, { TAG: '1' })).toEqual([
      expect.stringMatching(/^services\.api\.environment\.COST: invalid interpolation/),
    ]);
  });

  it('unknown attributes, with suggestions', () => {
    expect(failure('bad/unknown-attribute.yaml')).toEqual([
      'services.web.enviroment: unknown service attribute "enviroment" (did you mean "environment"?)',
      'services.web.deploy.replica: unknown deploy attribute "replica" (did you mean "replicas"?)',
    ]);
  });

  it('depends_on naming a service the file lacks', () => {
    expect(failure('bad/depends-on-missing.yaml')).toEqual(['services.web.depends_on.database: names the service "database", which the file does not define']);
  });

  it('a service name that cannot be a DNS name', () => {
    expect(failure('bad/bad-names.yaml')[0]).toMatch(/^services\.Web_Frontend: service name "Web_Frontend" cannot be a Skiff service name.*"web-frontend"/);
  });

  it('bad values, each with its path', () => {
    expect(failure('bad/bad-values.yaml').map((l) => l.split(':')[0])).toEqual([
      'services.web.ports[0]',
      'services.web.ports[1]',
      'services.web.healthcheck.test',
      'services.web.deploy.mode',
      'services.web.restart',
      'services.web.stop_grace_period',
    ]);
  });

  it("valid Compose that Skiff's own rules refuse: named by the Compose attribute, with the Skiff field", () => {
    expect(failure('bad/too-small.yaml')).toEqual([
      "services.tiny.deploy.resources.limits.memory: memory must be at least 6Mi (6291456 bytes), the smallest limit Docker accepts; got 4Mi (Skiff's spec.containers[0].resources.memory)",
      expect.stringMatching(/^services\.tiny\.stop_signal: must be one of SIGTERM.*\(Skiff's spec\.containers\[0\]\.stopSignal\)$/),
    ]);
  });

  it('a Skiff document is not taken for a Compose file', () => {
    expect(composeDocument(readFileSync(join(ROOT, 'bad', 'not-compose.yaml'), 'utf8'))).toBeUndefined();
  });
});
