/**
 * Shell completion scripts for `skiff completion bash|zsh|fish`, made from the command table
 * itself (cli/main.ts COMMANDS): every verb, subcommand and flag a command declares, and the words
 * a verb's first argument takes (the kinds of `get`). A command added to the table completes
 * without a change here.
 */
import { GLOBAL_FLAGS, type AnyCommand, type Flags } from './command.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** What follows `skiff VERB`: its subcommands or its first argument's words, and its flags. */
function wordsOf(cmd: AnyCommand, args: Readonly<Record<string, readonly string[]>>): { words: string[]; flags: string[] } {
  const all: Flags = cmd.globals === false ? { help: GLOBAL_FLAGS.help, ...cmd.flags } : { ...GLOBAL_FLAGS, ...cmd.flags };
  const flags = Object.entries(all)
    .filter(([, f]) => !f.hidden)
    .flatMap(([name, f]) => [`--${name}`, ...(f.short ? [`-${f.short}`] : [])]);
  const words = cmd.subcommands ? cmd.subcommands.map((s) => s.name) : [...(args[cmd.name] ?? [])];
  return { words, flags };
}

/** The script for `shell`; `args` are the first-argument words of verbs that take a kind. */
export function completionScript(shell: Shell, commands: readonly AnyCommand[], args: Readonly<Record<string, readonly string[]>>): string {
  const verbs = [...commands.map((c) => c.name), 'help'];
  if (shell === 'fish') {
    const lines = [
      '# skiff completion for fish: skiff completion fish > ~/.config/fish/completions/skiff.fish',
      'complete -c skiff -f',
      `complete -c skiff -n __fish_use_subcommand -a '${verbs.join(' ')}'`,
    ];
    for (const c of commands) {
      const { words, flags } = wordsOf(c, args);
      if (words.length) lines.push(`complete -c skiff -n '__fish_seen_subcommand_from ${c.name}' -a '${words.join(' ')}'`);
      for (const f of flags)
        lines.push(
          f.startsWith('--')
            ? `complete -c skiff -n '__fish_seen_subcommand_from ${c.name}' -l ${f.slice(2)}`
            : `complete -c skiff -n '__fish_seen_subcommand_from ${c.name}' -s ${f.slice(1)}`,
        );
    }
    return `${lines.join('\n')}\n`;
  }
  const cases = commands.map((c) => {
    const { words, flags } = wordsOf(c, args);
    return `    ${c.name}) if [ "$COMP_CWORD" -eq 2 ]; then words='${[...words, ...flags].join(' ')}'; else words='${flags.join(' ')}'; fi ;;`;
  });
  const bash = `_skiff() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W '${verbs.join(' ')}' -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
    *) words='' ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _skiff skiff
`;
  if (shell === 'bash') return `# skiff completion for bash: source <(skiff completion bash), or save it in /etc/bash_completion.d/skiff\n${bash}`;
  // zsh runs the bash function through its bash completion layer.
  return `#compdef skiff
# skiff completion for zsh: source <(skiff completion zsh), or save it as _skiff in a folder of $fpath
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}
