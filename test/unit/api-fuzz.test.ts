/**
 * Property-based fuzzing of the API core (issue 10, "no single request can stall the control
 * plane", the input side): generated and mutated spec bodies, paths and query strings, through the
 * core over the in-memory store, as test/integration/api.test.ts calls it over dynalite. Asserted for every
 * request: never a 5xx (a thrown error counts as one: the Lambda shell answers it with a 500), and a
 * refused request (4xx) leaves the stored services, tasks and hosts as they were. Time per request
 * is measured and printed; the only time bound asserted is the test's own timeout, far above the
 * normal total, so it cannot flake (before the limits, one request took minutes).
 *
 * SKIFF_FUZZ_RUNS scales the number of cases (1 = 1,805 requests through the core, 600 of them from tenants of every role, and 2,000
 * documents through the validator alone; the default 0.5 keeps CI's run short, 10 for a long one).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import YAML from 'yaml';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { createApi, type ApiRequest, type ApiResponse } from '../../app/api.ts';
import { parseServiceSpec, parseServiceYaml } from '../../core/spec.ts';
import { ValidationError } from '../../core/errors.ts';
import { MemoryTenancyStore } from '../../adapters/memory/tenancy-store.ts';
import { TokenSigner } from '../../app/tokens.ts';
import { identityFromAws, type Identity } from '../../core/authz.ts';

const RUNS = Number(process.env.SKIFF_FUZZ_RUNS ?? 0.5) || 0.5;

// The in-memory store: the same validation and conditions as the DynamoDB one (one contract suite,
// test/contract/), so the API core meets the same answers, at a small fraction of the time per case.
let store: MemoryStore;
let tenancy: MemoryTenancyStore;
let handle: (req: ApiRequest) => Promise<ApiResponse>;

/** Specs to mutate: the example, and one with every part (probes, ingress, env, labels, placement). */
const hello = {
  kind: 'Service',
  metadata: { name: 'hello' },
  spec: {
    replicas: 3,
    containers: [{ name: 'web', image: 'skiff/busybox:latest', ports: [{ containerPort: 8080 }], resources: { cpu: '100m', memory: '32Mi' } }],
  },
};
const full = {
  kind: 'Service',
  metadata: { name: 'shop', namespace: 'prod', labels: { team: 'a', 'example.com/tier': 'web' } },
  spec: {
    replicas: 2,
    restartPolicy: 'on-failure',
    placement: { strategy: 'binpack', constraints: ['zone == a', 'disk != hdd'] },
    ingress: { host: 'shop.example.com', port: 'http', sessionAffinity: true },
    containers: [
      {
        name: 'app',
        image: 'registry.local:5000/team/app:1.4',
        command: ['sh', '-c', 'exec httpd -f -p 8080'],
        args: ['--verbose'],
        env: { PORT: '8080', MODE: 'prod' },
        ports: [
          { containerPort: 8080, name: 'http' },
          { containerPort: 9090, name: 'metrics', protocol: 'tcp', hostPort: 19090 },
        ],
        resources: { cpu: 0.5, memory: '128Mi' },
        health: { http: { path: '/healthz', port: 'http', status: [200, 299] }, intervalSeconds: 2, timeoutSeconds: 1, failureThreshold: 3 },
      },
      { name: 'side', image: 'skiff/busybox', health: { exec: { command: ['true'] } } },
    ],
  },
};

async function snapshot(): Promise<string> {
  const [services, tasks, hosts, namespaces] = await Promise.all([store.listServices(), store.listAllTasks(), store.listHosts(), tenancy.listNamespaces()]);
  return JSON.stringify({ services, tasks, hosts, namespaces });
}

