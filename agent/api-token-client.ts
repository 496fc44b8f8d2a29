/**
 * The agent's side of `POST /v1/namespaces/{namespace}/tasks/{id}/identity-token`: asks the API for a
 * task's workload token, proving the host with a bearer host token (local mode, app/host-tokens.ts)
 * or by signing with the host's IAM role (AWS: API Gateway's IAM authorizer, then the API maps the
 * instance's session of the host role to the host, core/authz.ts).
 */
import type { FetchedWorkloadToken, WorkloadTokenSource } from './workload-identity.ts';

/** Headers that prove the host on a request (a bearer token, or a SigV4 signature). */
export type HostAuth = (req: { method: string; url: string; body: string }) => Promise<Record<string, string>>;

/** A bearer host token (local mode). */
export function bearerHostAuth(token: string): HostAuth {
  return async () => ({ authorization: `Bearer ${token}` });
}

/**
 * 10 s per request: the API answers in milliseconds (one Query and one signature); a hung request
 * must not hold a container's start for long, and the create is retried next round anyway.
 */
const TIMEOUT_MS = 10_000;

export function apiWorkloadTokenSource(apiUrl: string, auth: HostAuth): WorkloadTokenSource {
  const base = apiUrl.replace(/\/+$/, '');
  return async (task) => {
    const url = `${base}/v1/namespaces/${encodeURIComponent(task.namespace)}/tasks/${encodeURIComponent(task.id)}/identity-token`;
    const body = '';
    const headers = await auth({ method: 'POST', url, body });
    const res = await fetch(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text.slice(0, 300);
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {
        // not JSON: the raw text says it
      }
      throw new Error(`the API refused the workload token of task ${task.namespace}/${task.id} (${res.status}): ${message}`);
    }
    const out = JSON.parse(text) as FetchedWorkloadToken;
    if (typeof out.token !== 'string' || typeof out.expiresAt !== 'string' || typeof out.issuedAt !== 'string')
      throw new Error(`the API answered the workload token of task ${task.id} without token, issuedAt and expiresAt`);
    return out;
  };
}
