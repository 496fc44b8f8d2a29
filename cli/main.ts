/**
 * `skiff`: the command line for people. Tables by default, `-o json` for scripts; a non-zero exit
 * with a one-line reason on failure (2 for a usage error, 1 for everything else).
 *
 * Each command is a file of cli/commands/; this file only finds the command (suggesting the
 * right one for a typo), parses its flags and maps errors to exit statuses. Nothing imported here
 * loads the cluster's code, the spec parser or the AWS SDK: commands load those when they run.
 */
import { ValidationError } from '../core/errors.ts';
import { commandHelp, oneOf, parseFlags, UsageError, type AnyCommand, type Out } from './command.ts';
import { didYouMean } from './suggest.ts';
import apply from './commands/apply.ts';
import get from './commands/get.ts';
import describe from './commands/describe.ts';
import del from './commands/delete.ts';
import drain from './commands/drain.ts';
import uncordon from './commands/uncordon.ts';
import events from './commands/events.ts';
import logs from './commands/logs.ts';
import top from './commands/top.ts';
import local from './commands/local.ts';
import config from './commands/config.ts';
import token from './commands/token.ts';
import rollout from './commands/rollout.ts';
import scale from './commands/scale.ts';
import convert from './commands/convert.ts';
import exec from './commands/exec.ts';
import { login, logout } from './commands/login.ts';
import version from './commands/version.ts';
import explain from './commands/explain.ts';
import { completionCommand } from './commands/completion.ts';

export { UsageError, type Out };

/** In the order `skiff --help` lists them. */
export const COMMANDS: readonly AnyCommand[] = [
  apply,
  convert,
  get,
  del,
  describe,
  exec,
  rollout,
  scale,
  drain,
  uncordon,
  events,
  logs,
  top,
  token,
  local,
  config,
  login,
  logout,
  version,
  explain,
  completionCommand(() => COMMANDS),
];

const GLOBAL_HELP = `Global options:
  --api URL      the API to talk to; else $SKIFF_API, else the local cluster started from this folder
                 (.skiff/local.json), else the config file (skiff config set)
                 Requests are SigV4-signed (AWS credential chain) when the API has a region: the config
                 file's, or $SKIFF_REGION / $AWS_REGION with --api or $SKIFF_API. A local cluster is never signed.
  -o json        machine-readable output (get: also yaml, wide, name)
  -h, --help     this help`;

/** `skiff --help`: every command's usage lines. */
export function help(commands: readonly AnyCommand[] = COMMANDS): string {
  const usage = commands.flatMap((c) => c.usage.map((u) => `  skiff ${u}`));
  // `drain HOST | skiff uncordon HOST` reads better on one line, as it always has.
  const lines = usage.join('\n').replace('  skiff drain HOST\n  skiff uncordon HOST', '  skiff drain HOST | skiff uncordon HOST');
  return `skiff — a container cluster manager

Usage:
${lines}

${GLOBAL_HELP}

skiff COMMAND --help shows a command's options and an example.
`;
}

const defaultOut: Out = {
  log: (s) => console.log(s),
  err: (s) => console.error(s),
  isTTY: Boolean(process.stdout.isTTY),
  write: (s) => void process.stdout.write(s),
};

export async function main(argv: string[], out: Out = defaultOut, commands: readonly AnyCommand[] = COMMANDS): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    // `skiff help get` is `skiff get --help`.
    if (verb === 'help' && rest.length > 0) return await main([...rest, '--help'], out, commands);
    if (verb === undefined || verb === 'help' || verb === '-h' || verb === '--help') {
      out.log(help(commands));
      return verb === undefined ? 2 : 0;
    }
    const cmd = commands.find((c) => c.name === verb);
    if (!cmd) {
      const names = commands.map((c) => c.name);
      const hint = didYouMean(verb, names);
      throw new UsageError(`unknown command "${verb}"${hint || `; try: ${names.join(', ')}`} (skiff --help)`);
    }
    return await dispatch(cmd, [verb], rest, out);
  } catch (err) {
    if (err instanceof UsageError) {
      out.err(`skiff: ${err.message}`);
      return 2;
    }
    if (err instanceof ValidationError) {
      out.err(`skiff: invalid spec: ${err.message}`);
      return 1;
    }
    out.err(`skiff: ${(err as Error).message}`);
    return 1;
  }
}

/** Runs `cmd` (reached by `path`, e.g. `local up`) on `args`: a subcommand, or its flags and arguments. */
async function dispatch(cmd: AnyCommand, path: string[], args: string[], out: Out): Promise<number> {
  const where = path.join(' ');
  if (cmd.subcommands) {
    const [sub, ...rest] = args;
    const names = cmd.subcommands.map((s) => s.name);
    if (sub === '-h' || sub === '--help' || sub === 'help') {
      out.log(commandHelp(cmd, where));
      return 0;
    }
    if (sub === undefined) throw new UsageError(`${where} what? ${oneOf(names)}`);
    const found = cmd.subcommands.find((s) => s.name === sub);
    if (!found) throw new UsageError(`unknown ${where} command "${sub}"; use ${oneOf(names)}${didYouMean(sub, names)}`);
    return dispatch(found, [...path, sub], rest, out);
  }
  // A subcommand's usage errors name it (`config set: unexpected argument "x"`).
  const prefix = path.length > 1 ? `${where}: ` : '';
  const input = parseFlags(cmd, args, prefix);
  if (input.values.help) {
    out.log(commandHelp(cmd, where));
    return 0;
  }
  if (cmd.maxArgs !== undefined && input.positionals.length > cmd.maxArgs)
    throw new UsageError(`${prefix}unexpected argument "${input.positionals[cmd.maxArgs]}"`);
  if (!cmd.run) throw new Error(`command ${where} has nothing to run`);
  return await cmd.run(input, out);
}
