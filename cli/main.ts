/**
 * `skiff`: the command line for people. Tables by default, `-o json` for scripts; a non-zero exit
 * with a one-line reason on failure (2 for a usage error, 1 for everything else).
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { formatCpu, formatMemory } from '../core/quantity.ts';
import { parseServiceYaml } from '../core/spec.ts';
import { ValidationError } from '../core/errors.ts';
import { ApiClient, ApiError, findApi, statusFilePath } from './client.ts';
import { table, age } from './format.ts';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const HELP = `skiff — a container cluster manager

Usage:
  skiff apply -f FILE [--no-wait] [--timeout SECONDS] [-o json]
  skiff get services|tasks|hosts [NAME] [-n NAMESPACE] [--service S] [--host H] [-o json]
  skiff delete service NAME [-n NAMESPACE] [--no-wait] [--timeout SECONDS]
  skiff describe service NAME [-n NAMESPACE] [-o json]
  skiff drain HOST | skiff uncordon HOST
  skiff events [--service S] [-n NAMESPACE] [--host H] [--limit N] [-o json]
  skiff local up [--hosts N] [--port PORT] [--dns-port PORT] [--proxy-port PORT] [--cluster NAME] [--data DIR] [--host-cpu Q] [--host-memory Q]
  skiff local status [-o json]
  skiff local down [--keep-hosts]
  skiff local kill-host|pause-host|resume-host|start-host HOST
  skiff config set --api URL [--region R] [--profile P]   save a deployed API (~/.config/skiff/config.json)
  skiff config get [-o json] | skiff config unset

Global options:
  --api URL      the API to talk to; else $SKIFF_API, else the local cluster started from this folder
                 (.skiff/local.json), else the config file (skiff config set)
                 Requests are SigV4-signed (AWS credential chain) when the API has a region: the config
                 file's, or $SKIFF_REGION / $AWS_REGION with --api or $SKIFF_API. A local cluster is never signed.
  -o json        machine-readable output
  -h, --help     this help
`;

type Out = { log: (s: string) => void; err: (s: string) => void; isTTY: boolean };

const common = {
  api: { type: 'string' },
  output: { type: 'string', short: 'o' },
  namespace: { type: 'string', short: 'n' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...common, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
}

function outputMode(value: string | undefined): 'table' | 'json' {
  if (value === undefined || value === 'table' || value === 'wide') return 'table';
  if (value === 'json') return 'json';
  throw new UsageError(`-o must be "json" or "table", got "${value}"`);
}

function seconds(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/s$/, ''));
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number of seconds, got "${value}"`);
  return n;
}

export async function main(argv: string[], out: Out = { log: (s) => console.log(s), err: (s) => console.error(s), isTTY: Boolean(process.stdout.isTTY) }): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        out.log(HELP);
        return command === undefined ? 2 : 0;
      case 'apply':
        return await apply(rest, out);
      case 'get':
        return await get(rest, out);
      case 'delete':
        return await del(rest, out);
      case 'local':
        return await local(rest, out);
      case 'drain':
      case 'uncordon':
      case 'events':
        return await operate(command, rest, out);
      case 'describe':
        return await describe(rest, out);
      case 'config':
        return await config(rest, out);
      default:
        throw new UsageError(`unknown command "${command}"; try: apply, get, describe, delete, drain, uncordon, events, local, config (skiff --help)`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      out.err(`skiff: ${err.message}`);
      return 2;
    }
    if (err instanceof ValidationError) {
      out.err(`skiff: invalid spec: ${err.message}`);
      return 1;
    }
    out.err(`skiff: ${(err as Error).message}`);
    return 1;
  }
}

async function apply(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parse(args, { file: { type: 'string', short: 'f' }, wait: { type: 'boolean', default: true }, 'no-wait': { type: 'boolean' }, timeout: { type: 'string' } });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.file) throw new UsageError('apply needs -f FILE');
  const mode = outputMode(values.output);
  let text: string;
  try {
    text = readFileSync(values.file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${values.file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  // Validate here first: a wrong spec is reported without needing a cluster. The API validates again.
  const spec = parseServiceYaml(text);
  const client = new ApiClient(findApi(values.api));
  const res = await client.request<{ result: string; service: { namespace: string; name: string; specVersion: number } }>('POST', '/v1/services', text, 'application/yaml');
  const { namespace, name } = res.service;
  if (mode === 'table') out.log(`service ${namespace}/${name} ${res.result} (spec version ${res.service.specVersion})`);
  const wait = values.wait && !values['no-wait'];
  if (wait) await waitForService(client, namespace, name, spec.spec.replicas, seconds(values.timeout, '--timeout', 120), out, mode);
  if (mode === 'json') out.log(JSON.stringify(await client.request('GET', servicePath(namespace, name)), null, 2));
  return 0;
}

interface ServiceDetail {
  name: string;
  namespace: string;
  replicas: number;
  running: number;
  ready: boolean;
  tasks: { id: string; state: string; message?: string }[];
}

async function waitForService(client: ApiClient, namespace: string, name: string, replicas: number, timeoutS: number, out: Out, mode: 'table' | 'json'): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  let last = '';
  for (;;) {
    const s = await client.request<ServiceDetail>('GET', servicePath(namespace, name));
    const why = s.tasks.find((t) => t.state === 'pending' && t.message)?.message;
    const line = `${namespace}/${name}: ${s.running}/${replicas} running${why ? ` — pending: ${why}` : ''}`;
    if (line !== last && mode === 'table') {
      if (out.isTTY) process.stdout.write(`\r\x1b[2K${line}`);
      else out.log(line);
      last = line;
    }
    if (s.ready) {
      if (out.isTTY && mode === 'table') process.stdout.write('\n');
      return;
    }
    if (Date.now() > deadline) {
      if (out.isTTY && mode === 'table') process.stdout.write('\n');
      throw new Error(`timed out after ${timeoutS}s waiting for ${namespace}/${name}: ${s.running}/${replicas} running${why ? `; pending: ${why}` : ''}`);
    }
    await sleep(300);
  }
}

async function get(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parse(args, { service: { type: 'string' }, host: { type: 'string' } });
  const [kind, name, extra] = positionals;
  if (extra) throw new UsageError(`unexpected argument "${extra}"`);
  const mode = outputMode(values.output);
  const client = new ApiClient(findApi(values.api));
  const ns = values.namespace;
  switch (kind) {
    case 'services':
    case 'service':
    case 'svc': {
      if (name) {
        const s = await client.request<ServiceDetail & { tasks: TaskRow[] }>('GET', servicePath(ns ?? 'default', name));
        if (mode === 'json') out.log(JSON.stringify(s, null, 2));
        else {
          out.log(table([['NAMESPACE', 'NAME', 'REPLICAS', 'RUNNING', 'READY'], [s.namespace, s.name, String(s.replicas), String(s.running), s.ready ? 'yes' : 'no']]));
          out.log('');
          out.log(taskTable(s.tasks));
        }
        return 0;
      }
      const list = await client.request<{ namespace: string; name: string; dns: string; ingress: { host: string } | null; replicas: number; running: number; deleting: boolean; createdAt: string }[]>(
        'GET',
        `/v1/services${ns ? `?namespace=${encodeURIComponent(ns)}` : ''}`,
      );
      if (mode === 'json') out.log(JSON.stringify(list, null, 2));
      else
        out.log(
          table([
            ['NAMESPACE', 'NAME', 'HEALTHY', 'DNS', 'INGRESS', 'AGE', ''],
            ...list.map((s) => [s.namespace, s.name, `${s.running}/${s.replicas}`, s.dns, s.ingress?.host ?? '-', age(s.createdAt), s.deleting ? 'deleting' : '']),
          ]),
        );
      return 0;
    }
    case 'tasks':
    case 'task': {
      if (name) {
        const t = await client.request<TaskRow>('GET', `/v1/tasks/${encodeURIComponent(name)}`);
        out.log(mode === 'json' ? JSON.stringify(t, null, 2) : taskTable([t]));
        return 0;
      }
      const q = new URLSearchParams();
      if (ns) q.set('namespace', ns);
      if (values.service) q.set('service', values.service);
      if (values.host) q.set('host', values.host);
      const list = await client.request<TaskRow[]>('GET', `/v1/tasks${q.size ? `?${q}` : ''}`);
      out.log(mode === 'json' ? JSON.stringify(list, null, 2) : taskTable(list));
      return 0;
    }
    case 'hosts':
    case 'host': {
      type HostRow = { id: string; address: string; state: string; capacity: { cpu: number; memory: number }; allocated: { cpu: number; memory: number }; tasks: number; heartbeatAt: string | null };
      const list = name ? [await client.request<HostRow>('GET', `/v1/hosts/${encodeURIComponent(name)}`)] : await client.request<HostRow[]>('GET', '/v1/hosts');
      if (mode === 'json') out.log(JSON.stringify(name ? list[0] : list, null, 2));
      else
        out.log(
          table([
            ['HOST', 'ADDRESS', 'STATE', 'CPU', 'MEMORY', 'TASKS', 'HEARTBEAT'],
            ...list.map((h) => [
              h.id,
              h.address,
              h.state,
              `${formatCpu(h.allocated.cpu)}/${formatCpu(h.capacity.cpu)}`,
              `${formatMemory(h.allocated.memory)}/${formatMemory(h.capacity.memory)}`,
              String(h.tasks),
              h.heartbeatAt ? `${age(h.heartbeatAt)} ago` : 'never',
            ]),
          ]),
        );
      return 0;
    }
    case undefined:
      throw new UsageError('get what? services, tasks or hosts');
    default:
      throw new UsageError(`cannot get "${kind}": use services, tasks or hosts`);
  }
}

interface TaskRow {
  id: string;
  namespace: string;
  service: string;
  host: string | null;
  state: string;
  health?: string;
  restarts?: number;
  exitCode?: number;
  message?: string;
  ports: { containerPort: number; hostIp: string; hostPort: number }[];
  /** The replica's address on the container network. */
  address?: string;
}