beforeAll(async () => {
  store = new MemoryStore();
  tenancy = new MemoryTenancyStore();
  handle = createApi({
    store,
    tenancy,
    tokens: new TokenSigner(new Uint8Array(32).fill(7)),
    now: () => new Date('2026-01-01T00:00:00Z'),
    kickScheduler: async () => {},
  });
  // Something to lose: two services, a task and a host.
  for (const spec of [hello, full]) expect((await call({ method: 'POST', path: '/v1/services', body: JSON.stringify(spec) })).status).toBe(201);
  await store.putTask(
    {
      id: 'hello-1-aaaaa',
      namespace: 'default',
      service: 'hello',
      slot: 1,
      incarnation: 1,
      specVersion: 1,
      pod: { containers: [], restartPolicy: 'always' },
      desired: 'running',
      createdAt: '2026-01-01T00:00:00Z',
    },
    undefined,
  );
  await store.registerHost({ id: 'host-1', address: '127.0.1.1', capacity: { cpu: 2000, memory: 2 ** 31 }, labels: { zone: 'a' } }, '2026-01-01T00:00:00Z');
}, 60_000);

interface Call {
  readonly method: string;
  readonly path: string;
  readonly query?: Record<string, string>;
  readonly contentType?: string;
  readonly body?: string;
  /** Who calls; absent: the in-process caller (the cluster admin). */
  readonly identity?: Identity;
}

/** The core's answer, or a 500 when it throws (what the Lambda shell answers then). */
async function call(c: Call): Promise<ApiResponse> {
  try {
    return await handle({
      method: c.method,
      path: c.path,
      query: c.query ?? {},
      headers: { 'content-type': c.contentType ?? 'application/json' },
      body: c.body,
      ...(c.identity ? { identity: c.identity } : {}),
    });
  } catch (error) {
    return { status: 500, body: { thrown: String(error).slice(0, 300) } };
  }
}

/** What each property records, printed at the end. */
const stats = { cases: 0, fiveHundreds: [] as string[], changedOnRefusal: [] as string[], maxMs: 0, worst: '', totalMs: 0 };

function describeCall(c: Call): string {
  const body = c.body === undefined ? '' : ` body(${c.contentType}, ${c.body.length} chars)=${JSON.stringify(c.body.slice(0, 120))}`;
  return `${c.identity ? `[${c.identity.subject}] ` : ''}${c.method} ${c.path.slice(0, 120)}${c.path.length > 120 ? `...(${c.path.length})` : ''} query=${JSON.stringify(c.query ?? {}).slice(0, 120)}${body}`;
}

/** Runs one call, checking the invariants; a refused call is bracketed by snapshots of the store. */
let known: string | undefined;
async function check(c: Call): Promise<void> {
  known ??= await snapshot();
  const started = performance.now();
  const res = await call(c);
  const ms = performance.now() - started;
  stats.cases++;
  stats.totalMs += ms;
  if (ms > stats.maxMs) [stats.maxMs, stats.worst] = [ms, describeCall(c)];
  if (res.status >= 500) stats.fiveHundreds.push(`${res.status} ${JSON.stringify(res.body).slice(0, 200)} for ${describeCall(c)}`);
  const after = await snapshot();
  if (res.status >= 400 && after !== known) stats.changedOnRefusal.push(`${res.status} changed the store: ${describeCall(c)}`);
  known = after;
}

// ---- arbitraries ----

const long = (unit: string) => fc.integer({ min: 0, max: 70_000 }).map((n) => unit.repeat(n));
const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('', 'web', 'default', 'http', '__proto__', 'constructor', 'toString', '8080', 'tcp', 'Service', '100m', '1e308Mi', '-1', ' ', '\0', '\uD800'),
  long('a'),
  long('9'),
);
const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: text },
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: 0, max: 10_000 }).map((n) => Array.from({ length: n }, (_, i) => ({ containerPort: (i % 65535) + 1, name: `p${i}` }))),
  fc.integer({ min: 0, max: 5_000 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`K${i}`, 'v']))),
  // Deeper nesting is made in the text (damage below): serializers recurse too.
  fc.integer({ min: 0, max: 300 }).map((n) => {
    let v: unknown = 'x';
    for (let i = 0; i < n; i++) v = [v];
    return v;
  }),
);

