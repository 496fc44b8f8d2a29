/**
 * `skiff delete service NAME [--delete-volumes]`: stop every task of a service; waits until its containers
 * are gone. Its persistent volumes are kept (retained, for a later service of that name) unless
 * `--delete-volumes`; then it also waits until their hosts have deleted them.
 */
import { ApiClient, ApiError, findApi } from '../client.ts';
import { command, seconds, UsageError } from '../command.ts';
import { servicePath } from '../views.ts';
import { jobPath } from '../jobs.ts';
import { waitUntil } from '../wait.ts';

export default command({
  name: 'delete',
  summary: 'delete a service: stop every task; waits until its containers are gone',
  usage: [
    'delete service NAME [-n NAMESPACE] [--delete-volumes] [--no-wait] [--timeout SECONDS]',
    'delete job|cronjob|secret NAME [-n NAMESPACE]',
    'delete namespace NAME',
  ],
  example: 'skiff delete service hello -n default',
  flags: {
    wait: { type: 'boolean', default: true, help: 'wait until the containers are gone (the default)', hidden: true },
    'no-wait': { type: 'boolean', help: 'return once the API has the request' },
    'delete-volumes': { type: 'boolean', help: 'delete its persistent volumes and their data too (kept by default)' },
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
    const deleteVolumes = values['delete-volumes'] === true;
    const res = await client.request<{ result: string; volumes?: string[] }>('DELETE', `${servicePath(ns, name)}${deleteVolumes ? '?deleteVolumes=true' : ''}`);
    const volumes = res.volumes ?? [];
    if (res.result === 'deleting') out.log(`service ${ns}/${name} deleting`);
    if (deleteVolumes) out.log(volumes.length ? `volumes ${volumes.join(', ')} deleting` : `service ${ns}/${name} has no persistent volume`);
    if (values.wait && !values['no-wait']) {
      const timeoutS = seconds(values.timeout, '--timeout', 120);
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
        { what: `${ns}/${name} to be deleted`, timeoutS },
      );
      if (res.result === 'deleting') out.log(`service ${ns}/${name} deleted; its containers are gone`);
      if (volumes.length > 0) {
        const query = new URLSearchParams({ namespace: ns, service: name });
        await waitUntil(
          async () => {
            const left = (await client.list<{ name: string }>(`/v1/volumes?${query}`)).filter((v) => volumes.includes(v.name));
            return left.length === 0 ? { done: true, value: undefined } : { done: false };
          },
          { what: `the volumes of ${ns}/${name} to be deleted`, timeoutS },
        );
        out.log(`volumes of ${ns}/${name} deleted`);
      }
    }
    return 0;
  },
});
