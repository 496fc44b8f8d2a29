/**
 * A real DNS server for local mode, on a loopback address, over UDP and TCP on one port. It is
 * authoritative for one zone and answers from the record sets it is handed (in local mode, the
 * Route 53 stand-in's zone), the way Route 53 answers a private hosted zone:
 *
 * - A, SRV and ANY questions get the record sets' values; the values of an A record come in a
 *   different order on every answer (round robin), so clients that take the first address spread out;
 * - an SRV answer carries the A records of its targets in the additional section, as Route 53 does;
 * - a name under the zone that has no record is NXDOMAIN with the zone's SOA in the authority
 *   section (its minimum is the negative-caching TTL, RFC 2308); a name that exists only because
 *   names below it do (`shop.skiff.internal`) is NOERROR with no answer;
 * - a name outside the zone is REFUSED: this server is no resolver and never recurses.
 *
 * UDP answers larger than the client's limit (512 bytes, or its EDNS size) come back truncated
 * with TC set and the client retries over TCP (dns2 does that part).
 */
import { createTCPServer, createUDPServer, Packet, type DnsHandler, type Resource, type TCPServer, type UDPServer } from 'dns2';
import type { DnsRecordSet } from '../ports/index.ts';
import { checkStandInOptions } from './stand-in.ts';

export interface DnsServerOptions {
  /** A loopback address. @default '127.0.0.1' */
  readonly host?: string;
  /** One port for UDP and TCP; 0 picks one that is free for both. @default 0 */
  readonly port?: number;
  /** The zone this server is authoritative for, without the trailing dot. */
  readonly zone: string;
  /** The zone's record sets, read on every question (return the same array while nothing changed: it is indexed once per array). */
  readonly records: () => readonly DnsRecordSet[];
}

export interface DnsServer {
  readonly host: string;
  readonly port: number;
  /** Stops both listeners and cuts open TCP connections. */
  close(): Promise<void>;
}

/**
 * The SOA's negative-caching TTL and its own TTL: short, because a name appears the moment its
 * first replica is ready and a resolver should not keep saying NXDOMAIN for long.
 */
const NEGATIVE_TTL = 5;
/** DNS response codes (RFC 1035 4.1.1, RFC 6895); dns2 has them at run time but its types do not declare them. */
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** Tries at finding a port free for both UDP and TCP when the caller asks for any port. */
const PORT_ATTEMPTS = 20;

const OPTION_KEYS = new Set(['host', 'port', 'zone', 'records']);

interface Index {
  readonly source: readonly DnsRecordSet[];
  /** Name → its A and SRV record sets. */
  readonly names: Map<string, { A?: DnsRecordSet; SRV?: DnsRecordSet }>;
  /** Names that exist only as ancestors of other names (empty non-terminals). */
  readonly ancestors: Set<string>;
  /** The SOA serial: bumped whenever the record sets change. */
  readonly serial: number;
}

/** Start the DNS server for `zone`. */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const { host, port, zone } = checkOptions(opts);
  let index: Index | undefined;
  const turns = new Map<string, number>();

  const indexed = (): Index => {
    const source = opts.records();
    if (index?.source === source) return index;
    index = buildIndex(zone, source, (index?.serial ?? 0) + 1);
    // Drop rotation counters of names that are gone, so the map does not grow without bound.
    for (const name of turns.keys()) if (!index.names.has(name)) turns.delete(name);
    return index;
  };

  const handle: DnsHandler = (request, send) => {
    let response: Packet;
    try {
      response = answer(request, zone, indexed, turns);
    } catch {
      response = Packet.createResponseFromRequest(request);
      response.header.rcode = RCODE.SERVFAIL;
    }
    send(response).catch(() => undefined);
  };

  const { udp, tcp, port: bound } = await bindBoth(host, port, handle);
  let closing: Promise<void> | undefined;
  return {
    host,
    port: bound,
    close: () => {
      closing ??= Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => {
          tcp.close(() => resolve());
          // dns2 keeps idle TCP connections for 10 s (RFC 7766); do not wait for them.
          for (const socket of openSockets.get(tcp) ?? []) socket.destroy();
        }),
      ]).then(() => undefined);
      return closing;
    },
  };
}

function checkOptions(opts: DnsServerOptions): { host: string; port: number; zone: string } {
  // OPTION_KEYS has no dataFile: the DNS server keeps nothing, it reads the Route 53 stand-in.
  const { host, port } = checkStandInOptions('startDnsServer', opts, OPTION_KEYS);
  if (typeof opts.zone !== 'string' || !/^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)+$/.test(opts.zone)) {
    throw new TypeError(`startDnsServer: zone must be a lowercase DNS name without the trailing dot, such as skiff.internal; got ${JSON.stringify(opts.zone)}`);
  }
  if (typeof opts.records !== 'function') throw new TypeError("startDnsServer: records must be a function returning the zone's record sets");
  return { host, port, zone: opts.zone };
}

const openSockets = new WeakMap<TCPServer, Set<import('node:net').Socket>>();