interface Mutation {
  readonly at: readonly number[];
  readonly op: 'set' | 'delete' | 'add';
  readonly key: string;
  readonly value: unknown;
}
const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.array(fc.nat(), { maxLength: 6 }),
  op: fc.constantFrom('set', 'delete', 'add'),
  key: fc.oneof(text, fc.constantFrom('imgae', 'helth', 'protocl', 'interval', 'volumes', 'env', 'ports', 'health', 'ingress', 'labels')),
  value,
});

/** Applies a mutation, in place, at the node reached by following `at` (each a child index, modulo). */
function mutate(doc: unknown, m: Mutation): unknown {
  const holder: Record<string | number, unknown> = { root: doc };
  let parent = holder;
  let key: string | number = 'root';
  for (const step of m.at) {
    const node: unknown = parent[key];
    if (typeof node !== 'object' || node === null) break;
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    parent = node as Record<string | number, unknown>;
    key = Array.isArray(node) ? step % node.length : keys[step % keys.length];
  }
  if (m.op === 'set') parent[key] = m.value;
  else if (m.op === 'delete') delete parent[key];
  else {
    const node = parent[key];
    if (typeof node === 'object' && node !== null && !Array.isArray(node)) (node as Record<string, unknown>)[m.key] = m.value;
    else if (Array.isArray(node)) node.push(m.value);
  }
  return holder.root;
}

/** Text-level damage: a cut, an insertion, a slice repeated (deep nesting from "[" or "- "). */
const damage = fc.record({
  at: fc.nat(),
  cut: fc.nat({ max: 40 }),
  insert: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('[', '{', '- ', '? ', '"', "'", '&a ', '*a', '!!binary ', '%', '\t', '\n  ', ': ', '#')),
  repeat: fc.integer({ min: 1, max: 60_000 }),
});
function damaged(source: string, d: { at: number; cut: number; insert: string; repeat: number }): string {
  const at = source.length === 0 ? 0 : d.at % source.length;
  return source.slice(0, at) + d.insert.repeat(d.repeat) + source.slice(at + d.cut);
}

const specBody: fc.Arbitrary<Call> = fc
  .record({
    base: fc.constantFrom<unknown>(hello, full),
    mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
    form: fc.constantFrom('json', 'yaml', 'yaml-flow', 'json-as-yaml'),
    damage: fc.option(damage, { freq: 3 }),
  })
  .map(({ base, mutations, form, damage: d }) => {
    const doc = mutations.reduce(mutate, structuredClone(base));
    let body: string;
    try {
      body =
        (form === 'json' || form === 'json-as-yaml'
          ? JSON.stringify(doc)
          : YAML.stringify(doc, { collectionStyle: form === 'yaml-flow' ? 'flow' : 'any', aliasDuplicateObjects: false })) ?? '';
    } catch {
      body = String(doc);
    }
    if (d) body = damaged(body, d);
    return { method: 'POST', path: '/v1/services', contentType: form === 'json' ? 'application/json' : 'application/yaml', body };
  });

