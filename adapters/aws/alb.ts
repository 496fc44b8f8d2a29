/**
 * The load balancer on AWS: an Application Load Balancer listener whose rules route ingress hosts
 * to target groups that Skiff keeps equal to the healthy replicas. Level-triggered: `sync(routes)`
 * makes the listener's Skiff rules and Skiff's target groups match `routes`, whatever state they
 * are in, and does nothing when they already match.
 *
 * - One target group per service with an ingress, named `<namePrefix>-<12 hex of sha256(ns/name)>`
 *   (32 characters at most, as ELBv2 requires), so the name is stable and tied to the service.
 *   Every target group with a name of that form belongs to this cluster; nothing else is touched.
 * - Targets are of type `instance`: `{ Id: <instance id>, Port: <host port> }`. Replicas publish
 *   their ingress port on the host (Docker port mapping), so the ALB must reach
 *   `<host private IP>:<host port>`. An `instance` target says exactly that and stays tied to the
 *   instance: when an instance is terminated, ELBv2 deregisters it by itself, whereas an `ip`
 *   target would stay registered, and a new instance given the same private IP would receive
 *   requests meant for a replica that is gone. `ip` targets are for addresses that are not an
 *   instance's own (awsvpc tasks, on-premises servers), which Skiff's replicas never are.
 * - One listener rule per ingress host and path: a host-header condition (a wildcard host
 *   `*.shop.example.com` as is: the ALB's `*` matches one or more characters, dots included), a
 *   path-pattern condition `/api` and `/api/*` unless the path is `/`, and a forward action. A
 *   rule is Skiff's when it forwards to one of Skiff's target groups. Rules keep their priority; a
 *   new rule takes the lowest priority free on the listener from `firstPriority` up. Rules that can
 *   match the same request must be tried most specific first (core/ingress-match.ts `routeOrder`):
 *   when the priorities Skiff's rules hold are not in that order, one SetRulePriorities call
 *   reorders them among themselves, atomically.
 * - TLS: a `tls` route needs the listener to speak HTTPS (`https`, the stack's certificate); one
 *   with a `certificateArn` of its own has it added to the listener (AddListenerCertificates), where
 *   the ALB picks it by SNI. The listener's other certificates are Skiff's too (the stack makes the
 *   listener for Skiff): one that no route asks for any more is removed (RemoveListenerCertificates),
 *   never the listener's default certificate.
 * - Session affinity is the target group's `stickiness.enabled` with `lb_cookie` (cookie AWSALB).
 *
 * Failures are isolated per route: a route whose target group, targets or rule cannot be set up
 * (a quota such as rules per listener, no free priority, a refused registration) is reported in
 * `failed` with its reason, and every other route is still synced. An existing rule is never
 * deleted for such a failure, so a route past the rule quota keeps serving what it served. Only
 * the shared reads (target groups, rules) and throttling fail the whole sync: throttled, every
 * further call would be refused too and would keep the account's bucket empty.
 *
 * Calls: ELBv2 throttles its API per account and region. A full sync reads every target group
 * (one call per 400), the listener's rules, and each service's attributes and targets (2 calls
 * per service). Between full syncs (`resyncMs`), a sync that only changes targets or affinity of
 * known services sends just those changes, from what it applied last, with no reads; a sync with
 * nothing changed sends nothing.
 */
import { createHash } from 'node:crypto';
import {
  AddListenerCertificatesCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeleteRuleCommand,
  DeleteTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeListenerCertificatesCommand,
  DescribeRulesCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ModifyRuleCommand,
  ModifyTargetGroupAttributesCommand,
  RegisterTargetsCommand,
  RemoveListenerCertificatesCommand,
  SetRulePrioritiesCommand,
  type Action,
  type RuleCondition,
  type ElasticLoadBalancingV2Client,
  type Rule,
  type TargetDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ConflictError, LimitError, SkiffError } from '../../core/errors.ts';
import type { IngressRoute, LoadBalancer, RouteFailure } from '../../ports/index.ts';
import { classifySdkError, isAccessDenied, sdkErrorCode, sdkErrorMessage, serviceErrors } from './sdk-errors.ts';
import { DRAIN_SECONDS } from '../../core/stopping.ts';
import { routeOrder, routesMayOverlap } from '../../core/ingress-match.ts';

/** The highest listener-rule priority ELBv2 accepts. */
const MAX_PRIORITY = 50_000;
/** ELBv2 target group names are at most 32 characters; 12 hex characters and a '-' follow the prefix. */
const MAX_PREFIX_LENGTH = 19;
const HASH_LENGTH = 12;
/** DescribeTargetGroups and DescribeRules return at most 400 items per call. */
const PAGE_SIZE = 400;

