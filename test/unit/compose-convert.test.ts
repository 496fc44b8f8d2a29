// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about Compose's ${VAR} syntax, written in plain strings
/**
 * The pieces of the Compose converter (core/compose/): interpolation, dotenv files, durations and
 * sizes, shell words, how a Compose file is told from a Skiff file; and `skiff convert` end to end
 * through the CLI dispatcher, its output taken back by the parser `skiff apply` uses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import type { Out } from '../../cli/command.ts';
import { composeDocument } from '../../cli/compose.ts';
import { main } from '../../cli/main.ts';
import { composeVariables, convertCompose, isComposeDocument, shellWords } from '../../core/compose/convert.ts';
import { parseDotenv } from '../../core/compose/dotenv.ts';
import { interpolateDocument, interpolateString } from '../../core/compose/interpolate.ts';
import { resolveMergeKeys } from '../../core/compose/merge.ts';
import { parseBytes, parseDuration } from '../../core/compose/units.ts';
import { ValidationError } from '../../core/errors.ts';
import { parseDocumentsText } from '../../core/spec/documents.ts';

describe('interpolation', () => {
  const vars = { SET: 'value', EMPTY: '', NUM: '3' };
  it.each([
    ['$SET', 'value'],
    ['${SET}', 'value'],
    ['a-${SET}-b', 'a-value-b'],
    ['${UNSET:-def}', 'def'],
    ['${EMPTY:-def}', 'def'],
    ['${EMPTY-def}', ''],
    ['${UNSET-def}', 'def'],
    ['${SET:-def}', 'value'],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${UNSET:-${SET}-x}', 'value-x'],
    ['$$SET', '$SET'],
    ['cost $$5', 'cost $5'],
    ['${SET:?must be set}', 'value'],
    ['no variables', 'no variables'],
  ])('%s gives %j', (text, expected) => {
    const r = interpolateString(text, vars);
    expect(r.error).toBeUndefined();
    expect(r.value).toBe(expected);
  });

  it('reports a variable used without a default and not set, replaced by an empty string', () => {
    expect(interpolateString('x${UNSET}y$ALSO', vars)).toEqual({ value: 'xy', unset: ['UNSET', 'ALSO'] });
  });

  it.each([
    ['${UNSET:?give it}', 'required variable UNSET is not set: give it'],
    ['${EMPTY:?}', 'required variable EMPTY is empty'],
    ['5$', '"$" must start a variable'],
    ['${SET', 'has no closing "}"'],
    ['${}', 'does not start with a variable name'],
    ['${SET/x}', 'after the name comes'],
  ])('%s is an error: %s', (text, message) => {
    expect(interpolateString(text, vars).error).toContain(message);
  });

  it('bounds defaults nested in defaults', () => {
    const deep = (n: number): string => (n === 0 ? 'x' : `\${U:-${deep(n - 1)}}`);
    expect(interpolateString(deep(16), {}).value).toBe('x');
    expect(interpolateString(deep(40), {}).error).toContain('nested more than 16 deep');
  });

  it('interpolates the values of a whole document, not its keys, naming the path of each problem', () => {
    const r = interpolateDocument({ services: { web: { image: 'app:${TAG}', environment: ['A=${SET}'], $SET: 1 } } }, { SET: 'v' });
    expect(r.value).toEqual({ services: { web: { image: 'app:', environment: ['A=v'], $SET: 1 } } });
    expect(r.warnings).toEqual([{ path: 'services.web.image', message: expect.stringContaining('variable TAG is not set') }]);
  });
});

describe('YAML merge keys', () => {
  it('merges anchored maps under the map own keys, the first of a list winning', () => {
    const common = { restart: 'always', environment: { A: '1' } };
    expect(resolveMergeKeys({ web: { '<<': common, image: 'x', restart: 'no' } }).value).toEqual({
      web: { image: 'x', restart: 'no', environment: { A: '1' } },
    });
    expect(resolveMergeKeys({ web: { '<<': [{ a: 1 }, { a: 2, b: 2 }] } }).value).toEqual({ web: { a: 1, b: 2 } });
    expect(resolveMergeKeys({ web: { environment: { '<<': { A: '1' }, B: '2' } } }).value).toEqual({ web: { environment: { B: '2', A: '1' } } });
  });

  it('names a merge key that is not a map', () => {
    expect(resolveMergeKeys({ services: { web: { '<<': 'text' } } }).errors).toEqual([
      { path: 'services.web.<<', message: 'a merge key (<<) takes a map or a list of maps, such as <<: *defaults' },
    ]);
  });
});

describe('dotenv files', () => {
  it('reads KEY=value lines, export, comments, quotes and variables of earlier lines and of the environment', () => {
    const text = '# comment\n\nexport A=1\nB = two words # note\nC=\'$literal\'\nD="line\\nbreak ${A}"\nE=${A}${SHELL_VAR}\nFROM_ENV\nMISSING\nF=\n';
    expect(parseDotenv(text, '.env', { SHELL_VAR: 's', FROM_ENV: 'e' })).toEqual({
      values: { A: '1', B: 'two words', C: '$literal', D: 'line\nbreak 1', E: '1s', FROM_ENV: 'e', F: '' },
      errors: [],
    });
  });

  it('names the file and line of a bad line', () => {
    expect(parseDotenv('A=1\n=oops\nB="open\n', 'app.env').errors).toEqual([
      { path: 'app.env:2', message: 'must be KEY=value (or a # comment); got "=oops"' },
      { path: 'app.env:3', message: 'B: a double-quoted value has no closing quote (values span one line)' },
    ]);
  });

  it('gives the environment precedence over .env, as Compose does', () => {
    expect(composeVariables('TAG=1\nOTHER=x\n', { TAG: '2' }).env).toEqual({ TAG: '2', OTHER: 'x' });
    expect(composeVariables(undefined, { TAG: '2' }).env).toEqual({ TAG: '2' });
  });
});

describe('durations and sizes', () => {
  it.each([
    ['10s', 10],
    ['1m30s', 90],
    ['1h', 3600],
    ['500ms', 0.5],
    ['1.5s', 1.5],
    ['2h46m40s', 10000],
    [45, 45],
    ['0', 0],
  ])('duration %j is %d s', (v, s) => {
    expect(parseDuration(v)).toBe(s);
  });

  it.each([['10'], ['1x'], ['s'], [''], [true]])('duration %j is refused', (v) => {
    expect(parseDuration(v)).toEqual({ error: expect.stringContaining('must be a duration') });
  });

  it.each([
    ['512m', 512 * 2 ** 20],
    ['1gb', 2 ** 30],
    ['1G', 2 ** 30],
    ['100k', 102400],
    ['2048', 2048],
    [1048576, 1048576],
    ['1.5g', 1.5 * 2 ** 30],
  ])('size %j is %d bytes (Docker reads k, m, g as powers of 1024)', (v, b) => {
    expect(parseBytes(v)).toBe(b);
  });

  it.each([['12x'], ['-1m'], [null]])('size %j is refused', (v) => {
    expect(parseBytes(v)).toEqual({ error: expect.stringContaining('must be a size') });
  });
});

describe('shell words', () => {
  it.each([
    ['python manage.py runserver', ['python', 'manage.py', 'runserver']],
    [`sh -c 'echo "hi there" && sleep 1'`, ['sh', '-c', 'echo "hi there" && sleep 1']],
    [`a "b c" d\\ e`, ['a', 'b c', 'd e']],
    [`--name="x y"`, ['--name=x y']],
    [`''`, ['']],
    ['  spaced   out  ', ['spaced', 'out']],
  ])('%s', (text, words) => {
    expect(shellWords(text)).toEqual(words);
  });

  it('says which quote is not closed', () => {
    expect(shellWords(`echo 'x`)).toContain('unclosed single quote');
    expect(shellWords(`echo "x`)).toContain('unclosed double quote');
  });
});

describe('telling a Compose file from a Skiff file', () => {
  it('takes a services map without kind, whatever the file is named', () => {
    expect(isComposeDocument({ services: { web: { image: 'x' } } })).toBe(true);
    expect(isComposeDocument({ kind: 'Service', services: {} })).toBe(false);
    expect(isComposeDocument({ services: ['web'] })).toBe(false);
    expect(composeDocument('services:\n  web: { image: nginx }\n')).toEqual({ services: { web: { image: 'nginx' } } });
    expect(composeDocument('{"services": {"web": {"image": "nginx"}}}')).toEqual({ services: { web: { image: 'nginx' } } });
    expect(composeDocument('kind: Service\nmetadata: { name: web }\nspec: { containers: [] }\n')).toBeUndefined();
    expect(composeDocument('services: [unclosed\n')).toBeUndefined();
    expect(composeDocument('"services":\n  web: { image: nginx }\n')).toEqual({ services: { web: { image: 'nginx' } } });
  });
});

describe('convertCompose', () => {
  const convert = (file: unknown, options: Partial<Parameters<typeof convertCompose>[1]> = {}) => convertCompose(file, { folder: 'proj', env: {}, ...options });
  const issues = (file: unknown, options: Partial<Parameters<typeof convertCompose>[1]> = {}) => {
    try {
      convert(file, options);
    } catch (err) {
      if (err instanceof ValidationError) return err.issues;
      throw err;
    }
    throw new Error('converted without an error');
  };

  it('names the project from COMPOSE_PROJECT_NAME over name:, and folds a folder name into a namespace', () => {
    const file = { name: 'from-file', services: { web: { image: 'nginx' } } };
    expect(convert(file).namespace).toBe('from-file');
    expect(convert(file, { env: { COMPOSE_PROJECT_NAME: 'from_env' } }).namespace).toBe('from-env');
    expect(convert({ services: { web: { image: 'nginx' } } }, { folder: 'My Project.v2' }).namespace).toBe('my-project-v2');
    expect(issues({ services: { web: { image: 'nginx' } } }, { folder: '___' })).toEqual([
      { path: '', message: 'the folder name "___" gives no usable namespace: set name: in the file or pass -n NAMESPACE' },
    ]);
  });

  it('refuses unknown top-level attributes and a file without services', () => {
    expect(issues({ services: { a: { image: 'x' } }, volumnes: {} })[0]).toEqual({
      path: 'volumnes',
      message: expect.stringContaining('unknown top-level attribute "volumnes" (did you mean "volumes"?)'),
    });
    expect(() => convert({ version: '3' })).toThrow('services: is required');
    expect(issues({ services: {} })).toEqual([{ path: 'services', message: 'is empty: no service to deploy' }]);
  });

  it('maps an ingress extension to the load balancer, on the one tcp port or the one named', () => {
    const one = convert({ services: { web: { image: 'x', ports: ['8080'], 'x-skiff-ingress': { host: 'web.example.com' } } } });
    expect(one.specs[0].spec.ingress).toEqual({ host: 'web.example.com', port: 8080, sessionAffinity: false });
    const two = convert({
      services: { web: { image: 'x', expose: [80, 9090], 'x-skiff-ingress': { host: 'web.example.com', port: 9090, sessionAffinity: true } } },
    });
    expect(two.specs[0].spec.ingress).toEqual({ host: 'web.example.com', port: 9090, sessionAffinity: true });
    expect(issues({ services: { web: { image: 'x', 'x-skiff-ingress': { host: 'web.example.com' } } } })).toEqual([
      { path: 'services.web.x-skiff-ingress.port', message: expect.stringContaining('no tcp port') },
    ]);
  });

  it('refuses scale and deploy.replicas that disagree, and keeps them when they agree', () => {
    expect(issues({ services: { w: { image: 'x', scale: 2, deploy: { replicas: 3 } } } })[0].path).toBe('services.w.scale');
    expect(convert({ services: { w: { image: 'x', scale: 2, deploy: { replicas: '2' } } } }).specs[0].spec.replicas).toBe(2);
  });

  it('drops replicas from a global service with a warning', () => {
    const r = convert({ services: { w: { image: 'x', deploy: { mode: 'global', replicas: 2, resources: { limits: { cpus: 0.1, memory: '32m' } } } } } });
    expect(r.documents[0].spec).toEqual({ mode: 'global', containers: [{ name: 'w', image: 'x', resources: { cpu: '100m', memory: '32Mi' } }] });
    expect(r.warnings.map((w) => w.path)).toEqual(['services.w.deploy.replicas']);
  });

  it("names what Skiff's own rules refuse by the Compose attribute it came from", () => {
    const big = 'x'.repeat(16_385);
    expect(issues({ services: { w: { image: 'x', environment: { BIG: big } } } })).toEqual([
      { path: 'services.w.environment.BIG', message: expect.stringContaining("(Skiff's spec.containers[0].env.BIG)") },
    ]);
    expect(issues({ services: { w: { image: 'x', env_file: 'app.env' } } }, { readFile: () => `BIG=${big}\n` })[0].path).toBe('services.w.env_file');
    expect(issues({ services: { w: { image: 'x', mem_limit: '1m' } } })[0].path).toBe('services.w.mem_limit');
    expect(issues({ services: { w: { image: 'x', scale: 5000 } } })[0].path).toBe('services.w.scale');
    expect(issues({ services: { w: { image: 'x', pids_limit: 3 } } })[0].path).toBe('services.w.pids_limit');
    expect(issues({ services: { w: { image: 'Bad Image' } } })[0].path).toBe('services.w.image');
  });

  it('says that a dependency run to completion is better a Job', () => {
    const r = convert({
      services: { web: { image: 'x', depends_on: { migrate: { condition: 'service_completed_successfully' } } }, migrate: { image: 'x', restart: 'no' } },
    });
    expect(r.warnings.find((w) => w.path === 'services.web.depends_on')?.message).toContain(
      'without waiting for migrate (service_completed_successfully). web must retry until they answer',
    );
    expect(r.warnings.find((w) => w.path === 'services.web.depends_on')?.message).toContain(
      'migrate runs once: a Skiff Job (kind: Job) applied first fits it better',
    );
  });

  it('a timeout longer than the interval is cut to the interval, and said so', () => {
    const r = convert({ services: { w: { image: 'x', healthcheck: { test: 'true', interval: '2s', timeout: '5s' } } } });
    expect(r.specs[0].spec.containers[0].health).toMatchObject({ intervalSeconds: 2, timeoutSeconds: 2 });
    expect(r.warnings.map((w) => w.path)).toContain('services.w.healthcheck.timeout');
  });
});

describe('skiff convert', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-convert-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = async (args: string[]) => {
    const logs: string[] = [];
    const errs: string[] = [];
    const out: Out = { log: (s) => logs.push(s), err: (s) => errs.push(s), isTTY: false };
    const code = await main(args, out);
    return { code, stdout: logs.join('\n'), stderr: errs.join('\n') };
  };
  const file = join(dir, 'docker-compose.yml');
  writeFileSync(
    file,
    `services:
  web:
    image: nginx:\${TAG}
    ports: ["8080:80"]
    depends_on: [db]
    deploy: { resources: { limits: { cpus: "0.5", memory: 128M } } }
  db:
    image: postgres:16
    volumes: [data:/var/lib/postgresql/data]
    deploy: { resources: { limits: { cpus: "1", memory: 512M } } }
volumes: { data: {} }
`,
  );
  writeFileSync(join(dir, '.env'), 'TAG=1.27\n');

  it('prints YAML documents that skiff apply takes as they are, and the warnings on stderr', async () => {
    const r = await run(['convert', '-f', file]);
    expect(r.code, r.stderr).toBe(0);
    const docs = parseDocumentsText(r.stdout);
    expect(docs.map((d) => d.kind === 'Service' && `${d.spec.metadata.namespace}/${d.spec.metadata.name} ${d.spec.spec.containers[0].image}`)).toEqual([
      expect.stringMatching(/^skiff-convert-\w+\/web nginx:1\.27$/),
      expect.stringMatching(/\/db postgres:16$/),
    ]);
    // The warnings travel with the documents as comments too.
    expect(r.stdout).toContain('\n# warning: services.web.depends_on: Skiff starts every service at once');
    expect(r.stderr).toBe(
      'warning: services.web.depends_on: Skiff starts every service at once and keeps no start order: web may start before db. web must retry until they answer (a container that exits is restarted with back-off; a readiness wait in its entrypoint works too)',
    );
  });

  it('-o json prints the documents as the API stores them, every default filled in', async () => {
    const r = await run(['convert', '-f', file, '-o', 'json', '-n', 'shop']);
    expect(r.code, r.stderr).toBe(0);
    const specs = JSON.parse(r.stdout);
    expect(specs).toHaveLength(2);
    expect(specs[1]).toEqual({
      kind: 'Service',
      metadata: { name: 'db', namespace: 'shop', labels: {} },
      spec: {
        replicas: 1,
        containers: [
          {
            name: 'db',
            image: 'postgres:16',
            env: {},
            ports: [],
            resources: { cpu: 1000, memory: 512 * 2 ** 20 },
            volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql/data' }],
          },
        ],
        restartPolicy: 'always',
        placement: { strategy: 'spread', constraints: [] },
        pidsLimit: 512,
        update: { maxSurge: '25%', maxUnavailable: 0, minReadySeconds: 0, progressDeadlineSeconds: 600, autoRollback: true, revisionHistoryLimit: 10 },
        terminationGracePeriodSeconds: 30,
        volumes: [{ name: 'data', persistent: {} }],
      },
    });
  });

  it('--strict fails on a warning, naming it; a Skiff file is refused; a bad -o is a usage error', async () => {
    const strict = await run(['convert', '-f', file, '--strict']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('services.web.depends_on: Skiff starts every service at once');
    expect(strict.stderr).toContain('(an error under --strict)');
    const skiffFile = join(dir, 'svc.yaml');
    writeFileSync(skiffFile, 'kind: Service\nmetadata: { name: a }\nspec: { containers: [{ name: a, image: x }] }\n');
    expect((await run(['convert', '-f', skiffFile])).code).toBe(2);
    expect((await run(['convert', '-f', file, '-o', 'wide'])).stderr).toContain('-o must be "yaml" or "json" for convert');
    expect((await run(['convert'])).stderr).toContain('convert needs -f FILE');
  });

  it('keeps each warning on its comment line, whatever the key holds', async () => {
    const odd = join(dir, 'odd.yaml');
    writeFileSync(
      odd,
      'services:\n  web:\n    image: nginx:1.27\n    labels:\n      "a\\nkind: Secret": "x y"\n    deploy: { resources: { limits: { cpus: "0.1", memory: 32M } } }\n',
    );
    const r = await run(['convert', '-f', odd]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('# warning: services.web.labels.a kind: Secret: is left out');
    expect(parseDocumentsText(r.stdout).map((d) => d.kind)).toEqual(['Service']);
  });

  it('round-trips: the YAML it prints parses to the specs -o json prints', async () => {
    const yaml = await run(['convert', '-f', file, '-n', 'rt']);
    const json = await run(['convert', '-f', file, '-n', 'rt', '-o', 'json']);
    const fromYaml = parseDocumentsText(yaml.stdout).map((d) => (d.kind === 'Secret' ? d.secret : d.spec));
    expect(JSON.parse(JSON.stringify(fromYaml))).toEqual(JSON.parse(json.stdout));
    expect(YAML.parseAllDocuments(yaml.stdout)).toHaveLength(2);
  });
});
