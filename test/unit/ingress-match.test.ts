/** Ingress matching (core/ingress-match.ts): path prefixes, wildcard hosts, route order and overlapping claims. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  certificateArnProblem,
  ingressClaimConflict,
  ingressHostMatches,
  ingressPathProblem,
  matchRoute,
  pathMatches,
  RouteIndex,
  routeOrder,
  type RouteKey,
} from '../../core/ingress-match.ts';

describe('path prefixes', () => {
  it.each([
    ['/', '/', true],
    ['/', '/anything/at/all', true],
    ['/api', '/api', true],
    ['/api', '/api/', true],
    ['/api', '/api/v1/users', true],
    ['/api', '/apis', false],
    ['/api', '/ap', false],
    ['/api/v1', '/api', false],
    ['/api', '/API', false],
  ])('prefix %s matches %s: %s', (prefix, path, expected) => {
    expect(pathMatches(prefix, path)).toBe(expected);
  });

  it('accepts normalised literal prefixes and names what is wrong with the rest', () => {
    for (const ok of ['/', '/api', '/api/v1', '/a-b_c.d~e', '/@me', '/v1:batch']) expect(ingressPathProblem(ok)).toBeUndefined();
    expect(ingressPathProblem('api')).toMatch(/starting with "\/".*did you mean "\/api"/);
    expect(ingressPathProblem('/api/')).toMatch(/did you mean "\/api"/);
    expect(ingressPathProblem('/api//v1')).toMatch(/normalised/);
    expect(ingressPathProblem('/a/./b')).toMatch(/normalised/);
    expect(ingressPathProblem('/api*')).toMatch(/literal prefix/);
    expect(ingressPathProblem('/a b')).toMatch(/may hold only/);
    expect(ingressPathProblem('/a%20b')).toMatch(/may hold only/);
    expect(ingressPathProblem(`/${'a'.repeat(100)}`)).toMatch(/at most 100 characters/);
  });
});

describe('wildcard hosts', () => {
  it('match one or more labels below their suffix, never the suffix itself', () => {
    expect(ingressHostMatches('*.shop.example.com', 'eu.shop.example.com')).toBe(true);
    expect(ingressHostMatches('*.shop.example.com', 'a.b.shop.example.com')).toBe(true);
    expect(ingressHostMatches('*.shop.example.com', 'shop.example.com')).toBe(false);
    expect(ingressHostMatches('*.shop.example.com', 'myshop.example.com')).toBe(false);
    expect(ingressHostMatches('shop.example.com', 'shop.example.com')).toBe(true);
    expect(ingressHostMatches('shop.example.com', 'www.shop.example.com')).toBe(false);
  });
});

describe('choosing a route', () => {
  const routes: (RouteKey & { id: string })[] = [
    { id: 'root', host: 'shop.example.com' },
    { id: 'api', host: 'shop.example.com', path: '/api' },
    { id: 'v2', host: 'shop.example.com', path: '/api/v2' },
    { id: 'wild', host: '*.example.com' },
    { id: 'wild-shop', host: '*.shop.example.com' },
    { id: 'wild-admin', host: '*.example.com', path: '/admin' },
    { id: 'only-api', host: 'api.example.com', path: '/api' },
  ];
  const sorted = [...routes].sort(routeOrder);
  const index = new RouteIndex(routes);

  it.each([
    ['shop.example.com', '/', 'root'],
    ['shop.example.com', '/api', 'api'],
    ['shop.example.com', '/api/v1', 'api'],
    ['shop.example.com', '/api/v2/x', 'v2'],
    ['shop.example.com', '/apis', 'root'],
    ['eu.shop.example.com', '/', 'wild-shop'],
    ['a.b.shop.example.com', '/admin', 'wild-shop'],
    ['blog.example.com', '/admin/users', 'wild-admin'],
    ['blog.example.com', '/', 'wild'],
    // The exact host has no route for /, so the wildcard that has one serves it.
    ['api.example.com', '/', 'wild'],
    ['api.example.com', '/api/x', 'only-api'],
    ['example.com', '/', undefined],
    ['other.test', '/', undefined],
  ])('%s%s goes to %s', (host, path, id) => {
    expect(matchRoute(sorted, host, path)?.id).toBe(id);
    expect(index.match(host, path)?.id).toBe(id);
  });

  it('the index answers as the linear match over the sorted routes, for any routes and request', () => {
    const label = fc.constantFrom('a', 'b', 'shop', 'api');
    const host = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => `${l.join('.')}.test`);
    const pattern = fc.oneof(
      host,
      host.map((h) => `*.${h}`),
    );
    const path = fc.array(fc.constantFrom('api', 'v1', 'x'), { maxLength: 3 }).map((s) => `/${s.join('/')}`);
    const route = fc.record({ host: pattern, path }).map((r) => ({ host: r.host, ...(r.path === '/' ? {} : { path: r.path }) }));
    fc.assert(
      fc.property(fc.array(route, { maxLength: 12 }), host, path, (rs, h, p) => {
        const linear = matchRoute([...rs].sort(routeOrder), h, p);
        const indexed = new RouteIndex(rs).match(h, p);
        expect(indexed && { host: indexed.host, path: indexed.path }).toEqual(linear && { host: linear.host, path: linear.path });
        // Whatever is chosen serves the request, and no route that serves it is more specific.
        if (linear) {
          expect(ingressHostMatches(linear.host, h) && pathMatches(linear.path ?? '/', p)).toBe(true);
          for (const r of rs) if (ingressHostMatches(r.host, h) && pathMatches(r.path ?? '/', p)) expect(routeOrder(linear, r)).toBeLessThanOrEqual(0);
        } else {
          expect(rs.some((r) => ingressHostMatches(r.host, h) && pathMatches(r.path ?? '/', p))).toBe(false);
        }
      }),
    );
  });
});

describe('claims', () => {
  const stored = [
    { namespace: 'default', name: 'web', host: 'shop.example.com' },
    { namespace: 'default', name: 'api', host: 'shop.example.com', path: '/api' },
    { namespace: 'default', name: 'any', host: '*.example.com' },
  ];

  it('refuse the same host and path, and allow another path or a wildcard beside an exact host', () => {
    expect(ingressClaimConflict({ namespace: 'shop', name: 'x', host: 'shop.example.com', path: '/' }, stored)?.name).toBe('web');
    expect(ingressClaimConflict({ namespace: 'shop', name: 'x', host: 'shop.example.com' }, stored)?.name).toBe('web');
    expect(ingressClaimConflict({ namespace: 'shop', name: 'x', host: 'shop.example.com', path: '/api' }, stored)?.name).toBe('api');
    expect(ingressClaimConflict({ namespace: 'shop', name: 'x', host: '*.example.com' }, stored)?.name).toBe('any');
    expect(ingressClaimConflict({ namespace: 'shop', name: 'x', host: 'shop.example.com', path: '/api/v2' }, stored)).toBeUndefined();
    expect(ingressClaimConflict({ namespace: 'shop', name: 'x', host: '*.shop.example.com' }, stored)).toBeUndefined();
  });

  it("do not conflict with the service's own claim", () => {
    expect(ingressClaimConflict({ namespace: 'default', name: 'api', host: 'shop.example.com', path: '/api' }, stored)).toBeUndefined();
  });
});

describe('certificate ARNs', () => {
  it('accept ACM certificates in any partition and refuse the rest, naming the expected shape', () => {
    expect(certificateArnProblem('arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789')).toBeUndefined();
    expect(certificateArnProblem('arn:aws-us-gov:acm:us-gov-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789')).toBeUndefined();
    for (const bad of [
      '',
      'shop-cert',
      'arn:aws:iam::123456789012:server-certificate/shop',
      'arn:aws:acm:eu-west-1:12345:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789',
      'arn:aws:acm:eu-west-1:123456789012:certificate/not-a-uuid',
    ]) {
      expect(certificateArnProblem(bad)).toMatch(/must be the ARN of an ACM certificate, such as arn:aws:acm:/);
    }
  });
});
