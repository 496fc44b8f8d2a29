/**
 * The entry points: a decoded document (from JSON or YAML) or YAML text in, the validated spec with
 * every default filled in out, or a ValidationError listing every problem; and the spec back as a
 * document for people.
 */
import YAML, { isScalar, LineCounter } from 'yaml';
import { ValidationError } from '../errors.ts';
import type { FieldIssue } from '../errors.ts';
import { formatCpu, formatMemory } from '../quantity.ts';
import type { ServiceSpec } from '../types.ts';
import { autoscalingIssues } from './autoscaling.ts';
import { toFieldIssues } from './issues.ts';
import { documentSizeProblem, MAX_YAML_LENGTH, yamlTextProblem } from './limits.ts';
import { defaultMessage, type RawIssue } from './messages.ts';
import { healthIssues, ingressIssues, podIssues, securityIssues } from './pod.ts';
import { kindIssues } from './kinds.ts';
import { toServiceSpec } from './resolve.ts';
import { updateIssues } from './update.ts';
import { ServiceSchema } from './schema.ts';
import { volumeIssues } from './volumes.ts';

/** Validates a decoded spec (from YAML or JSON) and fills defaults; throws ValidationError listing every issue. */
export function parseServiceSpec(input: unknown): ServiceSpec {
  // First, and alone: every later step costs more than linear time in a big or deep document.
  const size = documentSizeProblem(input);
  if (size !== undefined) throw new ValidationError([size]);
  const result = ServiceSchema.safeParse(input, { error: (issue) => defaultMessage(issue as RawIssue) });
  const issues = [
    ...(result.success ? [] : toFieldIssues(result.error.issues)),
    ...podIssues(input),
    ...healthIssues(input),
    ...ingressIssues(input),
    ...securityIssues(input),
    ...autoscalingIssues(input),
    ...kindIssues(input),
    ...updateIssues(input),
    ...volumeIssues(input),
  ];
  if (issues.length > 0 || !result.success) throw new ValidationError(issues, { cause: result.error });
  return toServiceSpec(result.data);
}

const MAX_SYNTAX_ERRORS = 20;

/** Parses one YAML document holding a service spec; syntax errors carry their line and column. */
export function parseServiceYaml(text: string): ServiceSpec {
  const present = parseYamlDocuments(text);
  if (present.length > 1) {
    throw new ValidationError([
      {
        path: '',
        message: `the file holds ${present.length} YAML documents separated by "---": send it to POST /v1/apply (skiff apply -f does), which takes several`,
      },
    ]);
  }
  return parseServiceSpec(present[0]);
}

/**
 * The decoded documents of a YAML (or JSON) text, empty ones left out; syntax errors carry their
 * line and column. Throws when the text holds no document.
 */
export function parseYamlDocuments(text: string): unknown[] {
  // JSON is YAML too, and a large JSON text takes the yaml library seconds: a JSON object goes
  // through JSON.parse (linear) and then the same checks as any decoded document.
  const json = text.length <= MAX_YAML_LENGTH && text.trimStart().startsWith('{') ? tryJson(text) : undefined;
  if (json !== undefined) return [json];
  const limit = yamlTextProblem(text);
  if (limit !== undefined) throw new ValidationError([limit]);
  const lineCounter = new LineCounter();
  let documents: ReturnType<typeof YAML.parseAllDocuments>;
  try {
    // The library's own duplicate-key check compares each key with every other key of its map
    // (seconds for a map of thousands of keys); duplicateKeys does it with a set.
    documents = YAML.parseAllDocuments(text, { uniqueKeys: false, lineCounter, prettyErrors: false });
  } catch (error) {
    // yamlTextProblem bounds the nesting; this is the backstop should the parser still recurse too deep.
    if (error instanceof RangeError) throw new ValidationError([{ path: '', message: `YAML nested too deeply to parse: ${error.message}` }], { cause: error });
    throw error;
  }
  // Positions come from the line counter: the library's prettyErrors work per error is linear in
  // the text (273 s for 64,000 errors in 128 K characters of '"').
  const syntax = documents.flatMap((doc) =>
    doc.errors.map((error): FieldIssue => {
      const at = lineCounter.linePos(error.pos[0]);
      const what = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      return { path: '', message: `YAML syntax error at line ${at.line}, column ${at.col}: ${what}` };
    }),
  );
  syntax.push(...documents.flatMap((doc) => duplicateKeys(doc, lineCounter)));
  // The first problems are enough to fix a file; thousands would only make a huge answer.
  if (syntax.length > 0)
    throw new ValidationError(
      syntax.length > MAX_SYNTAX_ERRORS
        ? [...syntax.slice(0, MAX_SYNTAX_ERRORS), { path: '', message: `and ${syntax.length - MAX_SYNTAX_ERRORS} more YAML errors` }]
        : syntax,
    );
  let values: unknown[];
  try {
    values = documents.map((doc) => doc.toJS({ maxAliasCount: 100 }) as unknown);
  } catch (error) {
    // toJS throws on unresolved aliases and on alias expansion bombs.
    throw new ValidationError([{ path: '', message: `YAML error: ${(error as Error).message}` }], { cause: error });
  }
  // A trailing "---" makes an empty document; it holds nothing to apply.
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) {
    throw new ValidationError([{ path: '', message: 'the file is empty: expected a service spec with kind: Service, metadata and spec' }]);
  }
  return present;
}

/** Keys that appear twice in one map, worded as the yaml library words them ("Map keys must be unique"). */
function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function duplicateKeys(doc: Parameters<typeof YAML.visit>[0], lineCounter: LineCounter): FieldIssue[] {
  const issues: FieldIssue[] = [];
  YAML.visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        if (!seen.has(pair.key.value)) {
          seen.add(pair.key.value);
          continue;
        }
        const at = pair.key.range ? lineCounter.linePos(pair.key.range[0]) : undefined;
        issues.push({ path: '', message: `YAML syntax error at ${at ? `line ${at.line}, column ${at.col}` : 'unknown position'}: Map keys must be unique` });
      }
    },
  });
  return issues;
}

/**
 * The spec as a JSON-ready document for people: quantities written back as Kubernetes strings
 * (`100m`, `64Mi`). Parsing the result with parseServiceSpec yields the same spec.
 */
export function serviceSpecToJson(spec: ServiceSpec) {
  const { job, cron, ...rest } = spec.spec;
  return {
    ...spec,
    spec: {
      ...rest,
      // Jobs and cron jobs are written flat, as people write them.
      ...(job ?? {}),
      ...(cron ?? {}),
      // The count is not theirs to give (the default fills it): written back, it would be refused.
      ...(spec.kind === 'Service' && spec.spec.mode !== 'global' ? {} : { replicas: undefined }),
      containers: spec.spec.containers.map(({ secretEnv, ...c }) => ({
        ...c,
        env: { ...c.env, ...Object.fromEntries(Object.entries(secretEnv ?? {}).map(([n, r]) => [n, { secretKeyRef: { name: r.name, key: r.key } }])) },
        resources: { cpu: formatCpu(c.resources.cpu), memory: formatMemory(c.resources.memory) },
      })),
      ...(spec.spec.initContainers
        ? {
            initContainers: spec.spec.initContainers.map((c) => ({
              ...c,
              resources: { cpu: formatCpu(c.resources.cpu), memory: formatMemory(c.resources.memory) },
            })),
          }
        : {}),
    },
  };
}
