/**
 * Multi-document files (`skiff apply -f` with documents separated by `---`): services, jobs, cron
 * jobs and secrets, each validated alone and then against the others (two documents of one name, a
 * secret reference to a key the file's secret lacks), every problem named by document index, kind
 * and name. Nothing here stores anything: the API applies the documents only when all are valid,
 * in `applyOrder` (secrets first, so the workloads that read them find them).
 */
import { ValidationError, type FieldIssue } from '../errors.ts';
import type { ServiceSpec } from '../types.ts';
import { got, isRecord } from './messages.ts';
import { parseServiceSpec, parseYamlDocuments } from './parse.ts';
import { parseSecretSpec, type SecretSpec } from './secret.ts';

export type AppliedDocument =
  | { readonly index: number; readonly kind: 'Secret'; readonly secret: SecretSpec }
  | { readonly index: number; readonly kind: ServiceSpec['kind']; readonly spec: ServiceSpec };

/** Documents per file: one request applies them all, so the work of one request stays bounded. */
export const MAX_DOCUMENTS = 50;

const KIND_ORDER: Readonly<Record<AppliedDocument['kind'], number>> = { Secret: 0, Service: 1, Job: 2, CronJob: 3 };

/** The documents of a YAML or JSON text (a JSON array is a list of documents). */
export function parseDocumentsText(text: string): AppliedDocument[] {
  const values = parseYamlDocuments(text);
  return parseDocuments(values.length === 1 && Array.isArray(values[0]) ? values[0] : values);
}

/** Validates every document, then the file as a whole; throws one ValidationError naming each problem's document (when there are several). */
export function parseDocuments(values: readonly unknown[]): AppliedDocument[] {
  if (values.length === 0) throw new ValidationError([{ path: '', message: 'the file holds no document: expected a Service, Job, CronJob or Secret' }]);
  if (values.length > MAX_DOCUMENTS) {
    throw new ValidationError([{ path: '', message: `the file holds ${values.length} documents; at most ${MAX_DOCUMENTS} per apply: split it` }]);
  }
  const issues: FieldIssue[] = [];
  const docs: AppliedDocument[] = [];
  values.forEach((value, index) => {
    const label = documentLabel(value, index);
    try {
      const kind = isRecord(value) ? value.kind : undefined;
      if (kind === 'Secret') docs.push({ index, kind: 'Secret', secret: parseSecretSpec(value) });
      else {
        const spec = parseServiceSpec(value);
        docs.push({ index, kind: spec.kind, spec });
      }
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      // A file of one document reads as that document: its problems keep their own paths.
      if (values.length === 1) issues.push(...err.issues);
      else for (const i of err.issues) issues.push(documentIssue(index, label, i.path, i.message));
    }
  });
  if (issues.length === 0) issues.push(...crossIssues(docs));
  if (issues.length > 0) throw new ValidationError(issues);
  return docs;
}

/** The order to store documents in: secrets, then services, jobs and cron jobs, each in file order. */
export function applyOrder(docs: readonly AppliedDocument[]): AppliedDocument[] {
  return [...docs].sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.index - b.index);
}

export function documentName(doc: AppliedDocument): { namespace: string; name: string } {
  return doc.kind === 'Secret' ? doc.secret.metadata : doc.spec.metadata;
}

/** `documents[2] (Job once)`: how a problem names its document. */
export function documentIssue(index: number, label: string, path: string, message: string): FieldIssue {
  return { path: `documents[${index}]${path ? `.${path}` : ''}`, message: `${label}: ${message}` };
}

function documentLabel(value: unknown, index: number): string {
  if (!isRecord(value)) return `document ${index + 1}`;
  const kind = typeof value.kind === 'string' ? value.kind.slice(0, 20) : 'document';
  const name = isRecord(value.metadata) && typeof value.metadata.name === 'string' ? ` ${value.metadata.name.slice(0, 63)}` : '';
  return `${kind}${name}`;
}

/** Problems between documents: the same object twice, a secret reference the file's own secret cannot satisfy. */
function crossIssues(docs: readonly AppliedDocument[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const seen = new Map<string, number>();
  const secrets = new Map<string, SecretSpec>();
  for (const doc of docs) {
    const { namespace, name } = documentName(doc);
    // Services, jobs and cron jobs share one name space per namespace (they are all workloads).
    const key = `${doc.kind === 'Secret' ? 'secret' : 'workload'}/${namespace}/${name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      issues.push(
        documentIssue(doc.index, `${doc.kind} ${name}`, 'metadata.name', `${got(name)} in namespace ${namespace} is already defined by documents[${first}]`),
      );
    } else seen.set(key, doc.index);
    if (doc.kind === 'Secret') secrets.set(`${namespace}/${name}`, doc.secret);
  }
  for (const doc of docs) {
    if (doc.kind === 'Secret') continue;
    doc.spec.spec.containers.forEach((c, i) => {
      for (const [env, ref] of Object.entries(c.secretEnv ?? {})) {
        const secret = secrets.get(`${doc.spec.metadata.namespace}/${ref.name}`);
        if (secret && !Object.hasOwn(secret.data, ref.key)) {
          issues.push(
            documentIssue(
              doc.index,
              `${doc.kind} ${doc.spec.metadata.name}`,
              `spec.containers[${i}].env.${env}.secretKeyRef.key`,
              `Secret ${ref.name} has no key ${got(ref.key)}; its keys are ${Object.keys(secret.data)
                .map((k) => got(k))
                .join(', ')}`,
            ),
          );
        }
      }
    });
  }
  return issues;
}
