/**
 * Containers of one namespace cannot open connections to another namespace's (issue 14), end to
 * end: a local cluster, real Docker, one network per namespace (agent/namespace-network.ts). A
 * `wget` from a pod of namespace shop reaches shop's web server by name and by address; the same
 * from a pod of namespace other fails both ways. And a service that lets a named namespace in
 * (`spec.network.allowFrom`): team/web allows shop, so a pod of shop fetches it by its full name and
 * by its address on shop's network, and a pod of other still reaches it neither way. One way only:
 * team/web's own container cannot open a connection to shop's web server (by name or address), which
 * the agent's packet filter rules keep it from (agent/guest-isolation.ts), and the rules leave with the
 * cluster. The wgets run inside containers (docker exec): the host itself sends nothing beyond 127.0.0.0/8.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../agent/executor.ts';
import { SANDBOX } from '../../agent/pod-sandbox.ts';
import { eventually, skiff, startCluster, type RunningCluster } from '../helpers/cli.ts';
import { execIn, tearDownCluster, uniqueClusterName } from '../helpers/docker.ts';

const docker = new Docker();
const cluster = uniqueClusterName('iso');
const dir = mkdtempSync(join(tmpdir(), 'skiff-iso-'));
let running: RunningCluster | undefined;

const cli = (...args: string[]) => skiff(args, { cwd: dir, timeoutMs: 120_000 });

async function apply(namespace: string, name: string, command: string, allowFrom?: readonly string[]): Promise<void> {
  const file = join(dir, `${namespace}-${name}.yaml`);
  writeFileSync(
    file,
    `kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  replicas: 1
  terminationGracePeriodSeconds: 1${allowFrom ? `\n  network: { allowFrom: [${allowFrom.join(', ')}] }` : ''}
  containers:
    - name: main
      image: skiff/busybox:latest
      command: ["sh", "-c", ${JSON.stringify(command)}]
      resources: { cpu: 50m, memory: 16Mi }
`,
  );
  const res = await cli('apply', '-f', file, '--timeout', '90');
  expect(res.code, res.stderr).toBe(0);
}

/** The pod's `container` (default its app container `main`; SANDBOX holds the pod's network). */
async function containerOf(namespace: string, service: string, container = 'main'): Promise<Docker.ContainerInfo> {
  return eventually(
    async () =>
      (
        await docker.listContainers({
          filters: {
            label: [`${LABELS.cluster}=${cluster}`, `${LABELS.namespace}=${namespace}`, `${LABELS.service}=${service}`, `${LABELS.container}=${container}`],
          },
        })
      )[0],
    `the container of ${namespace}/${service}`,
    60_000,
  );
}

/**
 * Runs wget inside a container; true when it fetched the page. Busybox's own `timeout` bounds it
 * (its wget crashes with `-T` in this image); a name takes a few seconds to resolve (the AAAA
 * lookup waits out its timeout first), hence 10 s.
 */
async function wgetFrom(container: Docker.ContainerInfo, url: string): Promise<boolean> {
  return (await execIn(docker, container.Id, ['timeout', '10', 'wget', '-qO-', url])).exitCode === 0;
}

beforeAll(async () => {
  running = await startCluster(dir, ['--cluster', cluster, '--hosts', '1', '--data', join(dir, 'data')], 120_000);
}, 150_000);

