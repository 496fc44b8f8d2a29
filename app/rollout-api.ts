/**
 * The API routes of rollouts and scale (docs/api.md): a rollout's status, the revision history,
 * undo, restart, and `scale`. Thin: the decisions are core/rollout.ts's, the writes conditional
 * on the service's specVersion, so a request computed on an older spec conflicts (409) instead of
 * undoing someone else's apply.
 */
import type { Store } from '../ports/index.ts';
import type { RolloutState, Service } from '../core/types.ts';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts';
import { jsonEqual } from '../core/json.ts';
import { rollbackTarget, rolloutView, templateOf, withTemplate } from '../core/rollout.ts';
import { statusIndex, statusOf } from '../core/views.ts';
import { clampToBounds } from '../core/replicas.ts';
import type { ApiRequest, Handler, Route } from './api.ts';
import type { Identity } from '../core/authz.ts';
import { checkIfMatch, etag } from './conditional.ts';
import { checkBody, ScaleBodySchema, UndoBodySchema } from './request-bodies.ts';

export interface RolloutApiDeps {
  readonly store: Store;
  readonly now: () => Date;
  /** Asks for a scheduler pass soon; best effort. */
  readonly kick: () => Promise<void>;
  /** Refuses a scale its namespace's quota does not allow (app/api.ts); absent: no quota. */
  readonly checkScale?: (service: Service, scale: NonNullable<Service['scale']>) => Promise<void>;
  /** Records a write with its caller in the event log (app/api.ts). */
  readonly audit?: (who: Identity, type: string, message: string, about: { namespace: string; service: string }) => Promise<void>;
}

const SERVICE = '^\\/v1\\/namespaces\\/(?<namespace>[^/]+)\\/services\\/(?<name>[^/]+)';

