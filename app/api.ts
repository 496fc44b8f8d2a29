/**
 * The API core: a plain function from request to response over the `Store` port. The Lambda
 * handler (API Gateway) and the local HTTP server are two thin shells over it, and tests call it
 * directly.
 */
import type { Store } from '../ports/index.ts';
import { currentReadings, statusesByTask, type RequestRates } from './autoscaler.ts';
import type { Host, HostStatus, Service, ServiceSpec, Task, TaskView } from '../core/types.ts';
import YAML from 'yaml';
import { parseServiceSpec, parseServiceYaml } from '../core/spec.ts';
import { ConflictError, NotFoundError, SkiffError, ValidationError } from '../core/errors.ts';
import { checkIfMatch, etag } from './conditional.ts';
import { openApiDocument, runtimeOperation } from './openapi.ts';
import { watchedList } from './watch.ts';
import { API_VERSION, SKIFF_VERSION } from '../core/version.ts';
import { jsonEqual } from '../core/json.ts';
import { hostView, taskViews } from '../core/views.ts';
import { forEachLimit } from '../core/async.ts';
import { podOf } from '../core/reconciler.ts';
import { desiredReplicas, scaleAfterApply } from '../core/replicas.ts';
import { authorize, namespacesAllowed, LOCAL_ADMIN, UnauthorizedError, type Action, type Identity, type NamespaceAction } from '../core/authz.ts';
import { checkQuota, ingressHostProblem } from '../core/namespace.ts';
import { claimName, ingressClaimConflict } from '../core/ingress-match.ts';
import type { TenancyStore } from '../ports/tenancy.ts';
import { MemoryTenancyStore } from '../adapters/memory/tenancy-store.ts';
import type { TokenSigner } from './tokens.ts';
import { tenancyRoutes } from './api-tenancy.ts';
import { parseDocumentsText } from '../core/spec/documents.ts';
import { applyDocuments, checkWorkload, storeWorkload, type ApplyDeps, type SecretDeps } from './apply.ts';
import { secretHandlers } from './secret-routes.ts';
import { jobHandlers } from './job-routes.ts';
import { rolloutRoutes } from './rollout-api.ts';
import { volumeView } from '../core/volumes.ts';
import { markServiceVolumesDeleting, parseDeleteVolumes } from './volume-deletion.ts';
import { identityHandlers } from './identity-routes.ts';
import { isPublicRoute } from './public-routes.ts';
import type { WorkloadTokenIssuer } from './workload-tokens.ts';
import type { LogStore } from '../ports/logs.ts';
import { logHandlers } from './log-routes.ts';

export interface ApiRequest {
  readonly method: string;
  /** The path without query string, e.g. `/v1/services`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  /**
   * Who is calling, as the shell established it (app/handlers/api.ts: API Gateway's authorizer, or
   * local mode's bearer token). Every shell sets it; absent only for in-process callers (tests),
   * which act as the cluster admin.
   */
  readonly identity?: Identity;
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
  /**
   * When this control plane started (local mode: `skiff local up`). Hosts' reports written before
   * it, or before the health check last saw the control plane come back (its checkpoint's
   * `resumedAt`), are not shown as tasks' states (core/views.ts `reportsSince`).
   */
  readonly startedAt?: Date;
  /** Where secrets live (metadata in the store, values in the vault); absent: Secrets are refused. */
  readonly secrets?: SecretDeps;
  /** Namespaces and revoked tokens. @default an in-memory store (tests) */
  readonly tenancy?: TenancyStore;
  /** Signs the tokens `skiff token create` asks for; absent where another issuer serves (Cognito on AWS). */
  readonly tokens?: TokenSigner;
  /** How often a watched list is read again while it waits (app/watch.ts). @default 1000 */
  readonly watchIntervalMs?: number;
  /** The load balancer's requests per replica, for `describe` of a service with a request target; absent: shown as not measured. */
  readonly requestRates?: RequestRates;
  /** Workload identity (app/identity-routes.ts): the cluster's name and the token issuer; absent: no workload tokens. */
  readonly workloadIdentity?: { readonly cluster: string; readonly issuer?: WorkloadTokenIssuer };
  /** The cluster's log group (docs/logs.md); absent: the log routes answer 503. */
  readonly logs?: LogStore;
  /** On AWS, each control function's own log group by function name; absent: the cluster group's `control/` streams. */
  readonly controlLogs?: Readonly<Record<string, LogStore>>;
}

/** Largest request body accepted; a service spec is a few KB. */
const MAX_BODY = 256 * 1024;

/** A route's handler; `who` is the caller, already authenticated, and authorized per the route's `Access`. */
export type Handler = (req: ApiRequest, params: Record<string, string>, who: Identity) => Promise<ApiResponse>;

