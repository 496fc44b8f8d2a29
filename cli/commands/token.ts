/** `skiff token create|revoke`: bearer tokens for one namespace and role (local mode signs them). */
import { ApiClient, findApi } from '../client.ts';
import { command, outputMode, UsageError, type AnyCommand } from '../command.ts';

const create = command({
  name: 'create',
  summary: 'issue a token for one namespace and role; prints the token alone (stdout)',
  usage: ['token create --namespace NS --role admin|edit|view [--ttl D] [--name N] [-o json]'],
  example: 'skiff token create --namespace shop --role edit --ttl 24h',
  flags: {
    role: { type: 'string', value: 'ROLE', help: 'admin (edit, plus tokens), edit (apply, scale, delete) or view (read)' },
    ttl: { type: 'string', value: 'D', help: 'how long the token lives: 90m, 24h, 30d (default 7d, at most 365d)' },
    name: { type: 'string', value: 'N', help: 'a name for the token, shown in audit events as token:N@NS (default: the start of its id)' },
  },
  maxArgs: 0,
  async run({ values }, out) {
    if (!values.namespace) throw new UsageError('token create needs --namespace NS');
    if (!values.role) throw new UsageError('token create needs --role admin|edit|view');
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    const body = JSON.stringify({ role: values.role, ...(values.ttl ? { ttl: values.ttl } : {}), ...(values.name ? { name: values.name } : {}) });
    const issued = await client.request<{ token: string; id: string; expiresAt: string }>(
      'POST',
      `/v1/namespaces/${encodeURIComponent(values.namespace)}/tokens`,
      body,
      'application/json',
    );
    // The token alone on stdout, so that `export SKIFF_TOKEN=$(skiff token create ...)` works.
    if (outputMode(values.output) === 'json') out.log(JSON.stringify(issued, null, 2));
    else {
      out.log(issued.token);
      out.err(`token ${issued.id}: ${values.role} in namespace ${values.namespace}, until ${issued.expiresAt}`);
    }
    return 0;
  },
});

const revoke = command({
  name: 'revoke',
  summary: "refuse a token from now on: the token itself (its namespace's admin may), or its id (the cluster admin)",
  usage: ['token revoke TOKEN|ID'],
  example: 'skiff token revoke 3f2a9c1e-0b6d-4e4f-9a51-8d2c7e6b1a40',
  flags: {},
  maxArgs: 1,
  async run({ values, positionals: [arg] }, out) {
    if (!arg) throw new UsageError('token revoke needs the TOKEN (or, as the cluster admin, its ID)');
    const client = new ApiClient(findApi(values.api, { token: values.token }));
    const body = JSON.stringify(arg.split('.').length === 3 ? { token: arg } : { id: arg });
    const res = await client.request<{ id: string }>('POST', '/v1/tokens/revoke', body, 'application/json');
    out.log(`token ${res.id} revoked`);
    return 0;
  },
});

export default command({
  name: 'token',
  summary: 'issue or revoke bearer tokens for one namespace and role',
  usage: ['token create|revoke'],
  example: 'skiff token create --namespace shop --role view',
  flags: {},
  subcommands: [create, revoke] as AnyCommand[],
});