/** The routes, in the API core's form: method, path pattern, handler, access. */
export function rolloutRoutes(deps: RolloutApiDeps): Route[] {
  const { store } = deps;

  /** The service to change, at the version the request's `If-Match` names if it names one (the writes below are conditional on it). */
  async function service(p: Record<string, string>, req?: ApiRequest): Promise<Service> {
    const s = await store.getService(p.namespace, p.name);
    if (req) checkIfMatch(req.headers, s?.specVersion, `service ${p.namespace}/${p.name}`);
    if (!s) throw new NotFoundError(`service ${p.namespace}/${p.name}`);
    if (s.deleting) throw new ConflictError(`service ${p.namespace}/${p.name} is being deleted`);
    return s;
  }

  const status: Handler = async (_req, p) => {
    const s = await store.getService(p.namespace, p.name);
    if (!s) throw new NotFoundError(`service ${p.namespace}/${p.name}`);
    const [tasks, statuses] = await Promise.all([store.listTasks(p.namespace, p.name), store.listHostStatuses()]);
    const index = statusIndex(statuses);
    return { status: 200, body: rolloutView(s, tasks, (t) => statusOf(index, t as Parameters<typeof statusOf>[1]), deps.now().toISOString()) };
  };

  const history: Handler = async (_req, p) => {
    const s = await service(p);
    const current = templateOf(s.spec);
    const revisions = (s.rollout?.revisions ?? []).map((r) => ({
      version: r.version,
      at: r.at,
      cause: r.cause ?? null,
      images: r.template.containers.map((c) => c.image),
      current: jsonEqual(r.template, current),
      template: r.template,
    }));
    return { status: 200, body: { namespace: s.namespace, name: s.name, specVersion: s.specVersion, revisions } };
  };

  const undo: Handler = async (req, p, who) => {
    const s = await service(p, req);
    const to = checkBody(UndoBodySchema, jsonBody(req)).toVersion;
    const revisions = s.rollout?.revisions ?? [];
    const current = templateOf(s.spec);
    const target = to === undefined ? rollbackTarget(revisions, current) : revisions.find((r) => r.version === to);
    if (!target) {
      const known = revisions.map((r) => r.version).join(', ') || 'none yet';
      throw new NotFoundError(
        to === undefined
          ? `an earlier revision of service ${s.namespace}/${s.name} (revisions: ${known})`
          : `revision ${to} of service ${s.namespace}/${s.name} (revisions: ${known})`,
      );
    }
    if (jsonEqual(target.template, current)) throw new ConflictError(`service ${s.namespace}/${s.name} already runs the template of version ${target.version}`);
    const now = deps.now().toISOString();
    const written = await store.putService(withTemplate(s.spec, target.template), now, s.specVersion);
    // Says why in the history; if this write loses a race the pass starts the rollout anyway.
    const rollout: RolloutState = {
      specVersion: written.specVersion,
      phase: 'progressing',
      startedAt: now,
      progressAt: now,
      updated: 0,
      revisions,
      message: `undo to version ${target.version}`,
    };
    const withState = await store.setServiceRollout(s.namespace, s.name, rollout, written.specVersion).catch((err) => {
      if (err instanceof ConflictError) return written;
      throw err;
    });
    await deps.audit?.(who, 'rollout.undo', `service ${s.namespace}/${s.name} undone to version ${target.version}`, {
      namespace: s.namespace,
      service: s.name,
    });
    await deps.kick();
    return { status: 200, body: { result: 'undone', toVersion: target.version, service: withState }, headers: { etag: etag(withState.specVersion) } };
  };

  const restart: Handler = async (req, p, who) => {
    const s = await service(p, req);
    const now = deps.now().toISOString();
    const rollout: RolloutState = {
      specVersion: s.specVersion,
      phase: 'progressing',
      startedAt: now,
      progressAt: now,
      updated: 0,
      revisions: s.rollout?.revisions ?? [],
      restartedAt: now,
      message: 'restart',
    };
    const written = await store.setServiceRollout(s.namespace, s.name, rollout, s.specVersion);
    await deps.audit?.(who, 'rollout.restart', `service ${s.namespace}/${s.name} restarted`, { namespace: s.namespace, service: s.name });
    await deps.kick();
    return { status: 202, body: { result: 'restarting', service: written }, headers: { etag: etag(written.specVersion) } };
  };

  const scale: Handler = async (req, p, who) => {
    const s = await service(p, req);
    const n = checkBody(ScaleBodySchema, jsonBody(req)).replicas;
    const chosen = { replicas: n, source: 'cli' as const, at: deps.now().toISOString(), reason: 'skiff scale' };
    await deps.checkScale?.(s, chosen);
    const written = await store.setServiceScale(s.namespace, s.name, chosen, s.specVersion);
    await deps.audit?.(who, 'service.scaled', `service ${s.namespace}/${s.name} scaled to ${n}`, { namespace: s.namespace, service: s.name });
    await deps.kick();
    const effective = clampToBounds(s.spec, n);
    return {
      status: 200,
      body: {
        result: 'scaled',
        replicas: effective,
        ...(effective === n
          ? {}
          : { message: `spec.autoscaling keeps ${s.namespace}/${s.name} between its minReplicas and maxReplicas: ${effective} replicas` }),
        service: written,
      },
      headers: { etag: etag(written.specVersion) },
    };
  };

  return [
    ['GET', new RegExp(`${SERVICE}\\/rollout$`), status, { action: 'services:read', namespace: 'path' }],
    ['GET', new RegExp(`${SERVICE}\\/rollout\\/history$`), history, { action: 'services:read', namespace: 'path' }],
    ['POST', new RegExp(`${SERVICE}\\/rollout\\/undo$`), undo, { action: 'services:write', namespace: 'path' }],
    ['POST', new RegExp(`${SERVICE}\\/rollout\\/restart$`), restart, { action: 'services:write', namespace: 'path' }],
    ['POST', new RegExp(`${SERVICE}\\/scale$`), scale, { action: 'services:write', namespace: 'path' }],
  ];
}

/** A JSON object body, or an empty one. */
function jsonBody(req: ApiRequest): Record<string, unknown> {
  const text = req.body ?? '';
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ValidationError([{ path: '', message: `request body is not valid JSON: ${(err as Error).message}` }], { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ValidationError([{ path: '', message: 'request body must be a JSON object' }]);
  return value as Record<string, unknown>;
}