/**
 * What a route needs before its handler runs (core/authz.ts). Every route says it, so that a new
 * route cannot forget: `path` = the action in the namespace of the `{namespace}` path parameter;
 * `cluster` = a cluster action; `handler` = the namespace is known only inside (a body, a list's
 * filter) and the handler authorizes, for the reason given; `any` = any authenticated caller;
 * `public` = anyone, unauthenticated (the route must be in PUBLIC_ROUTES, app/public-routes.ts, which
 * the shells read to skip the caller's proof).
 */
export type Access =
  | { readonly action: Action; readonly namespace: 'path' }
  | { readonly action: Action; readonly namespace: 'cluster' }
  | { readonly handler: string }
  | 'any'
  | 'public';

export type Route = readonly [method: string, pattern: RegExp, handler: Handler, access: Access];

/** The API core: a function from request to response, with the routes it serves (for the OpenAPI document and its tests). */
export type Api = ((req: ApiRequest) => Promise<ApiResponse>) & { readonly routes: readonly Route[] };

export function createApi(deps: ApiDeps): Api {
  const { store } = deps;
  const tenancy = deps.tenancy ?? new MemoryTenancyStore();

  /** Tasks joined with their hosts' reports, discounting reports older than the control plane's (re)start. */
  const viewsOf = async (tasks: readonly Task[], statuses: readonly HostStatus[], hosts: readonly Host[]) => {
    const checkpoint = await store.getHealthCheckpoint();
    const since = Math.max(checkpoint?.resumedAt ?? 0, deps.startedAt?.getTime() ?? 0);
    return taskViews(tasks, statuses, hosts, since > 0 ? { reportsSince: since } : {});
  };
  const applyDeps: ApplyDeps = { store, now: deps.now, checkIngressHost, checkNamespace, ...(deps.secrets ? { secrets: deps.secrets } : {}) };

  const applyService: Handler = async (req, _p, who) => applySpec(parseBody(req), who, req);

  /** `PUT /v1/namespaces/{namespace}/services/{name}`: the namespace in the path (IAM policies can scope it); the body's must agree. */
  const putService: Handler = async (req, p, who) => {
    const spec = parseBody(req, p.namespace);
    if (spec.metadata.namespace !== p.namespace || spec.metadata.name !== p.name)
      throw new ValidationError([
        { path: 'metadata', message: `the spec names ${spec.metadata.namespace}/${spec.metadata.name} but the path names ${p.namespace}/${p.name}` },
      ]);
    return applySpec(spec, who, req);
  };

  async function applySpec(spec: ServiceSpec, who: Identity, req: ApiRequest): Promise<ApiResponse> {
    const { namespace, name } = spec.metadata;
    authorize(who, 'services:write', namespace);
    const checked = await checkWorkload(applyDeps, spec, new Map());
    // The store's write is conditional on the version just read: together, on the client's.
    checkIfMatch(req.headers, checked.existing?.specVersion, `${spec.kind} ${namespace}/${name}`);
    const { service, result } = await storeWorkload(applyDeps, checked.spec, checked.existing);
    const tag = { etag: etag(service.specVersion) };
    if (result === 'unchanged') return { status: 200, body: { result, service }, headers: tag };
    await audit(
      who,
      checked.existing ? 'service.updated' : 'service.created',
      `${spec.kind} ${namespace}/${name} ${result} (specVersion ${service.specVersion})`,
      {
        namespace,
        service: name,
      },
    );
    await kick();
    return { status: checked.existing ? 200 : 201, body: { result, service }, headers: tag };
  }

  /** Several documents (services, jobs, cron jobs, secrets): all checked, then stored secrets first (app/apply.ts). */
  const apply: Handler = async (req, _p, who) => {
    const docs = parseDocumentsText(checkedBody(req));
    // Every document's namespace is authorized before anything is checked or stored.
    for (const d of docs) authorize(who, 'services:write', d.kind === 'Secret' ? d.secret.metadata.namespace : d.spec.metadata.namespace);
    if (req.headers['if-match'] !== undefined) {
      // One version to match: one workload, applied as POST /v1/services applies it.
      const [doc] = docs;
      if (docs.length !== 1 || doc.kind === 'Secret')
        throw new ValidationError([
          { path: 'If-Match', message: 'applies to one Service, Job or CronJob document; send the documents one by one, or without If-Match' },
        ]);
      const out = await applySpec(doc.spec, who, req);
      const { result, service } = out.body as { result: string; service: Service };
      const item = { kind: doc.kind, namespace: service.namespace, name: service.name, result, specVersion: service.specVersion };
      return { status: 200, body: { results: [item] }, ...(out.headers ? { headers: out.headers } : {}) };
    }
    const results = await applyDocuments(applyDeps, docs);
    for (const r of results.filter((x) => x.result !== 'unchanged')) {
      await audit(who, `${r.kind.toLowerCase()}.${r.result}`, `${r.kind} ${r.namespace}/${r.name} ${r.result}`, {
        namespace: r.namespace,
        ...(r.kind === 'Secret' ? {} : { service: r.name }),
      });
    }
    if (results.some((r) => r.result !== 'unchanged')) await kick();
    return { status: 200, body: { results } };
  };

  /**
   * The namespace's rules for a workload about to be stored: none while it is being deleted, and
   * its quota (with the replica count the service will keep: `scaleAfterApply`).
   */
  async function checkNamespace(spec: ServiceSpec, existing: Service | undefined): Promise<void> {
    const { namespace } = spec.metadata;
    const ns = await tenancy.getNamespace(namespace);
    if (ns?.deleting) throw new ConflictError(`namespace ${namespace} is being deleted; nothing new may be applied in it`);
    if (existing && jsonEqual(existing.spec, spec)) return;
    if (ns?.spec.spec.quota) checkQuota(ns, await store.listServices(namespace), existing, { spec, scale: scaleAfterApply(existing, spec) });
  }

  /** Records a write in the event log with who made it (the audit trail). Best effort: the write has happened. */
  async function audit(who: Identity, type: string, message: string, about: { namespace?: string; service?: string; host?: string } = {}): Promise<void> {
    const at = deps.now().toISOString();
    const target = [about.namespace, about.service, about.host].filter((v) => v !== undefined).join('/');
    try {
      await store.putEvents([{ id: `${at}-${type}-${target}`, at, type, message: `${message} by ${who.subject}`, actor: who.subject, ...about }]);
    } catch {
      // The event log is best effort everywhere (a throttled write must not fail a done write).
    }
  }
  const secretRoutes = secretHandlers(deps.secrets, applyDeps, kick);
  const jobRoutes = jobHandlers(store, deps.now, kick);

  /**
   * One service per ingress host and path: a second would make routing ambiguous. Checked against
   * every namespace, and against services being deleted too (they keep their claim until they are
   * gone). Two applies racing can both pass; core/ingress.ts then gives the claim to the older service.
   */
  async function checkIngressHost(spec: ServiceSpec): Promise<void> {
    const ingress = spec.spec.ingress;
    if (ingress === undefined) return;
    const { host, path } = ingress;
    const { namespace, name } = spec.metadata;
    const squat = ingressHostProblem(host, namespace, await tenancy.listNamespaces());
    if (squat !== undefined) throw new ValidationError([{ path: 'spec.ingress.host', message: squat }]);
    const claims = (await store.listServices()).flatMap((s) => {
      const i = s.spec.spec.ingress;
      return i === undefined ? [] : [{ namespace: s.namespace, name: s.name, host: i.host, path: i.path, deleting: s.deleting }];
    });
    const owner = ingressClaimConflict({ namespace, name, host, path }, claims);
    if (owner === undefined) return;
    const other = `${owner.namespace}/${owner.name}`;
    const advice = owner.deleting
      ? `it is being deleted; apply ${namespace}/${name} again when the deletion has finished`
      : `choose another host or path for ${namespace}/${name}, or remove the ingress of ${other} first`;
    const what = path === undefined ? `ingress host ${host}` : `ingress host ${host} and path ${path} (${claimName(host, path)})`;
    throw new ValidationError([
      { path: path === undefined ? 'spec.ingress.host' : 'spec.ingress.path', message: `${what} is already used by service ${other}; ${advice}` },
    ]);
  }

  /** The tasks of these services, one Query of each service's partition: never a scan of every task. */
  const tasksOfServices = async (services: readonly { namespace: string; name: string }[]): Promise<Task[]> => {
    const lists: Task[][] = new Array(services.length);
    await forEachLimit(services, SERVICE_READS_AT_ONCE, async (s, i) => {
      lists[i] = await store.listTasks(s.namespace, s.name);
    });
    return lists.flat();
  };

  /** The reports and records of the hosts these tasks are on (a view joins a task with its own host's only). */
  const hostsOfTasks = (tasks: readonly Task[]): Promise<[HostStatus[], Host[]]> => {
    const ids = [...new Set(tasks.flatMap((t) => (t.host ? [t.host] : [])))];
    return Promise.all([store.getHostStatuses(ids), store.getHosts(ids)]);
  };

  // The page of services first (from the services index), then the tasks of those services only.
  const listServices: Handler = async (req, _p, who) => {
    const visible = visibleNamespaces(who, 'services:read', req.query.namespace);
    // Jobs and cron jobs are listed by /v1/jobs.
    const services = (await store.listServices(req.query.namespace)).filter((s) => s.spec.kind === 'Service' && visible(s.namespace));
    const { page, next } = pageOf(req, services, (s) => [s.namespace, s.name]);
    const tasks = await tasksOfServices(page);
    // Only the hosts those tasks are on, and their reports: a page reads its own hosts, not the fleet's.
    const [statuses, hosts] = await hostsOfTasks(tasks);
    const views = await viewsOf(tasks, statuses, hosts);
    const body = page.map((s) =>
      serviceSummary(
        s,
        tasks.filter((t) => t.namespace === s.namespace && t.service === s.name),
        views,
        deps.zone,
      ),
    );
    return { status: 200, body, ...(next ? { headers: { 'x-next-cursor': next } } : {}) };
  };

  const getService: Handler = async (_req, p) => {
    const service = await store.getService(p.namespace, p.name);
    if (!service) throw new NotFoundError(`service ${p.namespace}/${p.name}`);
    const tasks = await store.listTasks(p.namespace, p.name);
    const [statuses, hosts] = await hostsOfTasks(tasks);
    const views = await viewsOf(tasks, statuses, hosts);
    // The autoscaler's targets as measured now (`skiff describe`); the last decision is in `scale`.
    const a = service.spec.spec.autoscaling;
    const rate =
      a?.targetRequestsPerReplica !== undefined && deps.requestRates
        ? await deps.requestRates
            .requestsPerReplica([{ namespace: service.namespace, name: service.name }])
            .then((m) => m.get(`${service.namespace}/${service.name}`))
            // Without a count the target reads "not measured", as the autoscaler's own run does.
            .catch(() => undefined)
        : undefined;
    const metrics = a ? currentReadings(service, tasks, statusesByTask(statuses), deps.now().getTime(), rate) : undefined;
    return {
      status: 200,
      body: { ...serviceSummary(service, tasks, views, deps.zone), service, tasks: views, ...(metrics ? { metrics } : {}) },
      headers: { etag: etag(service.specVersion) },
    };
  };

  /**
   * With `?deleteVolumes=true` its persistent volumes are marked for removal too (app/volume-deletion.ts);
   * without, they are kept for a later service of the same name. A service already gone whose volumes
   * are retained may still be asked this: its volumes alone are marked.
   */
  const deleteService: Handler = async (req, p, who) => {
    const deleteVolumes = parseDeleteVolumes(req.query.deleteVolumes);
    if (req.headers['if-match'] !== undefined)
      checkIfMatch(req.headers, (await store.getService(p.namespace, p.name))?.specVersion, `service ${p.namespace}/${p.name}`);
    const now = deps.now().toISOString();
    const service = await store.markServiceDeleting(p.namespace, p.name, now);
    const volumes = deleteVolumes ? await markServiceVolumesDeleting(store, p.namespace, p.name, now) : [];
    if (!service && volumes.length === 0) throw new NotFoundError(`service ${p.namespace}/${p.name}`);
    const about = { namespace: p.namespace, service: p.name };
    if (service) await audit(who, 'service.deleting', `service ${p.namespace}/${p.name} deleted`, about);
    if (volumes.length > 0) await audit(who, 'volume.deleting', `volumes ${volumes.map((v) => v.id).join(', ')} of ${p.namespace}/${p.name} deleted`, about);
    await kick();
    const marked = deleteVolumes ? { volumes: volumes.map((v) => v.id) } : {};
    return { status: 202, body: service ? { result: 'deleting', service, ...marked } : { result: 'deleting-volumes', ...marked } };
  };

  /**
   * Without a service, the services are walked in key order from the cursor's, each one's tasks read
   * (one Query each) until a page is full: a page reads about a page of tasks, not every task.
   */
  const pageOfTasks = async (req: ApiRequest, visible: (namespace: string) => boolean): Promise<Task[]> => {
    const { namespace, service, host } = req.query;
    if (namespace && service) return store.listTasks(namespace, service);
    const limit = pageLimit(req.query.limit);
    const after = req.query.cursor === undefined ? undefined : decodeCursor(req.query.cursor);
    const services = (await store.listServices(namespace))
      .filter((s) => (!service || s.name === service) && visible(s.namespace))
      .sort((a, b) => compareKeys([a.namespace, a.name], [b.namespace, b.name]))
      .filter((s) => !after || compareKeys([s.namespace, s.name], after.slice(0, 2)) >= 0);
    const out: Task[] = [];
    let found = 0;
    for (let i = 0; i < services.length && found <= limit; i += SERVICE_READS_AT_ONCE) {
      const tasks = await tasksOfServices(services.slice(i, i + SERVICE_READS_AT_ONCE));
      out.push(...tasks);
      // One more than the page tells there is a next one.
      found += tasks.filter((t) => (!host || t.host === host) && (!after || compareKeys([t.namespace, t.service, t.slot], after) > 0)).length;
    }
    return out;
  };

  const listTasks: Handler = async (req, _p, who) => {
    const { namespace, service, host } = req.query;
    const visible = visibleNamespaces(who, 'tasks:read', namespace);
    const tasks = await pageOfTasks(req, visible);
    const [statuses, hosts] = await hostsOfTasks(tasks);
    const views = (await viewsOf(tasks, statuses, hosts)).filter(
      (t) => visible(t.namespace) && (!namespace || t.namespace === namespace) && (!service || t.service === service) && (!host || t.host === host),
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
  const getTask: Handler = async (req, p, who) => {
    const visible = visibleNamespaces(who, 'tasks:read', req.query.namespace);
    const parsed = /^(.+)-(\d{1,6})-[a-z0-9]{5}$/.exec(p.id);
    if (!parsed) throw new NotFoundError(`task ${p.id}`);
    const [, service, slotText] = parsed;
    const slot = Number(slotText);
    const namespaces = req.query.namespace
      ? [req.query.namespace]
      : (await store.listServices()).filter((s) => s.name === service && visible(s.namespace)).map((s) => s.namespace);
    const found = (await Promise.all(namespaces.map((ns) => store.listTasks(ns, service)))).flat().find((t) => t.id === p.id && t.slot === slot);
    if (!found) throw new NotFoundError(`task ${p.id}`);
    const [host, status] = found.host ? await Promise.all([store.getHost(found.host), store.getHostStatus(found.host)]) : [undefined, undefined];
    const view = (await viewsOf([found], status ? [status] : [], host ? [host] : []))[0];
    return { status: 200, body: view };
  };

  /** A page of hosts read from the index in id order (`listHostsPage`), then those hosts' reports only. */
  const listHosts: Handler = async (req) => {
    const limit = pageLimit(req.query.limit);
    const after = req.query.cursor === undefined ? undefined : String(decodeCursor(req.query.cursor)[0]);
    const { hosts, next } = await store.listHostsPage({ ...(after !== undefined ? { after } : {}), limit });
    const byId = new Map((await store.getHostStatuses(hosts.map((h) => h.id))).map((s) => [s.hostId, s]));
    const body = hosts.map((h) => hostView(h, byId.get(h.id)));
    return { status: 200, body, ...(next !== undefined ? { headers: { 'x-next-cursor': encodeCursor([next]) } } : {}) };
  };

  const getHost: Handler = async (_req, p) => {
    const [host, status] = await Promise.all([store.getHost(p.id), store.getHostStatus(p.id)]);
    if (!host) throw new NotFoundError(`host ${p.id}`);
    return { status: 200, body: hostView(host, status) };
  };

  const drainHost: Handler = async (_req, p, who) => {
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
          message: `host ${p.id} is draining: its ${Object.keys(host.allocations).length} task(s) move elsewhere, new ones first (by ${who.subject})`,
          actor: who.subject,
        },
      ]);
      await kick();
    }
    return { status: 202, body: { result: 'draining', host: p.id } };
  };

  const uncordonHost: Handler = async (_req, p, who) => {
    const host = await store.getHost(p.id);
    if (!host) throw new NotFoundError(`host ${p.id}`);
    if (host.state === 'down') throw new ConflictError(`host ${p.id} is down; it becomes ready by itself when its agent reports again`);
    const nowIso = deps.now().toISOString();
    if (host.state === 'draining') {
      await store.setHostState(p.id, 'ready', nowIso);
      await store.putEvents([
        {
          id: `${nowIso}-host.uncordoned-${p.id}`,
          at: nowIso,
          type: 'host.uncordoned',
          host: p.id,
          message: `host ${p.id} takes new tasks again (by ${who.subject})`,
          actor: who.subject,
        },
      ]);
      await kick();
    }
    return { status: 200, body: { result: 'ready', host: p.id } };
  };

  const listEvents: Handler = async (req, _p, who) => {
    const limitText = req.query.limit;
    const limit = limitText === undefined ? 200 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new ValidationError([{ path: 'limit', message: `must be an integer from 1 to 1000, got "${limitText}"` }]);
    const { namespace: asked, service, host, actor } = req.query;
    // A tenant's events are those of its namespaces; events of no namespace (hosts) are the cluster admin's.
    let namespace = asked;
    if (namespace !== undefined) authorize(who, 'events:read', namespace);
    else if (host !== undefined || namespacesAllowed(who, 'events:read') === 'all') authorize(who, 'events:read-cluster');
    else {
      const mine = [...(namespacesAllowed(who, 'events:read') as ReadonlySet<string>)];
      if (mine.length !== 1) authorize(who, 'events:read-cluster');
      namespace = mine[0];
    }
    // Newest first, page by page back in time: the cursor is the oldest event key of the page.
    const before = req.query.cursor === undefined ? undefined : decodeCursor(req.query.cursor);
    if (before && (before.length !== 1 || typeof before[0] !== 'string'))
      throw new ValidationError([{ path: 'cursor', message: 'is not a cursor of /v1/events' }]);
    // `actor` filters the newest 1000 events of the other filters (the log has no index by actor).
    const scanned = await store.listEvents({
      namespace,
      service,
      host,
      limit: actor === undefined ? limit + 1 : MAX_PAGE_LIMIT,
      ...(before ? { before: before[0] as string } : {}),
    });
    const found = actor === undefined ? scanned : scanned.filter((e) => e.actor === actor);
    const page = found.slice(-limit);
    const more = found.length > limit;
    return { status: 200, body: page, ...(more ? { headers: { 'x-next-cursor': encodeCursor([`${page[0].at}#${page[0].id}`]) } } : {}) };
  };

  /**
   * Persistent volumes: `name` (the volume id), `namespace`, `service`, `host` (where it lives locally), as
   * scripts read them, and `state`: bound to a service, retained without one, or being deleted.
   */
  const listVolumes: Handler = async (req) => {
    const { namespace, service } = req.query;
    const [records, services] = await Promise.all([store.listVolumes(namespace), store.listServices(namespace)]);
    const volumes = records.filter((v) => !service || v.service === service);
    return paged(
      req,
      volumes,
      (v) => [v.namespace, v.service, v.volume, v.slot],
      (list) => list.map((v) => volumeView(v, services)),
    );
  };

  /**
   * A filter of namespaces the caller may `action` in, for lists: with `?namespace=` asked, a 403
   * unless allowed there; without it, only the caller's own namespaces (every one for a cluster admin).
   */
  function visibleNamespaces(who: Identity, action: NamespaceAction, asked: string | undefined): (namespace: string) => boolean {
    if (asked !== undefined) authorize(who, action, asked);
    const allowed = namespacesAllowed(who, action);
    return allowed === 'all' ? () => true : (ns) => allowed.has(ns);
  }

  /** A list route of namespaced items: with `?namespace=`, authorized there; without, only the caller's namespaces are kept. */
  const filtered =
    (handler: Handler, action: NamespaceAction): Handler =>
    async (req, p, who) => {
      const visible = visibleNamespaces(who, action, req.query.namespace);
      const out = await handler(req, p, who);
      return Array.isArray(out.body) ? { ...out, body: out.body.filter((item: { namespace: string }) => visible(item.namespace)) } : out;
    };

  const SERVICE = /^\/v1\/namespaces\/(?<namespace>[^/]+)\/services\/(?<name>[^/]+)$/;
  const SECRET = /^\/v1\/namespaces\/(?<namespace>[^/]+)\/secrets\/(?<name>[^/]+)$/;
  const JOB = /^\/v1\/namespaces\/(?<namespace>[^/]+)\/jobs\/(?<name>[^/]+)$/;
  const identity = identityHandlers({
    store,
    cluster: deps.workloadIdentity?.cluster ?? 'local',
    now: deps.now,
    // Read at each request: local mode sets the issuer once the API's URL (its `iss`) is known.
    get issuer() {
      return deps.workloadIdentity?.issuer;
    },
  });
  const logRoutes = logHandlers(deps.logs, deps.now, deps.controlLogs);
  const routes: Route[] = [
    ['GET', /^\/\.well-known\/openid-configuration$/, identity.discovery, 'public'],
    ['GET', /^\/\.well-known\/jwks\.json$/, identity.jwks, 'public'],
    [
      'POST',
      /^\/v1\/namespaces\/(?<namespace>[^/]+)\/tasks\/(?<id>[^/]+)\/identity-token$/,
      identity.issueToken,
      { handler: "hosts only: the task must be placed on the calling host (a host mints no other host's tokens)" },
    ],
    ['GET', /^\/v1\/healthz$/, async () => ({ status: 200, body: { ok: true } }), 'any'],
    ['GET', /^\/v1\/version$/, async () => ({ status: 200, body: { version: SKIFF_VERSION, api: API_VERSION } }), 'any'],
    // Any authenticated caller may read the contract: it holds no cluster data.
    ['GET', /^\/v1\/openapi\.json$/, async () => ({ status: 200, body: openApi() }), 'any'],
    ['POST', /^\/v1\/services$/, applyService, { handler: 'the namespace is in the body' }],
    ['GET', /^\/v1\/services$/, listServices, { handler: 'lists only the namespaces the caller may read' }],
    ['GET', SERVICE, getService, { action: 'services:read', namespace: 'path' }],
    ['PUT', SERVICE, putService, { action: 'services:write', namespace: 'path' }],
    ['DELETE', SERVICE, deleteService, { action: 'services:delete', namespace: 'path' }],
    ['GET', /^\/v1\/tasks$/, listTasks, { handler: 'lists only the namespaces the caller may read' }],
    ['GET', /^\/v1\/tasks\/(?<id>[^/]+)$/, getTask, { handler: 'looks only in the namespaces the caller may read' }],
    ['GET', /^\/v1\/hosts$/, listHosts, { action: 'hosts:read', namespace: 'cluster' }],
    ['GET', /^\/v1\/hosts\/(?<id>[^/]+)$/, getHost, { action: 'hosts:read', namespace: 'cluster' }],
    ['POST', /^\/v1\/hosts\/(?<id>[^/]+)\/drain$/, drainHost, { action: 'hosts:drain', namespace: 'cluster' }],
    ['POST', /^\/v1\/hosts\/(?<id>[^/]+)\/uncordon$/, uncordonHost, { action: 'hosts:drain', namespace: 'cluster' }],
    ['GET', /^\/v1\/events$/, listEvents, { handler: 'the namespace is a query filter; without one, the cluster admin sees all' }],
    ['POST', /^\/v1\/apply$/, apply, { handler: 'each document names its namespace' }],
    [
      'GET',
      /^\/v1\/secrets$/,
      pagedBody(filtered(secretRoutes.list, 'services:read'), (s: { namespace: string; name: string }) => [s.namespace, s.name]),
      { handler: 'lists only the namespaces the caller may read' },
    ],
    ['GET', SECRET, secretRoutes.get, { action: 'services:read', namespace: 'path' }],
    ['DELETE', SECRET, secretRoutes.remove, { action: 'services:delete', namespace: 'path' }],
    [
      'GET',
      /^\/v1\/jobs$/,
      pagedBody(filtered(jobRoutes.list, 'services:read'), (j: { namespace: string; name: string }) => [j.namespace, j.name]),
      { handler: 'lists only the namespaces the caller may read' },
    ],
    ['GET', JOB, jobRoutes.get, { action: 'services:read', namespace: 'path' }],
    ['DELETE', JOB, jobRoutes.remove, { action: 'services:delete', namespace: 'path' }],
    ['GET', /^\/v1\/volumes$/, filtered(listVolumes, 'services:read'), { handler: 'lists only the namespaces the caller may read' }],
    ['GET', /^\/v1\/namespaces\/(?<namespace>[^/]+)\/services\/(?<name>[^/]+)\/logs$/, logRoutes.service, { action: 'services:read', namespace: 'path' }],
    ['GET', /^\/v1\/namespaces\/(?<namespace>[^/]+)\/tasks\/(?<id>[^/]+)\/logs$/, logRoutes.task, { action: 'services:read', namespace: 'path' }],
    ['GET', /^\/v1\/hosts\/(?<id>[^/]+)\/logs$/, logRoutes.host, { action: 'hosts:read', namespace: 'cluster' }],
    ['GET', /^\/v1\/control-plane\/logs$/, logRoutes.controlPlane, { action: 'hosts:read', namespace: 'cluster' }],
    ...rolloutRoutes({
      store,
      now: deps.now,
      kick,
      audit,
      checkScale: async (service, scale) => {
        const ns = await tenancy.getNamespace(service.namespace);
        if (ns?.spec.spec.quota) checkQuota(ns, await store.listServices(service.namespace), service, { spec: service.spec, scale });
      },
    }),
    ...tenancyRoutes({ store, tenancy, now: deps.now, tokens: deps.tokens, kick, audit, parseBody: (req) => parseJsonOrYaml(req) }).map(
      ([method, pattern, handler, access]): Route =>
        method === 'GET' && pattern.source === '^\\/v1\\/namespaces$'
          ? [method, pattern, pagedBody(handler, (n: { name: string }) => [n.name]), access]
          : [method, pattern, handler, access],
    ),
  ];
  let document: Record<string, unknown> | undefined;
  const openApi = () => {
    document ??= openApiDocument(routes);
    return document;
  };
  // What each route is (a list, a conditional write): app/openapi.ts, whose test fails for a route it does not describe.
  const operations = routes.map(([method, pattern]) => runtimeOperation(method, pattern));

  async function kick(): Promise<void> {
    try {
      await deps.kickScheduler();
    } catch {
      // The periodic pass will pick the change up; the write itself succeeded.
    }
  }

  const api = async (req: ApiRequest): Promise<ApiResponse> => {
    try {
      const path = req.path.replace(/\/+$/, '') || '/';
      let pathMatched = false;
      for (const [index, [method, pattern, handler, access]] of routes.entries()) {
        const m = pattern.exec(path);
        if (!m) continue;
        pathMatched = true;
        if (method !== req.method.toUpperCase()) continue;
        const params = Object.fromEntries(Object.entries(m.groups ?? {}).map(([k, v]) => [k, pathParam(k, v)]));
        checkQuery(req.query);
        const who = req.identity ?? LOCAL_ADMIN;
        // Public routes are public in the shells too; anything else needs a caller (the shells give ANONYMOUS to public paths alone).
        if (access === 'public' && !isPublicRoute(method, path)) throw new SkiffError(`route ${method} ${path} is public but not in PUBLIC_ROUTES`);
        if (access !== 'public' && who.source === 'anonymous')
          throw new UnauthorizedError(`${method} ${path} needs a caller: sign the request or send a token`);
        if (access !== 'any' && access !== 'public' && 'action' in access)
          authorize(who, access.action, access.namespace === 'path' ? params.namespace : undefined);
        const op = operations[index];
        // A write that has no version to check must not look protected: If-Match there is refused.
        if (req.headers['if-match'] !== undefined && method !== 'GET' && !op.ifMatch)
          throw new ValidationError([{ path: 'If-Match', message: `${method} ${path} has no version to match; send it without If-Match` }]);
        if (op.list) return await watchedList(req.query, () => handler(req, params, who), { intervalMs: deps.watchIntervalMs });
        return await handler(req, params, who);
      }
      if (pathMatched) return error(405, 'MethodNotAllowed', `${req.method} is not allowed on ${path}`);
      return error(404, 'NotFound', `no route for ${req.method} ${path}`);
    } catch (err) {
      if (err instanceof SkiffError) return { status: err.status, body: err.toJSON() };
      throw err;
    }
  };
  return Object.assign(api, { routes });
}