export interface AlbLoadBalancerOptions {
  /** The ALB listener (HTTP or HTTPS) whose rules route the ingress hosts. */
  readonly listenerArn: string;
  /** The listener speaks HTTPS (the stack's certificate): routes with `tls` can be served. @default false */
  readonly https?: boolean;
  /** The VPC of the hosts: target groups are created in it. */
  readonly vpcId: string;
  /**
   * Starts the name of each target group this cluster owns: 1 to 19 letters, digits and '-', not
   * starting or ending with '-', unique per cluster in the account and region (the cluster name).
   */
  readonly namePrefix: string;
  /**
   * The EC2 instance id of the host whose private address is `ip` (a route target's `ip`), or
   * undefined when no host has it. Typically a map built from the store's hosts.
   */
  readonly resolveInstance: (ip: string) => string | undefined | Promise<string | undefined>;
  /** The lowest listener-rule priority Skiff may take; lower ones stay free for rules of people. @default 1 */
  readonly firstPriority?: number;
  /**
   * How long a removed target keeps its requests in flight (connection draining), in seconds. Skiff
   * removes a replica from the load balancer when it is to stop, so this is how long its last
   * requests get; the agents wait as long before a leaving replica's stop signal (core/stopping.ts).
   * @default DRAIN_SECONDS.aws, 30 (ELBv2's own default, 300, would hold a rolling update for 5 minutes a step)
   */
  readonly deregistrationDelaySeconds?: number;
  /**
   * At most this long between two full syncs (which read everything back and repair changes made
   * outside Skiff); between them, changes are applied from what was applied last. @default 60000
   */
  readonly resyncMs?: number;
  /** Clock in milliseconds, for `resyncMs`. @default Date.now */
  readonly now?: () => number;
  /** Told about a target left out (no instance has its address). @default ignore */
  readonly warn?: (message: string) => void;
}

const OPTION_KEYS = new Set([
  'listenerArn',
  'https',
  'vpcId',
  'namePrefix',
  'resolveInstance',
  'firstPriority',
  'deregistrationDelaySeconds',
  'resyncMs',
  'now',
  'warn',
]);

export type LoadBalancerFailure = 'throttled' | 'unavailable' | 'denied' | 'rejected';

/** ELBv2 could not do what a sync needed. `throttled` and `unavailable` are retryable (the next pass does). */
export class LoadBalancerError extends SkiffError {
  override readonly status: number;
  override readonly retryable: boolean;
  readonly reason: LoadBalancerFailure;
  constructor(reason: LoadBalancerFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LoadBalancerError';
    this.reason = reason;
    this.retryable = reason === 'throttled' || reason === 'unavailable';
    this.status = this.retryable ? 503 : 500;
  }
}

/** One service's ingress as ELBv2 should have it. */
interface Desired {
  /** `namespace/name`. */
  readonly service: string;
  readonly namespace: string;
  readonly name: string;
  readonly host: string;
  /** The path prefix, `/` for the whole host. */
  readonly path: string;
  /** `host path`: what a rule serves. */
  readonly key: string;
  /** An ACM certificate of the route's own, added to the listener. */
  readonly certificateArn?: string;
  readonly targetGroupName: string;
  readonly sessionAffinity: boolean;
  /** Sorted by `id:port`. */
  readonly targets: readonly { readonly Id: string; readonly Port: number }[];
}

/** What the last sync applied for one service. */
interface Applied {
  /** `host path` of its rule. */
  readonly key: string;
  /** Its own certificate on the listener: a change is a full sync, which adds the new one and removes the old. */
  readonly certificateArn?: string;
  readonly targetGroupArn: string;
  readonly sessionAffinity: boolean;
  readonly targets: readonly { readonly Id: string; readonly Port: number }[];
}

interface ListenerRule {
  readonly arn: string;
  readonly priority: number;
  /** `host path` of its conditions; undefined without a host-header condition. */
  readonly key: string | undefined;
  readonly targetGroupArns: readonly string[];
}

export class AlbLoadBalancer implements LoadBalancer {
  private readonly options: Required<Omit<AlbLoadBalancerOptions, 'warn' | 'https'>> & Pick<AlbLoadBalancerOptions, 'warn'> & { readonly https: boolean };
  private readonly ownedName: RegExp;
  /** What the last successful sync applied, by service, and when the last full sync was. */
  private memo: { readonly at: number; readonly applied: ReadonlyMap<string, Applied> } | undefined;

