/**
 * The API core: a plain function from request to response over the `Store` port. The Lambda
 * handler (API Gateway) and the local HTTP server are two thin shells over it, and tests call it
 * directly.
 */
import type { Store } from '../ports/index.ts';
import type { Service, ServiceSpec, Task, TaskView } from '../core/types.ts';
import { parseServiceSpec, parseServiceYaml } from '../core/spec.ts';
import { ConflictError, NotFoundError, SkiffError, ValidationError } from '../core/errors.ts';
import { jsonEqual } from '../core/json.ts';
import { hostView, taskViews } from '../core/views.ts';
import { podOf } from '../core/reconciler.ts';
import { desiredReplicas } from '../core/replicas.ts';
import { volumeView } from '../core/volumes.ts';

export interface ApiRequest {
  readonly method: string;
  /** The path without query string, e.g. `/v1/services`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
  /** Extra response headers: `x-next-cursor` on a list page with more after it. */
  readonly headers?: Record<string, string>;
}

export interface ApiDeps {
  readonly store: Store;
  readonly now: () => Date;
  /** Asks for a scheduler pass soon (after a write). Best effort: the periodic pass catches up anyway. */
  readonly kickScheduler: () => Promise<void>;
  /** The cluster's DNS zone, for the service names shown. @default 'skiff.internal' */
  readonly zone?: string;
}

/** Largest request body accepted; a service spec is a few KB. */
const MAX_BODY = 256 * 1024;

type Handler = (req: ApiRequest, params: Record<string, string>) => Promise<ApiResponse>;