const segment = fc.oneof(
  fc.constantFrom('default', 'web', 'hello', 'prod', 'shop', 'host-1', 'hello-1-aaaaa'),
  fc.string({ maxLength: 20 }),
  fc
    .array(fc.constantFrom('%', '%2', '%E0', '%ZZ', '%2F', '%00', '%C0%AF', '%ED%A0%80', '%F0%9F%98%80', 'a', '#', '?', '..', '%25'), { maxLength: 8 })
    .map((p) => p.join('')),
  fc.integer({ min: 0, max: 5000 }).map((n) => 'a'.repeat(n)),
  fc.integer({ min: 0, max: 1500 }).map((n) => '%E2%82%AC'.repeat(n)),
);
const routes = [
  (a: string, b: string) => `/v1/namespaces/${a}/services/${b}`,
  (a: string) => `/v1/tasks/${a}`,
  (a: string) => `/v1/hosts/${a}`,
  (a: string) => `/v1/hosts/${a}/drain`,
  (a: string) => `/v1/hosts/${a}/uncordon`,
  () => '/v1/services',
  () => '/v1/tasks',
  () => '/v1/events',
  () => '/v1/hosts',
  (a: string) => `/${a}`,
  (a: string, b: string) => `/v1/${a}/${b}//`,
  () => '/v1/namespaces',
  (a: string) => `/v1/namespaces/${a}`,
  (a: string) => `/v1/namespaces/${a}/tokens`,
  () => '/v1/tokens/revoke',
];
const request: fc.Arbitrary<Call> = fc
  .record({
    method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'DELETE', 'PUT', 'get', ''),
    route: fc.nat({ max: routes.length - 1 }),
    a: segment,
    b: segment,
    query: fc.dictionary(
      fc.constantFrom('namespace', 'service', 'host', 'limit', 'x', '__proto__'),
      fc.oneof(text, fc.constantFrom('0', '1000', '1001', '1e3', '-1', 'NaN')),
    ),
    body: fc.option(fc.string({ maxLength: 50 }), { freq: 4 }),
  })
  .map(({ method, route, a, b, query, body }) => ({ method, path: routes[route](a, b), query, body: body ?? undefined }));

const rawBody: fc.Arbitrary<Call> = fc
  .record({
    contentType: fc.constantFrom('application/json', 'application/yaml', 'text/plain', 'APPLICATION/X-YAML'),
    body: fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 }), fc.json({ maxDepth: 4 })),
  })
  .map((c) => ({ method: 'POST', path: '/v1/services', ...c }));

/** Callers of every kind, as the shells establish them: tenants of each role, a principal with no role, the cluster admin. */
const identities: Identity[] = [
  ...(['view', 'edit', 'admin'] as const).flatMap((role) =>
    ['default', 'prod'].map((ns) => identityFromAws({ jwt: { claims: { 'cognito:username': `${role}-${ns}`, 'cognito:groups': `[skiff:${ns}:${role}]` } } })),
  ),
  identityFromAws({ iam: { userArn: 'arn:aws:sts::1:assumed-role/Nobody/s' } }, { bindings: {} }),
  identityFromAws({ iam: { userArn: 'arn:aws:iam::1:user/root' } }),
];
const namespaceDoc = {
  kind: 'Namespace',
  metadata: { name: 'prod' },
  spec: { quota: { cpu: '4', memory: '8Gi', tasks: 5 }, ingressHosts: ['*.prod.example.com'] },
};
const namespaceBody: fc.Arbitrary<Call> = fc
  .record({ mutations: fc.array(mutation, { maxLength: 3 }), method: fc.constantFrom('POST', 'PUT'), yaml: fc.boolean() })
  .map(({ mutations, method, yaml }) => {
    const doc = mutations.reduce(mutate, structuredClone(namespaceDoc));
    let body: string;
    try {
      body = (yaml ? YAML.stringify(doc, { aliasDuplicateObjects: false }) : JSON.stringify(doc)) ?? '';
    } catch {
      body = String(doc);
    }
    return { method, path: method === 'POST' ? '/v1/namespaces' : '/v1/namespaces/prod', contentType: yaml ? 'application/yaml' : 'application/json', body };
  });
const tokenBody: fc.Arbitrary<Call> = fc
  .record({
    role: fc.oneof(value, fc.constantFrom('view', 'edit', 'admin', 'cluster-admin')),
    ttl: fc.oneof(value, fc.constantFrom('24h', '0s', '400d', '1m')),
    ns: segment,
  })
  .map(({ role, ttl, ns }) => ({ method: 'POST', path: `/v1/namespaces/${ns}/tokens`, body: JSON.stringify({ role, ttl }) ?? '' }));
