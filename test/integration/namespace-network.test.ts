/**
 * The per-namespace Docker network (agent/namespace-network.ts) against the real daemon: a
 * namespace's first pods start together, on one agent and on several (local hosts share a daemon),
 * and every one of them must find exactly one network of that name (two make Docker refuse
 * "network ... is ambiguous").
 */
import { afterAll, describe, expect, it } from 'vitest';
import Docker from 'dockerode';
import { NamespaceNetworks, namespaceNetworkName } from '../../agent/namespace-network.ts';

const docker = new Docker();
const base = `skiff-nsnet-${process.pid}`;

async function networksNamed(name: string) {
  return (await docker.listNetworks({ filters: { name: [name] } })).filter((n) => n.Name === name);
}

afterAll(async () => {
  const ours = (await docker.listNetworks()).filter((n) => n.Name.startsWith(`${base}-`));
  await Promise.all(
    ours.map((n) =>
      docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => undefined),
    ),
  );
});

describe('NamespaceNetworks', () => {
  it('creates one network per namespace when pods of one agent and of three agents ask at once', async () => {
    const agents = [1, 2, 3].map(() => new NamespaceNetworks(base, 'nsnet-test', docker));
    const names = await Promise.all(agents.flatMap((a) => [a.ensure('shop'), a.ensure('shop'), a.ensure('shop')]));
    const name = namespaceNetworkName(base, 'shop');
    expect(new Set(names)).toEqual(new Set([name]));
    const left = await networksNamed(name);
    expect(left).toHaveLength(1);
    expect(left[0].Labels).toMatchObject({ 'skiff.cluster': 'nsnet-test', 'skiff.namespace': 'shop' });
  });

  it('keeps default on the base network and creates nothing for it', async () => {
    expect(await new NamespaceNetworks(base, 'nsnet-test', docker).ensure('default')).toBe(base);
    expect(await networksNamed(base)).toHaveLength(0);
  });
});
