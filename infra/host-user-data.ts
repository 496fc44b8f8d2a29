/**
 * The boot script of a Skiff host (EC2 user data): installs Docker and Node.js, fetches the
 * agent bundle, writes the agent's environment and runs it under systemd.
 *
 * Pure: every value comes in as a string (CDK tokens are fine, they resolve at deploy time).
 */
import { ENV } from '../app/env-names.ts';

/** Everything the boot script needs to know about the cluster. */
export interface HostUserDataOptions {
  readonly clusterName: string;
  readonly tableName: string;
  /** `/skiff/<clusterName>`: the root of the cluster's SSM parameters. */
  readonly parameterPrefix: string;
  readonly region: string;
  /** `arn:<partition>:ec2:<region>:<account>:instance/`: prepended to the instance id to form the host's ARN. */
  readonly hostArnPrefix: string;
  /** `s3://bucket/key` of the agent bundle. */
  readonly agentBundleUrl: string;
  /** Major version of Node.js to install from the Amazon Linux 2023 repositories (`nodejs<major>`). */
  readonly nodeMajorVersion: number;
  /** Seconds between the agent's heartbeats (its host status writes): `SKIFF_HEARTBEAT_SECONDS`. */
  readonly heartbeatSeconds: number;
  /** Mean seconds between the agent's document polls (`SKIFF_POLL_SECONDS`); see `hostPollSeconds`. */
  readonly pollSeconds: number;
  /**
   * Seconds a replica leaving the host keeps serving before its stop signal (`SKIFF_DRAIN_SECONDS`):
   * the load balancer's deregistration delay (infra/ingress.ts). @default - the agent's default, the same value
   */
  readonly drainSeconds?: number;
  /** With the DynamoDB host channel: the host document table the agent reads its document from. @default - the SSM channel */
  readonly hostDocumentTable?: string;
  /** The cluster's EFS file system: the agent mounts persistent volumes from it (amazon-efs-utils). */
  readonly efsFileSystemId?: string;
  /** The cluster's log group: the agent ships containers' output to it (docs/logs.md). */
  readonly logGroup?: string;
  /**
   * Workload identity (docs/identity.md): the API the agent asks for its tasks' tokens, and the address
   * of the host where containers reach the credentials endpoint (added to `lo` at boot).
   */
  readonly workloadIdentity?: { readonly apiUrl: string; readonly credentialsAddress: string };
}

export const AGENT_SERVICE_NAME = 'skiff-agent';
export const AGENT_PID_FILE = '/run/skiff-agent.pid';
export const AGENT_ENV_FILE = '/etc/skiff/agent.env';
export const AGENT_BUNDLE_PATH = '/opt/skiff/agent.mjs';

const IMDS = 'http://169.254.169.254/latest';

/**
 * Container log rotation. json-file rather than local: the same `docker logs`, but plain text
 * files an operator (Session Manager) or a log shipper tailing `/var/lib/docker/containers` can
 * read. 10 MB × 3 files caps a container at 30 MB: 100 containers fill at most 3 GB of the default
 * 30 GiB root volume, while the last 10-30 MB of a crashing container's output stays for reading.
 */
export const DOCKER_LOG_OPTS = { 'max-size': '10m', 'max-file': '3' } as const;
/** /etc/docker/daemon.json on every host. */
export const DOCKER_DAEMON_CONFIG = { 'live-restore': true, 'log-driver': 'json-file', 'log-opts': DOCKER_LOG_OPTS } as const;

/** Share of Parameter Store's default 40 TPS Get quota the fleet's polls may use (docs/host-channel.md). */
export const POLL_BUDGET_TPS = 20;
/** The shortest poll interval: below it a small fleet gains nothing, since wake-ups carry the changes. */
export const MIN_POLL_SECONDS = 5;

/**
 * The agents' poll with the DynamoDB host channel: no shared quota to stay within (each document is
 * its own partition), so a fixed interval priced by its reads: 0.5 RRU a poll, $0.0055 per host a
 * month at 30 s (docs/host-channel.md). Wake-ups carry the changes; the poll is the safety net.
 */
export const DYNAMODB_POLL_SECONDS = 30;

/**
 * The agents' poll interval for a fleet of at most `maxHosts`: on SSM `max(5, ceil(maxHosts / 20))` s,
 * so the whole fleet polls at most 20 times a second, half of the 40 TPS quota; on DynamoDB 30 s.
 */
export function hostPollSeconds(maxHosts: number, channel: 'ssm' | 'dynamodb' = 'ssm'): number {
  if (channel === 'dynamodb') return DYNAMODB_POLL_SECONDS;
  return Math.max(MIN_POLL_SECONDS, Math.ceil(maxHosts / POLL_BUDGET_TPS));
}

