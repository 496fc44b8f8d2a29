/**
 * AlbLoadBalancer at the SDK boundary: aws-sdk-client-mock answers ELBv2 calls from a small
 * in-memory model of one listener and the account's target groups, so that tests can check the
 * exact calls a sync makes and the state it leaves.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mockClient } from 'aws-sdk-client-mock';
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
  ElasticLoadBalancingV2Client,
  ModifyRuleCommand,
  ModifyTargetGroupAttributesCommand,
  PriorityInUseException,
  RegisterTargetsCommand,
  RemoveListenerCertificatesCommand,
  ResourceInUseException,
  RuleNotFoundException,
  SetRulePrioritiesCommand,
  TooManyRulesException,
  TooManyTargetsException,
  type Rule,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { AlbLoadBalancer, LoadBalancerError, type AlbLoadBalancerOptions } from '../../adapters/aws/alb.ts';
import type { IngressRoute } from '../../ports/index.ts';

const ACCOUNT = '123456789012';
const LISTENER = `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:listener/app/skiff/50dc6c495c0c9188/f2f7dc8efc522ab2`;
const VPC = 'vpc-0123456789abcdef0';
/** The HTTPS listener's default certificate: the stack's. */
const DEFAULT_CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-4000-8000-000000000000';
const DEFAULTS = { 'stickiness.enabled': 'false', 'stickiness.type': 'lb_cookie', 'deregistration_delay.timeout_seconds': '300' };

interface FakeTargetGroup {
  readonly arn: string;
  readonly name: string;
  attributes: Record<string, string>;
  targets: { Id: string; Port: number; state: 'initial' | 'healthy' | 'draining' }[];
}

interface FakeRule {
  readonly arn: string;
  priority: number;
  readonly host: string;
  /** The path-pattern values, when the rule has that condition. */
  readonly paths?: string[];
  targetGroupArn: string;
}

/** One listener and the account's target groups, as ELBv2 keeps them; a page holds 2 items, to exercise markers. */
class FakeElb {
  readonly mock = mockClient(ElasticLoadBalancingV2Client);
  readonly client = this.mock as unknown as ElasticLoadBalancingV2Client;
  readonly groups = new Map<string, FakeTargetGroup>();
  rules: FakeRule[] = [];
  /** Certificates added to the listener (SNI); its default one, DEFAULT_CERTIFICATE, is apart. */
  readonly certificates = new Set<string>();
  private ids = 0;
  private readonly failures = new Map<string, Error>();

