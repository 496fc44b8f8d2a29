/**
 * `spec.network`: which other namespaces' containers may open connections to the service's replicas
 * (issue 14). By default a namespace's containers reach only their own namespace's; `allowFrom` names
 * the namespaces let in as well (docs/network.md, "Letting namespaces in"). Scripts use the names: keep them.
 */
import { z } from 'zod';
import { MAX_NAME_LENGTH } from './defaults.ts';
import { DNS_LABEL_RULE, dnsLabelProblem } from './fields.ts';
import { tooMany } from './limits.ts';
import { rule } from './messages.ts';

/**
 * Namespaces one service may let in. Locally each is one more Docker network every replica joins, and
 * a container joins at most a few dozen networks before its setup slows; 16 keeps a pod cheap to start.
 */
export const MAX_ALLOW_FROM = 16;

const namespaceName = z.string({ error: rule(`must be a namespace name, a DNS label (${DNS_LABEL_RULE})`) }).check((payload) => {
  const message = dnsLabelProblem(payload.value, MAX_NAME_LENGTH, 'the limit of namespace names');
  if (message !== undefined) payload.issues.push({ code: 'custom', message, input: payload.value });
});

export const NetworkSchema = z.strictObject(
  {
    allowFrom: z
      .array(namespaceName, { error: rule('must be a list of namespace names, such as [shop, billing]') })
      .max(MAX_ALLOW_FROM, { error: (issue) => tooMany((issue.input as unknown[]).length, MAX_ALLOW_FROM, 'namespaces') })
      .check((payload) => {
        const seen = new Set<string>();
        for (const [i, ns] of payload.value.entries()) {
          if (seen.has(ns)) payload.issues.push({ code: 'custom', message: `names the namespace ${ns} twice`, input: ns, path: [i] });
          seen.add(ns);
        }
      })
      .optional(),
  },
  { error: rule('must be a map such as { allowFrom: [shop] }') },
);

/**
 * The other namespaces let in, in the spec's order: the pod's own is always in, so naming it changes
 * nothing and is dropped. Pure.
 */
export function allowedNamespaces(namespace: string, network: { readonly allowFrom?: readonly string[] } | undefined): string[] {
  return (network?.allowFrom ?? []).filter((ns) => ns !== namespace);
}