/**
 * A list route whose handler answers every item: its body paged by `keyOf` (`pageOf`), like the
 * lists that page as they read.
 */
function pagedBody<T>(handler: Handler, keyOf: (item: T) => PageKey): Handler {
  return async (req, p, who) => {
    const out = await handler(req, p, who);
    if (out.status !== 200 || !Array.isArray(out.body)) return out;
    const { page, next } = pageOf(req, out.body as T[], keyOf);
    return { ...out, body: page, ...(next ? { headers: { ...out.headers, 'x-next-cursor': next } } : {}) };
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
  const { page, next } = pageOf(req, items, keyOf);
  return { status: 200, body: render(page), ...(next ? { headers: { 'x-next-cursor': next } } : {}) };
}

/** The request's page of `items` in key order, and the cursor of the next page if there is one. */
function pageOf<T>(req: ApiRequest, items: readonly T[], keyOf: (item: T) => PageKey): { page: T[]; next?: string } {
  const limit = pageLimit(req.query.limit);
  const after = req.query.cursor === undefined ? undefined : decodeCursor(req.query.cursor);
  const sorted = [...items].sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  const rest = after ? sorted.filter((i) => compareKeys(keyOf(i), after) > 0) : sorted;
  const page = rest.slice(0, limit);
  return rest.length > limit ? { page, next: encodeCursor(keyOf(page[page.length - 1])) } : { page };
}

/** Services whose tasks are read at once by a list route (one Query each). */
const SERVICE_READS_AT_ONCE = 16;

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
/** A log cursor holds a position per recent stream (core/logs.ts): longer than a name, bounded all the same. */
const MAX_QUERY_LENGTH: Readonly<Record<string, number>> = { cursor: 4096 };

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
    const max = MAX_QUERY_LENGTH[name] ?? MAX_PARAM_LENGTH;
    if (value !== undefined && value.length > max) {
      throw new ValidationError([{ path: name, message: `query parameter ${name} must be at most ${max} characters; got ${value.length}` }]);
    }
  }
}

