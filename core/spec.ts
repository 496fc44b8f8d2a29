/**
 * The service spec: the document people write, review and keep in git. Parses YAML or an
 * already-decoded object, rejects it whole with every problem listed by path, and returns the
 * validated shape with every default filled in (what is stored and what `skiff get -o json` shows).
 *
 * The code is split by concern under core/spec/: defaults.ts (defaults and ranges), fields.ts
 * (rules of single fields), schema.ts (the zod schema of each part), messages.ts and suggest.ts
 * (wording, "did you mean"), limits.ts (size and count limits), issues.ts and pod.ts (zod's issues, rules across a pod), resolve.ts
 * (the stored form) and parse.ts (YAML and decoded documents in). This file is its public face.
 */
export {
  ALLOWED_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_CPU_MILLIS,
  DEFAULT_PIDS_LIMIT,
  DEFAULT_HEALTHY_STATUS,
  DEFAULT_MEMORY_BYTES,
  HEALTH_DEFAULTS,
  MAX_CONTAINERS,
  MAX_NAME_LENGTH,
  MAX_PIDS_LIMIT,
  MAX_PROBE_SECONDS,
  MAX_REPLICAS,
  MAX_START_PERIOD_SECONDS,
  MAX_UID,
  MIN_MEMORY_BYTES,
  MIN_PIDS_LIMIT,
  MIN_PROBE_SECONDS,
} from './spec/defaults.ts';
export {
  MAX_ARGS,
  MAX_ARG_LENGTH,
  MAX_CONSTRAINTS,
  MAX_CONSTRAINT_LENGTH,
  MAX_ENV,
  MAX_ENV_NAME_LENGTH,
  MAX_ENV_VALUE_LENGTH,
  MAX_HTTP_PATH_LENGTH,
  MAX_IMAGE_LENGTH,
  MAX_LABELS,
  MAX_PORTS,
  MAX_QUANTITY_LENGTH,
  MAX_SPEC_BYTES,
  MAX_SPEC_DEPTH,
  MAX_YAML_LENGTH,
  MAX_YAML_NESTING,
} from './spec/limits.ts';
export { isDnsLabel, parseConstraint, type Constraint } from './spec/fields.ts';
export { formatPath } from './spec/messages.ts';
export { parseServiceSpec, parseServiceYaml, serviceSpecToJson } from './spec/parse.ts';
