import { execFile, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Packet, TCPClient, UDPClient } from 'dns2';
import { Route53Client } from '@aws-sdk/client-route-53';
import { dnsRecords } from '../../core/discovery.ts';
import type { Service, TaskView } from '../../core/types.ts';
import { Route53Zone } from '../../adapters/aws/route53-zone.ts';
import { startDnsServer, type DnsServer } from '../../local/dns-server.ts';
import { startRoute53Server, type Route53Server } from '../../local/route53-server.ts';
import { aService } from '../builders.ts';

const ZONE = 'skiff.internal';
const run = promisify(execFile);

function hasDig(): boolean {
  try {
    execFileSync('dig', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const DIG = hasDig();

const web = aService({ name: 'web', namespace: 'shop' });
const webSpec: Service = {
  ...web,
  spec: {
    ...web.spec,
    spec: { ...web.spec.spec, containers: [{ ...web.spec.spec.containers[0], ports: [{ containerPort: 8080, name: 'http', protocol: 'tcp' }] }] },
  },
};

function replica(id: string, ip: string, hostPort: number, over: Partial<TaskView> = {}): TaskView {
  return {
    id,
    namespace: 'shop',
    service: 'web',
    slot: 1,
    host: 'host-1',
    desired: 'running',
    state: 'running',
    ports: [{ container: 'app', containerPort: 8080, protocol: 'tcp', hostIp: ip, hostPort }],
    specVersion: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

const replicas = [
  replica('web-1-aaaaa', '127.0.1.1', 31001),
  replica('web-2-bbbbb', '127.0.1.2', 31002),
  replica('web-3-ccccc', '127.0.1.3', 31003),
  replica('web-4-ddddd', '127.0.1.4', 31004, { health: 'unhealthy' }),
];

describe('the local DNS server, answering from the Route 53 stand-in', () => {
  let route53: Route53Server;
  let client: Route53Client;
  let zone: Route53Zone;
  let dns: DnsServer;
  let udp: ReturnType<typeof UDPClient>;
  let tcp: ReturnType<typeof TCPClient>;

  beforeAll(async () => {
    route53 = await startRoute53Server({ limits: { requests: false }, pendingMs: 0 });
    client = new Route53Client({
      endpoint: route53.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    const zoneId = await route53.ensureZone(ZONE);
    zone = new Route53Zone(client, { hostedZoneId: zoneId, zone: ZONE, minIntervalMs: 0 });
    // What every scheduler pass does: compute the records, sync the zone.
    await zone.sync(dnsRecords(ZONE, [webSpec], replicas, 5));
    dns = await startDnsServer({ zone: ZONE, records: () => route53.records(zoneId) });
    udp = UDPClient({ dns: '127.0.0.1', port: dns.port, timeout: 2000, retryOverTCP: false });
    tcp = TCPClient({ dns: '127.0.0.1', port: dns.port });
  });

  afterAll(async () => {
    try {
      await dns?.close();
    } finally {
      client?.destroy();
      await route53?.close();
    }
  });

  it('answers A with the address of every ready replica, in an order that turns on each answer', async () => {
    const firsts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await udp('web.shop.skiff.internal', 'A');
      expect(res.header.rcode).toBe(0);
      expect(res.header.aa).toBe(1);
      const addresses = res.answers.map((r) => r.address!);
      expect([...addresses].sort()).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.3']); // not the unhealthy 127.0.1.4
      expect(res.answers.every((r) => r.ttl === 5)).toBe(true);
      firsts.push(addresses[0]);
    }
    expect(new Set(firsts).size).toBe(3);
  });

  it("answers a replica's own name with its address", async () => {
    const res = await udp('web-2-bbbbb.web.shop.skiff.internal', 'A');
    expect(res.answers.map((r) => r.address)).toEqual(['127.0.1.2']);
  });

  it("answers SRV with each replica's port and name, and their addresses alongside", async () => {
    const res = await udp('_http._tcp.web.shop.skiff.internal', 'SRV');
    expect(res.answers.map((r) => [r.priority, r.weight, r.port, r.target])).toEqual([
      [0, 10, 31001, 'web-1-aaaaa.web.shop.skiff.internal'],
      [0, 10, 31002, 'web-2-bbbbb.web.shop.skiff.internal'],
      [0, 10, 31003, 'web-3-ccccc.web.shop.skiff.internal'],
    ]);
    expect(res.additionals.filter((r) => r.type === Packet.TYPE.A).map((r) => [r.name, r.address])).toEqual([
      ['web-1-aaaaa.web.shop.skiff.internal', '127.0.1.1'],
      ['web-2-bbbbb.web.shop.skiff.internal', '127.0.1.2'],
      ['web-3-ccccc.web.shop.skiff.internal', '127.0.1.3'],
    ]);
  });

  it('answers ANY with the A and SRV records of a name', async () => {
    const res = await udp('web-1-aaaaa.web.shop.skiff.internal', 'ANY');
    expect(res.answers.map((r) => r.type)).toEqual([Packet.TYPE.A]);
  });

  it("says NXDOMAIN, with the zone's SOA, for a name under the zone that has no record", async () => {
    for (const name of ['api.shop.skiff.internal', 'web-4-ddddd.web.shop.skiff.internal']) {
      const res = await udp(name, 'A');
      expect(res.header.rcode).toBe(3);
      expect(res.answers).toEqual([]);
      expect(res.authorities.map((r) => [r.type, r.name, r.minimum])).toEqual([[Packet.TYPE.SOA, ZONE, 5]]);
    }
  });

  it('says NOERROR with no answer for a name that exists only because names below it do', async () => {
    const res = await udp('shop.skiff.internal', 'A');
    expect(res.header.rcode).toBe(0);
    expect(res.answers).toEqual([]);
    expect(res.authorities.map((r) => r.type)).toEqual([Packet.TYPE.SOA]);
  });

  it('says NOERROR with no answer for a type a name does not have', async () => {
    const res = await udp('web.shop.skiff.internal', 'SRV');
    expect(res.header.rcode).toBe(0);
    expect(res.answers).toEqual([]);
  });

  it('refuses names outside its zone', async () => {
    const res = await udp('example.com', 'A');
    expect(res.header.rcode).toBe(5);
    expect(res.answers).toEqual([]);
  });

  it('answers over TCP as over UDP', async () => {
    const res = await tcp('web.shop.skiff.internal', 'A');
    expect(res.answers.map((r) => r.address!).sort()).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.3']);
    const srv = await tcp('_http._tcp.web.shop.skiff.internal', 'SRV');
    expect(srv.answers.map((r) => r.port)).toEqual([31001, 31002, 31003]);
    const missing = await tcp('nothing.skiff.internal', 'A');
    expect(missing.header.rcode).toBe(3);
  });

  it('answers with what the zone holds after the next sync', async () => {
    const healed = replicas.map((r) => ({ ...r, health: undefined }));
    await zone.sync(dnsRecords(ZONE, [webSpec], healed, 5));
    try {
      const res = await udp('web.shop.skiff.internal', 'A');
      expect(res.answers.map((r) => r.address!).sort()).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4']);
      expect((await udp('web-4-ddddd.web.shop.skiff.internal', 'A')).answers.map((r) => r.address)).toEqual(['127.0.1.4']);
    } finally {
      await zone.sync(dnsRecords(ZONE, [webSpec], replicas, 5));
    }
  });

  it('truncates an answer too big for UDP, and TCP carries all of it', async () => {
    const many = Array.from({ length: 60 }, (_, i) => replica(`web-${i + 10}-eeeee`, `127.0.2.${i + 1}`, 32000 + i));
    await zone.sync(dnsRecords(ZONE, [webSpec], many, 5));
    try {
      const cut = await udp('web.shop.skiff.internal', 'A');
      expect(cut.header.tc).toBe(1);
      const whole = await tcp('web.shop.skiff.internal', 'A');
      expect(whole.answers.length).toBe(60);
    } finally {
      await zone.sync(dnsRecords(ZONE, [webSpec], replicas, 5));
    }
  });

  it('survives a malformed packet and keeps answering', async () => {
    const socket = createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => socket.send(Buffer.from('not dns'), dns.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    } finally {
      socket.close();
    }
    expect((await udp('web.shop.skiff.internal', 'A')).answers.length).toBe(3);
  });

  describe.skipIf(!DIG)(`with dig${DIG ? '' : ' (skipped: the dig command is not installed; apt-get install dnsutils)'}`, () => {
    async function dig(...args: string[]): Promise<string> {
      const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(dns.port), '+time=2', '+tries=1', ...args], { timeout: 10_000 });
      return stdout;
    }

    it('resolves a service to all its replicas, over UDP and TCP', async () => {
      for (const transport of ['+notcp', '+tcp']) {
        const out = await dig(transport, '+short', 'web.shop.skiff.internal', 'A');
        expect(out.trim().split('\n').sort()).toEqual(['127.0.1.1', '127.0.1.2', '127.0.1.3']);
      }
    });

    it('resolves SRV records to ports and replica names', async () => {
      const out = await dig('+short', '_http._tcp.web.shop.skiff.internal', 'SRV');
      expect(out.trim().split('\n').sort()).toEqual([
        '0 10 31001 web-1-aaaaa.web.shop.skiff.internal.',
        '0 10 31002 web-2-bbbbb.web.shop.skiff.internal.',
        '0 10 31003 web-3-ccccc.web.shop.skiff.internal.',
      ]);
    });

    it('reports NXDOMAIN and REFUSED in its status line', async () => {
      expect(await dig('nothing.shop.skiff.internal', 'A')).toMatch(/status: NXDOMAIN/);
      expect(await dig('+tcp', 'nothing.shop.skiff.internal', 'A')).toMatch(/status: NXDOMAIN/);
      expect(await dig('example.com', 'A')).toMatch(/status: REFUSED/);
    });
  });
});