export function createApi(deps: ApiDeps): (req: ApiRequest) => Promise<ApiResponse> {
  const { store } = deps;

  const applyService: Handler = async (req) => {
    const spec = parseBody(req);
    const existing = await store.getService(spec.metadata.namespace, spec.metadata.name);
    if (existing?.deleting) {
      throw new ConflictError(`service ${spec.metadata.namespace}/${spec.metadata.name} is being deleted; retry when the deletion has finished`);
    }
    await checkIngressHost(spec);
    if (existing && jsonEqual(existing.spec, spec)) return { status: 200, body: { result: 'unchanged', service: existing } };
    const service = await store.putService(spec, deps.now().toISOString(), existing?.specVersion ?? 0);
    await kick();
    return { status: existing ? 200 : 201, body: { result: existing ? 'updated' : 'created', service } };
  };

  /**
   * One service per ingress host: a second would make routing ambiguous. Checked against every
   * namespace, and against services being deleted too (they keep their host until they are gone).
   * Two applies racing can both pass; core/ingress.ts then gives the host to the older service.
   */
  async function checkIngressHost(spec: ServiceSpec): Promise<void> {
    const host = spec.spec.ingress?.host;
    if (host === undefined) return;
    const { namespace, name } = spec.metadata;
    const owner = (await store.listServices()).find((s) => s.spec.spec.ingress?.host === host && !(s.namespace === namespace && s.name === name));
    if (owner === undefined) return;
    const other = `${owner.namespace}/${owner.name}`;
    const advice = owner.deleting
      ? `it is being deleted; apply ${namespace}/${name} again when the deletion has finished`
      : `choose another host for ${namespace}/${name}, or remove the ingress of ${other} first`;
    throw new ValidationError([{ path: 'spec.ingress.host', message: `ingress host ${host} is already used by service ${other}; ${advice}` }]);
  }

  const listServices: Handler = async (req) => {
    const [services, tasks, statuses, hosts] = await Promise.all([
      store.listServices(req.query.namespace),
      store.listAllTasks(),
      store.listHostStatuses(),
      store.listHosts(),
    ]);
    const views = taskViews(tasks, statuses, hosts);
    return paged(
      req,
      services,
      (s) => [s.namespace, s.name],
      (list) =>
        list.map((s) =>
          serviceSummary(
            s,
            tasks.filter((t) => t.namespace === s.namespace && t.service === s.name),
            views,
            deps.zone,
          ),
        ),
    );
  };

  const getService: Handler = async (_req, p) => {
    const service = await store.getService(p.namespace, p.name);
    if (!service) throw new NotFoundError(`service ${p.namespace}/${p.name}`);
    const [tasks, statuses, hosts] = await Promise.all([store.listTasks(p.namespace, p.name), store.listHostStatuses(), store.listHosts()]);
    const views = taskViews(tasks, statuses, hosts);
    return { status: 200, body: { ...serviceSummary(service, tasks, views, deps.zone), service, tasks: views } };
  };

  const deleteService: Handler = async (_req, p) => {
    const service = await store.markServiceDeleting(p.namespace, p.name, deps.now().toISOString());
    if (!service) throw new NotFoundError(`service ${p.namespace}/${p.name}`);
    await kick();
    return { status: 202, body: { result: 'deleting', service } };
  };

  const listTasks: Handler = async (req) => {
    const { namespace, service, host } = req.query;
    const tasks = namespace && service ? await store.listTasks(namespace, service) : await store.listAllTasks();
    const [statuses, hosts] = await Promise.all([store.listHostStatuses(), store.listHosts()]);
    const views = taskViews(tasks, statuses, hosts).filter(
      (t) => (!namespace || t.namespace === namespace) && (!service || t.service === service) && (!host || t.host === host),
    );
    return paged(
      req,
      views,
      (t) => [t.namespace, t.service, t.slot],
      (list) => list,
    );
  };

  /**
   * A task id names its service and slot (`<service>-<slot>-<5 chars>`, core/reconciler.ts): the
   * slot is the last run of digits before the suffix, so a service name with dashes parses too.
   * Only the namespace is missing: `?namespace=` makes it one query of the service's partition;
   * without it, the services index (services, never tasks) names the namespaces holding a service
   * of that name, one query each (one, nearly always). Then only the task's own host is read.
   */
  const getTask: Handler = async (req, p) => {
    const parsed = /^(.+)-(\d{1,6})-[a-z0-9]{5}$/.exec(p.id);
    if (!parsed) throw new NotFoundError(`task ${p.id}`);
    const [, service, slotText] = parsed;
    const slot = Number(slotText);
    const namespaces = req.query.namespace ? [req.query.namespace] : (await store.listServices()).filter((s) => s.name === service).map((s) => s.namespace);
    const found = (await Promise.all(namespaces.map((ns) => store.listTasks(ns, service)))).flat().find((t) => t.id === p.id && t.slot === slot);
    if (!found) throw new NotFoundError(`task ${p.id}`);
    const [host, status] = found.host ? await Promise.all([store.getHost(found.host), store.getHostStatus(found.host)]) : [undefined, undefined];
    const view = taskViews([found], status ? [status] : [], host ? [host] : [])[0];
    return { status: 200, body: view };
  };

  const listHosts: Handler = async (req) => {
    const [hosts, statuses] = await Promise.all([store.listHosts(), store.listHostStatuses()]);
    const byId = new Map(statuses.map((s) => [s.hostId, s]));
    return paged(
      req,
      hosts,
      (h) => [h.id],
      (list) => list.map((h) => hostView(h, byId.get(h.id))),
    );
  };

  const getHost: Handler = async (_req, p) => {
    const [host, status] = await Promise.all([store.getHost(p.id), store.getHostStatus(p.id)]);
    if (!host) throw new NotFoundError(`host ${p.id}`);
    return { status: 200, body: hostView(host, status) };
  };

  const drainHost: Handler = async (_req, p) => {
    const host = await store.getHost(p.id);
    if (!host) throw new NotFoundError(`host ${p.id}`);
    if (host.state === 'down') throw new ConflictError(`host ${p.id} is down; its tasks are already being replaced`);
    const nowIso = deps.now().toISOString();
    if (host.state !== 'draining') {
      await store.setHostState(p.id, 'draining', nowIso);
      await store.putEvents([
        {
          id: `${nowIso}-host.draining-${p.id}`,
          at: nowIso,
          type: 'host.draining',
          host: p.id,
          message: `host ${p.id} is draining: its ${Object.keys(host.allocations).length} task(s) move elsewhere, new ones first`,
        },
      ]);
      await kick();
    }
    return { status: 202, body: { result: 'draining', host: p.id } };
  };

  const uncordonHost: Handler = async (_req, p) => {
    const host = await store.getHost(p.id);
    if (!host) throw new NotFoundError(`host ${p.id}`);
    if (host.state === 'down') throw new ConflictError(`host ${p.id} is down; it becomes ready by itself when its agent reports again`);
    const nowIso = deps.now().toISOString();
    if (host.state === 'draining') {
      await store.setHostState(p.id, 'ready', nowIso);
      await store.putEvents([
        { id: `${nowIso}-host.uncordoned-${p.id}`, at: nowIso, type: 'host.uncordoned', host: p.id, message: `host ${p.id} takes new tasks again` },
      ]);
      await kick();
    }
    return { status: 200, body: { result: 'ready', host: p.id } };
  };

  const listEvents: Handler = async (req) => {
    const limitText = req.query.limit;
    const limit = limitText === undefined ? 200 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new ValidationError([{ path: 'limit', message: `must be an integer from 1 to 1000, got "${limitText}"` }]);
    const { namespace, service, host } = req.query;
    // Newest first, page by page back in time: the cursor is the oldest event key of the page.
    const before = req.query.cursor === undefined ? undefined : decodeCursor(req.query.cursor);
    if (before && (before.length !== 1 || typeof before[0] !== 'string'))
      throw new ValidationError([{ path: 'cursor', message: 'is not a cursor of /v1/events' }]);
    const found = await store.listEvents({ namespace, service, host, limit: limit + 1, ...(before ? { before: before[0] as string } : {}) });
    const page = found.slice(-limit);
    const more = found.length > limit;
    return { status: 200, body: page, ...(more ? { headers: { 'x-next-cursor': encodeCursor([`${page[0].at}#${page[0].id}`]) } } : {}) };
  };

  /** Persistent volumes: `name` (the volume id), `namespace`, `service`, `host` (where it lives locally), as scripts read them. */
  const listVolumes: Handler = async (req) => {
    const { namespace, service } = req.query;
    const volumes = (await store.listVolumes(namespace)).filter((v) => !service || v.service === service);
    return paged(
      req,
      volumes,
      (v) => [v.namespace, v.service, v.volume, v.slot],
      (list) => list.map(volumeView),
    );
  };

  const routes: [string, RegExp, Handler][] = [
    ['GET', /^\/v1\/healthz$/, async () => ({ status: 200, body: { ok: true } })],
    ['POST', /^\/v1\/services$/, applyService],
    ['GET', /^\/v1\/services$/, listServices],
    ['GET', /^\/v1\/namespaces\/(?<namespace>[^/]+)\/services\/(?<name>[^/]+)$/, getService],
    ['DELETE', /^\/v1\/namespaces\/(?<namespace>[^/]+)\/services\/(?<name>[^/]+)$/, deleteService],
    ['GET', /^\/v1\/tasks$/, listTasks],
    ['GET', /^\/v1\/tasks\/(?<id>[^/]+)$/, getTask],
    ['GET', /^\/v1\/hosts$/, listHosts],
    ['GET', /^\/v1\/hosts\/(?<id>[^/]+)$/, getHost],
    ['POST', /^\/v1\/hosts\/(?<id>[^/]+)\/drain$/, drainHost],
    ['POST', /^\/v1\/hosts\/(?<id>[^/]+)\/uncordon$/, uncordonHost],
    ['GET', /^\/v1\/events$/, listEvents],
    ['GET', /^\/v1\/volumes$/, listVolumes],
  ];

  async function kick(): Promise<void> {
    try {
      await deps.kickScheduler();
    } catch {
      // The periodic pass will pick the change up; the write itself succeeded.
    }
  }

  return async (req) => {
    try {
      const path = req.path.replace(/\/+$/, '') || '/';
      let pathMatched = false;
      for (const [method, pattern, handler] of routes) {
        const m = pattern.exec(path);
        if (!m) continue;
        pathMatched = true;
        if (method !== req.method.toUpperCase()) continue;
        const params = Object.fromEntries(Object.entries(m.groups ?? {}).map(([k, v]) => [k, pathParam(k, v)]));
        checkQuery(req.query);
        return await handler(req, params);
      }
      if (pathMatched) return error(405, 'MethodNotAllowed', `${req.method} is not allowed on ${path}`);
      return error(404, 'NotFound', `no route for ${req.method} ${path}`);
    } catch (err) {
      if (err instanceof SkiffError) return { status: err.status, body: err.toJSON() };
      throw err;
    }
  };
}