  constructor(
    private readonly client: ElasticLoadBalancingV2Client,
    options: AlbLoadBalancerOptions,
  ) {
    const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
    if (unknown.length > 0) throw new TypeError(`AlbLoadBalancer: unknown option(s) ${unknown.join(', ')}`);
    const { namePrefix, listenerArn, vpcId } = options;
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(namePrefix) || namePrefix.length > MAX_PREFIX_LENGTH || /^internal-/i.test(namePrefix)) {
      throw new TypeError(
        `AlbLoadBalancer: namePrefix must be 1 to ${MAX_PREFIX_LENGTH} letters, digits and "-", not starting or ending with "-" nor starting with "internal-" ` +
          `(target group names are at most 32 characters and end with "-" and ${HASH_LENGTH} hex characters); got ${JSON.stringify(namePrefix)}`,
      );
    }
    if (!/^arn:[\w-]+:elasticloadbalancing:[\w-]+:\d{12}:listener\/app\//.test(listenerArn)) {
      throw new TypeError(
        `AlbLoadBalancer: listenerArn must be the ARN of an Application Load Balancer listener (arn:aws:elasticloadbalancing:<region>:<account>:listener/app/...); got ${JSON.stringify(listenerArn)}`,
      );
    }
    if (!/^vpc-[0-9a-f]+$/.test(vpcId))
      throw new TypeError(`AlbLoadBalancer: vpcId must be a VPC id such as vpc-0123456789abcdef0; got ${JSON.stringify(vpcId)}`);
    const firstPriority = options.firstPriority ?? 1;
    if (!Number.isInteger(firstPriority) || firstPriority < 1 || firstPriority > MAX_PRIORITY) {
      throw new TypeError(`AlbLoadBalancer: firstPriority must be an integer from 1 to ${MAX_PRIORITY}; got ${firstPriority}`);
    }
    const delay = options.deregistrationDelaySeconds ?? DRAIN_SECONDS.aws;
    if (!Number.isInteger(delay) || delay < 0 || delay > 3600) {
      throw new TypeError(`AlbLoadBalancer: deregistrationDelaySeconds must be an integer from 0 to 3600 (ELBv2's range); got ${delay}`);
    }
    this.options = {
      listenerArn,
      https: options.https ?? false,
      vpcId,
      namePrefix,
      resolveInstance: options.resolveInstance,
      firstPriority,
      deregistrationDelaySeconds: delay,
      resyncMs: options.resyncMs ?? 60_000,
      now: options.now ?? Date.now,
      warn: options.warn,
    };
    this.ownedName = new RegExp(`^${namePrefix}-[0-9a-f]{${HASH_LENGTH}}$`);
  }

  /** The name of the target group of service `namespace/name`. */
  targetGroupName(namespace: string, name: string): string {
    const hash = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, HASH_LENGTH);
    return `${this.options.namePrefix}-${hash}`;
  }

  /** Makes ELBv2 serve `routes`; the routes it could not serve come back in `failed`, the others are synced. */
  async sync(routes: readonly IngressRoute[]): Promise<{ failed: RouteFailure[] }> {
    // A tls route on a plain-HTTP listener is not served at all: served over HTTP it would not be what was asked.
    const plain = routes.filter((r) => r.tls !== undefined && !this.options.https);
    const unservable: RouteFailure[] = plain.map((r) => ({
      host: r.host,
      namespace: r.namespace,
      service: r.service,
      reason: 'rejected',
      message: `spec.ingress.tls needs the load balancer's HTTPS listener, and this stack has none: deploy it with certificateArn or certificate (docs/load-balancing.md)`,
    }));
    const desired = await this.desired(routes.filter((r) => !plain.includes(r)));
    try {
      const memo = this.memo;
      if (memo && this.options.now() - memo.at < this.options.resyncMs && sameServicesAndHosts(desired, memo.applied)) {
        return { failed: [...unservable, ...(await this.patch(desired, memo.applied))] };
      }
      return { failed: [...unservable, ...(await this.fullSync(desired))] };
    } catch (err) {
      // Part of the sync may have been applied: the next one must read ELBv2 back.
      this.memo = undefined;
      throw err;
    }
  }

  /** The routes as ELBv2 should have them, sorted by host; targets whose address no instance has are left out. */
  private async desired(routes: readonly IngressRoute[]): Promise<Desired[]> {
    const instances = new Map<string, string | undefined>();
    for (const ip of new Set(routes.flatMap((r) => r.targets.map((t) => t.ip)))) instances.set(ip, await this.options.resolveInstance(ip));
    const keys = new Set<string>();
    const services = new Set<string>();
    const out: Desired[] = [];
    for (const r of routes) {
      const service = `${r.namespace}/${r.service}`;
      const host = r.host.toLowerCase();
      const path = r.path ?? '/';
      const key = `${host} ${path}`;
      if (keys.has(key)) {
        throw new ConflictError(`two routes for ingress host ${host}${path === '/' ? '' : ` and path ${path}`}; the second is of service ${service}`);
      }
      if (services.has(service)) throw new ConflictError(`two routes for service ${service}; a service has one ingress`);
      keys.add(key);
      services.add(service);
      const targets = new Map<string, { Id: string; Port: number }>();
      for (const t of r.targets) {
        const id = instances.get(t.ip);
        if (id === undefined) {
          this.options.warn?.(`replica ${t.taskId} of ${service} is left out of the load balancer: no instance has address ${t.ip}`);
          continue;
        }
        targets.set(`${id}:${t.port}`, { Id: id, Port: t.port });
      }
      out.push({
        service,
        namespace: r.namespace,
        name: r.service,
        host,
        path,
        key,
        ...(typeof r.tls === 'object' ? { certificateArn: r.tls.certificateArn } : {}),
        targetGroupName: this.targetGroupName(r.namespace, r.service),
        sessionAffinity: r.sessionAffinity,
        targets: [...targets.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t),
      });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Applies changes of targets and affinity from what was applied last, with no reads. */
  private async patch(desired: readonly Desired[], applied: ReadonlyMap<string, Applied>): Promise<RouteFailure[]> {
    const next = new Map(applied);
    const failed: RouteFailure[] = [];
    for (const d of desired) {
      const last = applied.get(d.service)!;
      try {
        if (d.sessionAffinity !== last.sessionAffinity) await this.setAttributes(last.targetGroupArn, stickiness(d.sessionAffinity));
        await this.setTargets(last.targetGroupArn, last.targets, d.targets);
        next.set(d.service, { ...last, sessionAffinity: d.sessionAffinity, targets: d.targets });
      } catch (err) {
        failed.push(routeFailure(d, err));
      }
    }
    // What a failed route holds is unknown now: the next sync reads ELBv2 back.
    this.memo = failed.length > 0 ? undefined : { at: this.memo!.at, applied: next };
    return failed;
  }

  /** Reads every Skiff target group and the listener's rules back and makes them match `desired`. */
  private async fullSync(desired: readonly Desired[]): Promise<RouteFailure[]> {
    const at = this.options.now();
    const owned = await this.ownedTargetGroups();
    const rules = await this.listenerRules();
    const applied = new Map<string, Applied>();
    const failed = new Map<string, RouteFailure>();
    /** Set when a stale rule or target group could not be removed: the next sync reads everything back. */
    let leftovers = false;

    // Only an HTTPS listener has certificates; a route with one never reaches a plain listener (see sync).
    const listenerCertificates = this.options.https ? await this.listenerCertificates() : { defaults: new Set<string>(), others: new Set<string>() };
    const certificates = new Map<string, Promise<void>>();
    for (const d of desired) {
      try {
        if (d.certificateArn !== undefined) {
          const arn = d.certificateArn;
          // Once per full sync and certificate, and only when the listener does not have it yet.
          if (!certificates.has(arn) && !listenerCertificates.others.has(arn) && !listenerCertificates.defaults.has(arn)) {
            certificates.set(
              arn,
              this.call(`add certificate ${arn} to the listener for ingress host ${d.host} of ${d.service}`, () =>
                this.client.send(new AddListenerCertificatesCommand({ ListenerArn: this.options.listenerArn, Certificates: [{ CertificateArn: arn }] })),
              ).then(() => undefined),
            );
          }
          await certificates.get(arn);
        }
        let arn = owned.get(d.targetGroupName);
        let registered: { Id: string; Port: number }[] = [];
        if (arn === undefined) {
          arn = await this.createTargetGroup(d);
          owned.set(d.targetGroupName, arn);
          await this.setAttributes(arn, this.attributes(d.sessionAffinity));
        } else {
          await this.reconcileAttributes(arn, this.attributes(d.sessionAffinity));
          registered = await this.registeredTargets(arn);
        }
        await this.setTargets(arn, registered, d.targets);
        applied.set(d.service, {
          key: d.key,
          ...(d.certificateArn === undefined ? {} : { certificateArn: d.certificateArn }),
          targetGroupArn: arn,
          sessionAffinity: d.sessionAffinity,
          targets: d.targets,
        });
      } catch (err) {
        // No rule is created for it below (its group may be empty or missing); a rule it has stays.
        failed.set(d.service, routeFailure(d, err));
      }
    }

    const skiffArns = new Set([...owned.values(), ...[...applied.values()].map((a) => a.targetGroupArn)]);
    const ours = rules.filter((r) => r.targetGroupArns.some((arn) => skiffArns.has(arn)));
    // The rule kept for each wanted host and path is its first; two syncs that raced can both have created one.
    const keep = new Map<string, ListenerRule>();
    for (const r of [...ours].sort((a, b) => a.priority - b.priority)) {
      if (r.key !== undefined && desired.some((d) => d.key === r.key) && !keep.has(r.key)) keep.set(r.key, r);
    }
    const kept = new Set([...keep.values()].map((r) => r.arn));
    // Stale rules go first, so that their priorities are free again for new hosts.
    const undeleted = new Set<string>();
    for (const r of ours) {
      if (kept.has(r.arn)) continue;
      try {
        await this.deleteRule(r.arn);
      } catch (err) {
        if (isThrottled(err)) throw err;
        undeleted.add(r.arn);
        leftovers = true;
        this.options.warn?.(`could not remove a stale listener rule: ${errorText(err)}`);
      }
    }
    const taken = new Set(rules.filter((r) => !ours.includes(r) || kept.has(r.arn) || undeleted.has(r.arn)).map((r) => r.priority));
    /** The rule serving each route after this sync, by key: what the order check below reads. */
    const serving = new Map<string, { arn: string; priority: number }>();
    for (const d of desired) {
      const done = applied.get(d.service);
      if (done === undefined) continue;
      const arn = done.targetGroupArn;
      const rule = keep.get(d.key);
      let priority: number | undefined;
      try {
        if (rule === undefined) {
          const p = this.freePriority(taken, d.host);
          priority = p;
          taken.add(p);
          const created = await this.call(
            `create the listener rule for ingress host ${d.host}${d.path === '/' ? '' : ` and path ${d.path}`} of ${d.service}`,
            () =>
              this.client.send(
                new CreateRuleCommand({
                  ListenerArn: this.options.listenerArn,
                  Priority: p,
                  Conditions: ruleConditions(d.host, d.path),
                  Actions: forward(arn),
                  Tags: [{ Key: 'skiff:service', Value: d.service }],
                }),
              ),
          );
          const ruleArn = created.Rules?.[0]?.RuleArn;
          if (ruleArn) serving.set(d.key, { arn: ruleArn, priority: p });
        } else if (rule.targetGroupArns.length !== 1 || rule.targetGroupArns[0] !== arn) {
          // The host moved to another service (or someone edited the rule): forward it to this one.
          await this.call(`point the listener rule for ingress host ${d.host} at ${d.service}`, () =>
            this.client.send(new ModifyRuleCommand({ RuleArn: rule.arn, Actions: forward(arn) })),
          );
        }
      } catch (err) {
        // A refused rule did not take its priority: the next new host may have it.
        if (priority !== undefined) taken.delete(priority);
        applied.delete(d.service);
        failed.set(d.service, routeFailure(d, err));
        continue;
      }
      if (rule !== undefined) serving.set(d.key, { arn: rule.arn, priority: rule.priority });
    }
    await this.orderRules(desired, serving);

    // Certificates no route asks for any more (its service deleted, its tls dropped or given another
    // certificateArn) leave the listener; the default certificate is the stack's and always stays.
    // A route that failed above still asks for its certificate: it is kept for the next try.
    const wantedCertificates = new Set(desired.flatMap((d) => d.certificateArn ?? []));
    for (const arn of listenerCertificates.others) {
      if (wantedCertificates.has(arn) || listenerCertificates.defaults.has(arn)) continue;
      try {
        await this.removeCertificate(arn);
      } catch (err) {
        if (isThrottled(err)) throw err;
        leftovers = true;
        this.options.warn?.(`could not remove a certificate no ingress route uses: ${errorText(err)}`);
      }
    }

    const wanted = new Set(desired.map((d) => d.targetGroupName));
    // After the rules: ELBv2 refuses to delete a target group that a rule still forwards to.
    for (const [name, arn] of owned) {
      if (wanted.has(name)) continue;
      try {
        await this.deleteTargetGroup(arn);
      } catch (err) {
        if (isThrottled(err)) throw err;
        leftovers = true;
        this.options.warn?.(`could not remove the stale target group ${name}: ${errorText(err)}`);
      }
    }

    // A failed route is missing from `applied`, so the next sync is a full one and tries it again.
    this.memo = leftovers ? undefined : { at, applied };
    return desired.flatMap((d) => failed.get(d.service) ?? []);
  }

  /**
   * Makes the priorities of Skiff's rules follow `routeOrder` (most specific first), by handing
   * the priorities they hold out again in that order: one SetRulePriorities call, atomic, and
   * only when they are out of order. Rules of people and free priorities are not touched.
   */
  private async orderRules(desired: readonly Desired[], serving: ReadonlyMap<string, { arn: string; priority: number }>): Promise<void> {
    const served = desired.filter((d) => serving.has(d.key)).sort((a, b) => routeOrder(a, b));
    // Only rules that can match the same request need an order; the others keep their priorities.
    const misordered = served.some((a, i) =>
      served.slice(i + 1).some((b) => routesMayOverlap(a, b) && serving.get(a.key)!.priority > serving.get(b.key)!.priority),
    );
    if (!misordered) return;
    const inOrder = served.filter((a) => served.some((b) => b !== a && routesMayOverlap(a, b))).map((d) => serving.get(d.key)!);
    const priorities = inOrder.map((r) => r.priority).sort((a, b) => a - b);
    await this.call('reorder the listener rules of the ingress hosts (most specific first)', () =>
      this.client.send(new SetRulePrioritiesCommand({ RulePriorities: inOrder.map((r, i) => ({ RuleArn: r.arn, Priority: priorities[i] })) })),
    );
  }

  private async ownedTargetGroups(): Promise<Map<string, string>> {
    const owned = new Map<string, string>();
    let marker: string | undefined;
    do {
      const page = await this.call('list target groups', () =>
        this.client.send(new DescribeTargetGroupsCommand({ PageSize: PAGE_SIZE, ...(marker ? { Marker: marker } : {}) })),
      );
      for (const tg of page.TargetGroups ?? []) {
        if (tg.TargetGroupName && tg.TargetGroupArn && this.ownedName.test(tg.TargetGroupName)) owned.set(tg.TargetGroupName, tg.TargetGroupArn);
      }
      marker = page.NextMarker;
    } while (marker);
    return owned;
  }

  /** Every rule of the listener except its default one. */
  private async listenerRules(): Promise<ListenerRule[]> {
    const out: ListenerRule[] = [];
    let marker: string | undefined;
    do {
      const page = await this.call(`list the rules of listener ${this.options.listenerArn}`, () =>
        this.client.send(new DescribeRulesCommand({ ListenerArn: this.options.listenerArn, PageSize: PAGE_SIZE, ...(marker ? { Marker: marker } : {}) })),
      );
      for (const rule of page.Rules ?? []) {
        if (rule.IsDefault || !rule.RuleArn) continue;
        const host = hostOf(rule);
        out.push({
          arn: rule.RuleArn,
          priority: Number(rule.Priority),
          key: host === undefined ? undefined : `${host} ${pathOf(rule)}`,
          targetGroupArns: forwardTargets(rule),
        });
      }
      marker = page.NextMarker;
    } while (marker);
    return out;
  }

  /**
   * The listener's certificates: its default one, and the others (added for SNI). ELBv2 lists the
   * default twice when it was also added as an SNI certificate, once with IsDefault false.
   */
  private async listenerCertificates(): Promise<{ defaults: Set<string>; others: Set<string> }> {
    const defaults = new Set<string>();
    const others = new Set<string>();
    let marker: string | undefined;
    do {
      const page = await this.call(`list the certificates of listener ${this.options.listenerArn}`, () =>
        this.client.send(
          new DescribeListenerCertificatesCommand({ ListenerArn: this.options.listenerArn, PageSize: PAGE_SIZE, ...(marker ? { Marker: marker } : {}) }),
        ),
      );
      for (const c of page.Certificates ?? []) {
        if (c.CertificateArn) (c.IsDefault ? defaults : others).add(c.CertificateArn);
      }
      marker = page.NextMarker;
    } while (marker);
    return { defaults, others };
  }

  private async removeCertificate(arn: string): Promise<void> {
    await this.call(`remove certificate ${arn} from the listener (no ingress route uses it any more)`, async () => {
      try {
        await this.client.send(new RemoveListenerCertificatesCommand({ ListenerArn: this.options.listenerArn, Certificates: [{ CertificateArn: arn }] }));
      } catch (err) {
        if (sdkErrorCode(err) !== 'CertificateNotFoundException') throw err; // already gone: what we wanted
      }
    });
  }

  private async createTargetGroup(d: Desired): Promise<string> {
    const command = new CreateTargetGroupCommand({
      Name: d.targetGroupName,
      Protocol: 'HTTP',
      // Every target is registered with its own (host) port; this one is only ELBv2's default.
      Port: 80,
      VpcId: this.options.vpcId,
      TargetType: 'instance',
      // Skiff registers only replicas its own probes find healthy; the ALB's check only has to
      // notice a replica that stops answering before the next sync, so any HTTP answer will do,
      // and a new replica takes requests after 2 checks 5 s apart instead of ELBv2's 5 × 30 s.
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: 'traffic-port',
      HealthCheckPath: '/',
      HealthCheckIntervalSeconds: 5,
      HealthCheckTimeoutSeconds: 4,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 2,
      Matcher: { HttpCode: '200-499' },
      Tags: [{ Key: 'skiff:service', Value: d.service }],
    });
    const out = await this.call(`create target group ${d.targetGroupName} for ${d.service}`, () => this.client.send(command));
    const arn = out.TargetGroups?.[0]?.TargetGroupArn;
    if (!arn) throw new LoadBalancerError('rejected', `CreateTargetGroup ${d.targetGroupName} for ${d.service} returned no target group`);
    return arn;
  }

  private attributes(sessionAffinity: boolean): Record<string, string> {
    return { ...stickiness(sessionAffinity), 'deregistration_delay.timeout_seconds': String(this.options.deregistrationDelaySeconds) };
  }

  private async reconcileAttributes(arn: string, wanted: Record<string, string>): Promise<void> {
    const out = await this.call(`read the attributes of target group ${arn}`, () =>
      this.client.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn })),
    );
    const current = new Map((out.Attributes ?? []).map((a) => [a.Key, a.Value]));
    const changed = Object.fromEntries(Object.entries(wanted).filter(([k, v]) => current.get(k) !== v));
    if (Object.keys(changed).length > 0) await this.setAttributes(arn, changed);
  }

  private async setAttributes(arn: string, attributes: Record<string, string>): Promise<void> {
    const Attributes = Object.entries(attributes).map(([Key, Value]) => ({ Key, Value }));
    await this.call(`set the attributes of target group ${arn}`, () =>
      this.client.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: arn, Attributes })),
    );
  }

  /** Registered targets; one draining counts as gone, so that a replica wanted again is registered again. */
  private async registeredTargets(arn: string): Promise<{ Id: string; Port: number }[]> {
    const out = await this.call(`read the targets of target group ${arn}`, () => this.client.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })));
    return (out.TargetHealthDescriptions ?? []).flatMap((d) =>
      d.Target?.Id && d.Target.Port !== undefined && d.TargetHealth?.State !== 'draining' ? [{ Id: d.Target.Id, Port: d.Target.Port }] : [],
    );
  }

  private async setTargets(arn: string, current: readonly TargetDescription[], wanted: readonly { Id: string; Port: number }[]): Promise<void> {
    const key = (t: TargetDescription) => `${t.Id}:${t.Port}`;
    const have = new Set(current.map(key));
    const want = new Set(wanted.map(key));
    const add = wanted.filter((t) => !have.has(key(t)));
    const remove = current.filter((t) => !want.has(key(t))).map((t) => ({ Id: t.Id, Port: t.Port }));
    // New replicas first: a replacement never leaves the group emptier than it has to be.
    const list = (targets: readonly TargetDescription[]) => targets.map((t) => `${t.Id}:${t.Port}`).join(', ');
    if (add.length > 0) {
      const Targets = add.map((t) => ({ Id: t.Id, Port: t.Port }));
      await this.call(`register ${list(add)} in target group ${arn}`, () => this.client.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets })));
    }
    if (remove.length > 0) {
      await this.call(`deregister ${list(remove)} from target group ${arn}`, () =>
        this.client.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: remove })),
      );
    }
  }

  private freePriority(taken: ReadonlySet<number>, host: string): number {
    for (let p = this.options.firstPriority; p <= MAX_PRIORITY; p++) if (!taken.has(p)) return p;
    throw new LimitError(`no listener rule priority is free from ${this.options.firstPriority} to ${MAX_PRIORITY} for ingress host ${host}`);
  }

  private async deleteRule(arn: string): Promise<void> {
    await this.call(`delete listener rule ${arn}`, async () => {
      try {
        await this.client.send(new DeleteRuleCommand({ RuleArn: arn }));
      } catch (err) {
        if (sdkErrorCode(err) !== 'RuleNotFoundException') throw err; // already gone: what we wanted
      }
    });
  }

  private async deleteTargetGroup(arn: string): Promise<void> {
    await this.call(`delete target group ${arn}`, async () => {
      try {
        await this.client.send(new DeleteTargetGroupCommand({ TargetGroupArn: arn }));
      } catch (err) {
        if (sdkErrorCode(err) !== 'TargetGroupNotFoundException') throw err;
      }
    });
  }

  /** Runs one ELBv2 call; its failure becomes a domain error that says what was being done. */
  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      throw toDomainError(what, err);
    }
  }
}

