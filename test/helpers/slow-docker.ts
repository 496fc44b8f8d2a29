/**
 * A slow Docker daemon for tests: a proxy on a Unix socket in front of the real one that holds the
 * requests which create, start and list containers for as long as the test says. Point an agent's
 * DOCKER_HOST at `socket` and its Docker turns slow (`setDelay(3000)`), hung (`setDelay(Infinity)`)
 * or normal again (`setDelay(0)`) without touching the daemon itself.
 *
 * Requests on one connection keep their order (a held request holds the ones behind it, as a busy
 * daemon would); answers are never held. The event stream and everything else pass at once.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

/** The requests a busy daemon is slow at: container create, start and list. */
const SLOW = /^(POST \S*\/containers\/create|POST \S*\/containers\/[^/\s]+\/start|GET \S*\/containers\/json)/;

export class SlowDocker {
  private delayMs = 0;
  private readonly sockets = new Set<Socket>();
  /** Requests held so far. */
  held = 0;

  private constructor(
    private readonly server: Server,
    readonly socket: string,
  ) {}

  /** Starts the proxy in `dir` in front of `upstream` (the real daemon's socket). */
  static async start(dir: string, upstream = '/var/run/docker.sock'): Promise<SlowDocker> {
    const path = join(dir, 'docker.sock');
    let self: SlowDocker | undefined;
    const server = createServer((client) => self!.accept(client, upstream));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
    self = new SlowDocker(server, path);
    return self;
  }

  /** DOCKER_HOST for the processes that should see this daemon. */
  get dockerHost(): string {
    return `unix://${this.socket}`;
  }

  /** How long each create, start and list is held from now on; Infinity holds them until lowered again. */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  private accept(client: Socket, upstream: string): void {
    const daemon = createConnection(upstream);
    this.sockets.add(client).add(daemon);
    const close = () => {
      client.destroy();
      daemon.destroy();
      this.sockets.delete(client);
      this.sockets.delete(daemon);
    };
    client.on('error', close).on('close', close);
    daemon.on('error', close).on('close', close);
    daemon.pipe(client);
    let chain = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      const slow = SLOW.test(chunk.subarray(0, 200).toString('latin1'));
      chain = chain.then(async () => {
        if (slow) await this.hold();
        if (!daemon.destroyed) daemon.write(chunk);
      });
    });
  }

  /** Waits out the delay, re-reading it so that lowering it releases what is held. */
  private async hold(): Promise<void> {
    if (this.delayMs <= 0) return;
    this.held++;
    const start = Date.now();
    while (Date.now() - start < this.delayMs) await new Promise((r) => setTimeout(r, Math.min(100, this.delayMs)));
  }

  async close(): Promise<void> {
    this.delayMs = 0;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