function taskTable(tasks: readonly TaskRow[]): string {
  return table([
    ['TASK', 'SERVICE', 'HOST', 'STATE', 'HEALTH', 'RESTARTS', 'ENDPOINTS', 'MESSAGE'],
    ...tasks.map((t) => [
      t.id,
      t.namespace === 'default' ? t.service : `${t.namespace}/${t.service}`,
      t.host ?? '-',
      t.exitCode !== undefined ? `${t.state} (${t.exitCode})` : t.state,
      t.health ?? '-',
      String(t.restarts ?? 0),
      t.ports.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}`).join(',') || '-',
      t.message ?? '',
    ]),
  ]);
}

async function del(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parse(args, { wait: { type: 'boolean', default: true }, 'no-wait': { type: 'boolean' }, timeout: { type: 'string' } });
  const [kind, name, extra] = positionals;
  if (kind !== 'service' && kind !== 'services' && kind !== 'svc') throw new UsageError(kind ? `cannot delete "${kind}": only services can be deleted` : 'delete what? service NAME');
  if (!name) throw new UsageError('delete service needs a NAME');
  if (extra) throw new UsageError(`unexpected argument "${extra}"`);
  const ns = values.namespace ?? 'default';
  const client = new ApiClient(findApi(values.api));
  await client.request('DELETE', servicePath(ns, name));
  out.log(`service ${ns}/${name} deleting`);
  if (values.wait && !values['no-wait']) {
    const timeoutS = seconds(values.timeout, '--timeout', 120);
    const deadline = Date.now() + timeoutS * 1000;
    for (;;) {
      try {
        await client.request('GET', servicePath(ns, name));
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) break;
        throw err;
      }
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutS}s waiting for ${ns}/${name} to be deleted`);
      await sleep(300);
    }
    out.log(`service ${ns}/${name} deleted; its containers are gone`);
  }
  return 0;
}

