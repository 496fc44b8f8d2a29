/** `skiff apply -f FILE`: create or update a service, and wait until every replica runs its spec. */
import { readFileSync } from 'node:fs';
import { ApiClient, findApi } from '../client.ts';
import { command, outputMode, seconds, UsageError } from '../command.ts';
import { waitForRollout } from '../rollout-wait.ts';
import { servicePath } from '../views.ts';
import { progress } from '../wait.ts';

export default command({
  name: 'apply',
  summary: 'create or update a service from a YAML spec; waits until it has rolled out (exit 1 if it was rolled back)',
  usage: ['apply -f FILE [--no-wait] [--timeout SECONDS] [-o json]'],
  example: 'skiff apply -f examples/hello.yaml --timeout 60',
  flags: {
    file: { type: 'string', short: 'f', value: 'FILE', help: 'the service spec (YAML)' },
    wait: { type: 'boolean', default: true, help: 'wait until the rollout is complete (the default)', hidden: true },
    'no-wait': { type: 'boolean', help: 'return once the API has the spec' },
    timeout: { type: 'string', value: 'SECONDS', help: 'how long to wait (default 120)' },
  },
  maxArgs: 0,
  async run({ values }, out) {
    if (!values.file) throw new UsageError('apply needs -f FILE');
    const mode = outputMode(values.output);
    let text: string;
    try {
      text = readFileSync(values.file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${values.file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    // Validate here first: a wrong spec is reported without needing a cluster. The API validates
    // again. The parser (zod, yaml) loads only for this command.
    const { parseServiceYaml } = await import('../../core/spec.ts');
    parseServiceYaml(text);
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    const res = await client.request<{ result: string; service: { namespace: string; name: string; specVersion: number } }>(
      'POST',
      '/v1/services',
      text,
      'application/yaml',
    );
    const { namespace, name } = res.service;
    if (mode === 'table') out.log(`service ${namespace}/${name} ${res.result} (spec version ${res.service.specVersion})`);
    if (values.wait && !values['no-wait']) {
      // Waits for this version's rollout: a rollback (or a failed rollout) is this apply's failure (exit 1).
      await waitForRollout(client, namespace, name, {
        version: res.service.specVersion,
        timeoutS: seconds(values.timeout, '--timeout', 120),
        progress: progress(out, mode === 'table'),
      });
    }
    if (mode === 'json') out.log(JSON.stringify(await client.request('GET', servicePath(namespace, name)), null, 2));
    return 0;
  },
});
