/** `skiff delete service NAME`: stop every task of a service; waits until its containers are gone. */
import { ApiClient, ApiError, findApi } from '../client.ts';
import { command, seconds, UsageError } from '../command.ts';
import { servicePath } from '../views.ts';
import { jobPath } from '../jobs.ts';
import { waitUntil } from '../wait.ts';

export default command({
  name: 'delete',
  summary: 'delete a service: stop every task; waits until its containers are gone',
  usage: ['delete service NAME [-n NAMESPACE] [--no-wait] [--timeout SECONDS]', 'delete job|cronjob|secret NAME [-n NAMESPACE]', 'delete namespace NAME'],
  example: 'skiff delete service hello -n default',
  flags: {
    wait: { type: 'boolean', default: true, help: 'wait until the containers are gone (the default)', hidden: true },
    'no-wait': { type: 'boolean', help: 'return once the API has the request' },
    timeout: { type: 'string', value: 'SECONDS', help: 'how long to wait (default 120)' },
  },
  async run({ values, positionals }, out) {
    const [kind, name, extra] = positionals;
    if ((kind === 'job' || kind === 'cronjob' || kind === 'secret') && name && !extra) {
      const ns = values.namespace ?? 'default';
      const client = new ApiClient(findApi(values.api, { token: values.token }));
      const path = kind === 'secret' ? `/v1/namespaces/${encodeURIComponent(ns)}/secrets/${encodeURIComponent(name)}` : jobPath(ns, name);
      await client.request('DELETE', path);
      out.log(`${kind} ${ns}/${name} ${kind === 'secret' ? 'deleted' : 'deleting'}`);
      return 0;
    }
    if ((kind === 'namespace' || kind === 'namespaces' || kind === 'ns') && name && !extra) {
      const res = await new ApiClient(findApi(values.api, { token: values.token })).request<{ services: string[] }>(
        'DELETE',
        `/v1/namespaces/${encodeURIComponent(name)}`,
      );
      out.log(`namespace ${name} deleting: its ${res.services.length} service(s) first, then the namespace`);
      return 0;
    }
    if (kind !== 'service' && kind !== 'services' && kind !== 'svc')
      throw new UsageError(kind ? `cannot delete "${kind}": use delete service|job|cronjob|secret|namespace NAME` : 'delete what? service NAME');
    if (!name) throw new UsageError('delete service needs a NAME');
    if (extra) throw new UsageError(`unexpected argument "${extra}"`);
    const ns = values.namespace ?? 'default';
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    await client.request('DELETE', servicePath(ns, name));
    out.log(`service ${ns}/${name} deleting`);
    if (values.wait && !values['no-wait']) {
      await waitUntil(
        async () => {
          try {
            await client.request('GET', servicePath(ns, name));
            return { done: false };
          } catch (err) {
            if (err instanceof ApiError && err.status === 404) return { done: true, value: undefined };
            throw err;
          }
        },
        { what: `${ns}/${name} to be deleted`, timeoutS: seconds(values.timeout, '--timeout', 120) },
      );
      out.log(`service ${ns}/${name} deleted; its containers are gone`);
    }
    return 0;
  },
});
