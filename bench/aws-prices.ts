/**
 * What the cost figures rest on, shared by bench/cost.ts and bench/scale.ts: the AWS-mode timings of the
 * control plane's loops, us-east-1 list prices (docs/cost.md names the pages), and the assumptions that
 * are not measured.
 */

// ---------------------------------------------------------------------------------------------
// AWS-mode timings (infra/skiff-cluster.ts, infra/host-user-data.ts, functions/health/handler.ts)

export const SECONDS_PER_MONTH = 730 * 3600; // AWS bills a month as 730 hours
export const MINUTES_PER_MONTH = SECONDS_PER_MONTH / 60;
export const AWS = {
  heartbeatS: 15,
  /** The agents' poll (infra/host-user-data.ts hostPollSeconds): SSM within half its 40 TPS Get quota; DynamoDB a fixed 30 s (no shared quota). */
  pollS: (maxHosts: number, channel: 'ssm' | 'dynamodb' = 'ssm') => (channel === 'dynamodb' ? 30 : Math.max(5, Math.ceil(maxHosts / 20))),
  schedulerPerMin: 1,
  healthChecksPerMin: 4,
  healthInvocationsPerMin: 1,
  healthSleepS: 3 * 15, // 4 checks 15 s apart: the invocation sleeps 45 s
  schedulerMemGB: 0.5,
  healthMemGB: 0.25,
  apiMemGB: 0.5,
  /** Assumed round trip of one DynamoDB/SSM call from Lambda in the Region, added per call to the measured local time. */
  callMs: 10,
};

// ---------------------------------------------------------------------------------------------
// us-east-1 list prices (see docs/cost.md for the pages)

export const PRICE = {
  ddbWriteUnit: 0.625 / 1e6, // DynamoDB on-demand, per write request unit
  ddbReadUnit: 0.125 / 1e6, // DynamoDB on-demand, per read request unit
  lambdaGBs: 0.0000133334, // Lambda arm64, per GB-second (first 7.5 billion GB-s)
  lambdaRequest: 0.2 / 1e6,
  ssmStandard: 0, // Parameter Store standard parameters, standard throughput
  ssmHigherThroughputCall: 0.05 / 1e4, // Parameter Store API interactions with higher throughput enabled
  runCommand: 0, // SSM Run Command on EC2 instances
  route53Zone: 0.5, // per hosted zone per month (first 25)
  route53Query: 0.4 / 1e6, // standard queries, first billion a month
  httpApiRequest: 1.0 / 1e6, // API Gateway HTTP API, first 300 million a month
  logsIngestGB: 0.5, // CloudWatch Logs standard ingestion
  eventBridgeScheduled: 0, // scheduled rules on the default bus
  natDataGB: 0.045, // NAT gateway data processed (SSM traffic leaves the VPC through it)
  albHour: 0.0225,
  albLcuHour: 0.008,
  eksControlPlaneMonth: 0.1 * 730,
};

// Assumptions that are not measured (docs/cost.md explains each).
export const ASSUME = {
  apiRequestsPerDay: 1_000, // an operator's CLI use
  apiMs: 100,
  logBytesPerInvocation: 400, // Lambda START/END/REPORT lines plus CloudWatch's 26-byte per-event overhead
  natBytesPerSsmCall: 2_048, // a SigV4 GetParameter request and its reply
  dnsLookupsPerTaskPerMin: 1, // each task resolves one service name a minute (5 s TTL, cached by the client)
};
