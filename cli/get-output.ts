/**
 * `skiff get`'s output modes and its watch (`-w`). The kinds' views (cli/commands/get.ts, jobs.ts,
 * ...) print a table or the API's JSON; the other modes are made from that JSON here, so every kind
 * has every mode: `yaml` (the same document), `name` (`kind/name` per item, for scripts and
 * xargs) and `wide` (more columns where a kind has them; the table otherwise).
 */
import { UsageError } from './command.ts';

export type GetMode = 'table' | 'wide' | 'json' | 'yaml' | 'name';
export const GET_MODES: readonly GetMode[] = ['json', 'yaml', 'wide', 'name'];

export function getMode(value: string | undefined): GetMode {
  if (value === undefined || value === 'table') return 'table';
  if ((GET_MODES as readonly string[]).includes(value)) return value as GetMode;
  throw new UsageError(`-o must be json, yaml, wide or name, got "${value}"`);
}

type Out = { log(s: string): void };

/**
 * Runs `show` (which prints a table, or JSON in `json` mode) and prints its answer in `mode`.
 * `kind` is the singular name `-o name` prefixes (`service/web`).
 */
export async function printIn(mode: GetMode, kind: string, show: (inner: 'table' | 'json', out: Out) => Promise<void>, out: Out): Promise<void> {
  if (mode === 'table' || mode === 'wide' || mode === 'json') return show(mode === 'json' ? 'json' : 'table', out);
  const lines: string[] = [];
  await show('json', { log: (s) => lines.push(s) });
  const value: unknown = JSON.parse(lines.join('\n'));
  if (mode === 'yaml') {
    // Loaded only for -o yaml: the YAML library is not part of every command's start.
    const YAML = (await import('yaml')).default;
    return out.log(YAML.stringify(value).trimEnd());
  }
  const items = Array.isArray(value) ? value : [value];
  for (const item of items as { id?: string; name?: string }[]) out.log(`${kind}/${item.id ?? item.name}`);
}

export interface WatchDeps {
  /** The list's version now (no `since`), or once it differs from `since` (a long-poll); undefined when the API does not version lists. */
  readonly version: (since?: string) => Promise<string | undefined>;
  /** Prints the current state. */
  readonly show: () => Promise<void>;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Stops the watch (Ctrl-C ends it otherwise). */
  readonly stop?: () => boolean;
  /** Between two prints: a separator, or a clear screen on a terminal. */
  readonly between?: () => void;
  readonly clock?: () => number;
}

/** How often an API without list versions is polled. */
export const POLL_MS = 2000;
/** The least time between two prints: a list that changes on every read must not become a busy loop. */
export const MIN_PRINT_MS = 1000;

/**
 * Prints, then waits for the list to change (the API holds the request until it does, at most
 * 25 s) and prints again. The version is read before the print, so a change in between is never
 * missed: it only makes the next wait return at once. An API that gives no version is polled.
 */
export async function watchLoop(d: WatchDeps): Promise<void> {
  const sleep = d.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const clock = d.clock ?? Date.now;
  let version = await d.version();
  await d.show();
  let printed = clock();
  while (!d.stop?.()) {
    let next: string | undefined;
    if (version === undefined) await sleep(POLL_MS);
    else {
      next = await d.version(version);
      // Same version: the wait timed out without a change; ask again.
      if (next === version) continue;
    }
    const early = MIN_PRINT_MS - (clock() - printed);
    if (early > 0) await sleep(early);
    if (d.stop?.()) return;
    d.between?.();
    await d.show();
    printed = clock();
    version = next;
  }
}