async function local(args: string[], out: Out): Promise<number> {
  const [sub, ...rest] = args;
  const { localUp, localStatus, localDown, localHost } = await import('./local.ts');
  const hostActions = { 'kill-host': 'kill', 'pause-host': 'pause', 'resume-host': 'resume', 'start-host': 'start' } as const;
  switch (sub) {
    case 'up': {
      const { values, positionals } = parse(rest, {
        hosts: { type: 'string' },
        port: { type: 'string' },
        cluster: { type: 'string' },
        data: { type: 'string' },
        'host-cpu': { type: 'string' },
        'host-memory': { type: 'string' },
        'dns-port': { type: 'string' },
        'proxy-port': { type: 'string' },
      });
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      const hosts = values.hosts === undefined ? 3 : Number(values.hosts);
      if (!Number.isInteger(hosts) || hosts < 1 || hosts > 254) throw new UsageError(`--hosts must be an integer from 1 to 254, got "${values.hosts}"`);
      // No --port (or 0): the port saved in the data dir (stable across restarts), else a free one.
      const port = values.port === undefined ? undefined : Number(values.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new UsageError(`--port must be a TCP port number, got "${values.port}"`);
      const portFlag = (name: string, v: string | undefined) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name} must be a port number, got "${v}"`);
        return n;
      };
      return await localUp(
        {
          hosts,
          apiPort: port,
          dnsPort: portFlag('dns-port', values['dns-port']),
          proxyPort: portFlag('proxy-port', values['proxy-port']),
          cluster: values.cluster,
          dataDir: values.data,
          hostCpu: values['host-cpu'],
          hostMemory: values['host-memory'],
        },
        out,
      );
    }
    case 'status': {
      const { values, positionals } = parse(rest, {});
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      return localStatus(outputMode(values.output), out);
    }
    case 'down': {
      const { values, positionals } = parse(rest, { 'keep-hosts': { type: 'boolean' } });
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      return await localDown({ keepHosts: values['keep-hosts'] ?? false }, out);
    }
    case 'kill-host':
    case 'pause-host':
    case 'resume-host':
    case 'start-host': {
      const { positionals } = parse(rest, {});
      const [id, extra] = positionals;
      if (!id) throw new UsageError(`${sub} needs a HOST (see skiff local status)`);
      if (extra) throw new UsageError(`unexpected argument "${extra}"`);
      return await localHost(hostActions[sub], id, out);
    }
    default: {
      const subs = 'up, status, down, kill-host, pause-host, resume-host or start-host';
      throw new UsageError(sub ? `unknown local command "${sub}"; use ${subs}` : `local what? ${subs}`);
    }
  }
}

async function describe(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parse(args, {});
  const [kind, name, extra] = positionals;
  if (kind !== 'service' && kind !== 'services' && kind !== 'svc') throw new UsageError(kind ? `cannot describe "${kind}": use describe service NAME` : 'describe what? service NAME');
  if (!name) throw new UsageError('describe service needs a NAME');
  if (extra) throw new UsageError(`unexpected argument "${extra}"`);
  const ns = values.namespace ?? 'default';
  const client = new ApiClient(findApi(values.api));
  type Detail = Omit<ServiceDetail, 'tasks'> & { dns: string; ingress: { host: string; port: number; sessionAffinity: boolean } | null; tasks: TaskRow[] };
  const s = await client.request<Detail>('GET', servicePath(ns, name));
  if (outputMode(values.output) === 'json') {
    out.log(JSON.stringify(s, null, 2));
    return 0;
  }
  const ready = s.tasks.filter((t) => t.state === 'running' && (t.health === undefined || t.health === 'healthy'));
  out.log(`Service:   ${s.namespace}/${s.name}`);
  out.log(`Replicas:  ${s.running} healthy of ${s.replicas} desired${s.ready ? '' : ' (converging)'}`);
  out.log(`DNS:       ${s.dns} (A: one address per healthy replica; SRV: _<port>._tcp.${s.dns})`);
  out.log(`Ingress:   ${s.ingress ? `${s.ingress.host} → port ${s.ingress.port}${s.ingress.sessionAffinity ? ', session affinity' : ''}` : 'none'}`);
  out.log('Endpoints:');
  out.log(
    table([
      ['  TASK', 'HOST', 'ADDRESS', 'ENDPOINT', 'STATE', 'HEALTH', 'IN DNS/LB'],
      ...s.tasks.map((t) => [
        `  ${t.id}`,
        t.host ?? '-',
        t.address ?? '-',
        t.ports.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}`).join(',') || '-',
        t.state,
        t.health ?? '-',
        ready.includes(t) && t.ports.length ? 'yes' : 'no',
      ]),
    ]),
  );
  return 0;
}

