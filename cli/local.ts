/** `skiff local up|status|down`: the one-machine cluster from the command line. */
import { isAlive, readLocalStatus, startLocalCluster, type LocalClusterOptions } from '../local/cluster.ts';
import { statusFilePath } from './client.ts';
import { table } from './format.ts';

type Out = { log: (s: string) => void; err: (s: string) => void };

export async function localUp(opts: Omit<LocalClusterOptions, 'statusFile' | 'log'>, out: Out): Promise<number> {
  const statusFile = statusFilePath();
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as typeof opts;
  const cluster = await startLocalCluster({ ...defined, statusFile, log: out.log });
  const { status } = cluster;
  out.log(`skiff: local cluster "${status.cluster}" is up with ${status.hosts.length} host(s); API ${status.api}`);
  out.log(`skiff: in another terminal: npx skiff apply -f examples/hello.yaml && npx skiff get tasks`);
  out.log('skiff: press Ctrl-C to stop the cluster and remove its containers');
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      out.log(`skiff: ${signal}: stopping the local cluster`);
      void cluster.stop().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  out.log('skiff: stopped');
  return 0;
}

export function localStatus(mode: 'table' | 'json', out: Out): number {
  const status = readLocalStatus(statusFilePath());
  if (!status || !isAlive(status.pid)) {
    if (mode === 'json') out.log(JSON.stringify({ running: false }));
    else out.err('skiff: no local cluster is running from this folder (start one with `npm start`)');
    return 1;
  }
  if (mode === 'json') {
    out.log(JSON.stringify({ running: true, ...status }, null, 2));
    return 0;
  }
  out.log(`cluster ${status.cluster}: API ${status.api} (pid ${status.pid}), data in ${status.dataDir}`);
  out.log(table([['HOST', 'ADDRESS', 'AGENT PID', 'ALIVE', 'LOG'], ...status.hosts.map((h) => [h.id, h.address, String(h.pid), isAlive(h.pid) ? 'yes' : 'no', h.log])]));
  return 0;
}

export async function localDown(out: Out): Promise<number> {
  const status = readLocalStatus(statusFilePath());
  if (!status || !isAlive(status.pid)) {
    out.err('skiff: no local cluster is running from this folder');
    return 1;
  }
  process.kill(status.pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (isAlive(status.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (isAlive(status.pid)) {
    out.err(`skiff: the local cluster (pid ${status.pid}) did not stop within 30 s`);
    return 1;
  }
  out.log(`skiff: local cluster "${status.cluster}" stopped`);
  return 0;
}
