/**
 * `skiff logs`: a service's or a task's output from the cluster's central logs (docs/logs.md),
 * every replica's lines merged in time order with a task prefix (like `docker service logs` and
 * `kubectl logs -l`), dead replicas' included; `-f` follows, new replicas too, by polling the API
 * with the cursor its last answer gave. `--host` and `--control-plane` read the agents' and the
 * control functions' own logs (cluster admin), JSON lines shown readable on a terminal.
 */
import { ApiClient, findApi } from '../client.ts';
import { command, outputMode, UsageError, type Out } from '../command.ts';

/** One line as the API returns it (app/log-routes.ts LogLineView). */
export interface LogLineView {
  readonly at: string;
  readonly stream: string;
  readonly message: string;
  readonly task?: string;
  readonly container?: string;
}

interface LogAnswer {
  readonly lines: LogLineView[];
  readonly cursor: string;
}

/** Lines asked per call; a full answer means more may be waiting, asked for at once. */
const PAGE = 1000;
/** How often `-f` asks for new lines: with shipping's batch of about a second, a line shows within about 2 s. */
export const FOLLOW_POLL_MS = 1000;

/** A task id: `<service>-<slot>-<5 random chars>` (docs/architecture.md). */
const TASK_ID = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?-\d+-[a-z0-9]{5}$/;

export interface LogsTarget {
  readonly path: string;
  /** How a line is shown: its prefix and its message. */
  readonly render: (line: LogLineView) => string;
}

/** The route and the rendering for the command's arguments. */
export function logsTarget(
  arg: string | undefined,
  opts: { namespace?: string; host?: string; controlPlane?: boolean; container?: string; fn?: string; timestamps?: boolean },
): LogsTarget {
  const chosen = [arg !== undefined, opts.host !== undefined, Boolean(opts.controlPlane)].filter(Boolean).length;
  if (chosen !== 1) throw new UsageError('logs of what? give a SERVICE or TASK, or --host HOST, or --control-plane (one of them)');
  if ((opts.host !== undefined || opts.controlPlane) && opts.container !== undefined)
    throw new UsageError("--container applies to a service's or a task's logs");
  if (opts.fn !== undefined && !opts.controlPlane) throw new UsageError('--function applies to --control-plane');
  const stamp = (l: LogLineView) => (opts.timestamps ? `${l.at} ` : '');
  const ns = encodeURIComponent(opts.namespace ?? 'default');
  if (opts.host !== undefined) return { path: `/v1/hosts/${encodeURIComponent(opts.host)}/logs`, render: (l) => `${stamp(l)}${readable(l.message)}` };
  if (opts.controlPlane)
    return {
      path: `/v1/control-plane/logs${opts.fn ? `?function=${encodeURIComponent(opts.fn)}` : ''}`,
      // `control/<function>`, or on AWS `control/<function>/<the Lambda's stream>`: the function names the line.
      render: (l) => `${stamp(l)}${l.stream.split('/')[1]} | ${readable(l.message)}`,
    };
  const name = arg!;
  if (TASK_ID.test(name)) {
    // One task: its container names the line when the pod may have several.
    return {
      path: `/v1/namespaces/${ns}/tasks/${encodeURIComponent(name)}/logs`,
      render: (l) => `${stamp(l)}${opts.container ? '' : `${l.container} | `}${l.message}`,
    };
  }
  return {
    path: `/v1/namespaces/${ns}/services/${encodeURIComponent(name)}/logs`,
    render: (l) => `${stamp(l)}${l.task}${opts.container ? '' : `/${l.container}`} | ${l.message}`,
  };
}

/**
 * A structured (JSON) line of an agent or a control function as a person reads it:
 * `level message key=value...`; any other line as it is.
 */
export function readable(message: string): string {
  if (!message.startsWith('{')) return message;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(message) as Record<string, unknown>;
  } catch {
    return message;
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return message;
  const { time: _time, level, message: text, msg, ...rest } = o;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [
    String(level ?? 'info')
      .toUpperCase()
      .padEnd(5),
    String(text ?? msg ?? ''),
    ...fields,
  ]
    .join(' ')
    .trimEnd();
}

const withQuery = (path: string, q: URLSearchParams): string => (q.size === 0 ? path : `${path}${path.includes('?') ? '&' : '?'}${q}`);