/** The systemd unit that keeps the agent running. */
export function agentServiceUnit(nodeMajorVersion: number, credentialsAddress?: string): string {
  return [
    '[Unit]',
    'Description=Skiff host agent',
    // The agent drives Docker; start after it and stop if Docker goes away for good.
    'After=docker.service network-online.target',
    'Wants=network-online.target',
    'Requires=docker.service',
    '',
    '[Service]',
    'Type=simple',
    `EnvironmentFile=${AGENT_ENV_FILE}`,
    // Workload identity: the credentials endpoint's address on lo, at every start (a reboot drops it); '-': already there is fine.
    ...(credentialsAddress ? [`ExecStartPre=-/usr/sbin/ip addr add ${credentialsAddress}/32 dev lo`] : []),
    // The namespaced binary stays on this major version even if another Node.js is installed later.
    `ExecStart=/usr/bin/node-${nodeMajorVersion} ${AGENT_BUNDLE_PATH}`,
    // /var/lib/skiff-agent: the agent's default state directory, created by systemd.
    'StateDirectory=skiff-agent',
    // Run Command wakes the agent with `systemctl kill -s USR1 skiff-agent`; the pid file lets
    // tools that signal by pid (`kill -USR1 $(cat /run/skiff-agent.pid)`) do the same. It is
    // written here rather than declared with PIDFile=, which is meant for forking daemons.
    `ExecStartPost=/bin/sh -c 'echo $MAINPID > ${AGENT_PID_FILE}'`,
    `ExecStopPost=/bin/rm -f ${AGENT_PID_FILE}`,
    'Restart=always',
    'RestartSec=2',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ].join('\n');
}

/** The bash script run by cloud-init on first boot. */
export function hostUserDataScript(o: HostUserDataOptions): string {
  const env = [
    `${ENV.cluster}=${o.clusterName}`,
    `${ENV.table}=${o.tableName}`,
    `${ENV.paramPrefix}=${o.parameterPrefix}`,
    `${ENV.region}=${o.region}`,
    // Shell variables of the script below, expanded when the heredoc is written.
    `${ENV.hostId}=\${HOST_ID}`,
    `${ENV.hostAddress}=\${HOST_ADDRESS}`,
    // The agent also reads IMDSv2 itself (its availability zone becomes the host label `zone`).
    `${ENV.identity}=ec2`,
    `${ENV.hostArnPrefix}=${o.hostArnPrefix}`,
    `AWS_REGION=${o.region}`,
    'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true',
    `${ENV.heartbeatSeconds}=${o.heartbeatSeconds}`,
    `${ENV.pollSeconds}=${o.pollSeconds}`,
    ...(o.hostDocumentTable ? [`${ENV.hostChannel}=dynamodb`, `${ENV.hostDocumentTable}=${o.hostDocumentTable}`] : []),
    ...(o.drainSeconds === undefined ? [] : [`${ENV.drainSeconds}=${o.drainSeconds}`]),
    ...(o.efsFileSystemId ? [`${ENV.efsFileSystemId}=${o.efsFileSystemId}`] : []),
    ...(o.logGroup ? [`${ENV.logGroup}=${o.logGroup}`] : []),
    ...(o.workloadIdentity ? [`${ENV.apiUrl}=${o.workloadIdentity.apiUrl}`, `${ENV.credentialsAddress}=${o.workloadIdentity.credentialsAddress}`] : []),
  ];
  return [
    'set -euo pipefail',
    '',
    '# Packages: retried because the NAT path can lag the first seconds of boot. iptables: the agent',
    '# keeps container-to-container traffic un-masqueraded with one nat rule (docs/network.md).',
    `for attempt in 1 2 3 4 5; do dnf install -y docker iptables-nft nodejs${o.nodeMajorVersion}${o.efsFileSystemId ? ' amazon-efs-utils' : ''} && break; sleep $((attempt * 5)); done`,
    `command -v node-${o.nodeMajorVersion} >/dev/null`,
    '',
    '# Before Docker first starts: its defaults apply to containers created after it reads them.',
    '# live-restore keeps containers running while dockerd restarts (static stability). Logs rotate',
    '# so a chatty container cannot fill the root volume (DOCKER_LOG_OPTS).',
    'mkdir -p /etc/docker',
    `cat > /etc/docker/daemon.json <<'EOF'`,
    JSON.stringify(DOCKER_DAEMON_CONFIG, null, 2),
    'EOF',
    'systemctl enable --now docker',
    '',
    '# Identity from IMDSv2: a session token first, then every read carries it.',
    `TOKEN=$(curl -sSf -X PUT "${IMDS}/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")`,
    `HOST_ID=$(curl -sSf -H "X-aws-ec2-metadata-token: $TOKEN" "${IMDS}/meta-data/instance-id")`,
    `HOST_ADDRESS=$(curl -sSf -H "X-aws-ec2-metadata-token: $TOKEN" "${IMDS}/meta-data/local-ipv4")`,
    '',
    `mkdir -p /opt/skiff /etc/skiff`,
    `aws s3 cp "${o.agentBundleUrl}" ${AGENT_BUNDLE_PATH} --region "${o.region}" --only-show-errors`,
    '',
    `cat > ${AGENT_ENV_FILE} <<EOF`,
    ...env,
    'EOF',
    `chmod 0644 ${AGENT_ENV_FILE}`,
    '',
    `cat > /etc/systemd/system/${AGENT_SERVICE_NAME}.service <<'EOF'`,
    agentServiceUnit(o.nodeMajorVersion, o.workloadIdentity?.credentialsAddress),
    'EOF',
    'systemctl daemon-reload',
    `systemctl enable --now ${AGENT_SERVICE_NAME}`,
  ].join('\n');
}