/** A list page's size when `limit` is not given, and the largest one may ask for (docs/api.md). */
export const DEFAULT_PAGE_LIMIT = 1000;
export const MAX_PAGE_LIMIT = 1000;

type PageKey = readonly (string | number)[];

/**
 * One page of a list, in key order: `?limit=N` items after `?cursor=`, the body still the plain
 * array the CLI reads, and the cursor of the next page (when there is more) in the `x-next-cursor`
 * header. A cursor is the last item's key, base64url JSON: opaque to clients, checked here (a bad
 * one is a 400 naming it). Keys, not offsets: an item added or removed between pages shifts nothing.
 */
function paged<T>(req: ApiRequest, items: readonly T[], keyOf: (item: T) => PageKey, render: (page: T[]) => unknown[]): ApiResponse {
  const limit = pageLimit(req.query.limit);
  const after = req.query.cursor === undefined ? undefined : decodeCursor(req.query.cursor);
  const sorted = [...items].sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  const rest = after ? sorted.filter((i) => compareKeys(keyOf(i), after) > 0) : sorted;
  const page = rest.slice(0, limit);
  const more = rest.length > limit;
  return { status: 200, body: render(page), ...(more ? { headers: { 'x-next-cursor': encodeCursor(keyOf(page[page.length - 1])) } } : {}) };
}

