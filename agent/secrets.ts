/**
 * Secret env values, on the host that runs the task: the executor wrapped so that each container it
 * creates gets the values its `secretEnv` references, fetched from the vault with the host's own
 * permissions at that moment (a rotated secret reaches the replacement task). The values go to
 * Docker in the create call and nowhere else: not into the container spec (whose hash labels the
 * container), not into the agent's state file or report, not into a log line. A failure names the
 * secret and key, never a value.
 *
 * The trade-off (docs/spec.md): env is what the spec asks for, and Docker keeps a container's env in
 * its config, so `docker inspect` on the host shows it to whoever may talk to the host's Docker
 * (root already). A file on a tmpfs would not be in the container's config.
 */
import type { ContainerSpec, HostDocumentTask } from '../core/types.ts';
import type { SecretReader } from '../ports/secrets.ts';
import type { CreateOptions, Executor } from './executor.ts';

/** A secret reference the vault cannot satisfy: the task fails to start with this message. */
export class SecretUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretUnavailableError';
  }
}

/** The values of the container's secret references, by env name. Each secret is read once per call. */
export async function secretEnvValues(reader: SecretReader, namespace: string, container: ContainerSpec): Promise<Record<string, string>> {
  const refs = Object.entries(container.secretEnv ?? {});
  if (refs.length === 0) return {};
  const secrets = new Map<string, Promise<{ data: Record<string, string> } | undefined>>();
  const out: [string, string][] = [];
  for (const [env, ref] of refs) {
    if (!secrets.has(ref.name)) secrets.set(ref.name, reader.getSecret(namespace, ref.name));
    let secret: { data: Record<string, string> } | undefined;
    try {
      secret = await secrets.get(ref.name);
    } catch (err) {
      throw new SecretUnavailableError(`secret ${namespace}/${ref.name} could not be read for env ${env}: ${(err as Error).message}`, { cause: err });
    }
    if (!secret) throw new SecretUnavailableError(`secret ${namespace}/${ref.name} (env ${env}) does not exist`);
    if (!Object.hasOwn(secret.data, ref.key))
      throw new SecretUnavailableError(`secret ${namespace}/${ref.name} has no key ${JSON.stringify(ref.key)} (env ${env})`);
    out.push([env, secret.data[ref.key]]);
  }
  return Object.fromEntries(out);
}

/**
 * A task whose secret could not be read is not asked for again before this long: the agent retries a
 * failed start every round (a second), and SSM's 40 reads a second are shared by the whole account.
 */
export const SECRET_RETRY_MS = 10_000;

/** The executor with secret env values added to each create. */
export function withSecretEnv(inner: Executor, reader: SecretReader, now: () => number = Date.now): Executor {
  const failed = new Map<string, { at: number; error: Error }>();
  const create = async (task: HostDocumentTask, container: ContainerSpec, options: CreateOptions): Promise<string> => {
    const key = `${task.id}/${container.name}`;
    const last = failed.get(key);
    if (last && now() - last.at < SECRET_RETRY_MS) throw last.error;
    let values: Record<string, string>;
    try {
      values = await secretEnvValues(reader, task.namespace, container);
      failed.delete(key);
    } catch (err) {
      if (failed.size > 1000) failed.clear();
      failed.set(key, { at: now(), error: err as Error });
      throw err;
    }
    return inner.create(task, container, Object.keys(values).length > 0 ? { ...options, secretEnv: values } : options);
  };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'create') return create;
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