  constructor() {
    const page = <T>(items: readonly T[], marker: string | undefined) => {
      const from = Number(marker ?? 0);
      return { items: items.slice(from, from + 2), next: from + 2 < items.length ? String(from + 2) : undefined };
    };
    const groupByArn = (arn: string | undefined) => {
      const g = [...this.groups.values()].find((x) => x.arn === arn);
      if (!g) throw Object.assign(new Error(`target group ${arn} not found`), { name: 'TargetGroupNotFoundException' });
      return g;
    };
    this.on(DescribeTargetGroupsCommand, (input) => {
      const { items, next } = page([...this.groups.values()], input.Marker);
      return { TargetGroups: items.map((g) => ({ TargetGroupArn: g.arn, TargetGroupName: g.name })), NextMarker: next };
    });
    this.on(DescribeRulesCommand, (input) => {
      const all: Rule[] = [
        ...this.rules.map((r) => ({
          RuleArn: r.arn,
          Priority: String(r.priority),
          IsDefault: false,
          Conditions: [
            { Field: 'host-header', Values: [r.host], HostHeaderConfig: { Values: [r.host] } },
            ...(r.paths ? [{ Field: 'path-pattern', Values: r.paths, PathPatternConfig: { Values: r.paths } }] : []),
          ],
          Actions: [
            { Type: 'forward' as const, TargetGroupArn: r.targetGroupArn, ForwardConfig: { TargetGroups: [{ TargetGroupArn: r.targetGroupArn, Weight: 1 }] } },
          ],
        })),
        { RuleArn: `${LISTENER}/default`, Priority: 'default', IsDefault: true, Conditions: [], Actions: [{ Type: 'fixed-response' as const }] },
      ];
      const { items, next } = page(all, input.Marker);
      return { Rules: items, NextMarker: next };
    });
    this.on(CreateTargetGroupCommand, (input) => {
      // ELBv2 answers a create of an existing name with the same settings with that group.
      const g = this.groups.get(input.Name!) ?? this.addGroup(input.Name!);
      return { TargetGroups: [{ TargetGroupArn: g.arn, TargetGroupName: g.name }] };
    });
    this.on(DescribeTargetGroupAttributesCommand, (input) => ({
      Attributes: Object.entries(groupByArn(input.TargetGroupArn).attributes).map(([Key, Value]) => ({ Key, Value })),
    }));
    this.on(ModifyTargetGroupAttributesCommand, (input) => {
      const g = groupByArn(input.TargetGroupArn);
      for (const a of input.Attributes ?? []) g.attributes[a.Key!] = a.Value!;
      return {};
    });
    this.on(DescribeTargetHealthCommand, (input) => ({
      TargetHealthDescriptions: groupByArn(input.TargetGroupArn).targets.map((t) => ({ Target: { Id: t.Id, Port: t.Port }, TargetHealth: { State: t.state } })),
    }));
    this.on(RegisterTargetsCommand, (input) => {
      const g = groupByArn(input.TargetGroupArn);
      for (const t of input.Targets ?? []) {
        g.targets = g.targets.filter((x) => !(x.Id === t.Id && x.Port === t.Port));
        g.targets.push({ Id: t.Id!, Port: t.Port!, state: 'initial' });
      }
      return {};
    });
    this.on(DeregisterTargetsCommand, (input) => {
      const g = groupByArn(input.TargetGroupArn);
      for (const t of input.Targets ?? []) for (const x of g.targets) if (x.Id === t.Id && x.Port === t.Port) x.state = 'draining';
      return {};
    });
    this.on(DeleteTargetGroupCommand, (input) => {
      const g = groupByArn(input.TargetGroupArn);
      if (this.rules.some((r) => r.targetGroupArn === g.arn)) throw new ResourceInUseException({ message: `target group ${g.arn} is in use`, $metadata: {} });
      this.groups.delete(g.name);
      return {};
    });
    this.on(CreateRuleCommand, (input) => {
      if (this.rules.some((r) => r.priority === input.Priority))
        throw new PriorityInUseException({ message: `priority ${input.Priority} is in use`, $metadata: {} });
      const rule = {
        arn: `${LISTENER.replace(':listener/', ':listener-rule/')}/r${++this.ids}`,
        priority: input.Priority!,
        host: input.Conditions![0].HostHeaderConfig!.Values![0],
        ...(input.Conditions![1] ? { paths: input.Conditions![1].PathPatternConfig!.Values! } : {}),
        targetGroupArn: input.Actions![0].TargetGroupArn!,
      };
      this.rules.push(rule);
      return { Rules: [{ RuleArn: rule.arn }] };
    });
    this.on(ModifyRuleCommand, (input) => {
      const rule = this.rules.find((r) => r.arn === input.RuleArn);
      if (!rule) throw new RuleNotFoundException({ message: 'no such rule', $metadata: {} });
      rule.targetGroupArn = input.Actions![0].TargetGroupArn!;
      return {};
    });
    this.on(SetRulePrioritiesCommand, (input) => {
      for (const p of input.RulePriorities ?? []) {
        const rule = this.rules.find((r) => r.arn === p.RuleArn);
        if (!rule) throw new RuleNotFoundException({ message: 'no such rule', $metadata: {} });
        rule.priority = p.Priority!;
      }
      return {};
    });
    this.on(AddListenerCertificatesCommand, (input) => {
      for (const c of input.Certificates ?? []) this.certificates.add(c.CertificateArn!);
      return {};
    });
    // As ELBv2 lists them: the default with IsDefault, and again without it when it was also added for SNI.
    this.on(DescribeListenerCertificatesCommand, (input) => {
      const all = [
        { CertificateArn: DEFAULT_CERTIFICATE, IsDefault: true },
        ...[...this.certificates].map((CertificateArn) => ({ CertificateArn, IsDefault: false })),
      ];
      const { items, next } = page(all, input.Marker);
      return { Certificates: items, NextMarker: next };
    });
    this.on(RemoveListenerCertificatesCommand, (input) => {
      for (const c of input.Certificates ?? []) {
        if (c.CertificateArn === DEFAULT_CERTIFICATE && !this.certificates.has(c.CertificateArn)) {
          throw Object.assign(new Error('The default certificate cannot be removed'), {
            name: 'OperationNotPermittedException',
            $metadata: { httpStatusCode: 400 },
          });
        }
        if (!this.certificates.delete(c.CertificateArn!)) {
          throw Object.assign(new Error(`Certificate '${c.CertificateArn}' not found`), {
            name: 'CertificateNotFoundException',
            $metadata: { httpStatusCode: 400 },
          });
        }
      }
      return {};
    });
    this.on(DeleteRuleCommand, (input) => {
      if (!this.rules.some((r) => r.arn === input.RuleArn)) throw new RuleNotFoundException({ message: 'no such rule', $metadata: {} });
      this.rules = this.rules.filter((r) => r.arn !== input.RuleArn);
      return {};
    });
  }

  private on<I extends object, O extends object>(command: new (input: I) => { input: I }, answer: (input: I) => O): void {
    const name = command.name;
    // on() is typed per concrete command class; this helper takes any of them.
    (this.mock.on(command as any) as any).callsFake((input: I) => {
      const failure = this.failures.get(name);
      if (failure) {
        this.failures.delete(name);
        throw failure;
      }
      return answer(input);
    });
  }

  /** The next call of `command` fails with `error`. */
  failNext(command: { name: string }, error: Error): void {
    this.failures.set(command.name, error);
  }

  addGroup(name: string, attributes: Record<string, string> = {}): FakeTargetGroup {
    const g = {
      arn: `arn:aws:elasticloadbalancing:eu-west-1:${ACCOUNT}:targetgroup/${name}/${(++this.ids).toString(16).padStart(16, '0')}`,
      name,
      attributes: { ...DEFAULTS, ...attributes },
      targets: [],
    };
    this.groups.set(name, g);
    return g;
  }

  addRule(priority: number, host: string, group: FakeTargetGroup, paths?: string[]): FakeRule {
    const rule = {
      arn: `${LISTENER.replace(':listener/', ':listener-rule/')}/r${++this.ids}`,
      priority,
      host,
      ...(paths ? { paths } : {}),
      targetGroupArn: group.arn,
    };
    this.rules.push(rule);
    return rule;
  }

  /** Every call so far as `[command, input]`, then forgets them. */
  takeCalls(): [string, unknown][] {
    const calls = this.mock.calls().map((c): [string, unknown] => {
      const command = c.args[0] as { constructor: { name: string }; input: unknown };
      return [command.constructor.name.replace(/Command$/, ''), command.input];
    });
    this.mock.resetHistory();
    return calls;
  }

  /** The listener's routing as `host -> target group name`, sorted by priority. */
  routing(): string[] {
    const nameOf = (arn: string) => [...this.groups.values()].find((g) => g.arn === arn)?.name ?? arn;
    return [...this.rules]
      .sort((a, b) => a.priority - b.priority)
      .map((r) => `${r.priority} ${r.host}${r.paths ? ` ${r.paths.join(',')}` : ''} -> ${nameOf(r.targetGroupArn)}`);
  }