/** The body, not empty and within the size limit. */
function checkedBody(req: ApiRequest): string {
  const body = req.body ?? '';
  if (body.trim() === '') throw new ValidationError([{ path: '', message: 'request body is empty: send a service spec as JSON or YAML' }]);
  if (body.length > MAX_BODY) throw new ValidationError([{ path: '', message: `request body is ${body.length} bytes; the limit is ${MAX_BODY}` }]);
  return body;
}

/** The body as a decoded document (JSON, or YAML when the content type says so); 400 when it is neither. */
function parseJsonOrYaml(req: ApiRequest): unknown {
  const body = checkedBody(req);
  const type = (req.headers['content-type'] ?? 'application/json').toLowerCase();
  try {
    return type.includes('yaml') ? YAML.parse(body, { maxAliasCount: 10 }) : JSON.parse(body);
  } catch (err) {
    throw new ValidationError([{ path: '', message: `request body is not valid ${type.includes('yaml') ? 'YAML' : 'JSON'}: ${(err as Error).message}` }], {
      cause: err,
    });
  }
}

/** A service spec from the body; `pathNamespace` fills a namespace the body leaves out (the PUT route). */
function parseBody(req: ApiRequest, pathNamespace?: string) {
  const body = checkedBody(req);
  const type = (req.headers['content-type'] ?? 'application/json').toLowerCase();
  if (type.includes('yaml')) {
    const spec = parseServiceYaml(body);
    // YAML is re-read for the namespace only when the path gives one and the spec took the default.
    if (pathNamespace === undefined || spec.metadata.namespace !== 'default' || /^\s*namespace\s*:/m.test(body)) return spec;
    return { ...spec, metadata: { ...spec.metadata, namespace: pathNamespace } };
  }
  let input: unknown;
  try {
    input = JSON.parse(body);
  } catch (err) {
    throw new ValidationError([{ path: '', message: `request body is not valid JSON: ${(err as Error).message}` }], { cause: err });
  }
  if (pathNamespace !== undefined && isPlainObject(input) && isPlainObject(input.metadata) && input.metadata.namespace === undefined) {
    input = { ...input, metadata: { ...input.metadata, namespace: pathNamespace } };
  }
  return parseServiceSpec(input);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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
  // A global service runs one replica per matching host: as many as the scheduler gave it tasks.
  const replicas = s.spec.spec.mode === 'global' ? tasks.filter((t) => t.desired === 'running').length : desiredReplicas(s);
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
    /** The autoscaler's bounds and targets, when the service has them. */
    autoscaling: s.spec.spec.autoscaling ?? null,
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
