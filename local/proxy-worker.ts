/**
 * The local load balancer in a thread of its own. Local mode's control plane (dynalite, the
 * stand-ins, the API, the scheduler, health and discovery loops) shares one event loop; with the
 * proxy on it too, every busy moment there (a large apply, a discovery sync every 250 ms) holds up
 * ingress traffic. The worker runs `startProxy` (local/proxy.ts) unchanged, and route tables reach
 * it by message, and its log lines come back the same way. The same file is the worker's entry: it
 * starts the proxy when loaded with `workerData.skiffProxy`.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, parentPort, workerData } from 'node:worker_threads';
import type { IngressRoute } from '../ports/index.ts';
import { startProxy, stderrLog, type ProxyServer, type ProxyOptions } from './proxy.ts';

/** The proxy's options but the clock; `log` stays in this thread and hears the worker's lines. */
export type ProxyWorkerOptions = Omit<ProxyOptions, 'now'>;

type ToWorker = { readonly type: 'sync'; readonly id: number; readonly routes: IngressRoute[] } | { readonly type: 'close'; readonly id: number };
type FromWorker =
  | { readonly type: 'ready'; readonly url: string; readonly port: number; readonly httpsUrl?: string; readonly httpsPort?: number }
  | { readonly type: 'failed'; readonly message: string; readonly code?: string }
  | { readonly type: 'done'; readonly id: number; readonly error?: string }
  | { readonly type: 'log'; readonly line: string }
  | { readonly type: 'counts'; readonly counts: Record<string, number> };

/** How often the worker sends its request counts (the autoscaler reads them every few seconds). */
const COUNTS_MS = 1000;

/** How long `close` waits for the worker to close its server before terminating the thread. */
const CLOSE_TIMEOUT_MS = 5_000;

/**
 * Starts the proxy in a worker thread; resolves once it listens. A failure to listen rejects with
 * the same `code` (`EADDRINUSE`, ...) as `startProxy` would. `onExit` hears of a worker that stops
 * without `close` (a crash): ingress is down until the cluster starts again.
 */
export async function startProxyWorker(options: ProxyWorkerOptions = {}, onExit?: (message: string) => void): Promise<ProxyServer> {
  // The worker runs this TypeScript file through tsx, like the agents; a worker takes no --import, so
  // a small bootstrap registers tsx's loader in the thread first. Resolved from here: any cwd works.
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); });`;
  // A function cannot cross to the thread: the worker sends its log lines here instead.
  const { log, ...plain } = options;
  const worker = new Worker(bootstrap, { eval: true, workerData: { skiffProxy: true, options: plain } });
  let counts: Record<string, number> = {};
  worker.on('message', (msg: FromWorker) => {
    if (msg.type === 'log') (log ?? stderrLog)(msg.line);
    else if (msg.type === 'counts') counts = msg.counts;
  });
  let routes: IngressRoute[] = [];
  let nextId = 0;
  let closing = false;
  const pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();

  const ready = await new Promise<{ url: string; port: number; httpsUrl?: string; httpsPort?: number }>((resolve, reject) => {
    const failedToStart = (err: Error) => reject(err);
    worker.once('error', failedToStart);
    worker.once('exit', (code) => reject(new Error(`the load balancer thread exited (code ${code}) before it listened`)));
    const first = (msg: FromWorker) => {
      if (msg.type === 'log' || msg.type === 'counts') return;
      worker.off('message', first);
      worker.off('error', failedToStart);
      worker.removeAllListeners('exit');
      if (msg.type === 'ready') return resolve(msg);
      const err = Object.assign(
        new Error(msg.type === 'failed' ? msg.message : `unexpected message ${msg.type} from the load balancer thread`),
        msg.type === 'failed' && msg.code ? { code: msg.code } : {},
      );
      void worker.terminate();
      reject(err);
    };
    worker.on('message', first);
  });

  worker.on('message', (msg: FromWorker) => {
    if (msg.type !== 'done') return;
    const waiter = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error === undefined) waiter?.resolve();
    else waiter?.reject(new Error(msg.error));
  });
  worker.on('error', (err) => onExit?.(`the load balancer thread failed: ${err.message}`));
  worker.on('exit', (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`the load balancer thread exited (code ${code})`));
    pending.clear();
    if (!closing) onExit?.(`the load balancer thread exited unexpectedly (code ${code}); ingress is down until the cluster starts again`);
  });

  const ask = (message: { type: 'sync'; routes: IngressRoute[] } | { type: 'close' }): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...message, id } as ToWorker);
    });

  return {
    url: ready.url,
    port: ready.port,
    ...(ready.httpsPort === undefined ? {} : { httpsUrl: ready.httpsUrl, httpsPort: ready.httpsPort }),
    async sync(next: readonly IngressRoute[]): Promise<void> {
      const copy = structuredClone([...next]);
      await ask({ type: 'sync', routes: copy });
      routes = copy;
    },
    routes: () => structuredClone(routes),
    requestCounts: () => ({ ...counts }),
    async close(): Promise<void> {
      if (closing) return;
      closing = true;
      const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
      try {
        await ask({ type: 'close' }).catch(() => undefined);
      } finally {
        clearTimeout(timer);
        await worker.terminate();
      }
    },
  };
}

/** The worker's side: start the proxy, answer syncs, close on request. */
async function runWorker(options: Omit<ProxyWorkerOptions, 'log'>): Promise<void> {
  const port = parentPort!;
  let proxy: ProxyServer;
  try {
    proxy = await startProxy({ ...options, log: (line) => port.postMessage({ type: 'log', line } satisfies FromWorker) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    port.postMessage({ type: 'failed', message: e.message, ...(e.code ? { code: e.code } : {}) } satisfies FromWorker);
    return;
  }
  port.postMessage({
    type: 'ready',
    url: proxy.url,
    port: proxy.port,
    ...(proxy.httpsPort === undefined ? {} : { httpsUrl: proxy.httpsUrl, httpsPort: proxy.httpsPort }),
  } satisfies FromWorker);
  setInterval(() => port.postMessage({ type: 'counts', counts: proxy.requestCounts() } satisfies FromWorker), COUNTS_MS).unref();
  port.on('message', (msg: ToWorker) => {
    const done = (error?: unknown) =>
      port.postMessage({ type: 'done', id: msg.id, ...(error === undefined ? {} : { error: (error as Error).message }) } satisfies FromWorker);
    if (msg.type === 'sync') proxy.sync(msg.routes).then(() => done(), done);
    else if (msg.type === 'close')
      proxy.close().then(() => {
        done();
        port.close();
      }, done);
  });
}

if ((workerData as { skiffProxy?: boolean } | null)?.skiffProxy) void runWorker((workerData as { options: Omit<ProxyWorkerOptions, 'log'> }).options);
