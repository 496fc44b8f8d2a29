/** `skiff scale NAME --replicas N`: set a service's replica count without a new spec version (no rollout). */
import { ApiClient, findApi } from '../client.ts';
import { command, outputMode, UsageError } from '../command.ts';
import { servicePath } from '../views.ts';

export default command({
  name: 'scale',
  summary: "set a service's replica count without a rollout (kept across applies that leave spec.replicas unchanged)",
  usage: ['scale NAME --replicas N [-n NAMESPACE] [--if-match VERSION] [-o json]'],
  example: 'skiff scale web --replicas 5',
  flags: {
    replicas: { type: 'string', value: 'N', help: 'the replica count, 0 to 1000' },
    'if-match': { type: 'string', value: 'VERSION', help: 'only if the service is still at this specVersion (skiff get services -o wide); else exit 1' },
  },
  maxArgs: 1,
  async run({ values, positionals: [name] }, out) {
    if (!name) throw new UsageError('scale needs a service NAME');
    if (values.replicas === undefined) throw new UsageError('scale needs --replicas N');
    if (!/^\d+$/.test(values.replicas)) throw new UsageError(`--replicas must be a whole number from 0 to 1000, got "${values.replicas}"`);
    const ifMatch = values['if-match'];
    if (ifMatch !== undefined && !/^\d+$/.test(ifMatch)) throw new UsageError(`--if-match must be a specVersion (a whole number), got "${ifMatch}"`);
    const ns = values.namespace ?? 'default';
    const res = await new ApiClient(findApi(values.api, { token: values.token })).request<{ replicas: number; message?: string }>(
      'POST',
      `${servicePath(ns, name)}/scale`,
      JSON.stringify({ replicas: Number(values.replicas) }),
      'application/json',
      ifMatch === undefined ? {} : { 'if-match': `"${ifMatch}"` },
    );
    if (outputMode(values.output) === 'json') out.log(JSON.stringify(res, null, 2));
    else out.log(`${ns}/${name} scaled to ${res.replicas} replica(s)${res.message ? `: ${res.message}` : ''}`);
    return 0;
  },
});
