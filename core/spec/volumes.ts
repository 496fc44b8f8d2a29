/**
 * Rules across a pod's volumes, its containers' mounts and its init containers. Like podIssues they
 * read the raw input defensively (zod reports wrong types) so that they come with every other issue.
 */
import type { FieldIssue } from '../errors.ts';
import { MAX_CONTAINERS } from './defaults.ts';
import { MAX_VOLUMES } from './limits.ts';
import { got, isRecord } from './messages.ts';
import { didYouMean } from './suggest.ts';

const KINDS = ['emptyDir', 'persistent'] as const;

function list(value: unknown, max: number): unknown[] {
  return Array.isArray(value) ? value.slice(0, max) : [];
}

export function volumeIssues(input: unknown): FieldIssue[] {
  if (!isRecord(input) || !isRecord(input.spec)) return [];
  const spec = input.spec;
  const issues: FieldIssue[] = [];
  const declared = new Map<string, string>();
  list(spec.volumes, MAX_VOLUMES).forEach((v, i) => {
    if (!isRecord(v)) return;
    const at = `spec.volumes[${i}]`;
    const kinds = KINDS.filter((k) => v[k] !== undefined);
    if (kinds.length !== 1) {
      issues.push({
        path: at,
        message:
          kinds.length === 0
            ? 'must set one kind: emptyDir: {} (scratch space shared by the pod, gone with it) or persistent: {} (kept across restarts, rollouts and host moves)'
            : 'must set only one of emptyDir and persistent',
      });
    }
    if (typeof v.name !== 'string') return;
    const first = declared.get(v.name);
    if (first !== undefined)
      issues.push({ path: `${at}.name`, message: `duplicate volume name ${got(v.name)} (also at ${first}): volume names must be unique within the pod` });
    else declared.set(v.name, `${at}.name`);
  });

  const names = new Map<string, string>();
  for (const c of list(spec.containers, MAX_CONTAINERS)) if (isRecord(c) && typeof c.name === 'string' && !names.has(c.name)) names.set(c.name, 'containers');
  const groups: [string, unknown[]][] = [
    ['containers', list(spec.containers, MAX_CONTAINERS)],
    ['initContainers', list(spec.initContainers, MAX_CONTAINERS)],
  ];
  for (const [group, containers] of groups) {
    containers.forEach((c, i) => {
      if (!isRecord(c)) return;
      const at = `spec.${group}[${i}]`;
      if (group === 'initContainers') {
        if (typeof c.name === 'string') {
          const first = names.get(c.name);
          if (first !== undefined) {
            issues.push({
              path: `${at}.name`,
              message: `duplicate container name ${got(c.name)} (also in spec.${first}): names must be unique over containers and initContainers`,
            });
          } else names.set(c.name, 'initContainers');
        }
        if (Array.isArray(c.ports) && c.ports.length > 0) {
          issues.push({ path: `${at}.ports`, message: 'init containers may not declare ports: they run to completion before the pod serves anything' });
        }
        if (c.health !== undefined) {
          issues.push({ path: `${at}.health`, message: 'init containers may not declare a health check: their exit code says whether they succeeded' });
        }
      }
      const paths = new Map<string, string>();
      list(c.volumeMounts, MAX_VOLUMES).forEach((m, j) => {
        if (!isRecord(m)) return;
        const mountAt = `${at}.volumeMounts[${j}]`;
        if (typeof m.name === 'string' && !declared.has(m.name)) {
          const known = [...declared.keys()];
          issues.push({
            path: `${mountAt}.name`,
            message:
              known.length === 0
                ? `names the volume ${got(m.name)}, but spec.volumes declares none; add { name: ${m.name}, emptyDir: {} } or { name: ${m.name}, persistent: {} } to spec.volumes`
                : `names the volume ${got(m.name)}, which spec.volumes does not declare${didYouMean(m.name, known)}; declared: ${known.join(', ')}`,
          });
        }
        if (typeof m.mountPath === 'string') {
          const first = paths.get(m.mountPath);
          if (first !== undefined) {
            issues.push({ path: `${mountAt}.mountPath`, message: `mount path ${got(m.mountPath)} is already used at ${first}: one volume per path` });
          } else paths.set(m.mountPath, `${mountAt}.mountPath`);
        }
      });
    });
  }
  return issues;
}