  /** Registered (not draining) targets of a group, as `id:port`, sorted. */
  targetsOf(name: string): string[] {
    return (this.groups.get(name)?.targets ?? [])
      .filter((t) => t.state !== 'draining')
      .map((t) => `${t.Id}:${t.Port}`)
      .sort();
  }
}

/** Hosts' private addresses and instance ids. */
const INSTANCES: Record<string, string> = { '10.0.1.5': 'i-0aaaaaaaaaaaaaaa1', '10.0.1.6': 'i-0bbbbbbbbbbbbbbb2', '10.0.1.7': 'i-0ccccccccccccccc3' };

let elb: FakeElb;
afterEach(() => elb?.mock.restore());

function balancer(options: Partial<AlbLoadBalancerOptions> = {}): AlbLoadBalancer {
  return new AlbLoadBalancer(elb.client, { listenerArn: LISTENER, vpcId: VPC, namePrefix: 'skiff', resolveInstance: (ip) => INSTANCES[ip], ...options });
}

function route(service: string, host: string, targets: [string, number][], sessionAffinity = false, namespace = 'shop'): IngressRoute {
  return { host, namespace, service, sessionAffinity, targets: targets.map(([ip, port], i) => ({ taskId: `${service}-${i}-abcde`, ip, port })) };
}

const tgName = (service: string, namespace = 'shop') => balancer().targetGroupName(namespace, service);

