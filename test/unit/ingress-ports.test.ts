/** When `local up` may put the load balancer on ports 80 and 443 (local/ingress-ports.ts). */
import { describe, expect, it } from 'vitest';
import { isPortUnavailable, wellKnownPortsAllowed } from '../../local/ingress-ports.ts';

const files = (capEff: string, unprivilegedStart: string | undefined) => (path: string) => {
  if (path === '/proc/self/status') return `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`;
  if (unprivilegedStart !== undefined && path === '/proc/sys/net/ipv4/ip_unprivileged_port_start') return `${unprivilegedStart}\n`;
  throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
};

describe('wellKnownPortsAllowed', () => {
  it('allows root, CAP_NET_BIND_SERVICE, and a kernel that lets anyone bind port 80', () => {
    expect(wellKnownPortsAllowed(files('0000000000000000', '1024'), 0)).toBe('running as root');
    expect(wellKnownPortsAllowed(files('0000000000000400', '1024'), 1000)).toBe('the process has CAP_NET_BIND_SERVICE');
    expect(wellKnownPortsAllowed(files('0000000000000000', '0'), 1000)).toBe('net.ipv4.ip_unprivileged_port_start is 0');
  });

  it('refuses an ordinary user, and a system it cannot read', () => {
    expect(wellKnownPortsAllowed(files('0000000000000000', '1024'), 1000)).toBeUndefined();
    expect(wellKnownPortsAllowed(files('00000000a80425fb', '443'), 1000)).toBe('the process has CAP_NET_BIND_SERVICE');
    expect(wellKnownPortsAllowed(files('0000000000000000', '443'), 1000)).toBeUndefined();
    expect(
      wellKnownPortsAllowed(() => {
        throw new Error('no /proc');
      }, 1000),
    ).toBeUndefined();
  });

  it('takes a port in use or refused, through causes, for a reason to use other ports', () => {
    expect(isPortUnavailable(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe(true);
    expect(isPortUnavailable(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'EADDRINUSE' }) }))).toBe(true);
    expect(isPortUnavailable(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
  });
});
