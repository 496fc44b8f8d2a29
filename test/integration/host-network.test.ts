/**
 * DockerHostNetwork against real Docker, with a fake iptables that records its argv (the host's real
 * nat table is never touched). Networks are created in 10.231.0.0/17, which no route on this machine
 * uses; no traffic is ever sent to them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { BLOCK_LABEL, DockerHostNetwork, exceptionPlace, masqueradeExceptionArgs } from '../../agent/host-network.ts';
import { LABELS } from '../../agent/executor.ts';
import { ValidationError } from '../../core/errors.ts';
import type { HostDocumentTask, HostNetwork } from '../../core/types.ts';
import { TEST_IMAGE, removeClusterContainers, uniqueClusterName } from '../helpers/docker.ts';

const docker = new Docker();
const dir = mkdtempSync(join(tmpdir(), 'skiff-host-network-'));
const fake = join(dir, 'iptables');
const calls = join(dir, 'calls');
const rules = join(dir, 'rules');
const failFlag = join(dir, 'fail');
const checked = join(dir, 'checked');
// The third octet is random so that parallel runs do not collide; 0-126 here, the agent test takes 128-255.
const octet = Math.floor(Math.random() * 127);
const clusterCidr = '10.231.0.0/16';
const net: HostNetwork = { subnet: `10.231.${octet}.0/24`, clusterCidr };
const other: HostNetwork = { subnet: `10.231.${octet + 1}.0/24`, clusterCidr };
const clusters: string[] = [];
let clock = 0;

beforeAll(() => {
  // -S prints the rules file; -C fails the first time and succeeds afterwards; FAIL makes every call fail.
  writeFileSync(
    fake,
    [
      '#!/bin/sh',
      `printf '%s\\n' "$*" >> '${calls}'`,
      `if [ -f '${failFlag}' ]; then echo 'iptables: Permission denied (you must be root).' >&2; exit 4; fi`,
      'case "$3" in',
      `  -S) cat '${rules}' 2>/dev/null ;;`,
      `  -C) if [ -f '${checked}' ]; then exit 0; fi; touch '${checked}'; echo 'iptables: Bad rule (does a matching rule exist in that chain?).' >&2; exit 1 ;;`,
      'esac',
      'exit 0',
      '',
    ].join('\n'),
  );
  chmodSync(fake, 0o755);
});

afterEach(async () => {
  try {
    for (const f of [calls, rules, failFlag, checked]) rmSync(f, { force: true });
  } finally {
    await Promise.all(clusters.splice(0).map((c) => removeClusterContainers(docker, c)));
  }
});

afterAll(async () => {
  try {
    await Promise.all(clusters.splice(0).map((c) => removeClusterContainers(docker, c)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function manager(): { cluster: string; hostNetwork: DockerHostNetwork } {
  const cluster = uniqueClusterName('hn');
  clusters.push(cluster);
  return { cluster, hostNetwork: new DockerHostNetwork({ docker, cluster, iptables: fake, recheckMs: 60_000, now: () => clock }) };
}

const recorded = () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean) : []);
const dockerMasquerade = (subnet: string) => `-A POSTROUTING -s ${subnet} ! -o br-0123456789ab -j MASQUERADE`;
const ours = (n: HostNetwork) => `-A POSTROUTING -s ${n.subnet} -d ${n.clusterCidr} -j RETURN`;

describe('DockerHostNetwork', () => {
  it('creates the bridge over the subnet with its gateway, MTU, gateway mode and label, then inserts the masquerade exception', async () => {
    const { cluster, hostNetwork } = manager();
    writeFileSync(rules, `-P POSTROUTING ACCEPT\n${dockerMasquerade(net.subnet)}\n`);
    expect(await hostNetwork.ensure(net)).toBe(`skiff-${cluster}`);

    const info = await docker.getNetwork(`skiff-${cluster}`).inspect();
    expect(info.Driver).toBe('bridge');
    expect(info.IPAM?.Config).toEqual([{ Subnet: net.subnet, Gateway: `10.231.${octet}.1` }]);
    expect(info.Options).toMatchObject({ 'com.docker.network.driver.mtu': '9001', 'com.docker.network.bridge.gateway_mode_ipv4': 'nat-unprotected' });
    expect(info.Labels).toEqual({ [LABELS.cluster]: cluster });
    expect(recorded()).toEqual([
      '-t nat -S POSTROUTING',
      `-t nat -C POSTROUTING -s ${net.subnet} -d ${clusterCidr} -j RETURN`,
      `-t nat -I POSTROUTING 1 -s ${net.subnet} -d ${clusterCidr} -j RETURN`,
    ]);
  });

  it('keeps an existing network of the same subnet, skips all checks within the recheck period, and checks again after it', async () => {
    const { cluster, hostNetwork } = manager();
    clock = 1_000_000;
    await hostNetwork.ensure(net);
    const { Id } = await docker.getNetwork(`skiff-${cluster}`).inspect();
    const before = recorded().length;

    clock += 59_000;
    await hostNetwork.ensure(net);
    expect(recorded()).toHaveLength(before);

    clock += 2_000;
    writeFileSync(rules, `${ours(net)}\n${dockerMasquerade(net.subnet)}\n`);
    await hostNetwork.ensure(net);
    expect(recorded().slice(before)).toEqual(['-t nat -S POSTROUTING']);
    expect((await docker.getNetwork(`skiff-${cluster}`).inspect()).Id).toBe(Id);
  });

  it('moves an exception that Docker has put its masquerade rule ahead of back to the top', async () => {
    const { hostNetwork } = manager();
    writeFileSync(rules, `${dockerMasquerade(net.subnet)}\n${ours(net)}\n`);
    await hostNetwork.ensure(net);
    expect(recorded()).toEqual([
      '-t nat -S POSTROUTING',
      `-t nat -D POSTROUTING -s ${net.subnet} -d ${clusterCidr} -j RETURN`,
      `-t nat -I POSTROUTING 1 -s ${net.subnet} -d ${clusterCidr} -j RETURN`,
    ]);
  });

  it('recreates the network on a new subnet when no container uses it', async () => {
    const { cluster, hostNetwork } = manager();
    await hostNetwork.ensure(net);
    const { Id } = await docker.getNetwork(`skiff-${cluster}`).inspect();
    await hostNetwork.ensure(other);
    const after = await docker.getNetwork(`skiff-${cluster}`).inspect();
    expect(after.Id).not.toBe(Id);
    expect(after.IPAM?.Config).toEqual([{ Subnet: other.subnet, Gateway: `10.231.${octet + 1}.1` }]);
  });

  it('refuses to change the subnet under a container, naming both subnets, and leaves the network alone', async () => {
    const { cluster, hostNetwork } = manager();
    await hostNetwork.ensure(net);
    const { Id } = await docker.getNetwork(`skiff-${cluster}`).inspect();
    // Created, never started: it holds no endpoint, yet starting it later needs the network.
    await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['true'],
      name: `skiff.${cluster}.user`,
      Labels: { [LABELS.cluster]: cluster },
      HostConfig: { NetworkMode: `skiff-${cluster}` },
    });
    const failure = hostNetwork.ensure(other);
    await expect(failure).rejects.toThrow(`has subnet ${net.subnet} but this host's container subnet is now ${other.subnet}`);
    await expect(failure).rejects.toThrow(`skiff.${cluster}.user`);
    expect((await docker.getNetwork(`skiff-${cluster}`).inspect()).Id).toBe(Id);
  });

  it('prefix mode: bridges a block of four /28 prefixes (a /26 of the reservation in the VPC subnet), and a container takes an address in it', async () => {
    const { cluster, hostNetwork } = manager();
    // As app/network.ts gives it in prefix mode: the host's block, and the reservation it comes from.
    const block: HostNetwork = { subnet: `10.231.${octet}.64/26`, clusterCidr: `10.231.${octet}.0/24` };
    expect(await hostNetwork.ensure(block)).toBe(`skiff-${cluster}`);
    const info = await docker.getNetwork(`skiff-${cluster}`).inspect();
    expect(info.IPAM?.Config).toEqual([{ Subnet: block.subnet, Gateway: `10.231.${octet}.65` }]);
    expect(recorded()).toContain(`-t nat -I POSTROUTING 1 -s ${block.subnet} -d ${block.clusterCidr} -j RETURN`);
    const container = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sleep', '30'],
      name: `skiff.${cluster}.prefix`,
      Labels: { [LABELS.cluster]: cluster },
      HostConfig: { NetworkMode: `skiff-${cluster}`, Init: true },
    });
    await container.start();
    const address = (await container.inspect()).NetworkSettings.Networks[`skiff-${cluster}`].IPAddress;
    const last = Number(address.split('.')[3]);
    expect(address.startsWith(`10.231.${octet}.`) && last > 65 && last < 127).toBe(true);
  });

  it('fails with the iptables command and its stderr, and tries again on the next call', async () => {
    const { hostNetwork } = manager();
    writeFileSync(failFlag, '');
    await expect(hostNetwork.ensure(net)).rejects.toThrow(
      `${fake} -t nat -S POSTROUTING failed: this user may not use ${fake} (iptables: Permission denied (you must be root).); the agent must run as root to write its rules`,
    );
    rmSync(failFlag);
    rmSync(calls);
    await hostNetwork.ensure(net);
    expect(recorded()[0]).toBe('-t nat -S POSTROUTING');
  });

  it('rejects a subnet outside the cluster CIDR before touching Docker', async () => {
    const { cluster, hostNetwork } = manager();
    const failure = hostNetwork.ensure({ subnet: '10.99.0.0/24', clusterCidr });
    await expect(failure).rejects.toBeInstanceOf(ValidationError);
    await expect(failure).rejects.toThrow('10.99.0.0/24 is not inside the cluster CIDR 10.231.0.0/16');
    expect(await docker.listNetworks({ filters: { name: [`skiff-${cluster}`] } })).toEqual([]);
    expect(recorded()).toEqual([]);
  });
});

describe('DockerHostNetwork with namespace blocks', () => {
  // /26 blocks of the host's /24: four slots.
  const isolating: HostNetwork = { ...net, blockPrefix: 26 };
  const task = (id: string, slot: number) => ({ id, isolation: { slot, allowSlots: [] } }) as unknown as HostDocumentTask;
  const block = (n: number) => `10.231.${octet}.${n * 64}/26`;
  const networksOf = async (cluster: string) => (await docker.listNetworks({ filters: { label: [`${LABELS.cluster}=${cluster}`] } })).map((n) => n.Name).sort();

  it('makes one bridge per block the tasks need, labelled with its block, and one masquerade exception for the whole subnet', async () => {
    const { cluster, hostNetwork } = manager();
    writeFileSync(rules, `-P POSTROUTING ACCEPT\n${dockerMasquerade(block(1))}\n`);
    const names = await hostNetwork.ensureBlocks(isolating, [task('t1', 1), task('t2', 3), task('t3', 1)]);
    expect(names).toEqual(
      new Map([
        [1, `skiff-${cluster}-block-1`],
        [3, `skiff-${cluster}-block-3`],
      ]),
    );
    expect(await networksOf(cluster)).toEqual([`skiff-${cluster}-block-1`, `skiff-${cluster}-block-3`]);
    const info = await docker.getNetwork(`skiff-${cluster}-block-3`).inspect();
    expect(info.IPAM?.Config).toEqual([{ Subnet: block(3), Gateway: `10.231.${octet}.193` }]);
    expect(info.Options).toMatchObject({ 'com.docker.network.driver.mtu': '9001', 'com.docker.network.bridge.gateway_mode_ipv4': 'nat-unprotected' });
    expect(info.Labels).toEqual({ [LABELS.cluster]: cluster, [BLOCK_LABEL]: block(3) });
    expect(recorded()).toEqual([
      '-t nat -S POSTROUTING',
      `-t nat -C POSTROUTING -s ${net.subnet} -d ${clusterCidr} -j RETURN`,
      `-t nat -I POSTROUTING 1 -s ${net.subnet} -d ${clusterCidr} -j RETURN`,
    ]);

    // A pod on its namespace's block bridge takes an address in that block.
    const container = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sleep', '30'],
      name: `skiff.${cluster}.block`,
      Labels: { [LABELS.cluster]: cluster },
      HostConfig: { NetworkMode: names.get(1)!, Init: true },
    });
    await container.start();
    const address = (await container.inspect()).NetworkSettings.Networks[names.get(1)!].IPAddress;
    const last = Number(address.split('.')[3]);
    expect(address.startsWith(`10.231.${octet}.`) && last > 65 && last < 127).toBe(true);
  });

  it('removes the bridges of blocks no task needs and the whole-subnet bridge when unused, and back again without blocks', async () => {
    const { cluster, hostNetwork } = manager();
    await hostNetwork.ensure(net);
    clock += 120_000;
    await hostNetwork.ensureBlocks(isolating, [task('t1', 0), task('t2', 2)]);
    expect(await networksOf(cluster)).toEqual([`skiff-${cluster}-block-0`, `skiff-${cluster}-block-2`]);
    clock += 120_000;
    await hostNetwork.ensureBlocks(isolating, [task('t2', 2)]);
    expect(await networksOf(cluster)).toEqual([`skiff-${cluster}-block-2`]);
    clock += 120_000;
    expect(await hostNetwork.ensure(net)).toBe(`skiff-${cluster}`);
    expect(await networksOf(cluster)).toEqual([`skiff-${cluster}`]);
  });

  it('refuses to cut a subnet into blocks under a container of the whole-subnet bridge, naming it', async () => {
    const { cluster, hostNetwork } = manager();
    await hostNetwork.ensure(net);
    await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['true'],
      name: `skiff.${cluster}.old`,
      Labels: { [LABELS.cluster]: cluster },
      HostConfig: { NetworkMode: `skiff-${cluster}` },
    });
    clock += 120_000;
    const failure = hostNetwork.ensureBlocks(isolating, [task('t1', 0)]);
    await expect(failure).rejects.toThrow(
      `Docker network skiff-${cluster} spans this host's whole container subnet, but the document cuts it into namespace blocks`,
    );
    await expect(failure).rejects.toThrow(`skiff.${cluster}.old`);
    expect(await networksOf(cluster)).toEqual([`skiff-${cluster}`]);
  });

  it('refuses blocks that do not fit the subnet before touching Docker', async () => {
    const { cluster, hostNetwork } = manager();
    await expect(hostNetwork.ensureBlocks({ ...net, blockPrefix: 24 }, [task('t1', 0)])).rejects.toBeInstanceOf(ValidationError);
    await expect(hostNetwork.ensureBlocks(isolating, [task('t1', 4)])).rejects.toThrow('slot 4 is outside 0-3');
    expect(await networksOf(cluster)).toEqual([]);
    expect(recorded()).toEqual([]);
  });
});

describe('the masquerade exception', () => {
  it('is built as exact iptables argv', () => {
    const n = { subnet: '10.200.7.0/24', clusterCidr: '10.200.0.0/16' };
    expect(masqueradeExceptionArgs('check', n)).toEqual(['-t', 'nat', '-C', 'POSTROUTING', '-s', '10.200.7.0/24', '-d', '10.200.0.0/16', '-j', 'RETURN']);
    expect(masqueradeExceptionArgs('insert', n)).toEqual(['-t', 'nat', '-I', 'POSTROUTING', '1', '-s', '10.200.7.0/24', '-d', '10.200.0.0/16', '-j', 'RETURN']);
    expect(masqueradeExceptionArgs('delete', n)).toEqual(['-t', 'nat', '-D', 'POSTROUTING', '-s', '10.200.7.0/24', '-d', '10.200.0.0/16', '-j', 'RETURN']);
    expect(masqueradeExceptionArgs('list', n)).toEqual(['-t', 'nat', '-S', 'POSTROUTING']);
  });

  it('is found in place, behind Docker’s masquerade rule, or missing from a listing', () => {
    const n = { subnet: '10.200.7.0/24', clusterCidr: '10.200.0.0/16' };
    const masq = '-A POSTROUTING -s 10.200.7.0/24 ! -o br-abc -j MASQUERADE';
    const mine = '-A POSTROUTING -s 10.200.7.0/24 -d 10.200.0.0/16 -j RETURN';
    const unrelated = '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE';
    expect(exceptionPlace(['-P POSTROUTING ACCEPT', mine, masq].join('\n'), n)).toBe('ok');
    expect(exceptionPlace([unrelated, mine].join('\n'), n)).toBe('ok');
    expect(exceptionPlace([masq, unrelated, mine].join('\n'), n)).toBe('shadowed');
    expect(exceptionPlace([masq, unrelated].join('\n'), n)).toBe('missing');
    expect(exceptionPlace('', n)).toBe('missing');
    // Docker's rule of a namespace block's bridge, inside the host subnet, shadows the exception too.
    expect(exceptionPlace(['-A POSTROUTING -s 10.200.7.32/27 ! -o br-def -j MASQUERADE', mine].join('\n'), n)).toBe('shadowed');
    expect(exceptionPlace(['-A POSTROUTING -s 10.200.8.32/27 ! -o br-def -j MASQUERADE', mine].join('\n'), n)).toBe('ok');
  });
});