const tenantCall: fc.Arbitrary<Call> = fc
  .record({ who: fc.constantFrom(...identities), call: fc.oneof(request, specBody, namespaceBody, tokenBody, rawBody) })
  .map(({ who, call }) => ({ ...call, identity: who }));

describe('the API core under fuzzing', () => {
  it('never answers a 5xx, never changes the store on a refusal, and answers every request', async () => {
    // Known worst cases first, then generated ones.
    const known: Call[] = [
      { method: 'POST', path: '/v1/services', contentType: 'application/yaml', body: `kind: Service\nspec: ${'['.repeat(5000)}${']'.repeat(5000)}\n` },
      { method: 'POST', path: '/v1/services', contentType: 'application/yaml', body: `${'- '.repeat(100_000)}x` },
      {
        method: 'POST',
        path: '/v1/services',
        body: JSON.stringify({
          ...hello,
          spec: {
            containers: [
              { name: 'a', image: 'skiff/busybox', ports: [{ containerPort: 80, name: 'a'.repeat(120_000) }], health: { tcp: { port: 'b'.repeat(120_000) } } },
            ],
          },
        }),
      },
      { method: 'GET', path: '/v1/namespaces/%E0%A4%A/services/web' },
      { method: 'GET', path: `/v1/namespaces/default/services/${'a'.repeat(2100)}` },
    ];
    for (const c of known) await check(c);
    await fc.assert(
      fc.asyncProperty(specBody, async (c) => void (await check(c))),
      { numRuns: Math.ceil(500 * RUNS), seed: 1 },
    );
    await fc.assert(
      fc.asyncProperty(request, async (c) => void (await check(c))),
      { numRuns: Math.ceil(500 * RUNS), seed: 2 },
    );
    await fc.assert(
      fc.asyncProperty(rawBody, async (c) => void (await check(c))),
      { numRuns: Math.ceil(200 * RUNS), seed: 3 },
    );
    // Tenants (issue 14): every kind of request, from every kind of caller.
    await fc.assert(
      fc.asyncProperty(tenantCall, async (c) => void (await check(c))),
      { numRuns: Math.ceil(600 * RUNS), seed: 4 },
    );
    console.log(
      `api fuzz: ${stats.cases} requests, ${stats.fiveHundreds.length} 5xx, ${stats.changedOnRefusal.length} refusals that changed the store; ` +
        `${(stats.totalMs / 1000).toFixed(1)} s in the core, mean ${(stats.totalMs / stats.cases).toFixed(2)} ms, max ${stats.maxMs.toFixed(0)} ms for ${stats.worst}`,
    );
    expect(stats.fiveHundreds).toEqual([]);
    expect(stats.changedOnRefusal).toEqual([]);
  }, 300_000);
});

describe('the spec validator under fuzzing', () => {
  it('answers every generated document with a spec or a ValidationError, and reports its slowest', () => {
    let cases = 0;
    let worst = { ms: 0, input: '' };
    const validate = (c: Call): void => {
      const started = performance.now();
      try {
        if (c.contentType === 'application/json') parseServiceSpec(JSON.parse(c.body ?? ''));
        else parseServiceYaml(c.body ?? '');
      } catch (error) {
        // JSON.parse's own SyntaxError is the API's 400 before the validator runs.
        if (!(error instanceof ValidationError) && !(error instanceof SyntaxError && c.contentType === 'application/json')) throw error;
      }
      const ms = performance.now() - started;
      cases++;
      if (ms > worst.ms) worst = { ms, input: describeCall(c) };
    };
    fc.assert(fc.property(specBody, validate), { numRuns: Math.ceil(2000 * RUNS), seed: 4 });
    console.log(`spec validator fuzz: ${cases} documents, slowest ${worst.ms.toFixed(1)} ms: ${worst.input}`);
  }, 300_000);
});
