/** `skiff apply -f FILE`: create or update a service, and wait until every replica runs its spec. */
import { readFileSync } from 'node:fs';
import { ApiClient, findApi } from '../client.ts';
import { command, outputMode, seconds, UsageError, type Out } from '../command.ts';
import { servicePath, type ServiceDetail } from '../views.ts';
import { progress, waitUntil } from '../wait.ts';
import { waitForRollout } from '../rollout-wait.ts';
import { applyNamespace, isNamespaceDocument } from './namespaces.ts';

export default command({
  name: 'apply',
  summary:
    'create or update services, jobs, cron jobs and secrets from a YAML file (documents separated by ---); waits until services have rolled out (exit 1 if one was rolled back)',
  usage: ['apply -f FILE [--no-wait] [--timeout SECONDS] [-o json]', 'apply -f compose.yaml [--strict] [--profile NAME] [-n NAMESPACE]'],
  example: 'skiff apply -f examples/hello.yaml --timeout 60',
  flags: {
    file: { type: 'string', short: 'f', value: 'FILE', help: 'the Skiff documents (YAML), or a Compose file (docs/compose.md)' },
    wait: { type: 'boolean', default: true, help: 'wait until every replica runs (the default)', hidden: true },
    'no-wait': { type: 'boolean', help: 'return once the API has the spec' },
    timeout: { type: 'string', value: 'SECONDS', help: 'how long to wait (default 120)' },
    strict: { type: 'boolean', help: 'a Compose file: fail on anything Skiff does not honour, instead of warning' },
    profile: { type: 'string', value: 'NAME', help: 'a Compose file: activate profiles (comma-separated; else $COMPOSE_PROFILES)' },
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
    // A Compose file (told by its content, whatever its name) is applied as the documents it converts to.
    const compose = await import('../compose.ts');
    const composeDoc = compose.composeDocument(text);
    if (composeDoc !== undefined) {
      const converted = compose.convertComposeFile(
        values.file,
        composeDoc,
        { strict: values.strict, profile: values.profile, namespace: values.namespace },
        out,
      );
      text = compose.documentsYaml(converted, values.file);
    } else if (values.strict || values.profile !== undefined) {
      throw new UsageError(`--strict and --profile apply to Compose files; ${values.file} is a Skiff file (it has kind)`);
    }
    if (isNamespaceDocument(text)) return applyNamespace(new ApiClient(findApi(values.api, { token: values.token })), text, out, mode);
    // Validate here first: a wrong spec is reported without needing a cluster. The API validates
    // again. The parser (zod, yaml) loads only for this command.
    const { parseDocumentsText } = await import('../../core/spec/documents.ts');
    const docs = parseDocumentsText(text);
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    // Several documents, or a kind other than Service: one request applies them all (secrets first).
    const only = docs.length === 1 ? docs[0] : undefined;
    if (only?.kind !== 'Service') return applyMany(client, text, docs, values, mode, out);
    const spec = only.spec;
    const res = await client.request<{ result: string; service: { namespace: string; name: string; specVersion: number } }>(
      'POST',
      '/v1/services',
      text,
      'application/yaml',
    );
    const { namespace, name } = res.service;
    if (mode === 'table') out.log(`service ${namespace}/${name} ${res.result} (spec version ${res.service.specVersion})`);
    if (values.wait && !values['no-wait'] && spec.spec.mode !== 'global') {
      // Waits for this version's rollout: a rollback (or a failed rollout) is this apply's failure (exit 1).
      await waitForRollout(client, namespace, name, {
        version: res.service.specVersion,
        timeoutS: seconds(values.timeout, '--timeout', 120),
        progress: progress(out, mode === 'table'),
      });
    } else if (values.wait && !values['no-wait']) {
      // A global service has no rollout budget: it is ready once every matching host runs its spec.
      await waitUntil(
        async () => {
          const s = await client.request<ServiceDetail>('GET', servicePath(namespace, name));
          const why = s.tasks.find((t) => t.state === 'pending' && t.message)?.message;
          const want = s.replicas;
          return {
            done: s.ready,
            value: undefined,
            state: `${namespace}/${name}: ${s.running}/${want} running${why ? ` — pending: ${why}` : ''}`,
            detail: `${s.running}/${want} running${why ? `; pending: ${why}` : ''}`,
          };
        },
        { what: `${namespace}/${name}`, timeoutS: seconds(values.timeout, '--timeout', 120), progress: progress(out, mode === 'table') },
      );
    }
    if (mode === 'json') out.log(JSON.stringify(await client.request('GET', servicePath(namespace, name)), null, 2));
    return 0;
  },
});

interface AppliedRow {
  kind: string;
  namespace: string;
  name: string;
  result: string;
  specVersion?: number;
  keys?: string[];
}

/** `POST /v1/apply` with the whole file; then waits for the file's services (jobs and cron jobs are watched with `skiff get jobs`). */
async function applyMany(
  client: ApiClient,
  text: string,
  docs: readonly { kind: string }[],
  values: { wait?: boolean; 'no-wait'?: boolean; timeout?: string },
  mode: 'table' | 'json',
  out: Out,
): Promise<number> {
  const res = await client.request<{ results: AppliedRow[] }>('POST', '/v1/apply', text, 'application/yaml');
  if (mode === 'table') {
    for (const r of res.results) {
      const what = r.kind === 'Secret' ? `keys ${r.keys?.join(', ')}` : `spec version ${r.specVersion}`;
      out.log(`${r.kind.toLowerCase()} ${r.namespace}/${r.name} ${r.result} (${what})`);
    }
  }
  const services = res.results.filter((r) => r.kind === 'Service');
  if (values.wait && !values['no-wait'] && docs.length > 0) {
    for (const r of services) {
      if (r.specVersion !== undefined) {
        await waitForRollout(client, r.namespace, r.name, {
          version: r.specVersion,
          timeoutS: seconds(values.timeout, '--timeout', 120),
          progress: progress(out, mode === 'table'),
        });
        continue;
      }
      await waitUntil(
        async () => {
          const s = await client.request<ServiceDetail>('GET', servicePath(r.namespace, r.name));
          return {
            done: s.ready,
            value: undefined,
            state: `${r.namespace}/${r.name}: ${s.running}/${s.replicas} running`,
            detail: `${s.running}/${s.replicas} running`,
          };
        },
        { what: `${r.namespace}/${r.name}`, timeoutS: seconds(values.timeout, '--timeout', 120), progress: progress(out, mode === 'table') },
      );
    }
  }
  if (mode === 'json') out.log(JSON.stringify(res, null, 2));
  return 0;
}
