import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { ConfigError, controlPlaneConfig } from '../../app/env.ts';
import { awsControlPlane } from '../../app/wiring.ts';

const base = { SKIFF_CLUSTER: 'prod', SKIFF_TABLE: 'skiff-prod', AWS_REGION: 'eu-west-1' };

describe('controlPlaneConfig', () => {
  it('has no routed network unless SKIFF_CLUSTER_CIDR is set', () => {
    expect(controlPlaneConfig(base).network).toBeUndefined();
    expect(awsControlPlane(controlPlaneConfig(base)).network).toBeUndefined();
  });

  it('reads the cluster CIDR, host prefix and route tables, and wires the network step and container addressing', () => {
    const env = {
      ...base,
      SKIFF_CLUSTER_CIDR: '10.200.0.0/16',
      SKIFF_HOST_SUBNET_PREFIX: '25',
      SKIFF_ROUTE_TABLE_IDS: 'rtb-0aaaaaaaaaaaaaaa1, rtb-0bbbbbbbbbbbbbbb2',
    };
    const config = controlPlaneConfig(env);
    expect(config.network).toEqual({
      mode: 'routes',
      clusterCidr: '10.200.0.0/16',
      hostPrefixLength: 25,
      routeTableIds: ['rtb-0aaaaaaaaaaaaaaa1', 'rtb-0bbbbbbbbbbbbbbb2'],
    });
    const cp = awsControlPlane({ ...config, hostedZoneId: 'Z123' });
    expect(cp.network?.clusterCidr).toBe('10.200.0.0/16');
    expect(cp.discovery.addressing).toBe('container');
  });

  it("in prefix mode, reads the hosts' subnet instead of route tables, with a /26 host subnet by default", () => {
    const env = { ...base, SKIFF_CLUSTER_CIDR: '10.0.64.0/18', SKIFF_CONTAINER_NETWORK: 'prefixes', SKIFF_HOST_SUBNET_ID: 'subnet-0aaaaaaaaaaaaaaa1' };
    const config = controlPlaneConfig(env);
    expect(config.network).toEqual({ mode: 'prefixes', clusterCidr: '10.0.64.0/18', hostPrefixLength: 26, subnetId: 'subnet-0aaaaaaaaaaaaaaa1' });
    const cp = awsControlPlane(config);
    expect(cp.network?.routes.constructor.name).toBe('EniPrefixes');
    expect(cp.discovery.addressing).toBe('container');
    expect(() => controlPlaneConfig({ ...env, SKIFF_HOST_SUBNET_ID: undefined })).toThrow(
      /SKIFF_HOST_SUBNET_ID is required when SKIFF_CONTAINER_NETWORK is prefixes/,
    );
    expect(() => controlPlaneConfig({ ...env, SKIFF_HOST_SUBNET_PREFIX: '29' })).toThrow(/SKIFF_HOST_SUBNET_PREFIX must be a number from 16 to 28/);
    expect(() => controlPlaneConfig({ ...env, SKIFF_CONTAINER_NETWORK: 'overlay' })).toThrow(/must be routes or prefixes, got "overlay"/);
  });

  it('names what is missing or wrong', () => {
    expect(() => controlPlaneConfig({ ...base, SKIFF_CLUSTER_CIDR: '10.200.0.0/16' })).toThrow(ConfigError);
    expect(() => controlPlaneConfig({ ...base, SKIFF_CLUSTER_CIDR: '10.200.0.0/16' })).toThrow(/SKIFF_ROUTE_TABLE_IDS is required/);
    expect(() =>
      controlPlaneConfig({ ...base, SKIFF_CLUSTER_CIDR: '10.200.0.0/16', SKIFF_ROUTE_TABLE_IDS: 'rtb-0aaaaaaaaaaaaaaa1', SKIFF_HOST_SUBNET_PREFIX: '31' }),
    ).toThrow(/SKIFF_HOST_SUBNET_PREFIX must be a number from 1 to 30/);
    // The cluster CIDR itself is checked by the allocator when the control plane is built.
    expect(() => awsControlPlane(controlPlaneConfig({ ...base, SKIFF_CLUSTER_CIDR: '10.200.1.0/16', SKIFF_ROUTE_TABLE_IDS: 'rtb-0aaaaaaaaaaaaaaa1' }))).toThrow(
      /host bits set/,
    );
  });

  it('isolates namespaces with SKIFF_NAMESPACE_BLOCK_PREFIX: blocks of that prefix, slots in the table', () => {
    const env = { ...base, SKIFF_CLUSTER_CIDR: '10.200.0.0/16', SKIFF_ROUTE_TABLE_IDS: 'rtb-0aaaaaaaaaaaaaaa1' };
    expect(controlPlaneConfig(env).network?.namespaceBlockPrefix).toBeUndefined();
    expect(awsControlPlane(controlPlaneConfig(env)).isolation).toBeUndefined();
    const config = controlPlaneConfig({ ...env, SKIFF_NAMESPACE_BLOCK_PREFIX: '27' });
    expect(config.network).toMatchObject({ hostPrefixLength: 24, namespaceBlockPrefix: 27 });
    const cp = awsControlPlane(config);
    expect(cp.isolation).toMatchObject({ blockPrefix: 27, hostPrefix: 24 });
    expect(cp.isolation?.slots.constructor.name).toBe('DynamoNamespaceSlots');
    // Prefix mode too: blocks inside the delegated /26.
    const prefixes = { ...base, SKIFF_CLUSTER_CIDR: '10.0.64.0/18', SKIFF_CONTAINER_NETWORK: 'prefixes', SKIFF_HOST_SUBNET_ID: 'subnet-0aaaaaaaaaaaaaaa1' };
    expect(controlPlaneConfig({ ...prefixes, SKIFF_NAMESPACE_BLOCK_PREFIX: '28' }).network?.namespaceBlockPrefix).toBe(28);
    expect(() => controlPlaneConfig({ ...env, SKIFF_NAMESPACE_BLOCK_PREFIX: '24' })).toThrow(
      /SKIFF_NAMESPACE_BLOCK_PREFIX must be a number from 25 to 30, got "24"/,
    );
    expect(() => controlPlaneConfig({ ...env, SKIFF_NAMESPACE_BLOCK_PREFIX: '31' })).toThrow(/from 25 to 30/);
    expect(() => controlPlaneConfig({ ...env, SKIFF_NAMESPACE_BLOCK_PREFIX: '26.5' })).toThrow(/must be a whole number from 25 to 30/);
  });

  it('wakes hosts with the document named by SKIFF_WAKE_DOCUMENT, and not at all without it', async () => {
    const ssm = mockClient(SSMClient);
    ssm.on(SendCommandCommand).resolves({});
    try {
      expect(controlPlaneConfig({ ...base, SKIFF_WAKE_DOCUMENT: 'Skiff-prod-WakeDocument-1' }).wakeDocument).toBe('Skiff-prod-WakeDocument-1');
      await awsControlPlane(controlPlaneConfig({ ...base, SKIFF_WAKE_DOCUMENT: 'Skiff-prod-WakeDocument-1' })).waker.wake(['i-0123456789abcdef0']);
      expect(ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input.DocumentName)).toEqual(['Skiff-prod-WakeDocument-1']);
      // The API and health functions are not told the document: they never send a command.
      await awsControlPlane(controlPlaneConfig(base)).waker.wake(['i-0123456789abcdef0']);
      expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
    } finally {
      ssm.restore();
    }
  });
});
