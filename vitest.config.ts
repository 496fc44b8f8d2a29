import { defineConfig } from 'vitest/config';

/**
 * Integration files that need neither Docker nor the host's network (their servers listen on port 0 of
 * 127.0.0.1): they run with the unit, contract and infra files. A new integration file runs serially
 * until it is listed here.
 */
const HOSTLESS_INTEGRATION = [
  'api',
  'api-server',
  'authz-matrix',
  'autoscaling-server',
  'cli-contract',
  'cli-delete-volumes',
  'cli-logs',
  'cloudwatch',
  'console',
  'console-cognito',
  'credentials-endpoint',
  'dynamo-host-channel',
  'dynamo-store',
  'forged-items',
  'host-channel-contract',
  'network-pass',
  'pass-reads',
  'proxy-drain',
  'proxy-tls',
  'proxy-worker',
  'proxy',
  'route53',
  'route53-budget',
  'scheduler-pass',
  'secret-vault',
  'ssm-channel',
  'ssm-server',
  'sts-server',
  'subnet-store',
  'workload-identity-agent',
].map((name) => `test/integration/${name}.test.ts`);

const PARALLEL = ['test/unit/**/*.test.ts', 'test/contract/**/*.test.ts', 'test/infra/**/*.test.ts', ...HOSTLESS_INTEGRATION];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      {
        extends: true,
        // Files that share nothing but the CPU: two at a time, and all of them before the Docker files.
        test: { name: 'parallel', include: PARALLEL, maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // Integration and end-to-end files share one Docker daemon and the loopback addresses: one file at a time.
        test: { name: 'docker', include: ['test/**/*.test.ts'], exclude: PARALLEL, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
