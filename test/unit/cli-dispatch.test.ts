/**
 * The CLI's dispatcher: verbs, subcommands and flags as the contract scripts rely on, usage errors
 * (exit 2) with suggestions, per-command help, and what `skiff` loads before a command runs.
 */
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { command, parseFlags, type Command, type Out } from '../../cli/command.ts';
import { COMMANDS, help, main } from '../../cli/main.ts';
import { closest, editDistance } from '../../cli/suggest.ts';
import { ValidationError } from '../../core/errors.ts';
import { ROOT } from '../helpers/cli.ts';

function capture(isTTY = false) {
  const logs: string[] = [];
  const errs: string[] = [];
  const writes: string[] = [];
  const out: Out = { log: (s) => logs.push(s), err: (s) => errs.push(s), isTTY, write: (s) => writes.push(s) };
  return { out, logs, errs, writes };
}

/** The command (or subcommand) at `path`. */
function find(path: string): Command<any> {
  let list: readonly Command<any>[] = COMMANDS;
  let found: Command<any> | undefined;
  for (const name of path.split(' ')) {
    found = list.find((c) => c.name === name);
    if (!found) throw new Error(`no command ${path}`);
    list = found.subcommands ?? [];
  }
  return found!;
}

describe('suggestions', () => {
  it('counts a swap of neighbouring letters as one edit', () => {
    expect(editDistance('gte', 'get')).toBe(1);
    expect(editDistance('namspace', 'namespace')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests a close word or one the typed prefix starts, and nothing far off', () => {
    const verbs = COMMANDS.map((c) => c.name);
    expect(closest('gte', verbs)).toBe('get');
    expect(closest('aply', verbs)).toBe('apply');
    expect(closest('desc', verbs)).toBe('describe');
    expect(closest('evnets', verbs)).toBe('events');
    expect(closest('x', verbs)).toBeUndefined();
    expect(closest('kubectl', verbs)).toBeUndefined();
  });
});

describe('skiff (dispatcher)', () => {
  it('knows the twenty-one verbs, and local, config, token and rollout subcommands, of the CLI contract', () => {
    expect(COMMANDS.map((c) => c.name)).toEqual([
      'apply',
      'convert',
      'get',
      'delete',
      'describe',
      'exec',
      'rollout',
      'scale',
      'drain',
      'uncordon',
      'events',
      'logs',
      'top',
      'token',
      'local',
      'config',
      'login',
      'logout',
      'version',
      'explain',
      'completion',
    ]);
    expect(find('rollout').subcommands!.map((c) => c.name)).toEqual(['status', 'history', 'undo', 'restart']);
    expect(find('local').subcommands!.map((c) => c.name)).toEqual(['up', 'status', 'down', 'kill-host', 'pause-host', 'resume-host', 'start-host']);
    expect(find('config').subcommands!.map((c) => c.name)).toEqual(['set', 'get', 'unset']);
  });

  // The flags scripts and tests use; removing or renaming one breaks them.
  it.each([
    [
      'apply',
      [
        '-f',
        'x.yaml',
        '--file',
        'x.yaml',
        '--no-wait',
        '--wait',
        '--timeout',
        '5',
        '-o',
        'json',
        '--output',
        'json',
        '-n',
        'ns',
        '--namespace',
        'ns',
        '--api',
        'http://127.0.0.1:1',
      ],
    ],
    ['apply', ['-f', 'compose.yaml', '--strict', '--profile', 'debug,mail']],
    ['convert', ['-f', 'compose.yaml', '--file', 'compose.yaml', '--strict', '--profile', 'debug', '-n', 'ns', '-o', 'json']],
    ['get', ['tasks', '--service', 's', '--host', 'h', '-n', 'ns', '-o', 'json', '--api', 'http://127.0.0.1:1']],
    ['delete', ['service', 'x', '--no-wait', '--timeout', '5s', '-n', 'ns']],
    ['delete', ['service', 'x', '--delete-volumes']],
    ['describe', ['service', 'x', '-n', 'ns', '-o', 'json']],
    ['drain', ['host-1', '--api', 'http://127.0.0.1:1']],
    ['uncordon', ['host-1']],
    ['events', ['--service', 's', '--host', 'h', '--limit', '5', '-n', 'ns', '-o', 'json']],
    ['logs', ['web', '-f', '--follow', '--since', '10m', '--tail', '5', '--timestamps', '--container', 'app', '-n', 'ns', '-o', 'json']],
    ['logs', ['--host', 'host-2', '-f']],
    ['logs', ['--control-plane', '--function', 'scheduler', '--tail', '20']],
    ['top', ['tasks', '--service', 's', '-n', 'ns', '-o', 'json']],
    ['top', ['hosts']],
    [
      'local up',
      ['--hosts', '2', '--port', '0', '--dns-port', '0', '--proxy-port', '0', '--cluster', 'c', '--data', 'd', '--host-cpu', '1', '--host-memory', '1Gi'],
    ],
    ['local status', ['-o', 'json']],
    ['local down', ['--keep-hosts']],
    ['local kill-host', ['host-1']],
    ['config set', ['--api', 'https://example.com', '--region', 'eu-west-1', '--profile', 'p']],
    ['config get', ['-o', 'json']],
    ['config unset', []],
  ])('%s takes %j', (path, args) => {
    expect(() => parseFlags(find(path), args)).not.toThrow();
  });

  it('has a summary, usage and an example that parses, for every command and subcommand', () => {
    const all = COMMANDS.flatMap((c) => [[c.name, c] as const, ...(c.subcommands ?? []).map((s) => [`${c.name} ${s.name}`, s] as const)]);
    for (const [path, c] of all) {
      expect(c.summary, path).not.toBe('');
      expect(c.usage.length, path).toBeGreaterThan(0);
      expect(c.example.startsWith(`skiff ${path}`), `${path}: ${c.example}`).toBe(true);
      if (c.subcommands) continue;
      const args = c.example.slice(`skiff ${path}`.length).trim().split(/\s+/).filter(Boolean);
      expect(() => parseFlags(c, args), c.example).not.toThrow();
    }
  });

  it('prints the help with every usage line: exit 0 when asked, 2 with no command', async () => {
    const asked = capture();
    expect(await main(['--help'], asked.out)).toBe(0);
    for (const c of COMMANDS) for (const u of c.usage) expect(asked.logs.join('\n')).toContain(u.replace(/^(drain|uncordon) /, ''));
    expect(asked.logs.join('\n')).toBe(help());
    const none = capture();
    expect(await main([], none.out)).toBe(2);
    expect(none.logs.join('\n')).toBe(help());
  });

  it("prints a command's help (usage, its options, an example) with -h, and a group's with its subcommands", async () => {
    const c = capture();
    expect(await main(['get', '-h'], c.out)).toBe(0);
    const text = c.logs.join('\n');
    expect(text).toContain('skiff get services|tasks|hosts|jobs|secrets|namespaces|volumes [NAME]');
    expect(text).toMatch(/--service S\s+tasks of this service only/);
    expect(text).toContain('Example:\n  skiff get tasks');
    const l = capture();
    expect(await main(['local', '--help'], l.out)).toBe(0);
    expect(l.logs.join('\n')).toMatch(/pause-host\s+rehearse a partition/);
    const viaHelp = capture();
    expect(await main(['help', 'get'], viaHelp.out)).toBe(0);
    expect(viaHelp.logs).toEqual(c.logs);
    const up = capture();
    expect(await main(['local', 'up', '--help'], up.out)).toBe(0);
    expect(up.logs.join('\n')).toMatch(/--host-memory Q\s+memory each host reports/);
  });

  it.each([
    [['gte', 'tasks'], 'unknown command "gte"; did you mean "get"? (skiff --help)'],
    [
      ['frobnicate'],
      'unknown command "frobnicate"; try: apply, convert, get, delete, describe, exec, rollout, scale, drain, uncordon, events, logs, top, token, local, config, login, logout, version, explain, completion (skiff --help)',
    ],
    [['get', 'tasks', '--namspace', 'x'], "Unknown option '--namspace'; did you mean --namespace?"],
    [['apply', '-f', 'x.yaml', '--no-wiat'], "Unknown option '--no-wiat'; did you mean --no-wait?"],
    [['get', 'taks'], 'cannot get "taks": use services, tasks, hosts, jobs, secrets, namespaces or volumes; did you mean "tasks"?'],
    [['get'], 'get what? services, tasks, hosts, jobs, secrets, namespaces or volumes'],
    [['local', 'stauts'], 'unknown local command "stauts"; use up, status, down, kill-host, pause-host, resume-host or start-host; did you mean "status"?'],
    [['local'], 'local what? up, status, down, kill-host, pause-host, resume-host or start-host'],
    [['config', 'show'], 'unknown config command "show"; use set, get or unset'],
    [['local', 'status', 'extra'], 'local status: unexpected argument "extra"'],
    [['local', 'down', '--hosts', '2'], "local down: Unknown option '--hosts'"],
    [['drain', 'host-1', 'host-2'], 'unexpected argument "host-2"'],
    [['drain'], 'drain needs a HOST'],
    [['apply'], 'apply needs -f FILE'],
    [['apply', '-f', 'x.yaml', '-o', 'yaml'], '-o must be "json" or "table", got "yaml"'],
    [['delete', 'task', 'x'], 'cannot delete "task": use delete service|job|cronjob|secret|namespace NAME'],
    [['local', 'up', '--hosts', '300'], '--hosts must be an integer from 1 to 254, got "300"'],
    [['local', 'up', '--hosts', '2', '--max-hosts', '1'], '--max-hosts must be an integer from --hosts (2) to 254, got "1"'],
    [['local', 'up', '--ingress', 'nginx'], '--ingress must be node or haproxy, got "nginx"'],
    [['local', 'up', '--host-channel', 's3'], '--host-channel must be ssm or dynamodb, got "s3"'],
  ])('%j is a usage error (exit 2): %s', async (argv, message) => {
    const c = capture();
    expect(await main(argv, c.out)).toBe(2);
    expect(c.errs).toEqual([`skiff: ${message}`]);
    expect(c.logs).toEqual([]);
  });

  it('runs the command with its parsed flags and maps its errors to exit statuses', async () => {
    const seen: unknown[] = [];
    const echo = command({
      name: 'echo',
      summary: 'says what it got',
      usage: ['echo [--loud] WORD'],
      example: 'skiff echo --loud hi',
      flags: { loud: { type: 'boolean', help: 'louder' } },
      maxArgs: 1,
      run({ values, positionals }, out) {
        seen.push({ loud: values.loud, ns: values.namespace, positionals });
        if (positionals[0] === 'fail') throw new Error('it broke');
        if (positionals[0] === 'invalid') throw new ValidationError([{ path: 'spec.replicas', message: 'must be 1' }]);
        out.log(values.loud ? positionals[0]!.toUpperCase() : positionals[0]!);
        return 0;
      },
    });
    const c = capture();
    expect(await main(['echo', '--loud', '-n', 'ns', 'hi'], c.out, [echo])).toBe(0);
    expect(seen).toEqual([{ loud: true, ns: 'ns', positionals: ['hi'] }]);
    expect(c.logs).toEqual(['HI']);
    expect(await main(['echo', 'fail'], c.out, [echo])).toBe(1);
    expect(await main(['echo', 'invalid'], c.out, [echo])).toBe(1);
    expect(c.errs).toEqual(['skiff: it broke', expect.stringMatching(/^skiff: invalid spec: spec\.replicas/)]);
    expect(await main(['ecoh'], c.out, [echo])).toBe(2);
    expect(c.errs.at(-1)).toBe('skiff: unknown command "ecoh"; did you mean "echo"? (skiff --help)');
  });

  it('rejects the global options where a command does not take them (config)', async () => {
    const c = capture();
    expect(await main(['config', 'get', '-n', 'x'], c.out)).toBe(2);
    expect(c.errs[0]).toMatch(/^skiff: config get: Unknown option '-n'/);
  });
});

describe('what skiff loads before a command runs', () => {
  // The start-up cost of every command is what main.ts imports statically: it must not reach the
  // local cluster (Docker, dynalite, SDK clients), the spec parser (zod, yaml) or the AWS SDK.
  it('reaches no module of local/, no npm package and not the spec parser; those load lazily', async () => {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: [join(ROOT, 'cli', 'main.ts')],
      bundle: true,
      splitting: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      outdir: join(ROOT, 'dist', 'test-out'),
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const outputs = Object.entries(result.metafile.outputs);
    const [entryFile, entry] = outputs.find(([, o]) => o.entryPoint === 'cli/main.ts')!;
    const loaded = Object.keys(entry.inputs);
    expect(loaded).toContain('cli/commands/get.ts');
    expect(loaded.filter((f) => f.startsWith('local/') || f === 'core/spec.ts' || f === 'cli/local.ts' || f === 'cli/sigv4.ts')).toEqual([]);
    // Static imports of the entry: node built-ins and its own chunks only.
    const statics = entry.imports.filter((i) => i.kind === 'import-statement' && !i.path.startsWith('node:') && !i.path.endsWith('.js'));
    expect(statics).toEqual([]);
    const lazy = entry.imports.filter((i) => i.kind === 'dynamic-import').map((i) => i.path);
    expect(lazy).toEqual(expect.arrayContaining(['tsx/esm/api', '@aws-sdk/credential-provider-node']));
    // The local cluster, the spec parser and the signer are in chunks of their own.
    for (const lazyInput of ['local/cluster.ts', 'core/spec.ts', 'cli/sigv4.ts'])
      expect(
        outputs.some(([file, o]) => file !== entryFile && lazyInput in o.inputs),
        lazyInput,
      ).toBe(true);
  });
});
