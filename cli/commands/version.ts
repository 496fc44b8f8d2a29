/** `skiff version`: the CLI's version and the control plane's (`GET /v1/version`). */
import { SKIFF_VERSION } from '../../core/version.ts';
import { ApiClient, findApi } from '../client.ts';
import { command, outputMode } from '../command.ts';

export default command({
  name: 'version',
  summary: "print the CLI's version and the control plane's",
  usage: ['version [--client] [-o json]'],
  example: 'skiff version',
  flags: {
    client: { type: 'boolean', help: "the CLI's version only, without asking the API" },
  },
  maxArgs: 0,
  async run({ values }, out) {
    const mode = outputMode(values.output);
    const client = { version: SKIFF_VERSION };
    if (values.client) {
      out.log(mode === 'json' ? JSON.stringify({ client }, null, 2) : `client: ${SKIFF_VERSION}`);
      return 0;
    }
    let server: { version: string; api: string } | undefined;
    let failure: string | undefined;
    try {
      server = await new ApiClient(findApi(values.api, { token: values.token })).request<{ version: string; api: string }>('GET', '/v1/version');
    } catch (err) {
      failure = (err as Error).message;
    }
    if (mode === 'json') out.log(JSON.stringify({ client, server: server ?? { error: failure } }, null, 2));
    else {
      out.log(`client: ${SKIFF_VERSION}`);
      if (server) out.log(`server: ${server.version} (API ${server.api})`);
    }
    if (failure !== undefined) {
      out.err(`skiff: cannot ask the control plane its version: ${failure}`);
      return 1;
    }
    return 0;
  },
});
