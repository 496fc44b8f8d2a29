/**
 * What a CLI command is: a name, a one-line summary, its usage lines, an example, its flags and
 * `run`. The dispatcher (main.ts) parses the flags a command declares, so every command gets the
 * same usage errors, suggestions and `--help`. Commands load what they need beyond this (the spec
 * parser, the signer, the local cluster) with a dynamic import when they run, which keeps the
 * start of `skiff` small.
 */
import { parseArgs } from 'node:util';
import { didYouMean } from './suggest.ts';

/** A mistake in the command line: exit status 2 and a one-line reason. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Where a command writes: lines to stdout and stderr; `write` (raw stdout) for progress redrawn in place on a terminal. */
export interface Out {
  log(s: string): void;
  err(s: string): void;
  readonly isTTY: boolean;
  write?(s: string): void;
}

export interface Flag {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly default?: boolean;
  /** The value's name in help (`--timeout SECONDS`). */
  readonly value?: string;
  readonly help: string;
  /** Accepted, not listed (`--wait`, the default that `--no-wait` turns off). */
  readonly hidden?: boolean;
}

export type Flags = Readonly<Record<string, Flag>>;

export type Values<F extends Flags> = { -readonly [K in keyof F]?: F[K] extends { type: 'boolean' } ? boolean : string };

/** The options every command but `config` takes (`config` reads no API and rejects them). */
export const GLOBAL_FLAGS = {
  api: { type: 'string', value: 'URL', help: 'the API to talk to (else $SKIFF_API, the local cluster started here, the config file)' },
  token: { type: 'string', value: 'T', help: "bearer token for the API (else $SKIFF_TOKEN, the local cluster's own)" },
  output: { type: 'string', short: 'o', value: 'json', help: 'machine-readable output' },
  namespace: { type: 'string', short: 'n', value: 'NAMESPACE', help: 'the namespace (default: default)' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
} as const satisfies Flags;

const HELP_FLAG = { help: GLOBAL_FLAGS.help } as const satisfies Flags;

export interface Input<F extends Flags> {
  readonly values: Values<F> & Values<typeof GLOBAL_FLAGS>;
  readonly positionals: string[];
}

/**
 * A command of any flag set: what lists of commands hold. Each command's `run` sees only the flags
 * it declares, parsed by `parseCommandArgs`; a list cannot name one type for all of them.
 */
// biome-ignore lint/suspicious/noExplicitAny: the flag types differ per command (see above)
export type AnyCommand = Command<any>;

export interface Command<F extends Flags = Flags> {
  readonly name: string;
  /** One line: what it does. */
  readonly summary: string;
  /** Synopsis lines, without the leading `skiff `. */
  readonly usage: readonly string[];
  /** A complete command line, `skiff ...`. */
  readonly example: string;
  readonly flags: F;
  /** Takes the global options (--api, -o, -n). @default true */
  readonly globals?: boolean;
  /** The most positional arguments it takes; one more is a usage error. */
  readonly maxArgs?: number;
  /** A command with subcommands (`local up`, `config set`) has no `run` of its own. */
  readonly subcommands?: readonly AnyCommand[];
  run?(input: Input<F>, out: Out): Promise<number> | number;
}

/** Declares a command with its flags' value types inferred. */
export function command<const F extends Flags>(c: Command<F>): Command<F> {
  return c;
}

/** Parses `args` against the command's flags (and the global ones if it takes them); a mistake is a UsageError with a suggestion. */
export function parseFlags<F extends Flags>(cmd: Command<F>, args: string[], where = ''): Input<F> {
  const flags: Flags = cmd.globals === false ? { ...HELP_FLAG, ...cmd.flags } : { ...GLOBAL_FLAGS, ...cmd.flags };
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; default?: boolean }> = {};
  for (const [name, f] of Object.entries(flags))
    options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.default !== undefined ? { default: f.default } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    let message = (err as Error).message.replace(/\. To specify a positional.*$/s, '');
    const unknown = /^Unknown option '--([^']+)'/.exec(message)?.[1];
    if (unknown !== undefined) message += didYouMean(unknown, Object.keys(flags), (s) => `--${s}`);
    throw new UsageError(`${where}${message}`);
  }
  return parsed as unknown as Input<F>;
}

/** `-o`: a table (also `table`, `wide`) or JSON. */
export function outputMode(value: string | undefined): 'table' | 'json' {
  if (value === undefined || value === 'table' || value === 'wide') return 'table';
  if (value === 'json') return 'json';
  throw new UsageError(`-o must be "json" or "table", got "${value}"`);
}

/** A positive number of seconds, `90` or `90s`. */
export function seconds(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/s$/, ''));
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number of seconds, got "${value}"`);
  return n;
}

/** `a, b or c`. */
export function oneOf(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}

function flagLines(flags: Flags): string[] {
  const rows = Object.entries(flags)
    .filter(([, f]) => !f.hidden)
    .map(([name, f]) => [`${f.short ? `-${f.short}, ` : ''}--${name}${f.value ? ` ${f.value}` : ''}`, f.help] as const);
  const width = Math.max(0, ...rows.map(([left]) => left.length));
  return rows.map(([left, help]) => `  ${left.padEnd(width)}   ${help}`);
}

/** `skiff CMD --help`: summary, usage, options, example; for a command with subcommands, the list of them. */
export function commandHelp(cmd: AnyCommand, path: string): string {
  const lines = [`skiff ${path}: ${cmd.summary}`, '', 'Usage:', ...cmd.usage.map((u) => `  skiff ${u}`)];
  if (cmd.subcommands) {
    const width = Math.max(...cmd.subcommands.map((s) => s.name.length));
    lines.push(
      '',
      'Commands:',
      ...cmd.subcommands.map((s) => `  ${s.name.padEnd(width)}   ${s.summary}`),
      '',
      `skiff ${path} COMMAND --help shows a command's options.`,
    );
  } else {
    const own = flagLines(cmd.flags);
    if (own.length) lines.push('', 'Options:', ...own);
    if (cmd.globals !== false) lines.push('', 'Global options:', ...flagLines(GLOBAL_FLAGS));
  }
  lines.push('', 'Example:', `  ${cmd.example}`);
  return lines.join('\n');
}
