/**
 * The names of the environment variables Skiff's processes read: one constant shared by the side
 * that sets them (infra/ for the Lambda functions and the hosts' boot script, local/ for local
 * mode) and the side that reads them (app/env.ts, agent/main.ts), so a name cannot be typed
 * differently on either side. The names themselves are a public contract (docs/aws.md).
 *
 * Plain strings with no imports: the CDK app and the Lambda and agent bundles all import it
 * without pulling in each other's code.
 */
export const ENV = {
  // ---- every control-plane function and the agent ----
  /** The cluster name. */
  cluster: 'SKIFF_CLUSTER',
  /** The state table's name. */
  table: 'SKIFF_TABLE',
  /** `/skiff/<cluster>`: root of the cluster's SSM parameters (default derived from the cluster name). */
  paramPrefix: 'SKIFF_PARAM_PREFIX',
  /** `arn:<partition>:ec2:<region>:<account>:instance/` on AWS: a host's ARN is this plus its id. */
  hostArnPrefix: 'SKIFF_HOST_ARN_PREFIX',
  /** `ssm` (default) or `dynamodb`: which host channel carries the host documents (docs/host-channel.md); the same for the functions and the agents. */
  hostChannel: 'SKIFF_HOST_CHANNEL',
  /** The host document table, with `SKIFF_HOST_CHANNEL=dynamodb`. */
  hostDocumentTable: 'SKIFF_HOST_DOCUMENT_TABLE',
  /** The AWS region, where AWS_REGION is not set (the agent and local mode). */
  region: 'SKIFF_REGION',
  /** Local mode: the DynamoDB stand-in's endpoint. */
  dynamodbEndpoint: 'SKIFF_DYNAMODB_ENDPOINT',
  /** Local mode: the SSM stand-in's endpoint. */
  ssmEndpoint: 'SKIFF_SSM_ENDPOINT',
  /** The private DNS zone of service discovery (default `skiff.internal`). */
  dnsZone: 'SKIFF_DNS_ZONE',
  /** The cluster's CloudWatch Logs group (docs/logs.md): the agent ships to it, the API reads it; unset: no central logs. */
  logGroup: 'SKIFF_LOG_GROUP',
  /** Local mode: the CloudWatch Logs stand-in's endpoint. */
  logsEndpoint: 'SKIFF_LOGS_ENDPOINT',
  /** The API function: the control functions' own log groups, JSON `{"api": "<group>", "scheduler": ...}` (`skiff logs --control-plane`). */
  controlLogGroups: 'SKIFF_CONTROL_LOG_GROUPS',
  /** The API function: the user pool's app client (`CliClient`) the web console signs people in with (docs/console.md). */
  cognitoClientId: 'SKIFF_COGNITO_CLIENT_ID',

  /**
   * The cluster's EFS file system (AWS): persistent volumes are its access points, shared by every host.
   * Set for the agent (it mounts them) and the scheduler (it then pins no replica to a host).
   */
  efsFileSystemId: 'SKIFF_EFS_FILE_SYSTEM_ID',

  // ---- the control-plane functions ----
  /** The API function: IAM principal ARN → role bindings, JSON (core/authz.ts; unset: every principal is a cluster admin). */
  iamBindings: 'SKIFF_IAM_BINDINGS',
  /** The API function: the hosts' IAM role; its sessions named by an instance id are that host's agent (docs/identity.md). */
  hostRoleArn: 'SKIFF_HOST_ROLE_ARN',
  /** The API and scheduler functions: the issuer (the API's URL) of workload identity tokens; unset: none are issued. */
  workloadIssuer: 'SKIFF_WORKLOAD_ISSUER',
  /** The cluster's SSM Command document that wakes a host's agent (the scheduler sends it). */
  wakeDocument: 'SKIFF_WAKE_DOCUMENT',
  /** The scheduler function the API and health functions invoke after a change. */
  schedulerFunction: 'SKIFF_SCHEDULER_FUNCTION',
  /** The Route 53 private hosted zone of service discovery. */
  hostedZoneId: 'SKIFF_HOSTED_ZONE_ID',
  /** TTL of the service discovery records, in seconds. */
  dnsTtlSeconds: 'SKIFF_DNS_TTL_SECONDS',
  /** The ALB listener whose rules route the ingress hosts. */
  albListenerArn: 'SKIFF_ALB_LISTENER_ARN',
  /** 'true' when the ALB listener speaks HTTPS (the stack has a certificate): tls ingress routes can be served. */
  albHttps: 'SKIFF_ALB_HTTPS',
  /** Names of the autoscaler's CloudWatch alarms start with it; its IAM policy and EventBridge rule are scoped to it. */
  autoscalerAlarmPrefix: 'SKIFF_AUTOSCALER_ALARM_PREFIX',
  /** Seconds a target removed from the ALB keeps its requests in flight; the agents' drain is the same (core/stopping.ts). */
  deregistrationDelaySeconds: 'SKIFF_DEREGISTRATION_DELAY_SECONDS',
  /** The hosts' VPC (target groups are made in it). */
  vpcId: 'SKIFF_VPC_ID',
  /** The cluster CIDR the hosts' container subnets come from (docs/network.md). */
  clusterCidr: 'SKIFF_CLUSTER_CIDR',
  /** Prefix length of each host's container subnet. */
  hostSubnetPrefix: 'SKIFF_HOST_SUBNET_PREFIX',
  /** Namespace isolation: prefix length of each namespace's address block in a host's subnet (docs/network.md, "Isolation rules"); unset: no isolation. */
  namespaceBlockPrefix: 'SKIFF_NAMESPACE_BLOCK_PREFIX',
  /** The route tables (comma-separated) that get a route per host subnet (`routes` mode). */
  routeTableIds: 'SKIFF_ROUTE_TABLE_IDS',
  /** How host subnets reach their hosts: `routes` (VPC routes, the default) or `prefixes` (/28 prefixes delegated to each host's interface). */
  containerNetwork: 'SKIFF_CONTAINER_NETWORK',
  /** `prefixes` mode: the VPC subnet the hosts run in, which holds the cluster CIDR. */
  hostSubnetId: 'SKIFF_HOST_SUBNET_ID',
  /** Health: seconds without a heartbeat before a host is declared down. */
  hostGraceSeconds: 'SKIFF_HOST_GRACE_SECONDS',
  /** Health: checks per invocation. */
  healthChecksPerRun: 'SKIFF_HEALTH_CHECKS_PER_RUN',
  /** Health: seconds between the checks of one invocation. */
  healthIntervalSeconds: 'SKIFF_HEALTH_INTERVAL_SECONDS',
  /** Health: days events are kept where the table has no TTL (local mode). */
  eventRetentionDays: 'SKIFF_EVENT_RETENTION_DAYS',

  // ---- the host agent ----
  /** The host's id (its instance id on EC2). */
  hostId: 'SKIFF_HOST_ID',
  /** The host's private address. */
  hostAddress: 'SKIFF_HOST_ADDRESS',
  /** `ec2`: read the identity from instance metadata; `env`: from SKIFF_HOST_ID and SKIFF_HOST_ADDRESS. */
  identity: 'SKIFF_IDENTITY',
  /** Seconds between heartbeats. */
  heartbeatSeconds: 'SKIFF_HEARTBEAT_SECONDS',
  /** Mean seconds between host document polls. */
  pollSeconds: 'SKIFF_POLL_SECONDS',
  /** Seconds between reconciliations of the running containers. */
  reconcileSeconds: 'SKIFF_RECONCILE_SECONDS',
  /** Seconds a container gets to stop before it is killed. */
  stopGraceSeconds: 'SKIFF_STOP_GRACE_SECONDS',
  /** Seconds a task that left the host's document keeps serving before its stop signal (the load balancer's drain). */
  drainSeconds: 'SKIFF_DRAIN_SECONDS',
  dockerStallSeconds: 'SKIFF_DOCKER_STALL_SECONDS',
  /** Containers started or stopped at once. */
  parallelism: 'SKIFF_PARALLELISM',
  /** Where the agent keeps its state. */
  stateDir: 'SKIFF_STATE_DIR',
  /** Where the agent writes its pid (local mode signals it there). */
  pidFile: 'SKIFF_PID_FILE',
  /** CPU the host offers, overriding what the OS reports. */
  hostCpu: 'SKIFF_HOST_CPU',
  /** Memory the host offers, overriding what the OS reports. */
  hostMemory: 'SKIFF_HOST_MEMORY',
  /** Extra host labels, `key=value,...`. */
  hostLabels: 'SKIFF_HOST_LABELS',
  /** The Docker network containers join when their spec names none (local mode: the cluster's shared bridge network). */
  network: 'SKIFF_NETWORK',
  /** The iptables binary. */
  iptables: 'SKIFF_IPTABLES',
  /** MTU of the container network. */
  networkMtu: 'SKIFF_NETWORK_MTU',
  /** The API the agent asks for its tasks' workload tokens (docs/identity.md); unset: tasks get none. */
  apiUrl: 'SKIFF_API_URL',
  /** Local mode: the agent's host token (a JWT naming its host) for the API; on AWS the agent signs with its host role instead. */
  hostToken: 'SKIFF_HOST_TOKEN',
  /** The STS endpoint the agent assumes tasks' roles through (local mode: the STS stand-in). */
  stsEndpoint: 'SKIFF_STS_ENDPOINT',
  /** The address the credentials endpoint listens on and containers reach it at (default: the pod network's gateway). */
  credentialsAddress: 'SKIFF_CREDENTIALS_ADDRESS',
} as const;

/** One of Skiff's environment variable names. */
export type EnvName = (typeof ENV)[keyof typeof ENV];