describe('AlbLoadBalancer', () => {
  it("names target groups stably per service, within ELBv2's 32 characters", () => {
    elb = new FakeElb();
    const name = tgName('web');
    expect(name).toMatch(/^skiff-[0-9a-f]{12}$/);
    expect(tgName('web')).toBe(name);
    expect(tgName('web', 'other')).not.toBe(name);
    expect(balancer({ namePrefix: 'a'.repeat(19) }).targetGroupName('shop', 'web')).toHaveLength(32);
  });

  it('creates a target group, its attributes, its targets and a host rule for a new ingress', async () => {
    elb = new FakeElb();
    const foreign = elb.addGroup('people-frontend');
    elb.addRule(1, 'other.example.com', foreign);
    await balancer().sync([
      route(
        'web',
        'shop.example.com',
        [
          ['10.0.1.5', 30000],
          ['10.0.1.6', 30001],
        ],
        true,
      ),
    ]);
    const arn = elb.groups.get(tgName('web'))!.arn;
    expect(elb.takeCalls()).toEqual([
      ['DescribeTargetGroups', { PageSize: 400 }],
      ['DescribeRules', { ListenerArn: LISTENER, PageSize: 400 }],
      [
        'CreateTargetGroup',
        {
          Name: tgName('web'),
          Protocol: 'HTTP',
          Port: 80,
          VpcId: VPC,
          TargetType: 'instance',
          HealthCheckProtocol: 'HTTP',
          HealthCheckPort: 'traffic-port',
          HealthCheckPath: '/',
          HealthCheckIntervalSeconds: 5,
          HealthCheckTimeoutSeconds: 4,
          HealthyThresholdCount: 2,
          UnhealthyThresholdCount: 2,
          Matcher: { HttpCode: '200-499' },
          Tags: [{ Key: 'skiff:service', Value: 'shop/web' }],
        },
      ],
      [
        'ModifyTargetGroupAttributes',
        {
          TargetGroupArn: arn,
          Attributes: [
            { Key: 'stickiness.enabled', Value: 'true' },
            { Key: 'stickiness.type', Value: 'lb_cookie' },
            { Key: 'deregistration_delay.timeout_seconds', Value: '30' },
          ],
        },
      ],
      [
        'RegisterTargets',
        {
          TargetGroupArn: arn,
          Targets: [
            { Id: 'i-0aaaaaaaaaaaaaaa1', Port: 30000 },
            { Id: 'i-0bbbbbbbbbbbbbbb2', Port: 30001 },
          ],
        },
      ],
      [
        'CreateRule',
        {
          ListenerArn: LISTENER,
          Priority: 2,
          Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: ['shop.example.com'] } }],
          Actions: [{ Type: 'forward', TargetGroupArn: arn }],
          Tags: [{ Key: 'skiff:service', Value: 'shop/web' }],
        },
      ],
    ]);
    expect(elb.routing()).toEqual(['1 other.example.com -> people-frontend', `2 shop.example.com -> ${tgName('web')}`]);
  });

  it('changes only what differs: targets added and removed, affinity turned off', async () => {
    elb = new FakeElb();
    await balancer().sync([
      route(
        'web',
        'shop.example.com',
        [
          ['10.0.1.5', 30000],
          ['10.0.1.6', 30001],
        ],
        true,
      ),
    ]);
    elb.takeCalls();
    // A new instance of the adapter (another Lambda container) reads everything back.
    await balancer().sync([
      route(
        'web',
        'shop.example.com',
        [
          ['10.0.1.6', 30001],
          ['10.0.1.7', 30002],
        ],
        false,
      ),
    ]);
    const arn = elb.groups.get(tgName('web'))!.arn;
    expect(elb.takeCalls()).toEqual([
      ['DescribeTargetGroups', { PageSize: 400 }],
      ['DescribeRules', { ListenerArn: LISTENER, PageSize: 400 }],
      ['DescribeTargetGroupAttributes', { TargetGroupArn: arn }],
      ['ModifyTargetGroupAttributes', { TargetGroupArn: arn, Attributes: [{ Key: 'stickiness.enabled', Value: 'false' }] }],
      ['DescribeTargetHealth', { TargetGroupArn: arn }],
      ['RegisterTargets', { TargetGroupArn: arn, Targets: [{ Id: 'i-0ccccccccccccccc3', Port: 30002 }] }],
      ['DeregisterTargets', { TargetGroupArn: arn, Targets: [{ Id: 'i-0aaaaaaaaaaaaaaa1', Port: 30000 }] }],
    ]);
    expect(elb.targetsOf(tgName('web'))).toEqual(['i-0bbbbbbbbbbbbbbb2:30001', 'i-0ccccccccccccccc3:30002']);
  });

  it('only reads when everything already matches, and then sends nothing until the resync time', async () => {
    elb = new FakeElb();
    const routes = [route('web', 'shop.example.com', [['10.0.1.5', 30000]], true)];
    await balancer().sync(routes);
    elb.takeCalls();
    let now = 1_000_000;
    const lb = balancer({ now: () => now, resyncMs: 60_000 });
    await lb.sync(routes);
    const arn = elb.groups.get(tgName('web'))!.arn;
    const reads = [
      ['DescribeTargetGroups', { PageSize: 400 }],
      ['DescribeRules', { ListenerArn: LISTENER, PageSize: 400 }],
      ['DescribeTargetGroupAttributes', { TargetGroupArn: arn }],
      ['DescribeTargetHealth', { TargetGroupArn: arn }],
    ];
    expect(elb.takeCalls()).toEqual(reads);
    now += 59_999;
    await lb.sync(routes);
    expect(elb.takeCalls()).toEqual([]);
    now += 1;
    await lb.sync(routes);
    expect(elb.takeCalls()).toEqual(reads);
  });

  it('between full syncs, sends changes of targets and affinity of known services without reading', async () => {
    elb = new FakeElb();
    const lb = balancer({ now: () => 0 });
    await lb.sync([route('web', 'shop.example.com', [['10.0.1.5', 30000]])]);
    elb.takeCalls();
    const arn = elb.groups.get(tgName('web'))!.arn;
    await lb.sync([route('web', 'shop.example.com', [['10.0.1.6', 30001]], true)]);
    expect(elb.takeCalls()).toEqual([
      [
        'ModifyTargetGroupAttributes',
        {
          TargetGroupArn: arn,
          Attributes: [
            { Key: 'stickiness.enabled', Value: 'true' },
            { Key: 'stickiness.type', Value: 'lb_cookie' },
          ],
        },
      ],
      ['RegisterTargets', { TargetGroupArn: arn, Targets: [{ Id: 'i-0bbbbbbbbbbbbbbb2', Port: 30001 }] }],
      ['DeregisterTargets', { TargetGroupArn: arn, Targets: [{ Id: 'i-0aaaaaaaaaaaaaaa1', Port: 30000 }] }],
    ]);
    expect(elb.targetsOf(tgName('web'))).toEqual(['i-0bbbbbbbbbbbbbbb2:30001']);
    expect(elb.groups.get(tgName('web'))!.attributes['stickiness.enabled']).toBe('true');
  });

  it('removes the rule and then the target group of a service that no longer has an ingress, and nothing else', async () => {
    elb = new FakeElb();
    const foreign = elb.addGroup('people-frontend');
    elb.addRule(1, 'other.example.com', foreign);
    elb.addGroup('skiff-prod-0123456789ab'); // another cluster's: its prefix is longer
    await balancer().sync([route('web', 'shop.example.com', [['10.0.1.5', 30000]])]);
    const arn = elb.groups.get(tgName('web'))!.arn;
    const ruleArn = elb.rules.find((r) => r.host === 'shop.example.com')!.arn;
    elb.takeCalls();
    await balancer().sync([]);
    expect(elb.takeCalls()).toEqual([
      ['DescribeTargetGroups', { PageSize: 400 }],
      ['DescribeTargetGroups', { PageSize: 400, Marker: '2' }],
      ['DescribeRules', { ListenerArn: LISTENER, PageSize: 400 }],
      ['DescribeRules', { ListenerArn: LISTENER, PageSize: 400, Marker: '2' }],
      ['DeleteRule', { RuleArn: ruleArn }],
      ['DeleteTargetGroup', { TargetGroupArn: arn }],
    ]);
    expect(elb.routing()).toEqual(['1 other.example.com -> people-frontend']);
    expect([...elb.groups.keys()].sort()).toEqual(['people-frontend', 'skiff-prod-0123456789ab']);
  });

  it('keeps priorities of existing rules and gives a new host the lowest free one', async () => {
    elb = new FakeElb();
    elb.addRule(2, 'other.example.com', elb.addGroup('people-frontend'));
    const lb = balancer({ firstPriority: 1 });
    await lb.sync([route('a', 'a.example.com', []), route('b', 'b.example.com', []), route('c', 'c.example.com', [])]);
    expect(elb.routing()).toEqual([
      `1 a.example.com -> ${tgName('a')}`,
      '2 other.example.com -> people-frontend',
      `3 b.example.com -> ${tgName('b')}`,
      `4 c.example.com -> ${tgName('c')}`,
    ]);
    await lb.sync([route('b', 'b.example.com', []), route('c', 'c.example.com', []), route('d', 'd.example.com', [])]);
    expect(elb.routing()).toEqual([
      `1 d.example.com -> ${tgName('d')}`,
      '2 other.example.com -> people-frontend',
      `3 b.example.com -> ${tgName('b')}`,
      `4 c.example.com -> ${tgName('c')}`,
    ]);
  });

  it('takes no priority below firstPriority', async () => {
    elb = new FakeElb();
    await balancer({ firstPriority: 1000 }).sync([route('web', 'shop.example.com', [])]);
    expect(elb.routing()).toEqual([`1000 shop.example.com -> ${tgName('web')}`]);
  });

  it("moves a host to another service by changing the rule's action, then deletes the old target group", async () => {
    elb = new FakeElb();
    await balancer().sync([route('old', 'shop.example.com', [['10.0.1.5', 30000]])]);
    const rule = elb.rules[0];
    const oldArn = elb.groups.get(tgName('old'))!.arn;
    elb.takeCalls();
    await balancer().sync([route('new', 'shop.example.com', [['10.0.1.6', 30001]])]);
    const newArn = elb.groups.get(tgName('new'))!.arn;
    const writes = elb.takeCalls().filter(([name]) => !name.startsWith('Describe'));
    expect(writes).toEqual([
      ['CreateTargetGroup', expect.objectContaining({ Name: tgName('new') })],
      ['ModifyTargetGroupAttributes', expect.objectContaining({ TargetGroupArn: newArn })],
      ['RegisterTargets', { TargetGroupArn: newArn, Targets: [{ Id: 'i-0bbbbbbbbbbbbbbb2', Port: 30001 }] }],
      ['ModifyRule', { RuleArn: rule.arn, Actions: [{ Type: 'forward', TargetGroupArn: newArn }] }],
      ['DeleteTargetGroup', { TargetGroupArn: oldArn }],
    ]);
    expect(elb.routing()).toEqual([`${rule.priority} shop.example.com -> ${tgName('new')}`]);
  });

  it('gives a service whose host changed a rule for the new host and removes the old one', async () => {
    elb = new FakeElb();
    const lb = balancer({ now: () => 0 });
    await lb.sync([route('web', 'shop.example.com', [])]);
    const old = elb.rules[0];
    elb.takeCalls();
    await lb.sync([route('web', 'store.example.com', [])]);
    const writes = elb.takeCalls().filter(([name]) => !name.startsWith('Describe'));
    expect(writes).toEqual([
      ['DeleteRule', { RuleArn: old.arn }],
      ['CreateRule', expect.objectContaining({ Priority: 1, Conditions: [{ Field: 'host-header', HostHeaderConfig: { Values: ['store.example.com'] } }] })],
    ]);
    expect(elb.routing()).toEqual([`1 store.example.com -> ${tgName('web')}`]);
  });

  it('keeps the first of two rules that two racing syncs created for one host, and deletes the other', async () => {
    elb = new FakeElb();
    await balancer().sync([route('web', 'shop.example.com', [])]);
    const duplicate = elb.addRule(7, 'shop.example.com', elb.groups.get(tgName('web'))!);
    elb.takeCalls();
    await balancer().sync([route('web', 'shop.example.com', [])]);
    expect(elb.takeCalls().filter(([name]) => !name.startsWith('Describe'))).toEqual([['DeleteRule', { RuleArn: duplicate.arn }]]);
    expect(elb.routing()).toEqual([`1 shop.example.com -> ${tgName('web')}`]);
  });

  it('re-registers a replica that is draining when it is wanted again', async () => {
    elb = new FakeElb();
    await balancer().sync([route('web', 'shop.example.com', [['10.0.1.5', 30000]])]);
    elb.groups.get(tgName('web'))!.targets[0].state = 'draining';
    elb.takeCalls();
    await balancer().sync([route('web', 'shop.example.com', [['10.0.1.5', 30000]])]);
    expect(elb.takeCalls().filter(([name]) => !name.startsWith('Describe'))).toEqual([
      ['RegisterTargets', { TargetGroupArn: elb.groups.get(tgName('web'))!.arn, Targets: [{ Id: 'i-0aaaaaaaaaaaaaaa1', Port: 30000 }] }],
    ]);
  });

  it('resolves each address to its instance once, and leaves out a target whose address no instance has, saying so', async () => {
    elb = new FakeElb();
    const asked: string[] = [];
    const warnings: string[] = [];
    const lb = balancer({
      resolveInstance: async (ip) => {
        asked.push(ip);
        return INSTANCES[ip];
      },
      warn: (m) => warnings.push(m),
    });
    await lb.sync([
      route('web', 'shop.example.com', [
        ['10.0.1.5', 30000],
        ['10.0.1.5', 30001],
        ['10.0.9.9', 30002],
      ]),
    ]);
    expect(asked.sort()).toEqual(['10.0.1.5', '10.0.9.9']);
    expect(elb.targetsOf(tgName('web'))).toEqual(['i-0aaaaaaaaaaaaaaa1:30000', 'i-0aaaaaaaaaaaaaaa1:30001']);
    expect(warnings).toEqual(['replica web-2-abcde of shop/web is left out of the load balancer: no instance has address 10.0.9.9']);
  });

  it('reports a lost race for a rule priority as a conflict of that route, and reads everything back on the next sync', async () => {
    elb = new FakeElb();
    const lb = balancer({ now: () => 0 });
    elb.failNext(CreateRuleCommand, new PriorityInUseException({ message: 'Priority 1 is currently in use', $metadata: {} }));
    const out = await lb.sync([route('web', 'shop.example.com', [])]);
    expect(out.failed).toEqual([
      {
        host: 'shop.example.com',
        namespace: 'shop',
        service: 'web',
        reason: 'conflict',
        message: expect.stringContaining('cannot create the listener rule for ingress host shop.example.com of shop/web'),
      },
    ]);
    elb.takeCalls();
    expect((await lb.sync([route('web', 'shop.example.com', [])])).failed).toEqual([]);
    expect(elb.takeCalls().map(([name]) => name)).toEqual([
      'DescribeTargetGroups',
      'DescribeRules',
      'DescribeTargetGroupAttributes',
      'DescribeTargetHealth',
      'CreateRule',
    ]);
    expect(elb.routing()).toEqual([`1 shop.example.com -> ${tgName('web')}`]);
  });

  it("past the listener's rule quota, keeps the existing rules, syncs the other routes and reports the new one as not served", async () => {
    elb = new FakeElb();
    const lb = balancer();
    await lb.sync([route('api', 'api.example.com', [['10.0.1.5', 30000]])]);
    // The quota is reached with the first new rule; the route after it still gets its rule and targets.
    elb.failNext(CreateRuleCommand, new TooManyRulesException({ message: "You've reached the limit on the number of rules per listener", $metadata: {} }));
    const out = await lb.sync([
      route('api', 'api.example.com', [['10.0.1.6', 30001]]),
      route('blog', 'blog.example.com', [['10.0.1.5', 30002]]),
      route('web', 'shop.example.com', [['10.0.1.7', 30003]]),
    ]);
    expect(out.failed).toEqual([
      {
        host: 'blog.example.com',
        namespace: 'shop',
        service: 'blog',
        reason: 'quota',
        message: expect.stringMatching(/cannot create the listener rule for ingress host blog\.example\.com of shop\/blog: .*TooManyRulesException/),
      },
    ]);
    expect(elb.routing()).toEqual([`1 api.example.com -> ${tgName('api')}`, `2 shop.example.com -> ${tgName('web')}`]);
    expect(elb.targetsOf(tgName('api'))).toEqual(['i-0bbbbbbbbbbbbbbb2:30001']);
    expect(elb.targetsOf(tgName('web'))).toEqual(['i-0ccccccccccccccc3:30003']);
  });

  it('fails alone a route whose targets cannot be registered, and one for which no rule priority is free', async () => {
    elb = new FakeElb();
    const foreign = elb.addGroup('people-frontend');
    elb.addRule(50_000, 'people.example.com', foreign);
    elb.failNext(RegisterTargetsCommand, new TooManyTargetsException({ message: 'too many targets', $metadata: {} }));
    const out = await balancer({ firstPriority: 49_999 }).sync([
      route('api', 'api.example.com', [['10.0.1.5', 30000]]),
      route('blog', 'blog.example.com', [['10.0.1.6', 30001]]),
      route('web', 'shop.example.com', [['10.0.1.7', 30002]]),
    ]);
    expect(out.failed.map((f) => [f.host, f.reason])).toEqual([
      ['api.example.com', 'quota'], // its registration failed: no rule sends requests to an empty group
      ['shop.example.com', 'quota'], // 49,999 went to blog, 50,000 is taken
    ]);
    expect(out.failed[1].message).toContain('no listener rule priority is free from 49999 to 50000 for ingress host shop.example.com');
    expect(elb.routing()).toEqual([`49999 blog.example.com -> ${tgName('blog')}`, '50000 people.example.com -> people-frontend']);
    expect(elb.targetsOf(tgName('blog'))).toEqual(['i-0bbbbbbbbbbbbbbb2:30001']);
  });

  it('aborts the sync when ELBv2 throttles, as a retryable LoadBalancerError', async () => {
    elb = new FakeElb();
    elb.failNext(DescribeTargetGroupsCommand, Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }));
    const err = await balancer()
      .sync([])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoadBalancerError);
    expect(err).toMatchObject({ reason: 'throttled', retryable: true, message: 'cannot list target groups: ELBv2 throttled the request: Rate exceeded' });
    elb.failNext(RegisterTargetsCommand, Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }));
    await expect(balancer().sync([route('web', 'shop.example.com', [['10.0.1.5', 30000]])])).rejects.toMatchObject({ reason: 'throttled' });
  });

  it('refuses two routes for one host', async () => {
    elb = new FakeElb();
    await expect(balancer().sync([route('a', 'shop.example.com', []), route('b', 'Shop.example.com', [])])).rejects.toThrow(
      'two routes for ingress host shop.example.com',
    );
    expect(elb.takeCalls()).toEqual([]);
  });

  it.each<[string, Partial<AlbLoadBalancerOptions>, string]>([
    ['a name prefix too long for a target group name', { namePrefix: 'a'.repeat(20) }, 'namePrefix must be 1 to 19'],
    ['a name prefix ending in "-"', { namePrefix: 'skiff-' }, 'namePrefix must be 1 to 19'],
    ['a name prefix ELBv2 reserves', { namePrefix: 'internal-x' }, 'nor starting with "internal-"'],
    [
      'a network load balancer listener',
      { listenerArn: LISTENER.replace('/app/', '/net/') },
      'listenerArn must be the ARN of an Application Load Balancer listener',
    ],
    ['a VPC id of the wrong form', { vpcId: 'default' }, 'vpcId must be a VPC id'],
    ['a priority out of range', { firstPriority: 50_001 }, 'firstPriority must be an integer from 1 to 50000'],
    ['an unknown option', { listener: 'x' } as Partial<AlbLoadBalancerOptions>, 'unknown option(s) listener'],
  ])('rejects %s', (_name, options, message) => {
    elb = new FakeElb();
    expect(() => balancer(options)).toThrow(message);
  });

  it('converges from any state to the routes, leaving foreign rules and groups alone; a fresh adapter then only reads', async () => {
    const services = ['a', 'b', 'c', 'd'];
    const hosts = ['a.example.com', 'b.example.com', 'c.example.com', 'd.example.com', 'e.example.com'];
    const ips = Object.keys(INSTANCES);
    const arbitraryRoute = fc.record({
      service: fc.constantFrom(...services),
      host: fc.constantFrom(...hosts),
      affinity: fc.boolean(),
      targets: fc.uniqueArray(fc.tuple(fc.constantFrom(...ips), fc.integer({ min: 30000, max: 30003 })), {
        maxLength: 4,
        selector: ([ip, port]) => `${ip}:${port}`,
      }),
    });
    const arbitraryState = fc.record({
      groups: fc.subarray(services),
      rules: fc.array(fc.tuple(fc.constantFrom(...hosts), fc.constantFrom(...services)), { maxLength: 5 }),
      // A target group holds an instance and port once.
      targets: fc.uniqueArray(fc.tuple(fc.constantFrom(...services), fc.constantFrom(...ips), fc.integer({ min: 30000, max: 30003 })), {
        maxLength: 6,
        selector: (t) => t.join(':'),
      }),
      sticky: fc.subarray(services),
    });
    await fc.assert(
      fc.asyncProperty(
        fc
          .uniqueArray(arbitraryRoute, { maxLength: 4, selector: (r) => r.service })
          .map((rs) => rs.filter((r, i) => rs.findIndex((x) => x.host === r.host) === i)),
        arbitraryState,
        async (wanted, state) => {
          elb?.mock.restore();
          elb = new FakeElb();
          elb.addRule(10, 'people.example.com', elb.addGroup('people-frontend'));
          for (const s of state.groups) {
            const g = elb.addGroup(tgName(s), state.sticky.includes(s) ? { 'stickiness.enabled': 'true' } : {});
            for (const [service, ip, port] of state.targets) if (service === s) g.targets.push({ Id: INSTANCES[ip], Port: port, state: 'healthy' });
          }
          state.rules.forEach(([host, s], i) => {
            const g = elb.groups.get(tgName(s));
            if (g) elb.addRule(20 + i, host, g);
          });
          const routes = wanted.map((r) => route(r.service, r.host, r.targets, r.affinity));

          await balancer().sync(routes);

          expect(
            elb
              .routing()
              .filter((r) => !r.includes('people'))
              .map((r) => r.replace(/^\d+ /, ''))
              .sort(),
          ).toEqual(routes.map((r) => `${r.host} -> ${tgName(r.service)}`).sort());
          expect(elb.routing()).toContain('10 people.example.com -> people-frontend');
          expect([...elb.groups.keys()].sort()).toEqual([...routes.map((r) => tgName(r.service)), 'people-frontend'].sort());
          for (const r of routes) {
            expect(elb.targetsOf(tgName(r.service))).toEqual([...new Set(r.targets.map((t) => `${INSTANCES[t.ip]}:${t.port}`))].sort());
            expect(elb.groups.get(tgName(r.service))!.attributes).toMatchObject({
              'stickiness.enabled': String(r.sessionAffinity),
              'deregistration_delay.timeout_seconds': '30',
            });
          }
          elb.takeCalls();
          await balancer().sync(routes);
          expect(elb.takeCalls().filter(([name]) => !name.startsWith('Describe'))).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('AlbLoadBalancer: paths, wildcard hosts and TLS', () => {
  const ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';

  it('gives each host and path its own rule, with path-pattern conditions for the path and below it, and wildcard hosts as they are', async () => {
    elb = new FakeElb();
    const lb = balancer();
    const api = { ...route('api', 'shop.example.com', [['10.0.1.5', 32001]]), path: '/api' };
    const any = route('any', '*.example.com', [['10.0.1.6', 32002]]);
    expect(await lb.sync([route('web', 'shop.example.com', [['10.0.1.5', 32000]]), api, any])).toEqual({ failed: [] });
    const creates = elb.takeCalls().filter(([c]) => c === 'CreateRule');
    expect(creates.map(([, input]) => (input as { Conditions: unknown }).Conditions)).toEqual(
      expect.arrayContaining([
        [{ Field: 'host-header', HostHeaderConfig: { Values: ['*.example.com'] } }],
        [
          { Field: 'host-header', HostHeaderConfig: { Values: ['shop.example.com'] } },
          { Field: 'path-pattern', PathPatternConfig: { Values: ['/api', '/api/*'] } },
        ],
      ]),
    );
    // Most specific first: /api before / on the host, the exact host before the wildcard.
    expect(elb.routing().map((r) => r.replace(/^\d+ /, ''))).toEqual([
      `shop.example.com /api,/api/* -> ${tgName('api')}`,
      `shop.example.com -> ${tgName('web')}`,
      `*.example.com -> ${tgName('any')}`,
    ]);
    // A second sync finds every rule in place and changes nothing.
    await lb.sync([route('web', 'shop.example.com', [['10.0.1.5', 32000]]), api, any]);
    expect(elb.takeCalls().filter(([c]) => !c.startsWith('Describe'))).toEqual([]);
  });

  it('reorders rules that can match the same request when their priorities are the wrong way round, in one call', async () => {
    elb = new FakeElb();
    const lb = balancer();
    const root = elb.addRule(1, 'shop.example.com', elb.addGroup(tgName('web')));
    const other = elb.addRule(2, 'blog.example.com', elb.addGroup(tgName('blog')));
    const api = elb.addRule(5, 'shop.example.com', elb.addGroup(tgName('api')), ['/api', '/api/*']);
    await lb.sync([route('web', 'shop.example.com', []), route('blog', 'blog.example.com', []), { ...route('api', 'shop.example.com', []), path: '/api' }]);
    const reorders = elb.takeCalls().filter(([c]) => c === 'SetRulePriorities');
    expect(reorders).toEqual([
      [
        'SetRulePriorities',
        {
          RulePriorities: [
            { RuleArn: api.arn, Priority: 1 },
            { RuleArn: root.arn, Priority: 5 },
          ],
        },
      ],
    ]);
    // The rule of a host no other rule can match keeps its priority.
    expect(other.priority).toBe(2);
  });

  it('refuses a tls route on a listener without HTTPS, and serves the others', async () => {
    elb = new FakeElb();
    const lb = balancer();
    const { failed } = await lb.sync([{ ...route('web', 'shop.example.com', []), tls: true }, route('blog', 'blog.example.com', [])]);
    expect(failed).toEqual([
      {
        host: 'shop.example.com',
        namespace: 'shop',
        service: 'web',
        reason: 'rejected',
        message: expect.stringContaining("spec.ingress.tls needs the load balancer's HTTPS listener"),
      },
    ]);
    expect(elb.routing()).toEqual([`1 blog.example.com -> ${tgName('blog')}`]);
  });

  it("adds a route's own certificate to the HTTPS listener for SNI, once per sync", async () => {
    elb = new FakeElb();
    const lb = balancer({ https: true });
    const tls = { certificateArn: ARN };
    const { failed } = await lb.sync([
      { ...route('web', 'shop.example.com', []), tls },
      { ...route('api', 'shop.example.com', []), path: '/api', tls },
      { ...route('blog', 'blog.example.com', []), tls: true },
    ]);
    expect(failed).toEqual([]);
    expect([...elb.certificates]).toEqual([ARN]);
    expect(elb.takeCalls().filter(([c]) => c === 'AddListenerCertificates')).toEqual([
      ['AddListenerCertificates', { ListenerArn: LISTENER, Certificates: [{ CertificateArn: ARN }] }],
    ]);
    expect(elb.routing()).toHaveLength(3);
  });

  it('removes a certificate no route asks for any more (certificateArn changed, tls dropped, service deleted), never the default one', async () => {
    elb = new FakeElb();
    const [A, B, C] = ['a', 'b', 'c'].map((x) => ARN.replace(/0a1b2c3d/, `${x}${x}${x}${x}0000`));
    // The default certificate also added for SNI by someone: listed twice, and still never removed.
    elb.certificates.add(DEFAULT_CERTIFICATE);
    let now = 0;
    const lb = balancer({ https: true, now: () => now });
    const web = (tls: IngressRoute['tls']) => ({ ...route('web', 'shop.example.com', []), tls });
    const api = (arn: string) => ({ ...route('api', 'api.example.com', []), tls: { certificateArn: arn } });
    const own = { ...route('own', 'own.example.com', []), tls: { certificateArn: DEFAULT_CERTIFICATE } };
    expect(await lb.sync([web({ certificateArn: A }), api(B), own])).toEqual({ failed: [] });
    expect([...elb.certificates].sort()).toEqual([DEFAULT_CERTIFICATE, A, B].sort());
    elb.takeCalls();

    // Another certificate for api, within resyncMs: a full sync adds the new one and removes the old.
    now += 1000;
    expect(await lb.sync([web({ certificateArn: A }), api(C), own])).toEqual({ failed: [] });
    const certificateCalls = () => elb.takeCalls().filter(([c]) => c.endsWith('ListenerCertificates') && !c.startsWith('Describe'));
    expect(certificateCalls()).toEqual([
      ['AddListenerCertificates', { ListenerArn: LISTENER, Certificates: [{ CertificateArn: C }] }],
      ['RemoveListenerCertificates', { ListenerArn: LISTENER, Certificates: [{ CertificateArn: B }] }],
    ]);
    // web drops its own certificate (tls: true is the stack's).
    now += 1000;
    await lb.sync([web(true), api(C), own]);
    expect(certificateCalls()).toEqual([['RemoveListenerCertificates', { ListenerArn: LISTENER, Certificates: [{ CertificateArn: A }] }]]);
    // api and own are deleted.
    now += 1000;
    await lb.sync([web(true)]);
    expect(certificateCalls()).toEqual([['RemoveListenerCertificates', { ListenerArn: LISTENER, Certificates: [{ CertificateArn: C }] }]]);
    expect([...elb.certificates]).toEqual([DEFAULT_CERTIFICATE]);
    // Nothing left to do: a full sync reads the certificates back and writes nothing.
    now += 120_000;
    await lb.sync([web(true)]);
    expect(elb.takeCalls().filter(([c]) => !c.startsWith('Describe'))).toEqual([]);
  });

  it('keeps serving when a certificate cannot be removed, says why, and removes it at the next sync', async () => {
    elb = new FakeElb();
    const warnings: string[] = [];
    let now = 0;
    const lb = balancer({ https: true, now: () => now, warn: (m) => warnings.push(m) });
    await lb.sync([{ ...route('web', 'shop.example.com', [['10.0.1.5', 30000]]), tls: { certificateArn: ARN } }]);
    expect([...elb.certificates]).toEqual([ARN]);
    elb.failNext(
      RemoveListenerCertificatesCommand,
      Object.assign(new Error('User is not authorized to perform: elasticloadbalancing:RemoveListenerCertificates'), {
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    now += 1000;
    expect(await lb.sync([{ ...route('web', 'shop.example.com', [['10.0.1.5', 30000]]), tls: true }])).toEqual({ failed: [] });
    expect(warnings).toEqual([
      `could not remove a certificate no ingress route uses: cannot remove certificate ${ARN} from the listener (no ingress route uses it any more): ELBv2 denied access: User is not authorized to perform: elasticloadbalancing:RemoveListenerCertificates`,
    ]);
    expect([...elb.certificates]).toEqual([ARN]);
    // The next sync, within resyncMs and with the same routes, is a full one: it tries again.
    now += 1000;
    elb.takeCalls();
    await lb.sync([{ ...route('web', 'shop.example.com', [['10.0.1.5', 30000]]), tls: true }]);
    expect(elb.takeCalls().filter(([c]) => c === 'RemoveListenerCertificates')).toHaveLength(1);
    expect([...elb.certificates]).toEqual([]);
    expect(elb.targetsOf(tgName('web'))).toEqual(['i-0aaaaaaaaaaaaaaa1:30000']);
  });

  it('fails the sync, naming the listener, when its certificates cannot be read, and stops on throttling while removing one', async () => {
    elb = new FakeElb();
    elb.failNext(
      DescribeListenerCertificatesCommand,
      Object.assign(new Error('Internal failure'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } }),
    );
    await expect(balancer({ https: true }).sync([])).rejects.toMatchObject({
      reason: 'unavailable',
      retryable: true,
      message: `cannot list the certificates of listener ${LISTENER}: ELBv2 unavailable (InternalFailure): Internal failure`,
    });
    elb.certificates.add(ARN);
    elb.failNext(RemoveListenerCertificatesCommand, Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } }));
    await expect(balancer({ https: true }).sync([])).rejects.toMatchObject({ reason: 'throttled' });
    expect([...elb.certificates]).toEqual([ARN]);
  });
});