async function operate(command: 'drain' | 'uncordon' | 'events', args: string[], out: Out): Promise<number> {
  const ops = await import('./ops.ts');
  if (command === 'events') {
    const { values, positionals } = parse(args, { service: { type: 'string' }, host: { type: 'string' }, limit: { type: 'string' } });
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const client = new ApiClient(findApi(values.api));
    return ops.events(client, { namespace: values.namespace, service: values.service, host: values.host, limit: values.limit }, outputMode(values.output), out);
  }
  const { values, positionals } = parse(args, {});
  const [host, extra] = positionals;
  if (!host) throw new UsageError(`${command} needs a HOST`);
  if (extra) throw new UsageError(`unexpected argument "${extra}"`);
  const client = new ApiClient(findApi(values.api));
  return command === 'drain' ? ops.drain(client, host, out) : ops.uncordon(client, host, out);
}

async function config(args: string[], out: Out): Promise<number> {
  const { buildConfig, configPath, readConfig, writeConfig, unsetConfig, ConfigValueError } = await import('./config.ts');
  const [sub, ...rest] = args;
  // Own options only (no global -n or --api meaning "which API"): an unknown flag is a mistake here.
  const parseOwn = <T extends NonNullable<ParseArgsConfig['options']>>(options: T) => {
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    } catch (err) {
      throw new UsageError(`config ${sub}: ${(err as Error).message.replace(/\. To specify a positional.*$/s, '')}`);
    }
    if (parsed.positionals.length) throw new UsageError(`config ${sub}: unexpected argument "${parsed.positionals[0]}"`);
    return parsed.values;
  };
  const file = configPath();
  switch (sub) {
    case 'set': {
      const values = parseOwn({ api: { type: 'string' }, region: { type: 'string' }, profile: { type: 'string' } });
      if (values.api === undefined) throw new UsageError('config set needs --api URL (the ApiUrl output of the stack)');
      let saved;
      try {
        saved = buildConfig({ api: values.api, region: values.region, profile: values.profile });
      } catch (err) {
        if (err instanceof ConfigValueError) throw new UsageError(err.message);
        throw err;
      }
      writeConfig(saved, file);
      const signing = saved.region ? `requests signed with SigV4 for ${saved.region}${values.region === undefined ? ' (from the URL)' : ''}${saved.profile ? `, profile ${saved.profile}` : ''}` : 'requests not signed (no --region)';
      out.log(`saved ${file}: API ${saved.api}, ${signing}`);
      return 0;
    }
    case 'get': {
      const values = parseOwn({ output: { type: 'string', short: 'o' } });
      const mode = outputMode(values.output);
      const saved = readConfig(file);
      if (!saved) {
        out.err(`skiff: no config at ${file}; save one with skiff config set --api URL [--region R] [--profile P]`);
        return 1;
      }
      if (mode === 'json') out.log(JSON.stringify(saved, null, 2));
      else out.log(table([['API', 'REGION', 'PROFILE', 'FILE'], [saved.api, saved.region ?? '- (not signed)', saved.profile ?? '-', file]]));
      return 0;
    }
    case 'unset': {
      parseOwn({});
      out.log(unsetConfig(file) ? `removed ${file}` : `no config at ${file}; nothing to remove`);
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown config command "${sub}"; use set, get or unset` : 'config what? set, get or unset');
  }
}

function servicePath(ns: string, name: string): string {
  return `/v1/namespaces/${encodeURIComponent(ns)}/services/${encodeURIComponent(name)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export { statusFilePath };