/** This cluster's jumps in DOCKER-USER (each agent's chain is jumped to with the comment `skiff <cluster> <host>`). */
const ourJumps = () =>
  execFileSync('iptables', ['-w', '-S', 'DOCKER-USER'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(`skiff ${cluster} `));

afterAll(async () => {
  await tearDownCluster(running, cluster, dir, docker);
  // The rules go with the cluster's containers and networks.
  expect(ourJumps()).toEqual([]);
}, 120_000);

describe('isolation between namespaces', { timeout: 300_000 }, () => {
  it('a pod reaches its own namespace by name and address, and not another namespace', async () => {
    await apply('shop', 'web', 'mkdir -p /www && echo shop > /www/index.html && exec httpd -f -p 8080 -h /www');
    await apply('shop', 'client', 'exec sleep 3600');
    await apply('other', 'client', 'exec sleep 3600');
    // A pod's network belongs to its sandbox; its app containers join it.
    const web = await containerOf('shop', 'web', SANDBOX);
    const mine = await containerOf('shop', 'client');
    const theirs = await containerOf('other', 'client');
    const shopNet = `skiff-${cluster}-ns-shop`;
    expect(Object.keys(web.NetworkSettings.Networks)).toEqual([shopNet]);
    expect(Object.keys((await containerOf('other', 'client', SANDBOX)).NetworkSettings.Networks)).toEqual([`skiff-${cluster}-ns-other`]);
    const address = web.NetworkSettings.Networks[shopNet].IPAddress;
    const byName = 'http://web.shop.skiff.internal:8080/';
    // Within the namespace: by name and by address (the server may take a moment to listen).
    await eventually(async () => ((await wgetFrom(mine, byName)) ? true : undefined), 'shop/client fetching shop/web by name', 60_000, 1000);
    expect(await wgetFrom(mine, `http://${address}:8080/`)).toBe(true);
    // Across namespaces: neither the name nor the address answers.
    expect(await wgetFrom(theirs, byName)).toBe(false);
    expect(await wgetFrom(theirs, `http://${address}:8080/`)).toBe(false);
  });

  it('a service letting a namespace in is reached from it by name and address, and still not from another', async () => {
    await apply('team', 'web', 'mkdir -p /www && echo team > /www/index.html && exec httpd -f -p 8080 -h /www', ['shop']);
    await apply('shop', 'web', 'mkdir -p /www && echo shop > /www/index.html && exec httpd -f -p 8080 -h /www');
    await apply('shop', 'client', 'exec sleep 3600');
    await apply('other', 'client', 'exec sleep 3600');
    // The pod's network belongs to its sandbox: on its own namespace's network and on shop's.
    const web = await containerOf('team', 'web', SANDBOX);
    const shopNet = `skiff-${cluster}-ns-shop`;
    expect(Object.keys(web.NetworkSettings.Networks).sort()).toEqual([`skiff-${cluster}-ns-shop`, `skiff-${cluster}-ns-team`]);
    const onShop = web.NetworkSettings.Networks[shopNet].IPAddress;
    const onTeam = web.NetworkSettings.Networks[`skiff-${cluster}-ns-team`].IPAddress;
    const shop = await containerOf('shop', 'client');
    const other = await containerOf('other', 'client');
    const byName = 'http://web.team.skiff.internal:8080/';
    // From shop: by its full name (Docker's resolver on shop's network answers the alias) and by address.
    await eventually(async () => ((await wgetFrom(shop, byName)) ? true : undefined), 'shop/client fetching team/web by name', 60_000, 1000);
    expect(await wgetFrom(shop, `http://${onShop}:8080/`)).toBe(true);
    // From other: neither the name nor either address answers (each wget waits out its 10 s: run together).
    // One way: team/web's own container opens nothing towards shop, by name or by address, though it is on shop's network.
    const teamWeb = await containerOf('team', 'web');
    const shopWeb = await containerOf('shop', 'web', SANDBOX);
    const shopWebAddress = shopWeb.NetworkSettings.Networks[shopNet].IPAddress;
    expect(ourJumps().length).toBeGreaterThan(0);
    expect(
      await Promise.all([
        wgetFrom(other, byName),
        wgetFrom(other, `http://${onShop}:8080/`),
        wgetFrom(other, `http://${onTeam}:8080/`),
        wgetFrom(teamWeb, 'http://web.shop.skiff.internal:8080/'),
        wgetFrom(teamWeb, `http://${shopWebAddress}:8080/`),
      ]),
    ).toEqual([false, false, false, false, false]);
    // While shop still fetches it (replies flow back to shop).
    expect(await wgetFrom(shop, byName)).toBe(true);
  });
});
