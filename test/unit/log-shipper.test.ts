import { describe, expect, it } from 'vitest';
import { LogShipper, type LogLine, type LogSource } from '../../agent/log-shipper.ts';
import { parseDockerLine } from '../../agent/docker-logs.ts';
import { MemoryLogStore } from '../../adapters/memory/log-store.ts';
import type { ContainerInfo } from '../../agent/executor.ts';
import type { LogEvent } from '../../ports/logs.ts';

/** Docker's json-file log of each container, and its follow: what is there from `since`, then new lines while it runs. */
class FakeDocker implements LogSource {
  readonly files = new Map<string, { lines: LogLine[]; running: boolean; wake: (() => void)[]; broken: number }>();
  readonly asked: { id: string; since: number | undefined }[] = [];

  write(id: string, at: number, text: string): void {
    const f = this.file(id);
    f.lines.push({ at, text });
    for (const w of f.wake.splice(0)) w();
  }
  run(id: string): void {
    this.file(id).running = true;
  }
  die(id: string): void {
    const f = this.file(id);
    f.running = false;
    for (const w of f.wake.splice(0)) w();
  }
  /** The follow stream breaks off (the daemon restarted) while the container keeps running. */
  breakFollows(id: string): void {
    const f = this.file(id);
    f.broken++;
    for (const w of f.wake.splice(0)) w();
  }
  private file(id: string) {
    let f = this.files.get(id);
    if (!f) {
      f = { lines: [], running: true, wake: [], broken: 0 };
      this.files.set(id, f);
    }
    return f;
  }
  async *follow(id: string, since: number | undefined, signal: AbortSignal): AsyncIterable<LogLine> {
    this.asked.push({ id, since });
    const f = this.file(id);
    const broken = f.broken;
    let i = 0;
    for (;;) {
      if (f.broken !== broken) return;
      while (i < f.lines.length) {
        const line = f.lines[i++];
        if (since === undefined || line.at >= since) yield line;
      }
      if (!f.running || signal.aborted) return;
      await new Promise<void>((resolve) => {
        f.wake.push(resolve);
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }
}

const container = (id: string, task: string, startedAt = '2026-12-07T08:00:00Z', state: ContainerInfo['state'] = 'running'): ContainerInfo => ({
  id,
  name: id,
  taskId: task,
  container: 'app',
  specHash: 'h',
  state,
  startedAt,
  ports: [],
  namespace: 'default',
  service: 'web',
});

/** A store whose puts can be made to fail. */
class FlakyStore extends MemoryLogStore {
  failNext = 0;
  override async put(stream: string, events: readonly LogEvent[]): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('throttled');
    }
    return super.put(stream, events);
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const messages = async (store: MemoryLogStore, prefix = 'default/') => (await store.read({ prefix, limit: 10_000 })).events.map((e) => e.message);
const STREAM = 'default/web-1-aaaaa/app';

describe('LogShipper', () => {
  it('puts full batches at once and the rest after flushMs, every line once in order', async () => {
    const docker = new FakeDocker();
    const store = new MemoryLogStore();
    const shipper = new LogShipper({ store, source: docker, maxBatch: 3, flushMs: 10 });
    for (let i = 1; i <= 7; i++) docker.write('c1', 1000 + i, `line ${i}`);
    shipper.sync([container('c1', 'web-1-aaaaa')]);
    await until('7 lines shipped', async () => (await messages(store)).length === 7);
    expect(await messages(store)).toEqual(Array.from({ length: 7 }, (_, i) => `line ${i + 1}`));
    expect(store.puts.map((p) => p.count)).toEqual([3, 3, 1]);
    expect(store.puts.every((p) => p.stream === STREAM)).toBe(true);
    await shipper.stop();
  });

  it('ships a partial batch on the timer, without a flush', async () => {
    const docker = new FakeDocker();
    const store = new MemoryLogStore();
    const shipper = new LogShipper({ store, source: docker, maxBatch: 100, flushMs: 20 });
    shipper.sync([container('c1', 'web-1-aaaaa')]);
    docker.write('c1', 1, 'hello');
    docker.write('c1', 2, 'world');
    await until('the batch put', async () => (await messages(store)).length === 2);
    expect(store.puts).toEqual([{ stream: STREAM, count: 2 }]);
    await shipper.stop();
  });

  it('ships a dead container to its last line, and follows it again when it restarts, from where it was', async () => {
    const docker = new FakeDocker();
    const store = new MemoryLogStore();
    const shipper = new LogShipper({ store, source: docker, maxBatch: 100, flushMs: 60_000 });
    shipper.sync([container('c1', 'web-1-aaaaa')]);
    docker.write('c1', 10, 'before crash 1');
    docker.write('c1', 11, 'before crash 2');
    docker.die('c1');
    // No flush and a long flushMs: the end of the follow puts the last lines.
    await until('the last lines of the dead container', async () => (await messages(store)).length === 2);
    // Listed again, exited: not followed again (its output was read to the end).
    shipper.sync([container('c1', 'web-1-aaaaa', '2026-12-07T08:00:00Z', 'exited')]);
    // The agent restarts it: same id, a new start; Docker's log holds the old lines too.
    docker.run('c1');
    docker.write('c1', 20, 'after restart');
    shipper.sync([container('c1', 'web-1-aaaaa', '2026-12-07T08:01:00Z')]);
    docker.die('c1');
    await until('the restarted incarnation shipped', async () => (await messages(store)).length === 3);
    expect(await messages(store)).toEqual(['before crash 1', 'before crash 2', 'after restart']);
    expect(docker.asked).toEqual([
      { id: 'c1', since: undefined },
      { id: 'c1', since: 11 },
    ]);
    await shipper.stop();
  });

  it('resumes after an agent restart from where the store ends: no line twice, none lost, ties in one ms kept', async () => {
    const docker = new FakeDocker();
    const store = new MemoryLogStore();
    // The first agent's view of the store, cut off when it is killed: what it held then is lost with it.
    const firstStore = new FlakyStore();
    firstStore.put = async (stream, events) => {
      if (firstStore.failNext > 0) throw new Error('agent killed');
      return store.put(stream, events);
    };
    firstStore.tail = (stream, count) => store.tail(stream, count);
    const first = new LogShipper({ store: firstStore, source: docker, maxBatch: 2, flushMs: 60_000 });
    docker.write('c1', 100, 'a');
    docker.write('c1', 101, 'b');
    docker.write('c1', 102, 'c');
    docker.write('c1', 102, 'd');
    docker.write('c1', 102, 'e');
    first.sync([container('c1', 'web-1-aaaaa')]);
    // Two full batches go (a b, c d); 'e' waits in the buffer, then the agent dies with it.
    await until('two batches put', async () => (await messages(store)).length === 4);
    firstStore.failNext = 1;
    await first.stop(0);
    const store2 = store;
    expect(await messages(store2)).toEqual(['a', 'b', 'c', 'd']);
    docker.write('c1', 103, 'f');
    const second = new LogShipper({ store: store2, source: docker, maxBatch: 100, flushMs: 5 });
    second.sync([container('c1', 'web-1-aaaaa')]);
    docker.die('c1');
    await until('the rest shipped', async () => (await messages(store2)).length === 6);
    expect(await messages(store2)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    // The second asked Docker from the store's last ms (102), and dropped the lines of it already there.
    expect(docker.asked.at(-1)).toEqual({ id: 'c1', since: 102 });
    await second.stop();
  });

  it('keeps the lines of a failed put and retries them, in order, none twice', async () => {
    const docker = new FakeDocker();
    const store = new FlakyStore();
    const logs: string[] = [];
    const shipper = new LogShipper({ store, source: docker, maxBatch: 2, flushMs: 5, retryMs: 5, log: (_l, m) => logs.push(m) });
    store.failNext = 2;
    shipper.sync([container('c1', 'web-1-aaaaa')]);
    for (let i = 1; i <= 5; i++) docker.write('c1', i, `n${i}`);
    await until('all lines shipped after the failures', async () => (await messages(store)).length === 5);
    expect(await messages(store)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(logs.filter((m) => m.includes('retrying'))).toHaveLength(2);
    await shipper.stop();
  });

  it('stops reading a container while its stream holds maxBuffered unshipped lines', async () => {
    const docker = new FakeDocker();
    const store = new FlakyStore();
    store.failNext = 1_000_000;
    const shipper = new LogShipper({ store, source: docker, maxBatch: 2, maxBuffered: 4, flushMs: 5, retryMs: 5 });
    for (let i = 1; i <= 10; i++) docker.write('c1', i, `n${i}`);
    shipper.sync([container('c1', 'web-1-aaaaa')]);
    await until('the buffer full', () => shipper.pending()[STREAM] === 4);
    // Reading has paused at the bound: no more lines are taken while puts fail.
    await new Promise((r) => setTimeout(r, 30));
    expect(shipper.pending()[STREAM]).toBe(4);
    store.failNext = 0;
    docker.die('c1');
    await until('everything shipped once the store recovers', async () => (await messages(store)).length === 10);
    expect(await messages(store)).toEqual(Array.from({ length: 10 }, (_, i) => `n${i + 1}`));
    await shipper.stop();
  });

  it("ships the agent's own lines to its host stream, and keeps a line stamped before the last in order", async () => {
    const docker = new FakeDocker();
    const store = new MemoryLogStore();
    const shipper = new LogShipper({ store, source: docker, flushMs: 5 });
    shipper.line('host/host-1', '{"message":"agent starting"}', 50);
    shipper.line('host/host-1', '{"message":"stderr a little earlier"}', 49);
    await shipper.flush();
    const events = (await store.read({ prefix: 'host/' })).events;
    expect(events.map((e) => [e.at, e.message])).toEqual([
      [50, '{"message":"agent starting"}'],
      [50, '{"message":"stderr a little earlier"}'],
    ]);
    await shipper.stop();
  });

  it('follows a running container again when its follow broke off, from where it was', async () => {
    const docker = new FakeDocker();
    const store = new MemoryLogStore();
    const shipper = new LogShipper({ store, source: docker, flushMs: 5 });
    const c = container('c1', 'web-1-aaaaa');
    shipper.sync([c]);
    docker.write('c1', 1, 'one');
    await until('the first line', async () => (await messages(store)).length === 1);
    docker.breakFollows('c1');
    docker.write('c1', 2, 'two');
    // Each listing while the container runs: once the broken follow has ended, it is followed again.
    await until('followed again', () => {
      shipper.sync([c]);
      return docker.asked.length === 2;
    });
    await until('the line after the break', async () => (await messages(store)).length === 2);
    expect(await messages(store)).toEqual(['one', 'two']);
    expect(docker.asked).toEqual([
      { id: 'c1', since: undefined },
      { id: 'c1', since: 1 },
    ]);
    // Stopped and listed as such: not followed again.
    docker.die('c1');
    shipper.sync([{ ...c, state: 'exited' }]);
    await new Promise((r) => setTimeout(r, 20));
    shipper.sync([{ ...c, state: 'exited' }]);
    expect(docker.asked).toHaveLength(2);
    await shipper.stop();
  });

  it('forgets a removed container, and a new container of the same task and name resumes after its lines', async () => {
    const docker = new FakeDocker();
    const store = new MemoryLogStore();
    const shipper = new LogShipper({ store, source: docker, flushMs: 5 });
    shipper.sync([container('c1', 'web-1-aaaaa')]);
    docker.write('c1', 10, 'old container');
    docker.die('c1');
    await until('the old container shipped', async () => (await messages(store)).length === 1);
    await until('its follow ended', () => {
      shipper.sync([]);
      return docker.asked.length === 1 && Object.keys(shipper.pending()).length === 0;
    });
    shipper.sync([]);
    // Docker's new container for the same pod container: its lines come after the old one's.
    docker.write('c2', 20, 'new container');
    shipper.sync([container('c2', 'web-1-aaaaa')]);
    docker.die('c2');
    await until('the new container shipped', async () => (await messages(store)).length === 2);
    expect(await messages(store)).toEqual(['old container', 'new container']);
    expect(docker.asked).toEqual([
      { id: 'c1', since: undefined },
      { id: 'c2', since: 10 },
    ]);
    await shipper.stop();
  });

  it('follows a running container listed without its start time, as Docker summaries list it', async () => {
    const docker = new FakeDocker();
    const store = new MemoryLogStore();
    const shipper = new LogShipper({ store, source: docker, maxBatch: 100, flushMs: 10 });
    docker.write('c1', 1, 'from a summary');
    shipper.sync([{ ...container('c1', 'web-1-aaaaa'), startedAt: undefined }]);
    await until('the line shipped', async () => (await messages(store)).length === 1);
    // The next listings (still running, still without a start time) follow it once only.
    shipper.sync([{ ...container('c1', 'web-1-aaaaa'), startedAt: undefined }]);
    docker.write('c1', 2, 'later');
    await until('the second line shipped', async () => (await messages(store)).length === 2);
    expect(await messages(store)).toEqual(['from a summary', 'later']);
    expect(docker.asked).toEqual([{ id: 'c1', since: undefined }]);
    await shipper.stop();
  });

  it('never follows a container that was created and not started', async () => {
    const docker = new FakeDocker();
    const shipper = new LogShipper({ store: new MemoryLogStore(), source: docker });
    shipper.sync([{ ...container('c1', 'web-1-aaaaa'), state: 'created', startedAt: undefined }]);
    expect(docker.asked).toEqual([]);
    await shipper.stop();
  });
});

describe('parseDockerLine', () => {
  it("splits Docker's timestamp from the line", () => {
    expect(parseDockerLine('2026-12-07T08:29:31.123456789Z hello world')).toEqual({ at: Date.parse('2026-12-07T08:29:31.123Z'), text: 'hello world' });
    expect(parseDockerLine('2026-12-07T08:29:31.5Z ')).toEqual({ at: Date.parse('2026-12-07T08:29:31.500Z'), text: '' });
    expect(parseDockerLine('garbage')).toBeUndefined();
  });
});