function pageLimit(text: string | undefined): number {
  const limit = text === undefined ? DEFAULT_PAGE_LIMIT : Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT)
    throw new ValidationError([{ path: 'limit', message: `must be an integer from 1 to ${MAX_PAGE_LIMIT}, got "${text}"` }]);
  return limit;
}

function encodeCursor(key: PageKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(text: string): PageKey {
  let key: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new Error('not base64url');
    key = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch (err) {
    throw new ValidationError([{ path: 'cursor', message: 'is not a cursor this API gave (x-next-cursor of the previous page)' }], { cause: err });
  }
  if (!Array.isArray(key) || key.length === 0 || !key.every((k) => typeof k === 'string' || typeof k === 'number')) {
    throw new ValidationError([{ path: 'cursor', message: 'is not a cursor this API gave (x-next-cursor of the previous page)' }]);
  }
  return key as PageKey;
}

function compareKeys(a: PageKey, b: PageKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}

function error(status: number, name: string, message: string): ApiResponse {
  return { status, body: { error: name, message } };
}

/**
 * The longest path parameter or query value: the longest DNS name. Every name Skiff gives is
 * shorter, and two such values stay well within DynamoDB's 2048-byte partition key.
 */
const MAX_PARAM_LENGTH = 253;

/** A decoded path parameter; bad percent-encoding or a value over the limit is the client's error (400). */
function pathParam(name: string, raw: string): string {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch (err) {
    throw new ValidationError([{ path: name, message: `is not valid percent-encoding: ${JSON.stringify(raw.length > 60 ? `${raw.slice(0, 57)}...` : raw)}` }], {
      cause: err,
    });
  }
  if (value.length > MAX_PARAM_LENGTH)
    throw new ValidationError([{ path: name, message: `must be at most ${MAX_PARAM_LENGTH} characters; got ${value.length}` }]);
  return value;
}

function checkQuery(query: ApiRequest['query']): void {
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value.length > MAX_PARAM_LENGTH) {
      throw new ValidationError([{ path: name, message: `query parameter ${name} must be at most ${MAX_PARAM_LENGTH} characters; got ${value.length}` }]);
    }
  }
}

function parseBody(req: ApiRequest) {
  const body = req.body ?? '';
  if (body.trim() === '') throw new ValidationError([{ path: '', message: 'request body is empty: send a service spec as JSON or YAML' }]);
  if (body.length > MAX_BODY) throw new ValidationError([{ path: '', message: `request body is ${body.length} bytes; the limit is ${MAX_BODY}` }]);
  const type = (req.headers['content-type'] ?? 'application/json').toLowerCase();
  if (type.includes('yaml')) return parseServiceYaml(body);
  let input: unknown;
  try {
    input = JSON.parse(body);
  } catch (err) {
    throw new ValidationError([{ path: '', message: `request body is not valid JSON: ${(err as Error).message}` }], { cause: err });
  }
  return parseServiceSpec(input);
}

/**
 * A service with its progress. `running` counts only tasks that run the current pod spec, so a
 * client waiting for an apply is not fooled by old replicas that have not been replaced yet.
 */
function serviceSummary(s: Service, tasks: readonly Task[], views: readonly TaskView[], zone = 'skiff.internal') {
  const pod = podOf(s);
  const current = new Set(tasks.filter((t) => t.desired === 'running' && jsonEqual(t.pod, pod)).map((t) => t.id));
  const mine = views.filter((v) => v.namespace === s.namespace && v.service === s.name);
  // A probed replica counts once it is healthy: that is when it can take traffic.
  const running = mine.filter((v) => v.state === 'running' && (v.health === undefined || v.health === 'healthy') && current.has(v.id)).length;
  const replicas = desiredReplicas(s);
  return {
    namespace: s.namespace,
    name: s.name,
    /** The name that resolves to the healthy replicas. */
    dns: `${s.name}.${s.namespace}.${zone}`,
    ingress: s.spec.spec.ingress ?? null,
    /** What the reconciler converges to: the spec's count, or the one chosen since (`scale`). */
    replicas,
    /** Who chose `replicas` after the apply, when someone did: `skiff scale` or the autoscaler. */
    scale: s.scale ?? null,
    running,
    tasks: mine.length,
    /** Every replica runs the current spec and no surplus task is left. */
    ready: !s.deleting && running === replicas && mine.length === replicas,
    specVersion: s.specVersion,
    deleting: s.deleting,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}
