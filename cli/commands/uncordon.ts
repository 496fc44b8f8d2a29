/** `skiff uncordon HOST`: a drained host takes new tasks again. */
import { ApiClient, findApi } from '../client.ts';
import { command, UsageError } from '../command.ts';

export default command({
  name: 'uncordon',
  summary: 'let a drained host take new tasks again',
  usage: ['uncordon HOST'],
  example: 'skiff uncordon host-2',
  flags: {},
  maxArgs: 1,
  async run({ values, positionals: [host] }, out) {
    if (!host) throw new UsageError('uncordon needs a HOST');
    await new ApiClient(findApi(values.api, { token: values.token })).request('POST', `/v1/hosts/${encodeURIComponent(host)}/uncordon`);
    out.log(`host ${host} ready: it takes new tasks again`);
    return 0;
  },
});
