/**
 * `skiff explain` (core/spec/explain.ts, from the spec schema and its descriptions) and `skiff
 * completion` (cli/completion.ts, from the command table); every field of the spec schema has a
 * description, so a field added without one fails here. And the loop of `skiff get -w`.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { watchLoop } from '../../cli/get-output.ts';
import { main, COMMANDS, type Out } from '../../cli/main.ts';
import { explainField, serviceJsonSchema } from '../../core/spec/explain.ts';

function capture(): Out & { text: () => string; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { log: (s) => lines.push(s), err: (s) => errors.push(s), write: (s) => lines.push(s), isTTY: false, text: () => lines.join('\n'), errors };
}

/** Every field path of the schema, list levels left out. */
function fieldPaths(node: Record<string, unknown>, path = ''): string[] {
  const out: string[] = [];
  const props = node.properties as Record<string, Record<string, unknown>> | undefined;
  for (const [name, child] of Object.entries(props ?? {})) {
    const p = path ? `${path}.${name}` : name;
    out.push(p, ...fieldPaths(child, p));
  }
  if (node.items) out.push(...fieldPaths(node.items as Record<string, unknown>, path));
  for (const alt of (node.anyOf as Record<string, unknown>[] | undefined) ?? []) out.push(...fieldPaths(alt, path));
  return out;
}

describe('skiff explain', () => {
  it('has a description for every field of the spec schema', () => {
    const paths = [...new Set(fieldPaths(serviceJsonSchema()))];
    expect(paths.length).toBeGreaterThan(100);
    const missing = paths.filter((p) => explainField(p).description === undefined);
    expect(missing).toEqual([]);
  });

  it('explains a field with its type, default, rules and description', () => {
    const replicas = explainField('spec.replicas');
    expect(replicas).toMatchObject({ type: 'integer', default: 1, rules: ['from 0 to 1000'], required: false });
    expect(replicas.description).toMatch(/How many replicas/);
    const image = explainField('service.spec.containers[0].image');
    expect(image).toMatchObject({ path: 'spec.containers.image', type: 'string', required: true });
    const containers = explainField('spec.containers');
    expect(containers.fields.map((f) => f.name)).toEqual(expect.arrayContaining(['name', 'image', 'env', 'resources', 'health']));
    expect(explainField('spec.containers.resources').fields.every((f) => !f.required)).toBe(true);
    expect(explainField('').fields.map((f) => f.name)).toEqual(['kind', 'metadata', 'spec']);
  });

  it('names the fields there are, and the closest one, for an unknown field', () => {
    expect(() => explainField('spec.contaners')).toThrow(/spec has no field "contaners" \(did you mean "containers"\?\); its fields: replicas, containers/);
    expect(() => explainField('spec.replicas.max')).toThrow(/spec.replicas has no fields: it is a integer/);
  });

  it('prints as text and as JSON, and a bad field is a usage error', async () => {
    const out = capture();
    expect(await main(['explain', 'spec.update.maxSurge'], out)).toBe(0);
    expect(out.text()).toMatch(/^FIELD: {4}spec\.update\.maxSurge\nTYPE: {5}integer \| string\nDEFAULT: {2}"25%"/);
    const json = capture();
    expect(await main(['explain', 'spec.ingress', '-o', 'json'], json)).toBe(0);
    expect(JSON.parse(json.text()).fields.map((f: { name: string }) => f.name)).toEqual(['host', 'port', 'sessionAffinity', 'path', 'tls']);
    const bad = capture();
    expect(await main(['explain', 'spec.replica'], bad)).toBe(2);
    expect(bad.errors.join('\n')).toMatch(/did you mean "replicas"/);
  });
});

describe('skiff completion', () => {
  it.each(['bash', 'zsh', 'fish'])('prints a %s script naming every verb', async (shell) => {
    const out = capture();
    expect(await main(['completion', shell], out)).toBe(0);
    for (const c of COMMANDS) expect(out.text()).toContain(c.name);
    expect(out.text()).toContain('services tasks hosts');
    expect(out.text()).toContain(shell === 'fish' ? '-l watch' : '--watch');
  });

  it('writes a bash script that bash reads, and that completes verbs and kinds', async () => {
    const out = capture();
    await main(['completion', 'bash'], out);
    const run = (words: string[], cword: number) =>
      spawnSync('bash', ['-c', `${out.text()}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${cword}; _skiff; echo "\${COMPREPLY[@]}"`], {
        encoding: 'utf8',
      });
    const verbs = run(['skiff', 'de'], 1);
    expect(verbs.status).toBe(0);
    expect(verbs.stdout.trim().split(' ')).toEqual(['delete', 'describe']);
    expect(run(['skiff', 'get', 'se'], 2).stdout.trim().split(' ')).toEqual(['services', 'secrets']);
    expect(run(['skiff', 'get', 'tasks', '--wa'], 3).stdout.trim()).toBe('--watch');
  });

  it('refuses another shell, suggesting the closest', async () => {
    const out = capture();
    expect(await main(['completion', 'bsh'], out)).toBe(2);
    expect(out.errors.join('\n')).toMatch(/no completion for "bsh": use bash, zsh or fish; did you mean "bash"\?/);
  });
});

describe('skiff get -w (watchLoop)', () => {
  it('prints at most once a second, even for a list that changes on every read', async () => {
    let clock = 0;
    let n = 0;
    const printedAt: number[] = [];
    await watchLoop({
      version: async () => `v${n++}`,
      show: async () => void printedAt.push(clock),
      sleep: async (ms) => {
        clock += ms;
      },
      clock: () => clock,
      stop: () => printedAt.length >= 4,
    });
    expect(printedAt).toEqual([0, 1000, 2000, 3000]);
  });

  it('polls an API that gives no list version', async () => {
    let clock = 0;
    const printedAt: number[] = [];
    await watchLoop({
      version: async () => undefined,
      show: async () => void printedAt.push(clock),
      sleep: async (ms) => {
        clock += ms;
      },
      clock: () => clock,
      stop: () => printedAt.length >= 3,
    });
    expect(printedAt).toEqual([0, 2000, 4000]);
  });
});
