import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../core/errors.ts';
import { parseServiceSpec, serviceSpecToJson } from '../../core/spec.ts';
import { parseDocumentsText } from '../../core/spec/documents.ts';
import { parseSecretSpec } from '../../core/spec/secret.ts';

const containers = [{ name: 'a', image: 'skiff/busybox' }];
function issues(f: () => unknown) {
  try {
    f();
  } catch (err) {
    if (err instanceof ValidationError) return err.issues;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('kinds Job and CronJob, mode global, secretKeyRef', () => {
  it('fills a Job with its defaults: never restarted, one completion, backoffLimit 6', () => {
    const spec = parseServiceSpec({ kind: 'Job', metadata: { name: 'once' }, spec: { containers } });
    expect(spec.spec.restartPolicy).toBe('never');
    expect(spec.spec.job).toEqual({ completions: 1, parallelism: 1, backoffLimit: 6 });
    expect(parseServiceSpec(serviceSpecToJson(spec))).toEqual(spec);
  });

  it.each([
    [{ completions: 0 }, 'spec.completions', 'must be an integer from 1 to 1000'],
    [{ replicas: 2 }, 'spec.replicas', 'is a field of kind Service'],
    [{ restartPolicy: 'always' }, 'spec.restartPolicy', 'must be never'],
    [{ schedule: '* * * * *' }, 'spec.schedule', 'is a field of kind CronJob'],
    [{ backoffLimit: -1 }, 'spec.backoffLimit', 'must be an integer from 0 to 100'],
  ])('refuses a Job with %j', (over, path, message) => {
    expect(issues(() => parseServiceSpec({ kind: 'Job', metadata: { name: 'once' }, spec: { containers, ...over } }))).toContainEqual({
      path,
      message: expect.stringContaining(message),
    });
  });

  it('refuses job fields on a Service and replicas on a global one', () => {
    expect(issues(() => parseServiceSpec({ kind: 'Service', metadata: { name: 'w' }, spec: { containers, completions: 2 } }))[0].path).toBe('spec.completions');
    expect(issues(() => parseServiceSpec({ kind: 'Service', metadata: { name: 'w' }, spec: { containers, mode: 'global', replicas: 2 } }))[0].path).toBe(
      'spec.replicas',
    );
    const global = parseServiceSpec({ kind: 'Service', metadata: { name: 'w' }, spec: { containers, mode: 'global' } });
    expect(global.spec.mode).toBe('global');
    // Stored items are checked by parsing their JSON form again (core/items.ts).
    expect(parseServiceSpec(serviceSpecToJson(global))).toEqual(global);
  });

  it('keeps a CronJob name short enough for its jobs, and needs a schedule', () => {
    const long = 'a'.repeat(32);
    expect(
      issues(() => parseServiceSpec({ kind: 'CronJob', metadata: { name: long }, spec: { containers, schedule: '* * * * *' } })).map((i) => i.path),
    ).toEqual(['metadata.name']);
    expect(issues(() => parseServiceSpec({ kind: 'CronJob', metadata: { name: 'c' }, spec: { containers } }))[0]).toEqual({
      path: 'spec.schedule',
      message: expect.stringContaining('is required'),
    });
  });

  it('splits secret references from plain env values, and refuses a bad reference by field', () => {
    const spec = parseServiceSpec({
      kind: 'Service',
      metadata: { name: 'w' },
      spec: { containers: [{ ...containers[0], env: { A: 'x', B: { secretKeyRef: { name: 'db', key: 'password' } } } }] },
    });
    expect(spec.spec.containers[0].env).toEqual({ A: 'x' });
    expect(spec.spec.containers[0].secretEnv).toEqual({ B: { name: 'db', key: 'password' } });
    expect(serviceSpecToJson(spec).spec.containers[0].env).toEqual({ A: 'x', B: { secretKeyRef: { name: 'db', key: 'password' } } });
    const bad = issues(() =>
      parseServiceSpec({
        kind: 'Service',
        metadata: { name: 'w' },
        spec: { containers: [{ ...containers[0], env: { B: { secretKeyRef: { name: 'Db' } } } }] },
      }),
    );
    expect(bad).toEqual([{ path: 'spec.containers[0].env.B.secretKeyRef', message: expect.stringContaining('name must be a DNS label') }]);
  });
});

describe('kind Secret and multi-document files', () => {
  it('validates a Secret without echoing its values', () => {
    expect(parseSecretSpec({ kind: 'Secret', metadata: { name: 'db' }, data: { password: 's3cret' } })).toEqual({
      kind: 'Secret',
      metadata: { name: 'db', namespace: 'default' },
      data: { password: 's3cret' },
    });
    const bad = issues(() => parseSecretSpec({ kind: 'Secret', metadata: { name: 'db' }, data: { 'bad key': 'v4lue', n: 12345 } }));
    expect(bad.map((i) => i.path)).toEqual(['data.bad key', 'data.n']);
    expect(JSON.stringify(bad)).not.toContain('12345');
    expect(JSON.stringify(bad)).not.toContain('v4lue');
  });

  it('parses documents in file order, refuses the same name twice and a JSON list of documents works too', () => {
    const text =
      'kind: Secret\nmetadata: { name: db }\ndata: { p: x }\n---\nkind: Job\nmetadata: { name: j }\nspec: { containers: [{ name: a, image: skiff/busybox }] }\n';
    expect(parseDocumentsText(text).map((d) => [d.index, d.kind])).toEqual([
      [0, 'Secret'],
      [1, 'Job'],
    ]);
    const twice = issues(() =>
      parseDocumentsText(`${text}---\nkind: Service\nmetadata: { name: j }\nspec: { containers: [{ name: a, image: skiff/busybox }] }\n`),
    );
    expect(twice).toEqual([{ path: 'documents[2].metadata.name', message: 'Service j: "j" in namespace default is already defined by documents[1]' }]);
    expect(parseDocumentsText(JSON.stringify([{ kind: 'Secret', metadata: { name: 'db' }, data: { p: 'x' } }]))).toHaveLength(1);
  });

  it('names the document of a problem only when the file holds several', () => {
    const bad = 'kind: Service\nmetadata: { name: web }\nspec: { replicas: -1, containers: [{ name: a, image: skiff/busybox }] }\n';
    expect(issues(() => parseDocumentsText(bad)).map((i) => [i.path, i.message.startsWith('Service web')])).toEqual([['spec.replicas', false]]);
    const two = `kind: Secret\nmetadata: { name: db }\ndata: { p: x }\n---\n${bad}`;
    expect(issues(() => parseDocumentsText(two)).map((i) => [i.path, i.message.startsWith('Service web: ')])).toEqual([['documents[1].spec.replicas', true]]);
  });
});
