/**
 * The Compose service attributes Skiff does not honour, each with what to do instead. A file that
 * uses one converts with a warning naming the attribute's path (`services.web.build`); `--strict`
 * makes it an error. Attributes absent from both this table and HANDLED are not Compose at all:
 * they are errors, with a suggestion when one is close.
 */

/** Service attributes the converter maps (core/compose/convert.ts). */
export const HANDLED = [
  'image',
  'command',
  'entrypoint',
  'environment',
  'env_file',
  'ports',
  'expose',
  'healthcheck',
  'restart',
  'deploy',
  'volumes',
  'tmpfs',
  'depends_on',
  'stop_signal',
  'stop_grace_period',
  'labels',
  'profiles',
  'cap_add',
  'cap_drop',
  'user',
  'read_only',
  'init',
  'cpus',
  'mem_limit',
  'mem_reservation',
  'pids_limit',
  'scale',
  'build',
  'container_name',
  'privileged',
  'network_mode',
] as const;

const CPU_INSTEAD = 'set deploy.resources.limits.cpus, which Skiff both reserves and caps';
const HOST_REFUSED = 'Skiff refuses it: a pod shares the host only through its published ports';

/** Attribute → why it is not honoured and what to do instead. */
export const NOT_HONOURED: Readonly<Record<string, string>> = {
  annotations: 'container annotations are not kept; use labels for what Skiff should carry (metadata.labels)',
  attach: 'Skiff does not attach to containers; read their output with skiff logs',
  blkio_config: 'block I/O weights and limits are not set by Skiff',
  cgroup: HOST_REFUSED,
  cgroup_parent: 'the agent places containers in Docker cgroups itself',
  configs: 'Compose configs are files from the host: bake the file into the image, or pass it in environment or a Skiff Secret',
  cpu_count: CPU_INSTEAD,
  cpu_percent: CPU_INSTEAD,
  cpu_period: CPU_INSTEAD,
  cpu_quota: CPU_INSTEAD,
  cpu_rt_period: CPU_INSTEAD,
  cpu_rt_runtime: CPU_INSTEAD,
  cpu_shares: CPU_INSTEAD,
  cpuset: `pinning to host CPUs is not offered; ${CPU_INSTEAD}`,
  credential_spec: 'Windows credential specs are not supported',
  develop: 'compose watch is a development feature; rebuild and push the image, then apply again',
  device_cgroup_rules: `host devices are refused; ${HOST_REFUSED}`,
  devices: `host devices are refused; ${HOST_REFUSED}`,
  dns: 'containers use the cluster DNS (with the project namespace as search domain); custom servers are not set',
  dns_opt: 'containers use the cluster DNS (with the project namespace as search domain); resolver options are not set',
  dns_search: 'the search domain is the project namespace, so other services answer to their short names; other domains are not added',
  domainname: 'each replica is named by Skiff; reach services by their service name',
  driver_opts: 'network driver options are not used: Skiff gives each namespace one network',
  extends: 'extends is not followed: copy the attributes of the extended service into this one',
  external_links: 'services of other projects are in other namespaces, which are isolated; deploy them in the same project',
  extra_hosts: 'no /etc/hosts entries are added: give the name a DNS record, or use the service name',
  gpus: 'GPUs are not scheduled by Skiff',
  group_add: 'supplementary groups are not set; use user: "uid:gid"',
  hostname: "each replica's hostname is its task id; other services reach it by the service name",
  ipc: `the IPC namespace cannot be shared; ${HOST_REFUSED}`,
  isolation: 'isolation technology is Docker default on every host',
  label_file: 'labels are read from labels only: copy them there',
  links: 'services of a project reach each other by service name already; link aliases are not made: use the service name',
  logging: 'Skiff collects every container output itself (skiff logs; CloudWatch Logs on AWS)',
  mac_address: 'addresses are given by the cluster network',
  mem_swappiness: 'memory is a hard limit without swap',
  memswap_limit: 'memory is a hard limit without swap (deploy.resources.limits.memory)',
  models: 'AI models are not provided by Skiff',
  networks: 'all services of a project share the namespace network and reach each other by service name; networks and their aliases are not made',
  oom_kill_disable: 'a container above its memory limit is killed by the kernel; raise deploy.resources.limits.memory instead',
  oom_score_adj: 'OOM scores are not set',
  pid: `the host process namespace is refused; ${HOST_REFUSED}`,
  platform: 'hosts pull the image for their own platform; publish a multi-platform image',
  post_start: 'lifecycle hooks are not run: run the step in the entrypoint',
  pre_stop: 'lifecycle hooks are not run: handle the stop signal (stop_signal) in the program',
  provider: 'provider services are not run by Skiff',
  pull_policy: 'hosts pull an image when they do not have it; use a new tag (or a digest) to roll out a new image',
  runtime: 'containers run with the default runtime of the host',
  secrets: 'Compose secrets are host files: make a Skiff Secret (kind: Secret) and read it with env secretKeyRef (docs/spec.md)',
  security_opt: 'every container runs with no-new-privileges and Skiff capability set; security options are not taken',
  shm_size: '/dev/shm keeps the Docker default size',
  stdin_open: 'containers get no stdin',
  storage_opt: 'storage driver options are not set',
  sysctls: 'kernel parameters are not set per container',
  tty: 'containers get no terminal',
  ulimits: 'ulimits are not set (the process limit is deploy.resources.limits.pids)',
  use_api_socket: `the Docker socket is never given to a container; ${HOST_REFUSED}`,
  userns_mode: `user namespaces cannot be chosen; ${HOST_REFUSED}`,
  uts: `the host UTS namespace is refused; ${HOST_REFUSED}`,
  volumes_from: 'containers do not share volumes across services: give the data to one service as a named volume',
  working_dir: 'the working directory is the image WORKDIR: set it in the image, or cd in a command such as ["sh", "-c", "cd /app && exec ./run"]',
};

/** Every service attribute of the Compose Specification. */
export const SERVICE_ATTRIBUTES: readonly string[] = [...HANDLED, ...Object.keys(NOT_HONOURED)];

export const TOP_LEVEL = ['version', 'name', 'services', 'volumes', 'networks', 'secrets', 'configs', 'include', 'models'] as const;
