/**
 * Waiting for the cluster to get somewhere (`apply` until every replica runs, `delete` until the
 * containers are gone): one poll loop with a deadline, and one progress line that is redrawn in
 * place on a terminal and printed once per change otherwise (logs, CI, tests).
 */
import type { Out } from './command.ts';

export interface Progress {
  /** Shows `line` if it differs from the last one shown. */
  show(line: string): void;
  /** Ends the line redrawn in place, if any. */
  end(): void;
}

/** Progress on `out`; `enabled` false shows nothing (`-o json` keeps stdout for the JSON). */
export function progress(out: Out, enabled = true): Progress {
  let last = '';
  const write = out.write?.bind(out) ?? ((s: string) => void process.stdout.write(s));
  return {
    show(line) {
      if (!enabled || line === last) return;
      if (out.isTTY) write(`\r\x1b[2K${line}`);
      else out.log(line);
      last = line;
    },
    end() {
      if (enabled && out.isTTY && last) write('\n');
      last = '';
    },
  };
}

/**
 * One look at the thing waited for: done or not, `state` the progress line (shown when it
 * changes), `detail` where it stands for the timeout message (else `state`).
 */
export type Poll<T> = ({ readonly done: true; readonly value: T } | { readonly done: false; readonly detail?: string }) & { readonly state?: string };

export interface WaitOptions {
  /** What is waited for, for the timeout message: `default/hello`, `default/hello to be deleted`. */
  readonly what: string;
  readonly timeoutS: number;
  /** @default 300 */
  readonly everyMs?: number;
  readonly progress?: Progress;
  /** The clock and the pause between polls (tests pass fakes). */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * Polls until `poll` says done and returns its value. Each poll's `state` is shown as progress;
 * past the deadline (checked after a poll, so the last look is always reported) it throws
 * `timed out after Ns waiting for WHAT: DETAIL`. An error from `poll` ends the wait as it is.
 */
export async function waitUntil<T>(poll: () => Promise<Poll<T>>, opts: WaitOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + opts.timeoutS * 1000;
  try {
    for (;;) {
      const p = await poll();
      if (p.state !== undefined) opts.progress?.show(p.state);
      if (p.done) return p.value;
      const detail = p.detail ?? p.state;
      if (now() > deadline) throw new Error(`timed out after ${opts.timeoutS}s waiting for ${opts.what}${detail ? `: ${detail}` : ''}`);
      await sleep(opts.everyMs ?? 300);
    }
  } finally {
    opts.progress?.end();
  }
}
