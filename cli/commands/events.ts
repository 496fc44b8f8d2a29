/** `skiff events`: what happened in the cluster, newest last. */
import type { ClusterEvent } from '../../core/types.ts';
import { ApiClient, findApi } from '../client.ts';
import { command, outputMode } from '../command.ts';
import { table } from '../format.ts';

export default command({
  name: 'events',
  summary: 'what happened (placed, started, exited, unhealthy, restarted, replaced; host down, fenced, drained), newest last',
  usage: ['events [--service S] [-n NAMESPACE] [--host H] [--actor X] [--limit N] [-o json]'],
  example: 'skiff events --service hello --limit 20',
  flags: {
    service: { type: 'string', value: 'S', help: "this service's events only" },
    host: { type: 'string', value: 'H', help: "this host's events only" },
    limit: { type: 'string', value: 'N', help: 'at most N events (the newest)' },
    actor: { type: 'string', value: 'X', help: 'changes made by this identity only (local-admin, token:NAME@NS, an IAM role ARN, cognito:USER)' },
  },
  maxArgs: 0,
  async run({ values }, out) {
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    const mode = outputMode(values.output);
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries({ namespace: values.namespace, service: values.service, host: values.host, actor: values.actor, limit: values.limit }))
      if (v !== undefined) q.set(k, v);
    const list = await client.request<ClusterEvent[]>('GET', `/v1/events${q.size ? `?${q}` : ''}`);
    if (mode === 'json') out.log(JSON.stringify(list, null, 2));
    else out.log(table([['TIME', 'TYPE', 'HOST', 'MESSAGE'], ...list.map((e) => [e.at.replace('T', ' ').replace('Z', ''), e.type, e.host ?? '-', e.message])]));
    return 0;
  },
});
