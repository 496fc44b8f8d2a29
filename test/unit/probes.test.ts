import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { INITIAL_PROBE_STATE, Prober, START_INTERVAL_SECONDS, nextHealth, type ProbeResult, type ProbeState, type ProbeTarget } from '../../agent/probes.ts';
import type { Executor } from '../../agent/executor.ts';
import type { Health, HealthCheck } from '../../core/types.ts';

function aCheck(overrides: Partial<HealthCheck> = {}): HealthCheck {
  return { tcp: { port: 8080 }, intervalSeconds: 10, timeoutSeconds: 1, startPeriodSeconds: 0, failureThreshold: 3, successThreshold: 1, ...overrides };
}

/** Feeds results at the given times (ms after the container started at 0) and returns the health after each. */
function run(check: HealthCheck, steps: readonly (readonly [ProbeResult, number])[]): { healths: Health[]; final: ProbeState } {
  let state = INITIAL_PROBE_STATE;
  const healths: Health[] = [];
  for (const [result, at] of steps) {
    state = nextHealth(state, result, at, check, 0);
    healths.push(state.health);
  }
  return { healths, final: state };
}

const S = 'success' as const;
const F = 'failure' as const;

describe('nextHealth', () => {
  it.each<[string, Partial<HealthCheck>, [ProbeResult, number][], Health[]]>([
    ['a first success makes a starting container healthy', {}, [[S, 250]], ['healthy']],
    [
      'a starting container needs successThreshold consecutive successes',
      { successThreshold: 3 },
      [
        [S, 250],
        [S, 500],
        [S, 750],
      ],
      ['starting', 'starting', 'healthy'],
    ],
    [
      'a failure breaks a run of successes, even one that does not count',
      { successThreshold: 2 },
      [
        [S, 250],
        [F, 500],
        [S, 750],
        [S, 1000],
      ],
      ['starting', 'starting', 'starting', 'healthy'],
    ],
    [
      'a healthy container turns unhealthy after failureThreshold consecutive failures',
      {},
      [
        [S, 250],
        [F, 10_250],
        [F, 20_250],
        [F, 30_250],
      ],
      ['healthy', 'healthy', 'healthy', 'unhealthy'],
    ],
    [
      'a healthy container counts every failure, however close together',
      { intervalSeconds: 10 },
      [
        [S, 250],
        [F, 300],
        [F, 350],
        [F, 400],
      ],
      ['healthy', 'healthy', 'healthy', 'unhealthy'],
    ],
    [
      'a success resets the failure count',
      {},
      [
        [S, 1],
        [F, 2],
        [F, 3],
        [S, 4],
        [F, 5],
        [F, 6],
        [F, 7],
      ],
      ['healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'unhealthy'],
    ],
    [
      'an unhealthy container turns healthy after successThreshold successes',
      { failureThreshold: 1, successThreshold: 2 },
      [
        [S, 1],
        [S, 2],
        [F, 3],
        [S, 4],
        [S, 5],
      ],
      ['starting', 'healthy', 'unhealthy', 'unhealthy', 'healthy'],
    ],
    [
      'a starting container that never answers turns unhealthy at the regular cadence',
      {},
      [
        [F, 10_000],
        [F, 20_000],
        [F, 30_000],
      ],
      ['starting', 'starting', 'unhealthy'],
    ],
    [
      'failures in the start period do not count',
      { startPeriodSeconds: 30 },
      [
        [F, 10_000],
        [F, 20_000],
        [F, 29_999],
        [F, 30_000],
        [F, 40_000],
        [F, 50_000],
      ],
      ['starting', 'starting', 'starting', 'starting', 'starting', 'unhealthy'],
    ],
    [
      'the first success ends the start period',
      { startPeriodSeconds: 60, successThreshold: 2 },
      [
        [S, 250],
        [F, 10_000],
        [F, 20_000],
        [F, 30_000],
      ],
      ['starting', 'starting', 'starting', 'unhealthy'],
    ],
    [
      'while starting, failures in the first interval do not count',
      { failureThreshold: 1 },
      [
        [F, 250],
        [F, 5_000],
        [F, 9_999],
        [F, 10_000],
      ],
      ['starting', 'starting', 'starting', 'unhealthy'],
    ],
    [
      'while starting, a failure counts once per interval',
      { failureThreshold: 2 },
      [
        [F, 10_000],
        [F, 10_250],
        [F, 19_999],
        [F, 20_000],
      ],
      ['starting', 'starting', 'starting', 'unhealthy'],
    ],
    [
      'with an interval within the start interval every failure counts',
      { intervalSeconds: 0.2, timeoutSeconds: 0.1 },
      [
        [F, 200],
        [F, 400],
        [F, 600],
      ],
      ['starting', 'starting', 'unhealthy'],
    ],
  ])('%s', (_name, overrides, steps, expected) => {
    expect(run(aCheck(overrides), steps).healths).toEqual(expected);
  });

  it('keeps counts, the last result, its message and time', () => {
    const check = aCheck();
    let state = nextHealth(INITIAL_PROBE_STATE, 'success', 250, check, 0, 'HTTP 200');
    expect(state).toEqual({
      health: 'healthy',
      consecutiveSuccesses: 1,
      consecutiveFailures: 0,
      lastResult: 'success',
      lastMessage: 'HTTP 200',
      lastAt: 250,
      succeeded: true,
    });
    state = nextHealth(state, 'failure', 10_250, check, 0, 'HTTP 503, healthy is 200-399');
    expect(state).toEqual({
      health: 'healthy',
      consecutiveSuccesses: 0,
      consecutiveFailures: 1,
      lastResult: 'failure',
      lastMessage: 'HTTP 503, healthy is 200-399',
      lastAt: 10_250,
      succeeded: true,
    });
  });

  it('records a failure that does not count without counting it', () => {
    const state = nextHealth(INITIAL_PROBE_STATE, 'failure', 250, aCheck({ startPeriodSeconds: 5 }), 0, 'connect ECONNREFUSED');
    expect(state).toEqual({
      health: 'starting',
      consecutiveSuccesses: 0,
      consecutiveFailures: 0,
      lastResult: 'failure',
      lastMessage: 'connect ECONNREFUSED',
      lastAt: 250,
    });
  });

  it('measures the start period and intervals from the container start', () => {
    const check = aCheck({ startPeriodSeconds: 5, failureThreshold: 1 });
    expect(nextHealth(INITIAL_PROBE_STATE, 'failure', 1_004_999, check, 1_000_000).health).toBe('starting');
    expect(nextHealth(INITIAL_PROBE_STATE, 'failure', 1_010_000, check, 1_000_000).health).toBe('unhealthy');
  });

  it('never turns a starting container unhealthy before failureThreshold intervals nor inside its start period, however often it is probed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }).map((n) => n / 2),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: START_INTERVAL_SECONDS * 1000, max: 3_000 }), { minLength: 1, maxLength: 200 }),
        (intervalSeconds, startPeriodSeconds, failureThreshold, gaps) => {
          const check = aCheck({ intervalSeconds, timeoutSeconds: Math.min(1, intervalSeconds), startPeriodSeconds, failureThreshold });
          let state = INITIAL_PROBE_STATE;
          let at = 0;
          for (const gap of gaps) {
            at += gap;
            state = nextHealth(state, 'failure', at, check, 0);
            if (state.health === 'unhealthy') {
              expect(at).toBeGreaterThanOrEqual(failureThreshold * intervalSeconds * 1000);
              expect(at).toBeGreaterThanOrEqual(startPeriodSeconds * 1000);
              return;
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('turns a container probed at least once per interval unhealthy within failureThreshold intervals after its start period', () => {
    // The other side of the property above: the slower counting while starting still ends.
    const check = aCheck({ intervalSeconds: 2, startPeriodSeconds: 3, failureThreshold: 3 });
    let state = INITIAL_PROBE_STATE;
    let at = 0;
    while (state.health === 'starting') {
      at += 250;
      state = nextHealth(state, 'failure', at, check, 0);
    }
    expect(state.health).toBe('unhealthy');
    expect(at).toBeLessThanOrEqual((3 + 3 * 2) * 1000);
  });
});

// ---------------------------------------------------------------------------------------------
// The Prober, against real local servers and a fake executor.

/** Waits until `condition` holds, polling; fails after `timeoutMs` with `what`. Not a timing assertion: only a bound. */
async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An HTTP server on 127.0.0.1 answering every request with `status.code`; records the paths asked. */
async function anHttpServer(handler?: (path: string) => number | 'hang'): Promise<{ port: number; paths: string[]; status: { code: number } }> {
  const status = { code: 200 };
  const paths: string[] = [];
  const server: HttpServer = createHttpServer((req, res) => {
    paths.push(req.url ?? '');
    const answer = handler ? handler(req.url ?? '') : status.code;
    if (answer === 'hang') return;
    res.writeHead(answer, answer >= 300 && answer < 400 ? { location: '/elsewhere' } : {});
    res.end('body');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, paths, status };
}

/** A TCP listener on 127.0.0.1; `closeAtOnce` makes it close each connection as soon as it accepts it. */
async function aTcpListener(options: { closeAtOnce?: boolean } = {}): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (options.closeAtOnce) socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  cleanups.push(close);
  return { port: (server.address() as AddressInfo).port, close };
}

/** A stand-in executor whose exec answers with `exitCode.value` after `delayMs`, counting calls. */
function aFakeExecutor(options: { delayMs?: number } = {}) {
  const exitCode = { value: 0 };
  const calls: { id: string; command: readonly string[]; timeoutMs: number }[] = [];
  let inFlight = 0;
  const stats = { maxInFlight: 0 };
  const executor: Pick<Executor, 'exec'> = {
    async exec(id, command, timeoutMs) {
      calls.push({ id, command, timeoutMs });
      inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
      try {
        if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
        return { exitCode: exitCode.value, output: exitCode.value === 0 ? '' : 'not ready\n' };
      } finally {
        inFlight--;
      }
    },
  };
  return { executor, exitCode, calls, stats };
}

/** A prober that records its health changes; stopped after the test. */
function aProber(executor: Pick<Executor, 'exec'> = aFakeExecutor().executor, onChange?: (key: string, state: ProbeState) => void) {
  const changes: { key: string; health: Health; message?: string }[] = [];
  const logs: string[] = [];
  const prober = new Prober({
    executor,
    now: () => Date.now(),
    onChange: (key, state) => {
      changes.push({ key, health: state.health, message: state.lastMessage });
      onChange?.(key, state);
    },
    log: (_level, message, data) => logs.push(`${message} ${JSON.stringify(data)}`),
  });
  cleanups.push(() => prober.stop());
  return { prober, changes, logs };
}

function aTarget(overrides: Partial<ProbeTarget> & { check: HealthCheck }): ProbeTarget {
  return { key: 'web-0-abcde/app', containerId: 'c1', startedAt: Date.now(), ...overrides };
}

const fast = { intervalSeconds: 0.5, timeoutSeconds: 0.5, failureThreshold: 2 };

describe('Prober http probes', () => {
  it('finds a server healthy, unhealthy when it answers out of range, and healthy again', async () => {
    const server = await anHttpServer();
    const { prober, changes } = aProber();
    const check = aCheck({ ...fast, tcp: undefined, http: { path: '/healthz?full=1', port: 8080, status: [200, 399] } });
    prober.sync([aTarget({ check, endpoint: { host: '127.0.0.1', port: server.port } })]);

    await waitFor('healthy', () => prober.health('web-0-abcde/app')?.health === 'healthy');
    expect(server.paths[0]).toBe('/healthz?full=1');
    expect(prober.health('web-0-abcde/app')?.lastMessage).toBe('HTTP 200');

    server.status.code = 503;
    await waitFor('unhealthy', () => prober.health('web-0-abcde/app')?.health === 'unhealthy');
    server.status.code = 204;
    await waitFor('healthy again', () => prober.health('web-0-abcde/app')?.health === 'healthy' && changes.length === 3);

    expect(changes).toEqual([
      { key: 'web-0-abcde/app', health: 'healthy', message: 'HTTP 200' },
      { key: 'web-0-abcde/app', health: 'unhealthy', message: 'HTTP 503, healthy is 200-399' },
      { key: 'web-0-abcde/app', health: 'healthy', message: 'HTTP 204' },
    ]);
  });

  it('judges a redirect by its own status without following it', async () => {
    const server = await anHttpServer(() => 302);
    const { prober } = aProber();
    const endpoint = { host: '127.0.0.1', port: server.port };
    prober.sync([
      aTarget({
        key: 'a/redirect-ok',
        check: aCheck({ ...fast, failureThreshold: 1, tcp: undefined, http: { path: '/', port: 80, status: [200, 399] } }),
        endpoint,
      }),
      aTarget({
        key: 'a/redirect-bad',
        check: aCheck({ ...fast, failureThreshold: 1, tcp: undefined, http: { path: '/', port: 80, status: [200, 299] } }),
        endpoint,
      }),
    ]);

    await waitFor('both judged', () => prober.health('a/redirect-ok')?.health === 'healthy' && prober.health('a/redirect-bad')?.health === 'unhealthy');
    expect(prober.health('a/redirect-bad')?.lastMessage).toBe('HTTP 302, healthy is 200-299');
    // The redirect points back at the same server, which was never asked for its target.
    expect(new Set(server.paths)).toEqual(new Set(['/']));
  });

  it('fails a probe that the server does not answer within the timeout', async () => {
    const server = await anHttpServer(() => 'hang');
    const { prober } = aProber();
    const check = aCheck({ intervalSeconds: 0.5, timeoutSeconds: 0.2, failureThreshold: 1, tcp: undefined, http: { path: '/', port: 80, status: [200, 399] } });
    prober.sync([aTarget({ check, endpoint: { host: '127.0.0.1', port: server.port } })]);

    await waitFor('unhealthy', () => prober.health('web-0-abcde/app')?.health === 'unhealthy');
    expect(prober.health('web-0-abcde/app')?.lastMessage).toBe('timed out after 200 ms');
  });

  it('fails a probe of a port that is not published', async () => {
    const { prober } = aProber();
    prober.sync([aTarget({ check: aCheck({ ...fast, failureThreshold: 1 }) })]);

    await waitFor('unhealthy', () => prober.health('web-0-abcde/app')?.health === 'unhealthy');
    expect(prober.health('web-0-abcde/app')?.lastMessage).toBe('port 8080 is not published on the host');
  });
});

describe('Prober tcp probes', () => {
  it('finds a listening port healthy and a refused one unhealthy', async () => {
    const listener = await aTcpListener();
    const { prober, changes } = aProber();
    prober.sync([aTarget({ check: aCheck(fast), endpoint: { host: '127.0.0.1', port: listener.port } })]);

    await waitFor('healthy', () => prober.health('web-0-abcde/app')?.health === 'healthy');
    await listener.close();
    await waitFor('unhealthy', () => prober.health('web-0-abcde/app')?.health === 'unhealthy');

    expect(changes.map((c) => c.health)).toEqual(['healthy', 'unhealthy']);
    expect(changes[1].message).toMatch(/ECONNREFUSED/);
  });

  it('fails a connection that is closed as soon as it is accepted, as a port proxy does when nothing listens behind it', async () => {
    const listener = await aTcpListener({ closeAtOnce: true });
    const { prober } = aProber();
    prober.sync([aTarget({ check: aCheck({ ...fast, failureThreshold: 1 }), endpoint: { host: '127.0.0.1', port: listener.port } })]);

    await waitFor('unhealthy', () => prober.health('web-0-abcde/app')?.health === 'unhealthy');
    expect(prober.health('web-0-abcde/app')?.lastMessage).toBe('connection closed right after it was accepted: nothing listens behind the published port');
  });
});

describe('Prober exec probes', () => {
  it('runs the command in the container with the timeout and judges it by its exit code', async () => {
    const fake = aFakeExecutor();
    const { prober, changes } = aProber(fake.executor);
    prober.sync([aTarget({ containerId: 'abc123', check: aCheck({ ...fast, tcp: undefined, exec: { command: ['test', '-f', '/tmp/ok'] } }) })]);

    await waitFor('healthy', () => prober.health('web-0-abcde/app')?.health === 'healthy');
    expect(fake.calls[0]).toEqual({ id: 'abc123', command: ['test', '-f', '/tmp/ok'], timeoutMs: 500 });
    fake.exitCode.value = 1;
    await waitFor('unhealthy', () => prober.health('web-0-abcde/app')?.health === 'unhealthy');

    expect(changes).toEqual([
      { key: 'web-0-abcde/app', health: 'healthy', message: 'exit code 0' },
      { key: 'web-0-abcde/app', health: 'unhealthy', message: 'exit code 1: not ready' },
    ]);
  });

  it('fails the probe when the executor fails, with its message', async () => {
    const executor: Pick<Executor, 'exec'> = { exec: async () => Promise.reject(new Error('docker exec 3f2a: container is not running')) };
    const { prober } = aProber(executor);
    prober.sync([aTarget({ check: aCheck({ ...fast, failureThreshold: 1, tcp: undefined, exec: { command: ['true'] } }) })]);

    await waitFor('unhealthy', () => prober.health('web-0-abcde/app')?.health === 'unhealthy');
    expect(prober.health('web-0-abcde/app')?.lastMessage).toBe('docker exec 3f2a: container is not running');
  });

  it('never starts a probe of a container before its previous one has ended, even one that outlasts its timeout', async () => {
    const fake = aFakeExecutor({ delayMs: 150 });
    const { prober } = aProber(fake.executor);
    prober.sync([aTarget({ check: aCheck({ intervalSeconds: 0.1, timeoutSeconds: 0.1, tcp: undefined, exec: { command: ['true'] } }) })]);

    await waitFor('five probes', () => fake.calls.length >= 5);
    expect(fake.stats.maxInFlight).toBe(1);
    expect(prober.health('web-0-abcde/app')?.lastMessage).toBe('timed out after 100 ms');
  });
});

describe('Prober scheduling', () => {
  it('probes a starting container at the start interval, so it is found healthy long before its interval', async () => {
    const fake = aFakeExecutor();
    fake.exitCode.value = 1;
    const { prober } = aProber(fake.executor);
    prober.sync([aTarget({ check: aCheck({ intervalSeconds: 60, tcp: undefined, exec: { command: ['true'] } }) })]);

    await waitFor('three probes', () => fake.calls.length >= 3);
    // Failures in the first interval do not count, so the extra probes cannot make it fail sooner.
    expect(prober.health('web-0-abcde/app')).toMatchObject({ health: 'starting', consecutiveFailures: 0, lastResult: 'failure' });
    fake.exitCode.value = 0;
    await waitFor('healthy', () => prober.health('web-0-abcde/app')?.health === 'healthy');
  });

  it('stops probing a target that sync no longer names, and keeps probing the others', async () => {
    const fake = aFakeExecutor();
    const { prober } = aProber(fake.executor);
    const check = aCheck({ intervalSeconds: 0.1, timeoutSeconds: 0.1, tcp: undefined, exec: { command: ['true'] } });
    const a = aTarget({ key: 't1/a', containerId: 'ca', check });
    const b = aTarget({ key: 't2/b', containerId: 'cb', check });
    prober.sync([a, b]);
    await waitFor('both probed', () => fake.calls.some((c) => c.id === 'ca') && fake.calls.some((c) => c.id === 'cb'));

    prober.sync([b]);
    expect(prober.health('t1/a')).toBeUndefined();
    const probesOfA = fake.calls.filter((c) => c.id === 'ca').length;
    const probesOfB = fake.calls.filter((c) => c.id === 'cb').length;
    await waitFor('five more probes of b', () => fake.calls.filter((c) => c.id === 'cb').length >= probesOfB + 5);
    expect(fake.calls.filter((c) => c.id === 'ca')).toHaveLength(probesOfA);
  });

  it('starts over a target whose container changed, and keeps the state of one whose endpoint moved', async () => {
    const fake = aFakeExecutor();
    const { prober, changes } = aProber(fake.executor);
    const check = aCheck({ ...fast, failureThreshold: 1, tcp: undefined, exec: { command: ['true'] } });
    const first = aTarget({ containerId: 'old', check });
    prober.sync([first]);
    await waitFor('healthy', () => prober.health(first.key)?.health === 'healthy');

    // Same container, new endpoint object: nothing starts over.
    prober.sync([{ ...first, endpoint: { host: '127.0.1.1', port: 1234 } }]);
    expect(prober.health(first.key)?.health).toBe('healthy');

    fake.exitCode.value = 1;
    await waitFor('unhealthy', () => prober.health(first.key)?.health === 'unhealthy');
    prober.sync([{ ...first, containerId: 'new' }]);
    expect(prober.health(first.key)).toEqual({ health: 'starting', consecutiveSuccesses: 0, consecutiveFailures: 0 });

    fake.exitCode.value = 0;
    await waitFor('the new container healthy', () => prober.health(first.key)?.health === 'healthy');
    expect(fake.calls.at(-1)?.id).toBe('new');
    // The restart itself is the caller's doing and is not reported as a change.
    expect(changes.map((c) => c.health)).toEqual(['healthy', 'unhealthy', 'healthy']);
  });

  it('starts over a container that restarted in place, and one whose check changed', async () => {
    const fake = aFakeExecutor();
    const { prober } = aProber(fake.executor);
    const check = aCheck({ ...fast, tcp: undefined, exec: { command: ['true'] } });
    const target = aTarget({ check, startedAt: 1_000 });
    prober.sync([target]);
    await waitFor('healthy', () => prober.health(target.key)?.health === 'healthy');

    prober.sync([{ ...target, startedAt: 2_000 }]);
    expect(prober.health(target.key)?.health).toBe('starting');
    await waitFor('healthy', () => prober.health(target.key)?.health === 'healthy');

    prober.sync([{ ...target, startedAt: 2_000, check: { ...check, exec: { command: ['false'] } } }]);
    expect(prober.health(target.key)?.health).toBe('starting');
    await waitFor('the new command run', () => fake.calls.some((c) => c.command[0] === 'false'));
  });

  it('keeps probing when the change handler throws, and logs it', async () => {
    const fake = aFakeExecutor();
    const { prober, logs } = aProber(fake.executor, () => {
      throw new Error('handler broke');
    });
    prober.sync([aTarget({ check: aCheck({ ...fast, failureThreshold: 1, tcp: undefined, exec: { command: ['true'] } }) })]);
    await waitFor('healthy', () => prober.health('web-0-abcde/app')?.health === 'healthy');

    fake.exitCode.value = 1;
    await waitFor('unhealthy', () => prober.health('web-0-abcde/app')?.health === 'unhealthy');
    expect(logs[0]).toContain('health change handler failed');
    expect(logs[0]).toContain('handler broke');
  });

  it('stop ends every probe, aborts the one in flight, and ignores later syncs', async () => {
    const server = await anHttpServer(() => 'hang');
    const fake = aFakeExecutor();
    const { prober } = aProber(fake.executor);
    const http = aTarget({
      key: 't/http',
      check: aCheck({ intervalSeconds: 60, timeoutSeconds: 60, tcp: undefined, http: { path: '/', port: 80, status: [200, 399] } }),
      endpoint: { host: '127.0.0.1', port: server.port },
    });
    const exec = aTarget({ key: 't/exec', check: aCheck({ intervalSeconds: 0.1, timeoutSeconds: 0.1, tcp: undefined, exec: { command: ['true'] } }) });
    prober.sync([http, exec]);
    await waitFor('the http probe in flight', () => server.paths.length === 1);
    await waitFor('an exec probe', () => fake.calls.length > 0);

    // Resolves although the hanging request's timeout is a minute away: stop aborts it.
    await prober.stop();
    expect(prober.health('t/http')).toBeUndefined();
    expect(prober.health('t/exec')).toBeUndefined();
    prober.sync([exec]);
    expect(prober.health('t/exec')).toBeUndefined();

    // Another prober serves as the clock: after five of its probes the stopped one has made none.
    const calls = fake.calls.length;
    const other = aFakeExecutor();
    aProber(other.executor).prober.sync([{ ...exec, key: 'other' }]);
    await waitFor('five probes of another prober', () => other.calls.length >= 5);
    expect(fake.calls).toHaveLength(calls);
  });
});
