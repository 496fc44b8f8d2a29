/**
 * YAML merge keys (`<<: *defaults`), which Compose files use with `x-` anchors to share attributes
 * between services. They belong to YAML 1.1; the spec parser reads YAML 1.2, where `<<` is an
 * ordinary key, so the Compose converter resolves them on the decoded value: the map's own keys win,
 * then the merged maps in order (the first wins), as in YAML 1.1 and Compose.
 */
import type { FieldIssue } from '../errors.ts';
import { isRecord } from '../spec/messages.ts';

const MERGE = '<<';

/** The value with every `<<` resolved; a `<<` that is not a map or a list of maps is an error at its path. */
export function resolveMergeKeys(value: unknown, path = ''): { value: unknown; errors: FieldIssue[] } {
  const errors: FieldIssue[] = [];
  const walk = (v: unknown, at: string): unknown => {
    if (Array.isArray(v)) return v.map((item, i) => walk(item, `${at}[${i}]`));
    if (!isRecord(v)) return v;
    const out: Record<string, unknown> = {};
    const define = (k: string, item: unknown) => Object.defineProperty(out, k, { value: item, enumerable: true, writable: true, configurable: true });
    for (const [k, item] of Object.entries(v)) if (k !== MERGE) define(k, walk(item, at ? `${at}.${k}` : k));
    if (Object.hasOwn(v, MERGE)) {
      const here = at ? `${at}.<<` : '<<';
      const sources = Array.isArray(v[MERGE]) ? (v[MERGE] as unknown[]) : [v[MERGE]];
      for (const source of sources) {
        if (!isRecord(source)) {
          errors.push({ path: here, message: 'a merge key (<<) takes a map or a list of maps, such as <<: *defaults' });
          continue;
        }
        const resolved = walk(source, here) as Record<string, unknown>;
        for (const [k, item] of Object.entries(resolved)) if (!Object.hasOwn(out, k)) define(k, item);
      }
    }
    return out;
  };
  return { value: walk(value, path), errors };
}
