/** `skiff drain HOST`: move a host's tasks elsewhere and keep new ones off it. */
import { ApiClient, findApi } from '../client.ts';
import { command, UsageError } from '../command.ts';

export default command({
  name: 'drain',
  summary: "move a host's tasks to other hosts (new ones first, then the old stopped); no new task lands on it",
  usage: ['drain HOST'],
  example: 'skiff drain host-2',
  flags: {},
  maxArgs: 1,
  async run({ values, positionals: [host] }, out) {
    if (!host) throw new UsageError('drain needs a HOST');
    await new ApiClient(findApi(values.api, { token: values.token })).request('POST', `/v1/hosts/${encodeURIComponent(host)}/drain`);
    out.log(`host ${host} draining: its tasks move to other hosts (new ones first, then the old stopped); no new task lands on it`);
    return 0;
  },
});
