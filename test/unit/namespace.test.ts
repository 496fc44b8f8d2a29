/** Namespaces (core/namespace.ts): the spec, quotas at their edges, and ingress host patterns. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingressHostMatches } from '../../core/ingress-match.ts';
import { ValidationError } from '../../core/errors.ts';
import {
  checkQuota,
  hostMatches,
  ingressHostProblem,
  namespaceUsage,
  patternCovers,
  patternsOverlap,
  parseNamespaceSpec,
  parseStoredNamespaceSpec,
  QuotaExceededError,
  quotaProblems,
  type Namespace,
} from '../../core/namespace.ts';
import { aService } from '../builders.ts';

const ns = (spec: Record<string, unknown>, name = 'shop'): Namespace => ({
  name,
  spec: parseNamespaceSpec({ kind: 'Namespace', metadata: { name }, spec }),
  version: 1,
  createdAt: '',
  updatedAt: '',
});

/** A service of namespace shop with `replicas` pods of one container asking `memory` and `cpu`. */
function svc(name: string, replicas: number, memory = '512Mi', cpu = '250m') {
  const s = aService({ name, namespace: 'shop', replicas });
  const containers = s.spec.spec.containers.map((c) => ({ ...c, resources: { cpu: Number.parseInt(cpu, 10), memory: Number.parseInt(memory, 10) * 2 ** 20 } }));
  return { ...s, spec: { ...s.spec, spec: { ...s.spec.spec, containers: containers.slice(0, 1) } } };
}

