/**
 * Hosts only claim; the control plane registers (issue 10). The pure plan (core/host-registration.ts)
 * and the pass step that applies it (app/scheduler/steps/register-hosts.ts) on the in-memory store.
 */
import { describe, expect, it } from 'vitest';
import { planRegistration, type MachineVerdict } from '../../core/host-registration.ts';
import type { HostClaim, HostStatus } from '../../core/types.ts';
import type { MachineCatalog } from '../../ports/machines.ts';
import { LocalMachines } from '../../local/machines.ts';
import { passHarness } from '../pass-harness.ts';
import { aHost, MiB } from '../builders.ts';

const GiB = 1024 * MiB;
const claim: HostClaim = { address: '10.0.1.17', capacity: { cpu: 2000, memory: 4 * GiB }, labels: { zone: 'eu-west-1a' }, instanceType: 't4g.medium' };
const t4gMedium: MachineVerdict = {
  known: true,
  facts: { maxCapacity: { cpu: 2000, memory: 4 * GiB }, address: '10.0.1.17', source: 'instance type t4g.medium' },
};

describe('planRegistration', () => {
  it('registers a new host with its claim when the machine allows it', () => {
    expect(planRegistration('i-0abc', claim, undefined, t4gMedium)).toEqual({
      kind: 'register',
      identity: { id: 'i-0abc', address: '10.0.1.17', capacity: { cpu: 2000, memory: 4 * GiB }, labels: { zone: 'eu-west-1a' } },
    });
  });

  it("caps a claim above the machine at the machine's size, and says so", () => {
    const plan = planRegistration('i-0abc', { ...claim, capacity: { cpu: 1e12, memory: 1e18 } }, undefined, t4gMedium);
    expect(plan).toMatchObject({ kind: 'register', identity: { capacity: { cpu: 2000, memory: 4 * GiB } } });
    expect(plan.kind === 'register' && plan.capped).toBe(
      `claimed cpu 1000000000000, memory 1000000000000000000; capped at cpu 2000, memory ${4 * GiB}, instance type t4g.medium`,
    );
  });

  it("refuses an address that is not the machine's, a machine the catalog does not know, and a capacity of nothing", () => {
    expect(planRegistration('i-0abc', { ...claim, address: '10.0.9.9' }, undefined, t4gMedium)).toEqual({
      kind: 'refuse',
      reason: "claims address 10.0.9.9, but its machine's is 10.0.1.17",
    });
    expect(planRegistration('i-0abc', claim, undefined, { known: false, reason: 'instance i-0abc is terminated' })).toEqual({
      kind: 'refuse',
      reason: 'instance i-0abc is terminated',
    });
    expect(planRegistration('h1', { ...claim, capacity: { cpu: 0, memory: GiB } }, undefined, { known: true, facts: {} })).toMatchObject({ kind: 'refuse' });
    // Without a bound, the schema's physical bounds still hold.
    expect(planRegistration('h1', { ...claim, capacity: { cpu: 1e12, memory: GiB } }, undefined, { known: true, facts: {} })).toMatchObject({
      kind: 'refuse',
      reason: expect.stringMatching(/capacity/),
    });
  });

  it('writes nothing when the record already says what the bounded claim says, and refreshes it otherwise', () => {
    const record = aHost({ id: 'i-0abc', address: '10.0.1.17', cpu: 2000, memory: 4 * GiB, labels: { zone: 'eu-west-1a' } });
    expect(planRegistration('i-0abc', claim, record, t4gMedium)).toEqual({ kind: 'unchanged' });
    expect(planRegistration('i-0abc', { ...claim, capacity: { cpu: 9000, memory: 4 * GiB } }, record, t4gMedium)).toEqual({ kind: 'unchanged' });
    expect(planRegistration('i-0abc', { ...claim, labels: { zone: 'eu-west-1a', gpu: 'no' } }, record, t4gMedium)).toMatchObject({ kind: 'register' });
  });
});

