/**
 * `kind: Secret`: named values of a namespace (`data: { key: value }`). The values go to the secret
 * vault (SSM SecureString on AWS) and only the keys and a version are stored with the cluster state
 * (core/secrets.ts); this module only validates the document.
 */
import { ValidationError, type FieldIssue } from '../errors.ts';
import { MAX_NAME_LENGTH } from './defaults.ts';
import { dnsLabelProblem } from './fields.ts';
import { got, isRecord } from './messages.ts';
import { secretKeyProblem } from './schema.ts';

export interface SecretSpec {
  readonly kind: 'Secret';
  readonly metadata: { readonly name: string; readonly namespace: string };
  /** Key → value, in clear: held in memory between the request and the vault, never stored in the cluster state. */
  readonly data: Readonly<Record<string, string>>;
}

/** Keys per secret: each becomes an env value or a file; Kubernetes has no count limit, the size limit below binds first. */
export const MAX_SECRET_KEYS = 64;
/**
 * The secret's data as JSON may take at most this many bytes: it is one SSM SecureString parameter of
 * the standard tier (4,096 bytes; the advanced tier costs per parameter per month).
 */
export const MAX_SECRET_BYTES = 4096;

/** Validates a decoded Secret document; throws ValidationError listing every issue (values are never quoted in messages). */
export function parseSecretSpec(input: unknown): SecretSpec {
  const issues: FieldIssue[] = [];
  if (!isRecord(input)) throw new ValidationError([{ path: '', message: `a Secret must be a map with kind, metadata and data; got ${got(input)}` }]);
  for (const key of Object.keys(input)) {
    if (!['kind', 'metadata', 'data'].includes(key)) {
      issues.push({
        path: key,
        message: `unknown field "${key}": a Secret has kind, metadata and data${key === 'stringData' ? ' (data holds the values in clear)' : ''}`,
      });
    }
  }
  const metadata = isRecord(input.metadata) ? input.metadata : undefined;
  if (!metadata) issues.push({ path: 'metadata', message: `is required: a map with name (and namespace); got ${got(input.metadata)}` });
  const name = metadata?.name;
  const namespace = metadata?.namespace ?? 'default';
  if (metadata) {
    for (const key of Object.keys(metadata)) {
      if (key !== 'name' && key !== 'namespace')
        issues.push({ path: `metadata.${key}`, message: `unknown field "${key}": a Secret's metadata has name and namespace` });
    }
    if (typeof name !== 'string') issues.push({ path: 'metadata.name', message: `is required: a DNS label; got ${got(name)}` });
    else {
      const p = dnsLabelProblem(name, MAX_NAME_LENGTH);
      if (p) issues.push({ path: 'metadata.name', message: p });
    }
    if (typeof namespace !== 'string') issues.push({ path: 'metadata.namespace', message: `must be a DNS label; got ${got(namespace)}` });
    else {
      const p = dnsLabelProblem(namespace, MAX_NAME_LENGTH);
      if (p) issues.push({ path: 'metadata.namespace', message: p });
    }
  }
  const data: Record<string, string> = {};
  if (!isRecord(input.data))
    issues.push({ path: 'data', message: `is required: a map of keys to string values, such as { password: s3cret }; got ${got(input.data)}` });
  else {
    const keys = Object.keys(input.data);
    if (keys.length === 0) issues.push({ path: 'data', message: 'must hold at least one key' });
    if (keys.length > MAX_SECRET_KEYS) issues.push({ path: 'data', message: `must hold at most ${MAX_SECRET_KEYS} keys; got ${keys.length}` });
    for (const key of keys.slice(0, MAX_SECRET_KEYS)) {
      const value = input.data[key];
      const p = secretKeyProblem(key);
      if (p) issues.push({ path: `data.${key}`, message: `key ${p}` });
      // The value is never echoed: an error message may end up in a terminal or a log.
      if (typeof value !== 'string')
        issues.push({
          path: `data.${key}`,
          message: `must be a string (quote it in YAML); got ${typeof value === 'object' ? got(value) : `a ${typeof value}`}`,
        });
      else if (value === '') issues.push({ path: `data.${key}`, message: 'must not be empty' });
      else Object.defineProperty(data, key, { value, enumerable: true, writable: true, configurable: true });
    }
    const bytes = new TextEncoder().encode(JSON.stringify(data)).length;
    if (issues.length === 0 && bytes > MAX_SECRET_BYTES) {
      issues.push({ path: 'data', message: `holds ${bytes} bytes as JSON; at most ${MAX_SECRET_BYTES} (one SSM SecureString parameter of the standard tier)` });
    }
  }
  if (input.kind !== 'Secret') issues.push({ path: 'kind', message: `must be "Secret"; got ${got(input.kind)}` });
  if (issues.length > 0) throw new ValidationError(issues);
  return { kind: 'Secret', metadata: { name: name as string, namespace: namespace as string }, data };
}