/**
 * Prints the lines of `target` from `since`/`tail`, then, with `follow`, the new ones until
 * `signal` aborts. Returns the number of lines printed.
 */
export async function printLogs(
  client: ApiClient,
  target: LogsTarget,
  opts: { since?: string; tail?: number; follow?: boolean; signal?: AbortSignal; pollMs?: number },
  out: Out,
): Promise<number> {
  let printed = 0;
  const show = (lines: readonly LogLineView[]) => {
    for (const l of lines) out.log(target.render(l));
    printed += lines.length;
  };
  const first = new URLSearchParams({ limit: String(PAGE) });
  if (opts.since !== undefined) first.set('since', opts.since);
  if (opts.tail !== undefined) first.set('tail', String(opts.tail));
  let answer = await client.request<LogAnswer>('GET', withQuery(target.path, first));
  show(answer.lines);
  // Without a tail, every line from `since` (or the first): a full page means more are there.
  let full = opts.tail === undefined && answer.lines.length === PAGE;
  for (;;) {
    if (!full) {
      if (!opts.follow || opts.signal?.aborted) return printed;
      await sleep(opts.pollMs ?? FOLLOW_POLL_MS, opts.signal);
      if (opts.signal?.aborted) return printed;
    }
    const q = new URLSearchParams({ limit: String(PAGE), cursor: answer.cursor });
    answer = await client.request<LogAnswer>('GET', withQuery(target.path, q));
    show(answer.lines);
    full = answer.lines.length === PAGE;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export default command({
  name: 'logs',
  summary: "a service's or a task's output, every replica merged in time order (-f follows); an agent's or the control plane's own log",
  usage: [
    'logs SERVICE|TASK [-f] [--since 10m] [--tail N] [--timestamps] [--container NAME] [-n NAMESPACE] [-o json]',
    'logs --host HOST [-f] [--since 10m] [--tail N]',
    'logs --control-plane [--function NAME] [-f] [--since 10m] [--tail N]',
  ],
  example: 'skiff logs web -f --since 10m',
  flags: {
    follow: { type: 'boolean', short: 'f', help: 'keep printing new lines (new replicas too) until interrupted' },
    since: { type: 'string', value: '10m', help: 'lines written at or after this: a duration back (10m, 1h30m, 2d) or a date' },
    tail: { type: 'string', value: 'N', help: 'only the last N lines (over every replica)' },
    timestamps: { type: 'boolean', help: 'show when each line was written' },
    container: { type: 'string', value: 'NAME', help: 'only this container of the pods' },
    host: { type: 'string', value: 'HOST', help: "a host's agent's own log (cluster admin)" },
    'control-plane': { type: 'boolean', help: "the control functions' logs (cluster admin)" },
    function: { type: 'string', value: 'NAME', help: 'with --control-plane: only this function (api, scheduler, health, autoscaler)' },
  },
  maxArgs: 1,
  async run({ values, positionals }, out) {
    const mode = outputMode(values.output);
    let tail: number | undefined;
    if (values.tail !== undefined) {
      tail = Number(values.tail);
      if (!/^\d+$/.test(values.tail) || tail > 5000) throw new UsageError(`--tail must be a number of lines from 0 to 5000, got "${values.tail}"`);
    }
    const target = logsTarget(positionals[0], {
      ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
      ...(values.host !== undefined ? { host: values.host } : {}),
      controlPlane: values['control-plane'] === true,
      ...(values.container !== undefined ? { container: values.container } : {}),
      ...(values.function !== undefined ? { fn: values.function } : {}),
      timestamps: values.timestamps === true,
    });
    const render = mode === 'json' ? (l: LogLineView) => JSON.stringify(l) : target.render;
    const withContainer =
      values.container !== undefined ? `${target.path}${target.path.includes('?') ? '&' : '?'}container=${encodeURIComponent(values.container)}` : target.path;
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    // Ctrl-C ends a follow quietly (exit 0): what was asked for was shown.
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await printLogs(
        client,
        { path: withContainer, render },
        {
          ...(values.since !== undefined ? { since: values.since } : {}),
          ...(tail !== undefined ? { tail } : {}),
          follow: values.follow === true,
          signal: stop.signal,
        },
        out,
      );
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return 0;
  },
});