describe('the register-hosts pass step', () => {
  const status = (hostId: string, c: HostClaim | undefined): HostStatus => ({
    hostId,
    heartbeatAt: '2026-01-01T00:00:00.000Z',
    generation: 0,
    tasks: [],
    agentVersion: 'test',
    ...(c ? { claim: c } : {}),
  });
  const localClaim = (i: number, cpu = 4000): HostClaim => ({ address: `127.0.1.${i}`, capacity: { cpu, memory: 8 * GiB }, labels: { local: 'true' } });

  it('registers a host that only reported, capped at the local host size, and it takes tasks in the same pass', async () => {
    const h = await passHarness([]);
    await h.inner.putService(
      {
        kind: 'Service',
        metadata: { namespace: 'default', name: 'web', labels: {} },
        spec: {
          replicas: 2,
          restartPolicy: 'always',
          containers: [{ name: 'web', image: 'skiff/busybox', command: [], env: {}, ports: [], resources: { cpu: 100, memory: 64 * MiB } }],
        },
      } as never,
      h.now(),
    );
    await h.inner.putHostStatus(status('host-1', localClaim(1, 1e12)));
    const machines = new LocalMachines({ cpu: 4000, memory: 8 * GiB });
    const result = await h.pass(undefined, { machines });
    expect(result.registered).toEqual(['host-1']);
    expect(result.placed).toBe(2);
    expect(await h.inner.getHost('host-1')).toMatchObject({ state: 'ready', address: '127.0.1.1', capacity: { cpu: 4000, memory: 8 * GiB }, version: 2 });
    const events = await h.inner.listEvents({});
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['host.registered', 'host.claim-capped']));
    // The next pass finds the claim unchanged: no catalog call, no write.
    let asked = 0;
    const counting: MachineCatalog = {
      describe: async (id, c) => {
        asked++;
        return machines.describe(id, c);
      },
    };
    const version = (await h.inner.getHost('host-1'))!.version;
    expect((await h.pass(undefined, { machines: counting })).registered).toBeUndefined();
    expect(asked).toBe(0);
    expect((await h.inner.getHost('host-1'))!.version).toBe(version);
  });

  it('keeps the state the control plane set: a fenced host that claims again stays down', async () => {
    const h = await passHarness([]);
    await h.inner.putHostStatus(status('host-1', localClaim(1)));
    await h.pass();
    await h.inner.setHostState('host-1', 'down', h.now());
    await h.inner.putHostStatus(status('host-1', { ...localClaim(1), labels: { local: 'true', again: 'yes' } }));
    expect((await h.pass()).registered).toEqual(['host-1']);
    expect(await h.inner.getHost('host-1')).toMatchObject({ state: 'down', labels: { local: 'true', again: 'yes' } });
  });

  it('refuses a claim the catalog refuses, once as an event, and registers the host once its claim is right', async () => {
    const h = await passHarness([]);
    await h.inner.putHostStatus(status('host-1', { ...localClaim(1), address: '10.1.2.3' }));
    const machines = new LocalMachines({ cpu: 4000, memory: 8 * GiB });
    await h.pass(undefined, { machines });
    await h.pass(undefined, { machines });
    expect(await h.inner.getHost('host-1')).toBeUndefined();
    const refused = (await h.inner.listEvents({})).filter((e) => e.type === 'host.claim-refused');
    expect(refused).toHaveLength(1);
    expect(refused[0].message).toMatch(/a local host publishes on 127\.0\.0\.0\/8/);
    await h.inner.putHostStatus(status('host-1', localClaim(1)));
    expect((await h.pass(undefined, { machines })).registered).toEqual(['host-1']);
  });

  it('goes on with the other hosts and the pass when the catalog fails for one', async () => {
    const h = await passHarness([]);
    await h.inner.putHostStatus(status('host-1', localClaim(1)));
    await h.inner.putHostStatus(status('host-2', localClaim(2)));
    await h.inner.putHostStatus(status('host-3', undefined));
    const machines: MachineCatalog = {
      describe: async (id) => {
        if (id === 'host-1') throw new Error('EC2 throttled DescribeInstances');
        return { known: true, facts: {} };
      },
    };
    expect((await h.pass(undefined, { machines })).registered).toEqual(['host-2']);
    // Retried next pass, once the catalog answers; a status without a claim registers nothing.
    expect((await h.pass()).registered).toEqual(['host-1']);
    expect((await h.inner.listHosts()).map((x) => x.id)).toEqual(['host-1', 'host-2']);
  });
});
