/**
 * The HAProxy data plane's configuration text (local/haproxy-config.ts): rule order from
 * core/ingress-match.ts, backends, affinity, retries, answers; and `haproxy -c` accepts it when
 * haproxy is installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureLocalCa, loadLocalCa } from '../../local/ca.ts';
import { backendName, backendNames, haproxyConfig, requestCountsFromStat, serverSessionsFromStat } from '../../local/haproxy-config.ts';
import { routeKey } from '../../local/haproxy-slots.ts';
import type { IngressRoute } from '../../ports/index.ts';

const t = (taskId: string, port: number) => ({ taskId, ip: '127.0.1.2', port });
const route = (host: string, service: string, extra: Partial<IngressRoute> = {}): IngressRoute => ({
  host,
  namespace: 'shop',
  service,
  sessionAffinity: false,
  targets: [t(`${service}-0-ab12`, 32001), t(`${service}-1-cd34`, 32002)],
  ...extra,
});
const options = { port: 8080, statsSocket: '/run/skiff/stats.sock' };

const table = [
  route('shop.example.com', 'web', { sessionAffinity: true }),
  route('shop.example.com', 'api', { path: '/api' }),
  route('shop.example.com', 'v1', { path: '/api/v1' }),
  route('*.example.com', 'any'),
  route('*.a.example.com', 'deep', { tls: true }),
  route('empty.example.com', 'empty', { targets: [] }),
];

const haproxy = (() => {
  try {
    return execFileSync('haproxy', ['-v'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    return undefined;
  }
})();
if (!haproxy) console.warn('test/unit/haproxy-config.test.ts: the `haproxy -c` checks are skipped: haproxy is not installed (apt-get install haproxy)');

const dir = mkdtempSync(join(tmpdir(), 'skiff-haproxy-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('haproxyConfig', () => {
  it('orders use_backend rules as matchRoute does: exact hosts, then longer wildcards, longest path first', () => {
    const text = haproxyConfig(table, options);
    const order = [...text.matchAll(/^ {2}use_backend (\S+)/gm)].map((m) => m[1]);
    expect(order).toEqual(['skiff.shop.v1', 'skiff.shop.api', 'skiff.shop.empty', 'skiff.shop.web', 'skiff.shop.deep', 'skiff.shop.any']);
    // A path prefix matches segment-wise: /api and /api/..., never /apis.
    expect(text).toMatch(/acl path\d+ path "\/api"\n {2}acl path\d+ path_beg "\/api\/"/);
    expect(text).toContain('-m end .a.example.com');
    expect(text).toContain('default_backend skiff.notfound');
  });

  it('gives each route a backend of its targets, with the affinity cookie, retries elsewhere and JSON answers', () => {
    const text = haproxyConfig(table, options);
    const web = section(text, 'backend skiff.shop.web');
    // The cookie is HAProxy's dynamic one (a hash of the replica's address and port), so it follows a replica from slot to slot.
    expect(web).toContain('cookie skiff-affinity insert indirect httponly attr SameSite=Lax attr Path=/ dynamic\n  dynamic-cookie-key skiff-affinity');
    // Two replicas in a pool of 4 slots, the free ones in maintenance.
    expect(web.split('\n').filter((l) => l.startsWith('  server '))).toEqual([
      '  server s1 127.0.1.2:32001',
      '  server s2 127.0.1.2:32002',
      '  server s3 127.0.0.1:1 disabled',
      '  server s4 127.0.0.1:1 disabled',
    ]);
    expect(web).toContain('retries 1');
    expect(section(text, 'backend skiff.shop.api')).not.toContain('cookie');
    expect(text).toContain('retry-on conn-failure empty-response');
    expect(text).toContain('option redispatch 1');
    // Counts the servers in service when the answer is given: the runtime API changes them without a reload.
    expect(web).toContain('service shop/web has no replica accepting connections for host %[var(txn.host),json(utf8s)]: all %[nbsrv] refused');
    // Server by server, not `nbsrv`, which an old worker finishing its connections after a reload counts as 0;
    // one acl line per slot (ORed), as a rule line takes at most 64 words.
    expect(web).toContain(['s1', 's2', 's3', 's4'].map((server) => `  acl skiff_in_service srv_is_up(skiff.shop.web/${server})`).join('\n'));
    expect(web).toMatch(/http-request return status 503 .*"ServiceUnavailable.*service shop\/web has no healthy replica.* if !skiff_in_service$/m);
    expect(section(text, 'backend skiff.shop.empty')).toMatch(/has no healthy replica.* if !skiff_in_service$/m);
    expect(text).not.toContain('nbsrv eq 0');
    // A reload's old worker answers one more request on each idle connection rather than close it as one arrives.
    expect(text).toContain('option idle-close-on-response');
    expect(section(text, 'backend skiff.shop.empty')).toContain('server s4 127.0.0.1:1 disabled');
    expect(section(text, 'backend skiff.notfound')).toContain('no service has ingress host %[var(txn.host),json(utf8s)]');
  });

  it('redirects plain requests for tls routes only when there is an HTTPS listener, without :443', () => {
    const https = { port: 8443, defaultCertificate: '/d.pem', crtList: '/list' };
    expect(section(haproxyConfig(table, { ...options, https }), 'backend skiff.shop.deep')).toContain(
      'http-request redirect location https://%[var(txn.host)]:8443%[url] code 308 if !{ ssl_fc }',
    );
    expect(section(haproxyConfig(table, { ...options, https: { ...https, port: 443 } }), 'backend skiff.shop.deep')).toContain(
      'redirect location https://%[var(txn.host)]%[url] code 308',
    );
    expect(haproxyConfig(table, options)).not.toContain('redirect');
    expect(haproxyConfig(table, { ...options, https })).toContain('bind 127.0.0.1:8443 ssl crt /d.pem crt-list /list alpn h2,http/1.1');
  });

  it('refuses values that could break out of the configuration, naming the route', () => {
    expect(() => haproxyConfig([route('shop.example.com', 'web', { targets: [t('a b', 1)] })], options)).toThrow(
      'route shop.example.com of shop/web: task id "a b" has characters HAProxy does not take in a server name',
    );
    expect(() => haproxyConfig([route('shop.example.com\nglobal', 'web')], options)).toThrow(/host "shop.example.com\\nglobal" is not a lowercase host name/);
    expect(() => haproxyConfig([route('shop.example.com', 'web', { path: '/a b' })], options)).toThrow(/path "\/a b" is not an ingress path prefix/);
    expect(() => haproxyConfig([route('a.test', 'web'), route('a.test', 'other')], options)).toThrow('two routes for host a.test');
  });

  it('writes the servers as a layout places replicas in slots', () => {
    const web = route('shop.example.com', 'web');
    const layout = new Map([
      [routeKey(web), [{ server: 's1' }, { server: 's2', target: t('web-1-cd34', 32002) }, { server: 's3', target: t('web-0-ab12', 32001), leavingSince: 5 }]],
    ]);
    expect(
      section(haproxyConfig([web], options, layout), 'backend skiff.shop.web')
        .split('\n')
        .filter((l) => l.startsWith('  server ')),
    ).toEqual(['  server s1 127.0.0.1:1 disabled', '  server s2 127.0.1.2:32002', '  server s3 127.0.1.2:32001']);
    expect(backendNames([web, route('b.test', 'web')])).toEqual(
      new Map([
        ['b.test /', 'skiff.shop.web'],
        ['shop.example.com /', 'skiff.shop.web.2'],
      ]),
    );
  });

  it('names backends by service, numbering a second route of one service', () => {
    expect(backendName('shop', 'web', 1)).toBe('skiff.shop.web');
    const text = haproxyConfig([route('a.test', 'web'), route('b.test', 'web')], options);
    expect(text).toContain('backend skiff.shop.web\n');
    expect(text).toContain('backend skiff.shop.web.2\n');
  });

  it.skipIf(!haproxy)('writes a configuration that `haproxy -c` accepts, with and without the HTTPS listener', async () => {
    const ca = await ensureLocalCa(dir);
    const pair = await (await loadLocalCa(ca)).issue('localhost');
    const cert = join(dir, 'default.pem');
    writeFileSync(cert, `${pair.cert}${pair.key}`, { mode: 0o600 });
    const list = join(dir, 'crt-list.txt');
    writeFileSync(list, `${cert} shop.example.com\n`);
    for (const https of [undefined, { port: 8443, defaultCertificate: cert, crtList: list }]) {
      const file = join(dir, 'haproxy.cfg');
      writeFileSync(file, haproxyConfig([...table, route('q.test', 'quoted', { path: `/it's/"q"/$HOME` })], { ...options, ...(https ? { https } : {}) }));
      const check = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
      expect(check.stderr + check.stdout).toContain('Configuration file is valid');
      expect(check.status).toBe(0);
    }
  });
});

describe('requestCountsFromStat', () => {
  it("sums each service's backends' req_tot, keyed namespace/service", () => {
    const csv = [
      '# pxname,svname,stot,req_tot,',
      'skiff,FRONTEND,9,9,',
      'skiff.shop.web,web-0-ab12,3,,',
      'skiff.shop.web,BACKEND,4,4,',
      'skiff.shop.web.2,BACKEND,2,2,',
      'skiff.notfound,BACKEND,3,3,',
      '',
    ].join('\n');
    expect(requestCountsFromStat(csv)).toEqual({ 'shop/web': 6 });
    expect(() => requestCountsFromStat('oops')).toThrow(/no header line/);
  });
});

describe('serverSessionsFromStat', () => {
  it("reads each skiff backend server's open sessions, keyed backend/server", () => {
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,',
      'skiff,FRONTEND,,,7,9,',
      'skiff.shop.web,s1,0,0,2,3,',
      'skiff.shop.web,s2,0,0,0,1,',
      'skiff.shop.web,BACKEND,0,0,2,3,',
      'stats,s1,0,0,4,4,',
      '',
    ].join('\n');
    expect(serverSessionsFromStat(csv)).toEqual(
      new Map([
        ['skiff.shop.web/s1', 2],
        ['skiff.shop.web/s2', 0],
      ]),
    );
    expect(() => serverSessionsFromStat('# pxname,svname\n')).toThrow(/no pxname, svname or scur column/);
  });
});

function section(text: string, head: string): string {
  const start = text.indexOf(`\n${head}\n`) + 1;
  if (start === 0) throw new Error(`no ${head} in:\n${text}`);
  const end = text.indexOf('\n\n', start);
  return text.slice(start, end < 0 ? undefined : end);
}