describe('the Namespace spec', () => {
  it('parses quotas as quantities and keeps the stored form readable again', () => {
    const spec = parseNamespaceSpec({
      kind: 'Namespace',
      metadata: { name: 'shop' },
      spec: { quota: { cpu: '4', memory: '8Gi', tasks: 50, services: 5, ingressHosts: 2 } },
    });
    expect(spec.spec.quota).toEqual({ cpu: 4000, memory: 8 * 2 ** 30, tasks: 50, services: 5, ingressHosts: 2 });
    expect(parseStoredNamespaceSpec(JSON.parse(JSON.stringify(spec)))).toEqual(spec);
  });

  it('lists every wrong field', () => {
    try {
      parseNamespaceSpec({
        kind: 'Namespace',
        metadata: { name: 'Shop' },
        spec: { quota: { cpu: 'lots', gpus: 1, tasks: -1 }, ingressHosts: ['*.ok.example.com', 'a b'] },
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues.map((i) => i.path)).toEqual([
        'metadata.name',
        'spec.quota.cpu',
        'spec.quota.gpus',
        'spec.quota.tasks',
        'spec.ingressHosts[1]',
      ]);
    }
  });
});

describe('quotas, at the edge and one over', () => {
  const quota = ns({ quota: { memory: '8Gi', tasks: 16 } });
  // 15 replicas of 512Mi: 7.5Gi used, 15 tasks.
  const stored = [svc('a', 15)];

  it('a change that lands exactly at the quota passes', () => {
    expect(quotaProblems(quota, stored, undefined, svc('b', 1))).toEqual([]);
  });

  it('one over is refused with the numbers', () => {
    expect(quotaProblems(quota, stored, undefined, svc('b', 1, '1024Mi'))).toEqual(['namespace shop: memory 7.5Gi of 8Gi used, this change needs 1Gi more']);
    expect(() => checkQuota(quota, stored, undefined, svc('b', 2))).toThrow(QuotaExceededError);
    expect(quotaProblems(quota, stored, undefined, svc('b', 2))).toEqual([
      'namespace shop: memory 7.5Gi of 8Gi used, this change needs 1Gi more',
      'namespace shop: tasks 15 of 16 used, this change needs 2 more',
    ]);
  });

  it('a scale of a stored service counts only what it adds', () => {
    expect(quotaProblems(quota, stored, stored[0], svc('a', 16))).toEqual([]);
    expect(quotaProblems(quota, stored, stored[0], svc('a', 17))).toHaveLength(2);
  });

  it('a change that shrinks passes even over a quota lowered since', () => {
    const tight = ns({ quota: { tasks: 4 } });
    expect(quotaProblems(tight, stored, stored[0], svc('a', 10))).toEqual([]);
  });

  it('counts services and ingress hosts', () => {
    const few = ns({ quota: { services: 1, ingressHosts: 0 } });
    expect(quotaProblems(few, stored, undefined, svc('b', 1))).toEqual(['namespace shop: services 1 of 1 used, this change needs 1 more']);
    expect(namespaceUsage(stored, 'shop')).toMatchObject({ tasks: 15, services: 1, ingressHosts: 0 });
    expect(namespaceUsage(stored, 'web').tasks).toBe(0);
  });
});

describe('ingress host patterns', () => {
  const namespaces = [ns({ ingressHosts: ['*.shop.example.com'] }), ns({}, 'web')];

  it('a namespace uses hosts its patterns match, and another may not squat them', () => {
    expect(ingressHostProblem('www.shop.example.com', 'shop', namespaces)).toBeUndefined();
    expect(ingressHostProblem('shop.example.com', 'shop', namespaces)).toMatch(/may use only ingress hosts matching \*\.shop\.example\.com/);
    expect(ingressHostProblem('www.shop.example.com', 'web', namespaces)).toMatch(/belongs to namespace shop/);
    expect(ingressHostProblem('www.shop.example.com', 'nobody', namespaces)).toMatch(/belongs to namespace shop/);
    expect(ingressHostProblem('web.example.com', 'web', namespaces)).toBeUndefined();
  });

  it('a wildcard host must lie inside one of its own patterns', () => {
    expect(ingressHostProblem('*.shop.example.com', 'shop', namespaces)).toBeUndefined();
    expect(ingressHostProblem('*.eu.shop.example.com', 'shop', namespaces)).toBeUndefined();
    expect(ingressHostProblem('*.example.com', 'shop', namespaces)).toMatch(
      /namespace shop may use only ingress hosts matching \*\.shop\.example\.com; \*\.example\.com is not inside them/,
    );
    const exact = [ns({ ingressHosts: ['www.shop.example.com'] })];
    expect(ingressHostProblem('*.shop.example.com', 'shop', exact)).toMatch(/is not inside them/);
  });

  it('covers and overlaps exactly as the names each side matches, for any patterns and hosts', () => {
    const name = fc.array(fc.constantFrom('a', 'b', 'shop'), { minLength: 1, maxLength: 4 }).map((l) => `${l.join('.')}.test`);
    const either = fc.oneof(
      name,
      name.map((n) => `*.${n}`),
    );
    fc.assert(
      fc.property(either, either, fc.array(fc.constantFrom('a', 'b', 'shop', 'x'), { minLength: 0, maxLength: 2 }), (pattern, host, extra) => {
        // Names the ingress host serves: itself when exact; some below its domain when a wildcard.
        const base = host.startsWith('*.') ? host.slice(2) : host;
        const served = host.startsWith('*.') ? [`x.${base}`, `${[...extra, 'y'].join('.')}.${base}`] : [host];
        if (patternCovers(pattern, host)) for (const n of served) expect(hostMatches(pattern, n)).toBe(true);
        // A name both match means they overlap.
        for (const n of served) if (ingressHostMatches(host, n) && hostMatches(pattern, n)) expect(patternsOverlap(pattern, host)).toBe(true);
        if (!patternsOverlap(pattern, host)) for (const n of served) expect(hostMatches(pattern, n)).toBe(false);
      }),
    );
  });

  it("a wildcard host may not take names of another namespace's patterns, above or below them", () => {
    expect(ingressHostProblem('*.example.com', 'web', namespaces)).toMatch(/\*\.example\.com would take hosts that belong to namespace shop/);
    expect(ingressHostProblem('*.eu.shop.example.com', 'web', namespaces)).toMatch(/belong to namespace shop/);
    const exact = [ns({ ingressHosts: ['www.shop.example.com'] }), ns({}, 'web')];
    expect(ingressHostProblem('*.shop.example.com', 'web', exact)).toMatch(/belong to namespace shop/);
    expect(ingressHostProblem('*.myshop.example.com', 'web', namespaces)).toBeUndefined();
  });
});
