/**
 * Calls to a local cluster's API from tests and benchmarks: every route wants the cluster's bearer
 * token (local/api-server.ts), which `skiff local up` keeps in `<dataDir>/token`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tokenFilePath } from '../../cli/local-status.ts';

/** The token of the local cluster whose status file is `<cwd>/.skiff/local.json`. */
export function localToken(cwd: string): string {
  const status = JSON.parse(readFileSync(join(cwd, '.skiff', 'local.json'), 'utf8')) as { dataDir: string };
  return readFileSync(tokenFilePath(status.dataDir), 'utf8').trim();
}

/** `fetch` that sends `Authorization: Bearer <token>`. */
export function authedFetch(token: string): typeof fetch {
  return (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
}