/** Binds UDP and TCP on the same port: the port asked for, or (0) one found free for both. */
async function bindBoth(host: string, port: number, handle: DnsHandler): Promise<{ udp: UDPServer; tcp: TCPServer; port: number }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < (port === 0 ? PORT_ATTEMPTS : 1); attempt++) {
    const udp = createUDPServer(handle);
    udp.on('requestError', () => undefined);
    let udpPort: number;
    try {
      udpPort = await bindUdp(udp, port, host);
    } catch (err) {
      lastError = err;
      continue;
    }
    const tcp = createTCPServer(handle);
    tcp.on('requestError', () => undefined);
    const sockets = new Set<import('node:net').Socket>();
    openSockets.set(tcp, sockets);
    tcp.on('connection', (socket: import('node:net').Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // A client that resets the connection must not crash the server.
      socket.on('error', () => undefined);
    });
    try {
      await bindTcp(tcp, udpPort, host);
      udp.on('error', () => undefined);
      tcp.on('error', () => undefined);
      return { udp, tcp, port: udpPort };
    } catch (err) {
      lastError = err;
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    }
  }
  throw new Error(`startDnsServer: could not listen on ${host}:${port} over both UDP and TCP`, { cause: lastError });
}

function bindUdp(udp: UDPServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => {
      udp.off('error', reject);
      resolve(udp.address().port);
    });
  });
}

function bindTcp(tcp: TCPServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
}

function buildIndex(zone: string, source: readonly DnsRecordSet[], serial: number): Index {
  const names = new Map<string, { A?: DnsRecordSet; SRV?: DnsRecordSet }>();
  const ancestors = new Set<string>();
  for (const set of source) {
    const name = set.name.toLowerCase();
    if (!name.endsWith(`.${zone}`)) continue;
    const entry = names.get(name) ?? {};
    entry[set.type] = set;
    names.set(name, entry);
    for (let n = name.slice(name.indexOf('.') + 1); n !== zone && n.endsWith(`.${zone}`); n = n.slice(n.indexOf('.') + 1)) ancestors.add(n);
  }
  return { source, names, ancestors, serial };
}

function answer(request: Packet, zone: string, indexed: () => Index, turns: Map<string, number>): Packet {
  const response = Packet.createResponseFromRequest(request);
  const question = request.questions[0];
  if (request.header.opcode !== 0) {
    response.header.rcode = RCODE.NOTIMP;
    return response;
  }
  if (!question || request.questions.length !== 1) {
    response.header.rcode = RCODE.FORMERR;
    return response;
  }
  const name = question.name.toLowerCase().replace(/\.$/, '');
  const inZone = name === zone || name.endsWith(`.${zone}`);
  if (!inZone || (question.class !== Packet.CLASS.IN && question.class !== Packet.CLASS.ANY)) {
    response.header.rcode = RCODE.REFUSED;
    return response;
  }
  response.header.aa = 1;
  const index = indexed();
  const soa = soaRecord(zone, index.serial);
  const type = question.type;

  if (name === zone) {
    if (type === Packet.TYPE.SOA || type === Packet.TYPE.ANY) response.answers.push(soa);
    else response.authorities.push(soa);
    return response;
  }
  const entry = index.names.get(name);
  if (!entry) {
    if (!index.ancestors.has(name)) response.header.rcode = RCODE.NXDOMAIN;
    response.authorities.push(soa);
    return response;
  }
  const wantA = type === Packet.TYPE.A || type === Packet.TYPE.ANY;
  const wantSrv = type === Packet.TYPE.SRV || type === Packet.TYPE.ANY;
  if (wantA && entry.A) response.answers.push(...aRecords(name, entry.A, rotation(turns, name, entry.A.values.length)));
  if (wantSrv && entry.SRV) {
    const srv = srvRecords(name, entry.SRV);
    response.answers.push(...srv);
    // Like Route 53: the addresses of the SRV targets ride along, saving the client a query per target.
    for (const target of new Set(srv.map((r) => r.target!))) {
      const a = index.names.get(target)?.A;
      if (a) response.additionals.push(...aRecords(target, a, 0));
    }
  }
  if (response.answers.length === 0) response.authorities.push(soa);
  return response;
}

/** The next starting offset for `name`'s values: each answer starts one further along. */
function rotation(turns: Map<string, number>, name: string, length: number): number {
  const turn = turns.get(name) ?? 0;
  turns.set(name, (turn + 1) % Math.max(1, length));
  return turn % Math.max(1, length);
}

function aRecords(name: string, set: DnsRecordSet, offset: number): Resource[] {
  const values = [...set.values.slice(offset), ...set.values.slice(0, offset)];
  return values.map((address) => resource({ name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: set.ttl, address }));
}

function srvRecords(name: string, set: DnsRecordSet): Resource[] {
  return set.values.map((value) => {
    const [priority, weight, port, target] = value.split(' ');
    return resource({
      name,
      type: Packet.TYPE.SRV,
      class: Packet.CLASS.IN,
      ttl: set.ttl,
      priority: Number(priority),
      weight: Number(weight),
      port: Number(port),
      target: target.replace(/\.$/, ''),
    });
  });
}

function soaRecord(zone: string, serial: number): Resource {
  return resource({
    name: zone,
    type: Packet.TYPE.SOA,
    class: Packet.CLASS.IN,
    ttl: NEGATIVE_TTL,
    primary: `ns.${zone}`,
    admin: `hostmaster.${zone}`,
    serial,
    refresh: 60,
    retry: 10,
    expiration: 3600,
    minimum: NEGATIVE_TTL,
  });
}

function resource(fields: Omit<Resource, 'toBuffer'>): Resource {
  return fields as Resource;
}