/** Throttled: the rest of the sync would be refused too, so it stops and the next pass goes on. */
function isThrottled(err: unknown): boolean {
  return err instanceof LoadBalancerError && err.reason === 'throttled';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One route's failure, by the domain error its calls raised; throttling is not a route's failure and goes up. */
function routeFailure(d: Desired, err: unknown): RouteFailure {
  if (isThrottled(err)) throw err;
  const reason: RouteFailure['reason'] =
    err instanceof LimitError
      ? 'quota'
      : err instanceof ConflictError
        ? 'conflict'
        : err instanceof LoadBalancerError
          ? err.reason === 'throttled'
            ? 'unavailable'
            : err.reason
          : 'rejected';
  return { host: d.host, namespace: d.namespace, service: d.name, reason, message: errorText(err) };
}

function stickiness(sessionAffinity: boolean): Record<string, string> {
  return sessionAffinity ? { 'stickiness.enabled': 'true', 'stickiness.type': 'lb_cookie' } : { 'stickiness.enabled': 'false' };
}

function forward(targetGroupArn: string): Action[] {
  return [{ Type: 'forward', TargetGroupArn: targetGroupArn }];
}

/** The host of a rule's host-header condition (the first, when it lists several). */
function hostOf(rule: Rule): string | undefined {
  const condition = (rule.Conditions ?? []).find((c) => c.Field === 'host-header');
  return (condition?.HostHeaderConfig?.Values ?? condition?.Values)?.[0]?.toLowerCase();
}

/** The path prefix of a rule's path-pattern condition (its first value), `/` without one. */
function pathOf(rule: Rule): string {
  const condition = (rule.Conditions ?? []).find((c) => c.Field === 'path-pattern');
  return (condition?.PathPatternConfig?.Values ?? condition?.Values)?.[0] ?? '/';
}

/**
 * A route's conditions: its host, and for a path other than `/` the path itself and everything
 * below it (`/api` and `/api/*`), so that `/apis` is not matched: a prefix segment by segment, as
 * the local proxy matches it. Path patterns are case-sensitive on the ALB, as locally.
 */
export function ruleConditions(host: string, path: string): RuleCondition[] {
  const conditions: RuleCondition[] = [{ Field: 'host-header', HostHeaderConfig: { Values: [host] } }];
  if (path !== '/') conditions.push({ Field: 'path-pattern', PathPatternConfig: { Values: [path, `${path}/*`] } });
  return conditions;
}

/** The target groups a rule forwards to (ELBv2 reports a plain forward both ways). */
function forwardTargets(rule: Rule): string[] {
  const arns = new Set<string>();
  for (const a of rule.Actions ?? []) {
    if (a.Type !== 'forward') continue;
    if (a.TargetGroupArn) arns.add(a.TargetGroupArn);
    for (const tg of a.ForwardConfig?.TargetGroups ?? []) if (tg.TargetGroupArn) arns.add(tg.TargetGroupArn);
  }
  return [...arns];
}

/** True when `desired` has the services of `applied`, each with the host, path and certificate it had: nothing to create or delete. */
function sameServicesAndHosts(desired: readonly Desired[], applied: ReadonlyMap<string, Applied>): boolean {
  return (
    desired.length === applied.size &&
    desired.every((d) => applied.get(d.service)?.key === d.key && applied.get(d.service)?.certificateArn === d.certificateArn)
  );
}

const LIMITS = new Set([
  'TooManyTargetGroupsException',
  'TooManyRulesException',
  'TooManyTargetsException',
  'TooManyRegistrationsForTargetIdException',
  'TooManyUniqueTargetGroupsPerLoadBalancerException',
  'TargetGroupAssociationLimitException',
  'TooManyTagsException',
]);
/**
 * ELBv2's own names. Conflicts: another sync (or a person) changed the same thing at the same
 * time; the next pass converges.
 */
export const ELBV2_ERRORS = serviceErrors({
  conflict: ['PriorityInUseException', 'DuplicateTargetGroupNameException', 'ResourceInUseException', 'TargetGroupNotFoundException', 'RuleNotFoundException'],
});

/** SDK exceptions become domain errors here, so nothing above branches on SDK types. */
function toDomainError(what: string, err: unknown): Error {
  if (err instanceof SkiffError) return err;
  const message = sdkErrorMessage(err);
  const name = sdkErrorCode(err);
  if (LIMITS.has(name)) return new LimitError(`cannot ${what}: the load balancer is at an ELBv2 quota (${name}): ${message}`, { cause: err });
  if (isAccessDenied(err)) return new LoadBalancerError('denied', `cannot ${what}: ELBv2 denied access: ${message}`, { cause: err });
  switch (classifySdkError(err, ELBV2_ERRORS)) {
    case 'conflict':
      return new ConflictError(`cannot ${what}: the load balancer changed during the sync (${name}), the next sync will converge: ${message}`, { cause: err });
    case 'throttled':
      return new LoadBalancerError('throttled', `cannot ${what}: ELBv2 throttled the request: ${message}`, { cause: err });
    case 'temporary':
      return new LoadBalancerError('unavailable', `cannot ${what}: ELBv2 unavailable (${name}): ${message}`, { cause: err });
    default:
      return new LoadBalancerError('rejected', `cannot ${what}: ELBv2 refused (${name}): ${message}`, { cause: err });
  }
}
