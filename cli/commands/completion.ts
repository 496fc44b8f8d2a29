/** `skiff completion bash|zsh|fish`: the shell completion script (cli/completion.ts), made from the command table. */
import { command, oneOf, UsageError, type AnyCommand } from '../command.ts';
import { didYouMean } from '../suggest.ts';
import { NAMES } from './get.ts';

const SHELL_NAMES = ['bash', 'zsh', 'fish'];

/** The first-argument words of the verbs that take a kind. */
const KINDS = { get: NAMES, describe: ['service', 'job'], delete: ['service', 'job', 'cronjob', 'secret', 'namespace'] };

/** The command, over the command table (main.ts passes it: the table holds this command too). */
export function completionCommand(commands: () => readonly AnyCommand[]) {
  return command({
    name: 'completion',
    summary: 'print the shell completion script for bash, zsh or fish',
    usage: ['completion bash|zsh|fish'],
    example: 'skiff completion bash > /etc/bash_completion.d/skiff',
    flags: {},
    globals: false,
    maxArgs: 1,
    async run({ positionals }, out) {
      const [shell] = positionals;
      if (shell === undefined) throw new UsageError(`completion for which shell? ${oneOf(SHELL_NAMES)}`);
      if (!SHELL_NAMES.includes(shell)) throw new UsageError(`no completion for "${shell}": use ${oneOf(SHELL_NAMES)}${didYouMean(shell, SHELL_NAMES)}`);
      const { completionScript } = await import('../completion.ts');
      out.log(completionScript(shell as 'bash', commands(), KINDS).trimEnd());
      return 0;
    },
  });
}
