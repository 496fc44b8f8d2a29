/**
 * `skiff local ...`: the one-machine cluster. Only these commands load the cluster's code
 * (local/, Docker, dynalite, the SDK clients), and only when they run.
 */
import { command, outputMode, UsageError, type AnyCommand } from '../command.ts';

/**
 * The implementation (cli/local.ts), loaded when a `local` command runs. The local cluster always
 * runs from its TypeScript sources: it starts its agents and load balancer worker from .ts files
 * found next to its own, so the bundled CLI leaves it out and loads it through tsx's loader.
 */
async function impl(): Promise<typeof import('../local.ts')> {
  // Run from source, a TypeScript loader (tsx, vitest) is already there.
  if (!import.meta.url.endsWith('.ts')) (await import('tsx/esm/api')).register();
  return import('../local.ts');
}

function port(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name} must be a port number, got "${v}"`);
  return n;
}

const up = command({
  name: 'up',
  summary: 'start the one-machine cluster in the foreground (`npm start` runs this); Ctrl-C stops it',
  usage: [
    'local up [--hosts N] [--max-hosts N] [--port PORT] [--dns-port PORT] [--proxy-port PORT] [--proxy-https-port PORT] [--ingress node|haproxy] [--cluster NAME] [--data DIR] [--host-cpu Q] [--host-memory Q] [--host-channel ssm|dynamodb]',
  ],
  example: 'skiff local up --hosts 2',
  flags: {
    hosts: { type: 'string', value: 'N', help: 'number of hosts, 1 to 254 (default 3)' },
    'max-hosts': {
      type: 'string',
      value: 'N',
      help: 'let the host autoscaler add hosts for pending tasks up to N, and remove idle ones down to --hosts (default: --hosts, no autoscaling)',
    },
    port: { type: 'string', value: 'PORT', help: "the API's port (default: the one saved in the data dir, else a free one)" },
    'dns-port': { type: 'string', value: 'PORT', help: "the DNS server's port" },
    'proxy-port': { type: 'string', value: 'PORT', help: "the load balancer's port (default 80 when it may bind it, else saved or free)" },
    'proxy-https-port': { type: 'string', value: 'PORT', help: "the load balancer's HTTPS port (default 443 with 80, else saved or free)" },
    ingress: {
      type: 'string',
      value: 'node|haproxy',
      help: "the load balancer's data plane: the built-in Node proxy (default), or HAProxy 2.6+ if installed (faster; see docs/load-balancing.md)",
    },
    cluster: { type: 'string', value: 'NAME', help: 'cluster name (default local)' },
    data: { type: 'string', value: 'DIR', help: 'where state is kept (default .skiff/<cluster>)' },
    'host-cpu': { type: 'string', value: 'Q', help: 'CPU each host reports (default 4000m)' },
    'host-memory': { type: 'string', value: 'Q', help: 'memory each host reports (default 8Gi)' },
    'host-channel': {
      type: 'string',
      value: 'ssm|dynamodb',
      help: 'where host documents are published: the Parameter Store stand-in (default) or a DynamoDB table, as on AWS (docs/host-channel.md)',
    },
  },
  maxArgs: 0,
  async run({ values }, out) {
    const hosts = values.hosts === undefined ? 3 : Number(values.hosts);
    if (!Number.isInteger(hosts) || hosts < 1 || hosts > 254) throw new UsageError(`--hosts must be an integer from 1 to 254, got "${values.hosts}"`);
    const maxHosts = values['max-hosts'] === undefined ? undefined : Number(values['max-hosts']);
    if (maxHosts !== undefined && (!Number.isInteger(maxHosts) || maxHosts < hosts || maxHosts > 254))
      throw new UsageError(`--max-hosts must be an integer from --hosts (${hosts}) to 254, got "${values['max-hosts']}"`);
    // No --port (or 0): the port saved in the data dir (stable across restarts), else a free one.
    const apiPort = values.port === undefined ? undefined : Number(values.port);
    if (apiPort !== undefined && (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65535))
      throw new UsageError(`--port must be a TCP port number, got "${values.port}"`);
    const ingress = values.ingress;
    if (ingress !== undefined && ingress !== 'node' && ingress !== 'haproxy') throw new UsageError(`--ingress must be node or haproxy, got "${ingress}"`);
    const channelFlag = values['host-channel'];
    if (channelFlag !== undefined && channelFlag !== 'ssm' && channelFlag !== 'dynamodb')
      throw new UsageError(`--host-channel must be ssm or dynamodb, got "${channelFlag}"`);
    const hostChannel: 'ssm' | 'dynamodb' | undefined = channelFlag;
    const opts = {
      hosts,
      ingress: ingress as 'node' | 'haproxy' | undefined,
      hostChannel,
      maxHosts,
      apiPort,
      dnsPort: port('dns-port', values['dns-port']),
      proxyPort: port('proxy-port', values['proxy-port']),
      proxyHttpsPort: port('proxy-https-port', values['proxy-https-port']),
      cluster: values.cluster,
      dataDir: values.data,
      hostCpu: values['host-cpu'],
      hostMemory: values['host-memory'],
    };
    return (await impl()).localUp(opts, out);
  },
});

const status = command({
  name: 'status',
  summary: 'what the local cluster runs: API, DNS server, load balancer, and each host agent and its state',
  usage: ['local status [-o json]'],
  example: 'skiff local status -o json',
  flags: {},
  maxArgs: 0,
  async run({ values }, out) {
    const mode = outputMode(values.output);
    return (await impl()).localStatus(mode, out);
  },
});

const down = command({
  name: 'down',
  summary: 'stop the local cluster started from this folder; --keep-hosts stops only its control plane',
  usage: ['local down [--keep-hosts]'],
  example: 'skiff local down --keep-hosts',
  flags: { 'keep-hosts': { type: 'boolean', help: 'stop only the control plane: agents and containers keep running, the next `local up` adopts them' } },
  maxArgs: 0,
  async run({ values }, out) {
    return (await impl()).localDown({ keepHosts: values['keep-hosts'] ?? false }, out);
  },
});

const HOST_ACTIONS = [
  ['kill-host', 'kill', "rehearse a dead machine: SIGKILL the host's agent and `docker kill` its containers"],
  ['pause-host', 'pause', 'rehearse a partition: SIGSTOP the agent; its containers keep running'],
  ['resume-host', 'resume', 'SIGCONT a paused agent'],
  ['start-host', 'start', "start a dead host's agent again with its saved configuration"],
] as const;

const hostCommands = HOST_ACTIONS.map(([name, action, summary]) =>
  command({
    name,
    summary,
    usage: [`local ${name} HOST`],
    example: `skiff local ${name} host-2`,
    flags: {},
    maxArgs: 1,
    async run({ positionals: [id] }, out) {
      if (!id) throw new UsageError(`${name} needs a HOST (see skiff local status)`);
      return (await impl()).localHost(action, id, out);
    },
  }),
);

export default command({
  name: 'local',
  summary: 'the one-machine cluster: start, inspect and stop it, and rehearse host failures',
  usage: [
    'local up [--hosts N] [--max-hosts N] [--port PORT] [--dns-port PORT] [--proxy-port PORT] [--proxy-https-port PORT] [--ingress node|haproxy] [--cluster NAME] [--data DIR] [--host-cpu Q] [--host-memory Q] [--host-channel ssm|dynamodb]',
    'local status [-o json]',
    'local down [--keep-hosts]',
    'local kill-host|pause-host|resume-host|start-host HOST',
  ],
  example: 'skiff local up --hosts 2',
  flags: {},
  subcommands: [up, status, down, ...hostCommands] as AnyCommand[],
});
