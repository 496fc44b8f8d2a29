/**
 * A Compose file (the Compose Specification, as `docker compose up` and `docker stack deploy` read
 * it) turned into Skiff documents: one `kind: Service` per active service, in the project's
 * namespace. Pure: the environment, the folder name and env_file contents come in as arguments.
 *
 * Nothing is dropped silently. What Skiff honours differently or not at all is a warning that names
 * the attribute's path (`services.web.build`) and says what to do instead; `strict` makes every
 * warning an error. What cannot be converted (no image, a bind mount, an undefined volume, a bad
 * value) is an error naming its path. docs/compose.md lists every attribute and what it becomes.
 */
import { ValidationError, type FieldIssue } from '../errors.ts';
import { formatCpu, formatMemory } from '../quantity.ts';
import { ALLOWED_CAPABILITIES } from '../spec/defaults.ts';
import { MAX_DOCUMENTS } from '../spec/documents.ts';
import { isDnsLabel, labelKeyProblem, labelValueProblem } from '../spec/fields.ts';
import { got, isRecord } from '../spec/messages.ts';
import { parseServiceSpec, parseYamlDocuments } from '../spec/parse.ts';
import { didYouMean } from '../spec/suggest.ts';
import { MAX_TERMINATION_GRACE_SECONDS } from '../stopping.ts';
import type { ServiceSpec } from '../types.ts';
import { parseDotenv } from './dotenv.ts';
import { interpolateDocument, type Variables } from './interpolate.ts';
import { resolveMergeKeys } from './merge.ts';
import { HANDLED, NOT_HONOURED, SERVICE_ATTRIBUTES, TOP_LEVEL } from './unsupported.ts';
import { parseBytes, parseDuration } from './units.ts';

export interface ComposeOptions {
  /** The name of the folder holding the file: the project name when neither `namespace` nor `name:` gives one. */
  readonly folder: string;
  /** The variables for interpolation: the environment over the `.env` file beside the Compose file (composeVariables). */
  readonly env: Variables;
  /** The namespace to deploy to, over `COMPOSE_PROJECT_NAME`, `name:` and the folder (`skiff -n`). */
  readonly namespace?: string;
  /** Active profiles (`--profile`, else `COMPOSE_PROFILES` from `env`); `*` activates every one. */
  readonly profiles?: readonly string[];
  /** An env_file's text, by its path as written (relative to the Compose file); undefined when there is no such file. */
  readonly readFile?: (path: string) => string | undefined;
  /** Every warning becomes an error. */
  readonly strict?: boolean;
}

/** A Skiff document as people write it (what `skiff convert` prints). */
export type SkiffDocument = Record<string, unknown>;

export interface ComposeConversion {
  /** The project name as a namespace. */
  readonly namespace: string;
  /** One per active service, in file order: what `skiff convert` prints. */
  readonly documents: readonly SkiffDocument[];
  /** The same documents validated, every default filled in: what the API stores. */
  readonly specs: readonly ServiceSpec[];
  /** What Skiff does not honour, each naming its path. Empty under `strict` (they are errors then). */
  readonly warnings: readonly FieldIssue[];
  /** Services left out because none of their profiles is active. */
  readonly skipped: readonly { readonly service: string; readonly profiles: readonly string[] }[];
}

/** A decoded YAML document is a Compose file when it is a map with a `services` map and no `kind` (Skiff documents all have one). */
export function isComposeDocument(value: unknown): boolean {
  return isRecord(value) && !('kind' in value) && isRecord(value.services);
}

/** The variables of a project: the `.env` file beside the Compose file (if any) under the process environment, which wins as in Compose. */
export function composeVariables(dotenvText: string | undefined, environment: Variables): { env: Variables; errors: FieldIssue[] } {
  if (dotenvText === undefined) return { env: environment, errors: [] };
  const parsed = parseDotenv(dotenvText, '.env', environment);
  return { env: { ...parsed.values, ...environment }, errors: parsed.errors };
}

/** Converts the text of a Compose file; throws ValidationError naming every problem's path. */
export function convertComposeText(text: string, options: ComposeOptions): ComposeConversion {
  const values = parseYamlDocuments(text);
  if (values.length > 1) throw new ValidationError([{ path: '', message: `a Compose file holds one YAML document; this one holds ${values.length}` }]);
  return convertCompose(values[0], options);
}

const PROJECT_MAX = 40;

/** Converts a decoded Compose file; throws ValidationError naming every problem's path. */
export function convertCompose(input: unknown, options: ComposeOptions): ComposeConversion {
  if (!isComposeDocument(input)) {
    throw new ValidationError([
      { path: 'services', message: 'is required: a Compose file is a map with a services map (and no kind, which Skiff documents have)' },
    ]);
  }
  const merged = resolveMergeKeys(input);
  const interpolated = interpolateDocument(merged.value, options.env);
  const ctx = new Context();
  ctx.errors.push(...merged.errors, ...interpolated.errors);
  ctx.warnings.push(...interpolated.warnings);
  const file = interpolated.value as Record<string, unknown>;

  for (const key of Object.keys(file)) {
    if (key.startsWith('x-') || (TOP_LEVEL as readonly string[]).includes(key)) continue;
    ctx.error(key, `unknown top-level attribute ${got(key)}${didYouMean(key, TOP_LEVEL)}: a Compose file has ${TOP_LEVEL.join(', ')} and x- extensions`);
  }
  if (file.include !== undefined) ctx.warn('include', 'included files are not read: copy their services into this file');
  if (file.networks !== undefined) ctx.warn('networks', NOT_HONOURED.networks);
  if (file.secrets !== undefined) ctx.warn('secrets', NOT_HONOURED.secrets);
  if (file.configs !== undefined) ctx.warn('configs', NOT_HONOURED.configs);
  if (file.models !== undefined) ctx.warn('models', NOT_HONOURED.models);

  const namespace = projectNamespace(file, options, ctx);
  const volumes = topLevelVolumes(file.volumes, ctx);
  const services = file.services as Record<string, unknown>;
  const names = Object.keys(services);
  const active = activeProfiles(options);
  const skipped: { service: string; profiles: string[] }[] = [];
  const converted: { name: string; doc: SkiffDocument; converter: ServiceConverter }[] = [];
  const mounts = new Map<string, string[]>();

  for (const name of names) {
    const svc = services[name];
    const at = `services.${name}`;
    if (!isRecord(svc)) {
      ctx.error(at, `must be a map of service attributes (image, ports, ...); got ${got(svc)}`);
      continue;
    }
    const profiles = stringList(svc.profiles, `${at}.profiles`, ctx);
    if (profiles.length > 0 && !active.has('*') && !profiles.some((p) => active.has(p))) {
      skipped.push({ service: name, profiles });
      continue;
    }
    const converter = new ServiceConverter(name, svc, { namespace, volumes, services: names, ctx, options });
    const doc = converter.convert();
    if (doc) converted.push({ name, doc, converter });
    for (const v of usedVolumes(doc)) mounts.set(v, [...(mounts.get(v) ?? []), name]);
  }
  for (const [volume, users] of mounts) {
    if (users.length > 1) {
      ctx.warn(
        `volumes.${volume}`,
        `is mounted by services ${users.join(', ')}: a Skiff persistent volume belongs to one service's replica, so each of them gets its own copy, not shared data; keep the data with one service and reach it over the network`,
      );
    }
  }
  const skippedNames = new Set(skipped.map((s) => s.service));
  for (const { name } of converted) {
    for (const dep of dependencies(services[name])) {
      if (skippedNames.has(dep))
        ctx.warn(`services.${name}.depends_on`, `names ${dep}, whose profiles are not active: it is not deployed; activate one with --profile`);
    }
  }
  if (converted.length > MAX_DOCUMENTS)
    ctx.error('services', `has ${converted.length} active services; one apply takes at most ${MAX_DOCUMENTS}: split the file`);
  if (converted.length === 0 && ctx.errors.length === 0) {
    ctx.error(
      'services',
      skipped.length > 0 ? 'no service is active: every one has profiles, and none is active (--profile NAME)' : 'is empty: no service to deploy',
    );
  }

  // Each document is validated as the API will: what Skiff's own rules refuse is named by service.
  const specs: ServiceSpec[] = [];
  if (ctx.errors.length === 0) {
    for (const { doc, converter } of converted) {
      try {
        specs.push(parseServiceSpec(doc));
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        // Named by the Compose attribute the field came from, with the Skiff field for reference.
        for (const issue of err.issues) ctx.error(converter.originOf(issue.path), `${issue.message} (Skiff's ${issue.path || 'spec'})`);
      }
    }
  }
  if (options.strict && ctx.warnings.length > 0) {
    ctx.errors.push(...ctx.warnings.map((w) => ({ path: w.path, message: `${w.message} (an error under --strict)` })));
  }
  if (ctx.errors.length > 0) throw new ValidationError(ctx.errors);
  return { namespace, documents: converted.map((c) => c.doc), specs, warnings: options.strict ? [] : ctx.warnings, skipped };
}

class Context {
  readonly errors: FieldIssue[] = [];
  readonly warnings: FieldIssue[] = [];
  error(path: string, message: string): void {
    this.errors.push({ path, message });
  }
  warn(path: string, message: string): void {
    this.warnings.push({ path, message });
  }
}

/** The namespace: `-n`, then COMPOSE_PROJECT_NAME, then `name:`, then the folder, as Compose picks its project name. */
function projectNamespace(file: Record<string, unknown>, options: ComposeOptions, ctx: Context): string {
  if (options.namespace !== undefined) return options.namespace;
  const fromEnv = options.env.COMPOSE_PROJECT_NAME;
  if (fromEnv) return normalizeProject(fromEnv, 'COMPOSE_PROJECT_NAME', ctx);
  if (file.name !== undefined) {
    if (typeof file.name !== 'string' || file.name === '') {
      ctx.error('name', `must be the project name, a string such as shop; got ${got(file.name)}`);
      return 'default';
    }
    return normalizeProject(file.name, 'name', ctx);
  }
  return normalizeProject(options.folder, 'the folder name', ctx);
}

/**
 * Compose's project names allow `_` and capitals (folders do); namespaces are DNS labels. Compose
 * lowercases a folder name too; `_` and `.` become `-`, anything else is left out.
 */
function normalizeProject(raw: string, source: string, ctx: Context): string {
  const name = raw
    .toLowerCase()
    .replace(/[_.\s]+/g, '-')
    .replace(/[^a-z0-9-]/g, '')
    .replace(/^-+|-+$/g, '')
    .slice(0, PROJECT_MAX)
    .replace(/-+$/, '');
  if (name === '') {
    ctx.error(source === 'name' ? 'name' : '', `${source} ${got(raw)} gives no usable namespace: set name: in the file or pass -n NAMESPACE`);
    return 'default';
  }
  return name;
}

function activeProfiles(options: ComposeOptions): Set<string> {
  const given = options.profiles ?? (options.env.COMPOSE_PROFILES ?? '').split(',');
  return new Set(given.map((p) => p.trim()).filter((p) => p !== ''));
}

interface TopVolume {
  /** The Skiff volume name: a DNS label made from the Compose name. */
  readonly skiffName: string;
}

function topLevelVolumes(value: unknown, ctx: Context): Map<string, TopVolume> {
  const out = new Map<string, TopVolume>();
  if (value === undefined || value === null) return out;
  if (!isRecord(value)) {
    ctx.error('volumes', `must be a map of volume names to their options ({} for none); got ${got(value)}`);
    return out;
  }
  const taken = new Map<string, string>();
  for (const [name, opts] of Object.entries(value)) {
    const at = `volumes.${name}`;
    const skiffName = name
      .toLowerCase()
      .replace(/[_.]+/g, '-')
      .replace(/^-+|-+$/g, '');
    if (!isDnsLabel(skiffName)) {
      ctx.error(at, `volume name ${got(name)} cannot be a Skiff volume name (a DNS label of at most 63 letters, digits and "-"): rename it`);
      continue;
    }
    const other = taken.get(skiffName);
    if (other !== undefined) ctx.error(at, `becomes the Skiff volume ${skiffName}, as ${other} does: rename one of them`);
    taken.set(skiffName, name);
    out.set(name, { skiffName });
    if (opts === null || opts === undefined) continue;
    if (!isRecord(opts)) {
      ctx.error(at, `must be a map of options ({} for none); got ${got(opts)}`);
      continue;
    }
    for (const key of Object.keys(opts)) {
      if (key.startsWith('x-')) continue;
      if (key === 'external')
        ctx.warn(
          `${at}.external`,
          'an existing volume is not looked up: Skiff makes a persistent volume per replica (<namespace>-<service>-<volume>-<slot>); copy the data into it',
        );
      else if (key === 'name') ctx.warn(`${at}.name`, 'the volume is named by Skiff (<namespace>-<service>-<volume>-<slot>), not by this name');
      else if (key === 'driver' || key === 'driver_opts')
        ctx.warn(`${at}.${key}`, 'volume drivers are chosen by Skiff: a Docker volume on the host locally, EFS on AWS');
      else if (key === 'labels') ctx.warn(`${at}.labels`, 'volume labels are not kept');
      else ctx.error(`${at}.${key}`, `unknown volume attribute ${got(key)}${didYouMean(key, ['driver', 'driver_opts', 'external', 'labels', 'name'])}`);
    }
  }
  return out;
}

/** The entries of `obj` named by `keys`, in that order: spreading the rest after them keeps this order. */
function pick(obj: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]]));
}

function usedVolumes(doc: SkiffDocument | undefined): string[] {
  const spec = doc?.spec as { volumes?: { name: string; persistent?: object; composeName?: string }[] } | undefined;
  return (spec?.volumes ?? []).filter((v) => v.persistent).map((v) => composeNames.get(v) ?? v.name);
}

/** The Compose name of each persistent volume entry made (for the shared-volume warning). */
const composeNames = new WeakMap<object, string>();

function dependencies(svc: unknown): string[] {
  if (!isRecord(svc)) return [];
  const d = svc.depends_on;
  if (Array.isArray(d)) return d.filter((x): x is string => typeof x === 'string');
  if (isRecord(d)) return Object.keys(d);
  return [];
}

function stringList(value: unknown, at: string, ctx: Context): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    ctx.error(at, `must be a list of strings; got ${got(value)}`);
    return [];
  }
  return value as string[];
}

/**
 * A whole number, also when written as a string: interpolation gives strings (`replicas: ${N:-2}`),
 * and Compose reads them by the field's type after interpolating.
 */
function whole(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

/** A scalar written for a string field: YAML numbers and booleans are what the user meant as text. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

interface ServiceContext {
  readonly namespace: string;
  readonly volumes: Map<string, TopVolume>;
  readonly services: readonly string[];
  readonly ctx: Context;
  readonly options: ComposeOptions;
}

interface Port {
  containerPort: number;
  protocol: 'tcp' | 'udp';
  hostPort?: number;
  name?: string;
}

const MAX_RANGE = 64;
const RESTART: Readonly<Record<string, string>> = { no: 'never', always: 'always', 'unless-stopped': 'always', 'on-failure': 'on-failure' };
const CONDITION: Readonly<Record<string, string>> = { none: 'never', 'on-failure': 'on-failure', any: 'always' };
/** Docker's healthcheck defaults (Compose leaves them to the engine). */
const DOCKER_HEALTH = { interval: 30, timeout: 30, retries: 3 };

/** One Compose service → one Skiff Service document. */
class ServiceConverter {
  private readonly at: string;
  private readonly ctx: Context;
  private readonly container: Record<string, unknown>;
  private readonly spec: Record<string, unknown> = {};
  private readonly labels: Record<string, string> = {};
  private readonly podVolumes: Record<string, unknown>[] = [];
  /** The Compose path each resource amount was taken from (errors about it name that path). */
  private readonly resourceFrom: Record<string, string> = {};

  constructor(
    private readonly name: string,
    private readonly svc: Record<string, unknown>,
    private readonly env: ServiceContext,
  ) {
    this.at = `services.${name}`;
    this.ctx = env.ctx;
    this.container = { name };
  }

  private path(...parts: (string | number)[]): string {
    return parts.reduce<string>((p, part) => (typeof part === 'number' ? `${p}[${part}]` : `${p}.${part}`), this.at);
  }

  convert(): SkiffDocument | undefined {
    const errorsBefore = this.ctx.errors.length;
    if (!isDnsLabel(this.name) || this.name.length > 40) {
      this.ctx.error(
        this.at,
        `service name ${got(this.name)} cannot be a Skiff service name, which other services resolve in DNS: lowercase letters, digits and "-", at most 40 characters${
          /^[a-z0-9_-]+$/i.test(this.name) ? ` (such as ${got(this.name.toLowerCase().replace(/_/g, '-'))})` : ''
        }; rename the service`,
      );
    }
    this.attributes();
    this.image();
    this.commands();
    this.environment();
    this.ports();
    this.health();
    this.deploy();
    this.restart();
    this.volumes();
    this.stopping();
    this.security();
    this.serviceLabels();
    this.dependsOn();
    this.ingress();
    if (this.ctx.errors.length > errorsBefore) return undefined;
    if (this.podVolumes.length > 0) this.spec.volumes = this.podVolumes;
    return {
      kind: 'Service',
      metadata: { name: this.name, namespace: this.env.namespace, ...(Object.keys(this.labels).length > 0 ? { labels: this.labels } : {}) },
      // The replica count (or mode) first, then the pod, as docs/spec.md writes a spec.
      spec: { ...pick(this.spec, ['replicas', 'mode']), containers: [this.container], ...this.spec },
    };
  }

  /** The path of the Compose attribute a field of the converted spec came from (the service's own path when there is no one attribute). */
  originOf(skiffPath: string): string {
    const { svc } = this;
    const deploy = isRecord(svc.deploy) ? svc.deploy : {};
    const limits = isRecord(deploy.resources) && isRecord(deploy.resources.limits) ? deploy.resources.limits : {};
    const env = /^spec\.containers\[0\]\.env\.(.+)$/.exec(skiffPath)?.[1];
    if (env !== undefined) {
      const inList = Array.isArray(svc.environment) && svc.environment.some((e) => typeof e === 'string' && (e === env || e.startsWith(`${env}=`)));
      const inMap = isRecord(svc.environment) && Object.hasOwn(svc.environment, env);
      return inList || inMap ? this.path('environment', env) : this.path('env_file');
    }
    const resource = /^spec\.containers\[0\]\.resources\.(cpu|memory)/.exec(skiffPath)?.[1];
    if (resource !== undefined) return this.resourceFrom[resource] ?? this.path('deploy', 'resources', 'limits');
    const table: [RegExp, string][] = [
      [/^spec\.containers\[0\]\.image/, this.path('image')],
      [/^spec\.containers\[0\]\.command/, this.path('entrypoint')],
      [/^spec\.containers\[0\]\.args/, this.path('command')],
      [/^spec\.containers\[0\]\.ports/, this.path(svc.ports !== undefined ? 'ports' : 'expose')],
      [/^spec\.containers\[0\]\.health/, this.path('healthcheck')],
      [/^spec\.containers\[0\]\.stopSignal/, this.path('stop_signal')],
      [/^spec\.containers\[0\]\.volumeMounts|^spec\.volumes/, this.path(svc.volumes !== undefined ? 'volumes' : 'tmpfs')],
      [/^spec\.terminationGracePeriodSeconds/, this.path('stop_grace_period')],
      [/^spec\.replicas/, deploy.replicas !== undefined ? this.path('deploy', 'replicas') : this.path('scale')],
      [/^spec\.pidsLimit/, limits.pids !== undefined ? this.path('deploy', 'resources', 'limits', 'pids') : this.path('pids_limit')],
      [/^spec\.update/, this.path('deploy', 'update_config')],
      [/^spec\.placement/, this.path('deploy', 'placement', 'constraints')],
      [/^spec\.ingress/, this.path(INGRESS_KEY)],
      [/^metadata\.labels/, this.path(svc.labels !== undefined ? 'labels' : 'deploy.labels')],
    ];
    return table.find(([re]) => re.test(skiffPath))?.[1] ?? this.at;
  }

  /** Unknown attributes are errors; known ones Skiff does not honour are warnings. */
  private attributes(): void {
    for (const key of Object.keys(this.svc)) {
      if (key.startsWith('x-') || (HANDLED as readonly string[]).includes(key)) continue;
      const why = NOT_HONOURED[key];
      if (why !== undefined) this.ctx.warn(this.path(key), `is not supported by Skiff and is left out: ${why}`);
      else this.ctx.error(this.path(key), `unknown service attribute ${got(key)}${didYouMean(key, SERVICE_ATTRIBUTES)}`);
    }
    const { svc } = this;
    if (svc.container_name !== undefined) {
      this.ctx.warn(
        this.path('container_name'),
        `is left out: Skiff names each replica's container itself (a service may run several); other services reach this one by its service name, ${this.name}`,
      );
    }
    if (svc.privileged === true) {
      this.ctx.warn(
        this.path('privileged'),
        'is left out: privileged containers are refused (they get every capability and device of the host); add the capabilities the container needs with cap_add',
      );
    }
    if (svc.network_mode !== undefined) {
      const mode = String(svc.network_mode);
      const sidecar = /^(service|container):/.test(mode);
      this.ctx.warn(
        this.path('network_mode'),
        sidecar
          ? `${got(mode)} is left out: containers that share a network are one pod in Skiff; write them as containers of one Skiff Service (skiff convert prints a document to start from)`
          : `${got(mode)} is left out: every pod gets its own network, shared with the services of its namespace; the host's network is refused`,
      );
    }
    if (svc.init === false) this.ctx.warn(this.path('init'), 'is left out: every Skiff container runs with an init that forwards its stop signal');
  }

  private image(): void {
    const { svc } = this;
    if (typeof svc.image === 'string' && svc.image !== '') {
      this.container.image = svc.image;
      if (svc.build !== undefined)
        this.ctx.warn(
          this.path('build'),
          `is not run: Skiff deploys the image ${svc.image}, which must be built and pushed to a registry the hosts can pull from`,
        );
      return;
    }
    if (svc.image !== undefined) this.ctx.error(this.path('image'), `must be an image reference such as postgres:16; got ${got(svc.image)}`);
    else if (svc.build !== undefined)
      this.ctx.error(
        this.path('build'),
        'Skiff does not build images: build and push the image (docker build -t registry.example.com/app:1.0 . && docker push registry.example.com/app:1.0), then set image',
      );
    else this.ctx.error(this.path('image'), 'is required: the image each replica runs, such as nginx:1.27');
  }

  /** Compose's entrypoint replaces the image's ENTRYPOINT (Skiff's command), its command the CMD (Skiff's args). */
  private commands(): void {
    const entrypoint = this.words('entrypoint');
    const command = this.words('command');
    if (entrypoint !== undefined) {
      // An empty entrypoint clears the image's; Skiff cannot say "none", so an empty one keeps the image's.
      if (entrypoint.length === 0) this.ctx.warn(this.path('entrypoint'), "is empty: Skiff cannot clear the image's entrypoint, which is kept");
      else this.container.command = entrypoint;
    }
    if (command !== undefined) this.container.args = command;
  }

  /** A string is split into words as a shell would (quotes kept together), not run by a shell: Compose's rule. */
  private words(key: 'command' | 'entrypoint'): string[] | undefined {
    const value = this.svc[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') {
      const split = shellWords(value);
      if (typeof split === 'string') {
        this.ctx.error(this.path(key), split);
        return undefined;
      }
      return split;
    }
    if (Array.isArray(value)) {
      const out: string[] = [];
      value.forEach((v, i) => {
        const text = scalarText(v);
        if (text === undefined) this.ctx.error(this.path(key, i), `must be a string; got ${got(v)}`);
        else out.push(text);
      });
      return out;
    }
    this.ctx.error(this.path(key), `must be a string or a list of strings; got ${got(value)}`);
    return undefined;
  }

  private environment(): void {
    const env: Record<string, string> = {};
    const { svc } = this;
    const vars = this.env.options.env;
    const set = (k: string, v: string) => Object.defineProperty(env, k, { value: v, enumerable: true, writable: true, configurable: true });
    if (svc.env_file !== undefined) {
      const files = Array.isArray(svc.env_file) ? svc.env_file : [svc.env_file];
      files.forEach((entry, i) => {
        const at = Array.isArray(svc.env_file) ? this.path('env_file', i) : this.path('env_file');
        const file = typeof entry === 'string' ? entry : isRecord(entry) && typeof entry.path === 'string' ? entry.path : undefined;
        if (file === undefined) {
          this.ctx.error(at, `must be a file path, or { path, required }; got ${got(entry)}`);
          return;
        }
        const required = !(isRecord(entry) && entry.required === false);
        const text = this.env.options.readFile?.(file);
        if (text === undefined) {
          if (required)
            this.ctx.error(at, `the file ${file} does not exist (next to the Compose file); create it or mark it { path: ${file}, required: false }`);
          return;
        }
        const parsed = parseDotenv(text, file, vars);
        for (const e of parsed.errors) this.ctx.error(at, `${e.path}: ${e.message}`);
        for (const [k, v] of Object.entries(parsed.values)) set(k, v);
      });
    }
    const fromEnvironment = (k: string, at: string) => {
      const v = vars[k];
      if (v !== undefined) set(k, v);
      else this.ctx.warn(at, `${k} has no value and is not set in the environment or .env: it is left out, as Compose leaves it unset`);
    };
    const environment = svc.environment;
    if (Array.isArray(environment)) {
      environment.forEach((item, i) => {
        const at = this.path('environment', i);
        if (typeof item !== 'string') {
          this.ctx.error(at, `must be KEY=value; got ${got(item)}`);
          return;
        }
        const eq = item.indexOf('=');
        if (eq < 0) fromEnvironment(item, at);
        else if (eq === 0) this.ctx.error(at, `must be KEY=value with a name before "="; got ${got(item)}`);
        else set(item.slice(0, eq), item.slice(eq + 1));
      });
    } else if (isRecord(environment)) {
      for (const [k, v] of Object.entries(environment)) {
        const at = this.path('environment', k);
        if (v === null || v === undefined) fromEnvironment(k, at);
        else {
          const text = scalarText(v);
          if (text === undefined) this.ctx.error(at, `must be a string, number or boolean; got ${got(v)}`);
          else set(k, text);
        }
      }
    } else if (environment !== undefined && environment !== null) {
      this.ctx.error(this.path('environment'), `must be a list of KEY=value or a map; got ${got(environment)}`);
    }
    if (Object.keys(env).length > 0) this.container.env = env;
  }

  private ports(): void {
    const ports = new Map<string, Port>();
    const add = (p: Port, at: string) => {
      const key = `${p.containerPort}/${p.protocol}`;
      const had = ports.get(key);
      if (!had) ports.set(key, p);
      else if (p.hostPort !== undefined && had.hostPort !== undefined && p.hostPort !== had.hostPort) {
        this.ctx.warn(at, `publishes ${key} a second time (on ${p.hostPort}): Skiff publishes a container port once; it stays on ${had.hostPort}`);
      } else if (had.hostPort === undefined && p.hostPort !== undefined) had.hostPort = p.hostPort;
    };
    const list = this.svc.ports;
    if (list !== undefined && list !== null) {
      if (!Array.isArray(list)) this.ctx.error(this.path('ports'), `must be a list of ports such as "8080:80"; got ${got(list)}`);
      else
        list.forEach((entry, i) => {
          this.port(entry, this.path('ports', i), add);
        });
    }
    const expose = this.svc.expose;
    if (expose !== undefined && expose !== null) {
      if (!Array.isArray(expose)) this.ctx.error(this.path('expose'), `must be a list of ports such as "3000"; got ${got(expose)}`);
      else
        expose.forEach((entry, i) => {
          const at = this.path('expose', i);
          const text = scalarText(entry);
          const parsed = text === undefined ? undefined : /^(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/.exec(text);
          if (!parsed) {
            this.ctx.error(at, `must be a port or range such as "3000", "8000-8010" or "53/udp"; got ${got(entry)}`);
            return;
          }
          const range = this.range(parsed[1], parsed[2], at);
          for (const port of range ?? []) add({ containerPort: port, protocol: (parsed[3] as 'tcp' | 'udp') ?? 'tcp' }, at);
        });
    }
    const published = [...ports.values()].filter((p) => p.hostPort !== undefined);
    const replicas = this.replicaCount();
    if (published.length > 0 && replicas > 1) {
      this.ctx.warn(
        this.path('ports'),
        `publishes fixed host ports (${published.map((p) => p.hostPort).join(', ')}) with ${replicas} replicas: each host can run one replica holding them, so the cluster needs ${replicas} hosts; publish only the container port ("80") to get a port per replica, or use an ingress (docs/compose.md)`,
      );
    }
    if (ports.size > 0) this.container.ports = [...ports.values()];
  }

  private replicaCount(): number {
    const deploy = isRecord(this.svc.deploy) ? this.svc.deploy : {};
    if (deploy.mode === 'global') return 1;
    return whole(deploy.replicas ?? this.svc.scale) ?? 1;
  }

  private range(low: string, high: string | undefined, at: string): number[] | undefined {
    const a = Number(low);
    const b = high === undefined ? a : Number(high);
    if (a < 1 || b > 65535 || b < a) {
      this.ctx.error(at, `ports must be from 1 to 65535, a range low-high with low <= high; got ${high === undefined ? low : `${low}-${high}`}`);
      return undefined;
    }
    if (b - a + 1 > MAX_RANGE) {
      this.ctx.error(at, `a range of ${b - a + 1} ports: a Skiff pod publishes at most ${MAX_RANGE}`);
      return undefined;
    }
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  }

  /** One `ports` entry, short (`[ip:][published:]target[/protocol]`, ranges too) or long syntax. */
  private port(entry: unknown, at: string, add: (p: Port, at: string) => void): void {
    if (isRecord(entry)) {
      for (const key of Object.keys(entry)) {
        if (!['target', 'published', 'host_ip', 'protocol', 'mode', 'name', 'app_protocol'].includes(key) && !key.startsWith('x-')) {
          this.ctx.error(
            `${at}.${key}`,
            `unknown port attribute ${got(key)}${didYouMean(key, ['target', 'published', 'host_ip', 'protocol', 'mode', 'name', 'app_protocol'])}`,
          );
        }
      }
      const target = whole(entry.target);
      if (target === undefined || target < 1 || target > 65535) {
        this.ctx.error(`${at}.target`, `is required: the container port, from 1 to 65535; got ${got(entry.target)}`);
        return;
      }
      const protocol = this.protocol(entry.protocol ?? 'tcp', `${at}.protocol`);
      if (!protocol) return;
      if (entry.host_ip !== undefined) this.ctx.warn(`${at}.host_ip`, HOST_IP);
      if (entry.app_protocol !== undefined) this.ctx.warn(`${at}.app_protocol`, 'is left out: Skiff does not record application protocols');
      let hostPort: number | undefined;
      if (entry.published !== undefined && entry.published !== null && entry.published !== '') {
        const text = String(entry.published);
        if (!/^\d+$/.test(text)) {
          this.ctx.error(`${at}.published`, `must be one host port for one target; got ${got(entry.published)}`);
          return;
        }
        hostPort = Number(text);
        if (hostPort < 1 || hostPort > 65535) {
          this.ctx.error(`${at}.published`, `must be a port from 1 to 65535; got ${text}`);
          return;
        }
      }
      const name = typeof entry.name === 'string' ? entry.name : undefined;
      const port: Port = { containerPort: target, protocol, ...(hostPort !== undefined ? { hostPort } : {}), ...(name ? { name } : {}) };
      add(port, at);
      return;
    }
    const text = scalarText(entry);
    if (text === undefined) {
      this.ctx.error(at, `must be a port such as "8080:80" or { target: 80, published: 8080 }; got ${got(entry)}`);
      return;
    }
    let rest = text;
    let protocol: 'tcp' | 'udp' | undefined = 'tcp';
    const slash = rest.lastIndexOf('/');
    if (slash >= 0) {
      protocol = this.protocol(rest.slice(slash + 1), at);
      rest = rest.slice(0, slash);
    }
    if (!protocol) return;
    let hostIp: string | undefined;
    if (rest.startsWith('[')) {
      const end = rest.indexOf(']:');
      if (end < 0) {
        this.ctx.error(at, `an IPv6 host address is written [address]:published:target; got ${got(text)}`);
        return;
      }
      hostIp = rest.slice(1, end);
      rest = rest.slice(end + 2);
    }
    const parts = rest.split(':');
    if (parts.length === 3 && hostIp === undefined) hostIp = parts.shift();
    if (parts.length > 2 || parts.length === 0) {
      this.ctx.error(at, `must be [host_ip:][published:]target[/protocol], such as "8080:80" or "127.0.0.1:8080:80"; got ${got(text)}`);
      return;
    }
    const target = parts[parts.length - 1];
    const publishedText = parts.length === 2 ? parts[0] : '';
    const rangeForm = /^(\d+)(?:-(\d+))?$/;
    const t = rangeForm.exec(target);
    const p = publishedText === '' ? undefined : rangeForm.exec(publishedText);
    if (!t || (publishedText !== '' && !p)) {
      this.ctx.error(at, `must be [host_ip:][published:]target[/protocol] with ports or ranges such as 8080 or 8000-8010; got ${got(text)}`);
      return;
    }
    if (hostIp !== undefined && hostIp !== '') this.ctx.warn(at, HOST_IP);
    const targets = this.range(t[1], t[2], at);
    const hosts = p ? this.range(p[1], p[2], at) : undefined;
    if (!targets || (p && !hosts)) return;
    if (hosts && hosts.length !== targets.length) {
      this.ctx.error(at, `publishes ${hosts.length} host ports for ${targets.length} container ports: the two ranges must have the same length`);
      return;
    }
    targets.forEach((containerPort, i) => {
      add({ containerPort, protocol: protocol as 'tcp' | 'udp', ...(hosts ? { hostPort: hosts[i] } : {}) }, at);
    });
  }

  private protocol(value: unknown, at: string): 'tcp' | 'udp' | undefined {
    const v = typeof value === 'string' ? value.toLowerCase() : value;
    if (v === 'tcp' || v === 'udp') return v;
    this.ctx.error(at, `protocol must be tcp or udp; got ${got(value)}`);
    return undefined;
  }

  private health(): void {
    const hc = this.svc.healthcheck;
    if (hc === undefined || hc === null) return;
    const at = this.path('healthcheck');
    if (!isRecord(hc)) {
      this.ctx.error(at, `must be a map with test, interval, timeout, retries, start_period; got ${got(hc)}`);
      return;
    }
    const known = ['test', 'interval', 'timeout', 'retries', 'start_period', 'start_interval', 'disable'];
    for (const key of Object.keys(hc)) {
      if (!known.includes(key) && !key.startsWith('x-')) this.ctx.error(`${at}.${key}`, `unknown healthcheck attribute ${got(key)}${didYouMean(key, known)}`);
    }
    if (hc.disable === true) return;
    const test = hc.test;
    let command: string[] | undefined;
    if (typeof test === 'string') command = test === '' ? undefined : ['sh', '-c', test];
    else if (Array.isArray(test) && test.every((t) => typeof t === 'string') && test.length > 0) {
      const [kind, ...rest] = test as string[];
      if (kind === 'NONE') return;
      if (kind === 'CMD' && rest.length > 0) command = rest;
      else if (kind === 'CMD-SHELL' && rest.length === 1) command = ['sh', '-c', rest[0]];
      else {
        this.ctx.error(
          `${at}.test`,
          `must be ["CMD", program, args...], ["CMD-SHELL", "command"], ["NONE"] or a shell command string; got ${JSON.stringify(test).slice(0, 120)}`,
        );
        return;
      }
    } else if (test === undefined) {
      this.ctx.warn(
        `${at}.test`,
        "is not set: the image's HEALTHCHECK is not read by Skiff, so the container is judged by its process alone; write the test here",
      );
      return;
    }
    if (command === undefined) {
      this.ctx.error(`${at}.test`, `must be a non-empty command; got ${got(test)}`);
      return;
    }
    const seconds = (key: string, fallback: number): number | undefined => {
      if (hc[key] === undefined) return fallback;
      const s = parseDuration(hc[key]);
      if (typeof s === 'number') return s;
      this.ctx.error(`${at}.${key}`, s.error);
      return undefined;
    };
    const interval = seconds('interval', DOCKER_HEALTH.interval);
    const timeout = seconds('timeout', DOCKER_HEALTH.timeout);
    const startPeriod = seconds('start_period', 0);
    if (hc.start_interval !== undefined) seconds('start_interval', 0);
    const retries = whole(hc.retries ?? DOCKER_HEALTH.retries);
    if (retries === undefined || retries < 1) {
      this.ctx.error(`${at}.retries`, `must be an integer of at least 1; got ${got(hc.retries)}`);
      return;
    }
    if (interval === undefined || timeout === undefined || startPeriod === undefined) return;
    // Skiff never lets probes of one container overlap, so a timeout is at most the interval.
    if (hc.timeout !== undefined && timeout > interval) {
      this.ctx.warn(`${at}.timeout`, `${timeout}s is longer than the interval (${interval}s): Skiff's probes never overlap, so the timeout is the interval`);
    }
    this.container.health = {
      exec: { command },
      intervalSeconds: interval,
      timeoutSeconds: Math.min(timeout, interval),
      startPeriodSeconds: startPeriod,
      failureThreshold: retries,
    };
  }

  private deploy(): void {
    const deploy = this.svc.deploy;
    const at = this.path('deploy');
    const resources = isRecord(deploy) && isRecord(deploy.resources) ? deploy.resources : {};
    this.resources(resources, `${at}.resources`);
    if (this.svc.scale !== undefined) this.replicas(this.svc.scale, this.path('scale'));
    if (deploy === undefined || deploy === null) return;
    if (!isRecord(deploy)) {
      this.ctx.error(at, `must be a map (replicas, mode, resources, ...); got ${got(deploy)}`);
      return;
    }
    const known = ['mode', 'replicas', 'labels', 'resources', 'restart_policy', 'update_config', 'rollback_config', 'placement', 'endpoint_mode'];
    for (const key of Object.keys(deploy)) {
      if (!known.includes(key) && !key.startsWith('x-')) this.ctx.error(`${at}.${key}`, `unknown deploy attribute ${got(key)}${didYouMean(key, known)}`);
    }
    const mode = deploy.mode ?? 'replicated';
    if (mode === 'global') {
      this.spec.mode = 'global';
      if (deploy.replicas !== undefined)
        this.ctx.warn(`${at}.replicas`, 'is left out: mode global runs one replica on every host that matches the constraints');
      if (this.svc.scale !== undefined)
        this.ctx.warn(this.path('scale'), 'is left out: mode global runs one replica on every host that matches the constraints');
      delete this.spec.replicas;
    } else if (mode === 'replicated') {
      if (deploy.replicas !== undefined) {
        if (this.svc.scale !== undefined && whole(this.svc.scale) !== whole(deploy.replicas))
          this.ctx.error(this.path('scale'), `is ${got(this.svc.scale)} but deploy.replicas is ${got(deploy.replicas)}: keep one of them`);
        this.replicas(deploy.replicas, `${at}.replicas`);
      }
    } else if (mode === 'replicated-job' || mode === 'global-job') {
      this.ctx.error(`${at}.mode`, `${mode} is not converted: write a Skiff Job (kind: Job, with completions and parallelism; docs/spec.md)`);
    } else this.ctx.error(`${at}.mode`, `must be replicated or global; got ${got(mode)}`);
    if (deploy.endpoint_mode === 'vip')
      this.ctx.warn(
        `${at}.endpoint_mode`,
        'vip is not offered: the service name resolves to the address of every ready replica (as dnsrr), and the load balancer spreads HTTP requests',
      );
    else if (deploy.endpoint_mode !== undefined && deploy.endpoint_mode !== 'dnsrr')
      this.ctx.error(`${at}.endpoint_mode`, `must be vip or dnsrr; got ${got(deploy.endpoint_mode)}`);
    this.addLabels(deploy.labels, `${at}.labels`);
    this.placement(deploy.placement, `${at}.placement`);
    this.update(deploy.update_config, `${at}.update_config`);
    if (deploy.rollback_config !== undefined)
      this.ctx.warn(
        `${at}.rollback_config`,
        'is left out: a failed rollout returns to the last healthy revision with the update budgets (spec.update.autoRollback)',
      );
  }

  private replicas(value: unknown, at: string): void {
    const n = whole(value);
    if (n === undefined) {
      this.ctx.error(at, `must be a whole number of replicas; got ${got(value)}`);
      return;
    }
    this.spec.replicas = n;
  }

  private resources(resources: Record<string, unknown>, at: string): void {
    const { svc } = this;
    const limits = isRecord(resources.limits) ? resources.limits : {};
    const reservations = isRecord(resources.reservations) ? resources.reservations : {};
    for (const [key, v] of [
      ['limits', limits],
      ['reservations', reservations],
    ] as const) {
      for (const k of Object.keys(v)) {
        if (k === 'devices' || k === 'generic_resources')
          this.ctx.warn(`${at}.${key}.${k}`, 'is left out: Skiff schedules CPU and memory only; host devices are refused');
        else if (!['cpus', 'memory', 'pids'].includes(k) || (k === 'pids' && key === 'reservations'))
          this.ctx.error(`${at}.${key}.${k}`, `unknown resource ${got(k)}${didYouMean(k, ['cpus', 'memory', 'pids'])}`);
      }
    }
    const pick = (
      what: string,
      candidates: readonly [unknown, string][],
      parse: (v: unknown) => number | { error: string },
    ): { value: number; from: string } | undefined => {
      const given = candidates.filter(([v]) => v !== undefined && v !== null);
      const parsed: { value: number; from: string }[] = [];
      for (const [v, from] of given) {
        const n = parse(v);
        if (typeof n === 'number') parsed.push({ value: n, from });
        else this.ctx.error(from, n.error);
      }
      if (parsed.length > 1 && parsed.some((p) => p.value !== parsed[0].value)) {
        this.ctx.warn(
          parsed[1].from,
          `is left out: Skiff reserves and caps one amount of ${what} per container, taken from ${parsed[0].from} (${parsed[0].from.endsWith('memory') || parsed[0].from.endsWith('mem_limit') ? formatMemory(parsed[0].value) : parsed[0].value})`,
        );
      }
      return parsed[0];
    };
    const cpus = pick(
      'CPU',
      [
        [limits.cpus, `${at}.limits.cpus`],
        [svc.cpus, this.path('cpus')],
        [reservations.cpus, `${at}.reservations.cpus`],
      ],
      (v) => {
        const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
        return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : { error: `must be a number of CPUs such as 0.5 or "2"; got ${got(v)}` };
      },
    );
    const memory = pick(
      'memory',
      [
        [limits.memory, `${at}.limits.memory`],
        [svc.mem_limit, this.path('mem_limit')],
        [reservations.memory, `${at}.reservations.memory`],
        [svc.mem_reservation, this.path('mem_reservation')],
      ],
      parseBytes,
    );
    if (cpus) this.resourceFrom.cpu = cpus.from;
    if (memory) this.resourceFrom.memory = memory.from;
    const out: Record<string, string> = {};
    // Millicores, rounded up: Skiff counts CPU to 1m.
    if (cpus) out.cpu = formatCpu(Math.max(1, Math.ceil(cpus.value * 1000 - 1e-9)));
    if (memory) out.memory = formatMemory(memory.value);
    for (const r of [cpus, memory]) {
      if (r && (r.from.includes('reservation') || r.from.endsWith('mem_reservation'))) {
        this.ctx.warn(r.from, 'is the limit too: Skiff reserves and caps one amount per container (a container above its memory is killed)');
      }
    }
    const missing = [cpus ? undefined : 'cpus (default 100m)', memory ? undefined : 'memory (default 64Mi)'].filter((m) => m !== undefined);
    if (missing.length > 0) {
      this.ctx.warn(
        `${at}.limits`,
        `${missing.join(' and ')} not set: Skiff reserves and caps every container, and memory is a hard limit (a container that uses more is killed); set deploy.resources.limits to what the service needs`,
      );
    }
    if (Object.keys(out).length > 0) this.container.resources = out;
    const pids = limits.pids ?? svc.pids_limit;
    if (pids !== undefined) {
      const n = whole(pids);
      if (n !== undefined) this.spec.pidsLimit = n;
      else this.ctx.error(limits.pids !== undefined ? `${at}.limits.pids` : this.path('pids_limit'), `must be a whole number of processes; got ${got(pids)}`);
    }
  }

  private placement(placement: unknown, at: string): void {
    if (placement === undefined || placement === null) return;
    if (!isRecord(placement)) {
      this.ctx.error(at, `must be a map with constraints; got ${got(placement)}`);
      return;
    }
    const constraints: string[] = [];
    stringList(placement.constraints, `${at}.constraints`, this.ctx).forEach((c, i) => {
      const m = /^\s*(node|engine)\.labels\.([^\s=!]+)\s*(==|!=)\s*(\S+)\s*$/.exec(c);
      if (m) constraints.push(`${m[2]} ${m[3]} ${m[4]}`);
      else
        this.ctx.warn(
          `${at}.constraints[${i}]`,
          `${got(c)} is left out: Skiff places by host labels only; write node.labels.KEY == VALUE and give the hosts that label`,
        );
    });
    if (constraints.length > 0) this.spec.placement = { constraints };
    if (placement.preferences !== undefined)
      this.ctx.warn(`${at}.preferences`, 'is left out: Skiff spreads replicas over hosts (placement.strategy spread), not over label values');
    if (placement.max_replicas_per_node !== undefined)
      this.ctx.warn(`${at}.max_replicas_per_node`, 'is left out: Skiff spreads replicas over the hosts that fit, without a per-host maximum');
    for (const key of Object.keys(placement)) {
      if (!['constraints', 'preferences', 'max_replicas_per_node'].includes(key)) this.ctx.error(`${at}.${key}`, `unknown placement attribute ${got(key)}`);
    }
  }

  /**
   * Swarm updates `parallelism` replicas at a time, stopping the old first (`order: stop-first`, its
   * default) or starting the new first: Skiff's maxUnavailable and maxSurge budgets.
   */
  private update(update: unknown, at: string): void {
    if (update === undefined || update === null) return;
    if (!isRecord(update)) {
      this.ctx.error(at, `must be a map (parallelism, order, failure_action, monitor, ...); got ${got(update)}`);
      return;
    }
    const known = ['parallelism', 'delay', 'failure_action', 'monitor', 'max_failure_ratio', 'order'];
    for (const key of Object.keys(update))
      if (!known.includes(key)) this.ctx.error(`${at}.${key}`, `unknown update_config attribute ${got(key)}${didYouMean(key, known)}`);
    const out: Record<string, unknown> = {};
    const parallelism = whole(update.parallelism ?? 1);
    if (parallelism === undefined) {
      this.ctx.error(`${at}.parallelism`, `must be a whole number (0: all at once); got ${got(update.parallelism)}`);
      return;
    }
    const budget = parallelism === 0 ? '100%' : parallelism;
    const order = update.order ?? 'stop-first';
    if (order === 'start-first') Object.assign(out, { maxSurge: budget, maxUnavailable: 0 });
    else if (order === 'stop-first') Object.assign(out, { maxSurge: 0, maxUnavailable: budget });
    else this.ctx.error(`${at}.order`, `must be stop-first or start-first; got ${got(order)}`);
    if (update.monitor !== undefined) {
      const s = parseDuration(update.monitor);
      if (typeof s === 'number') out.minReadySeconds = Math.ceil(s);
      else this.ctx.error(`${at}.monitor`, s.error);
    }
    const action = update.failure_action;
    if (action === 'rollback') out.autoRollback = true;
    else if (action === 'pause' || action === undefined) out.autoRollback = false;
    else if (action === 'continue') {
      out.autoRollback = false;
      this.ctx.warn(`${at}.failure_action`, 'continue is not offered: a failed rollout stops where it is (pause)');
    } else this.ctx.error(`${at}.failure_action`, `must be rollback, pause or continue; got ${got(action)}`);
    if (update.delay !== undefined)
      this.ctx.warn(`${at}.delay`, 'is left out: Skiff moves on once a new replica is available; use monitor (minReadySeconds) to hold each one');
    if (update.max_failure_ratio !== undefined)
      this.ctx.warn(`${at}.max_failure_ratio`, 'is left out: any replica of the new version that fails fails the rollout');
    this.spec.update = out;
  }

  private restart(): void {
    const { svc } = this;
    const deploy = isRecord(svc.deploy) ? svc.deploy : {};
    const policy = deploy.restart_policy;
    let fromDeploy: string | undefined;
    if (policy !== undefined && policy !== null) {
      const at = this.path('deploy', 'restart_policy');
      if (!isRecord(policy)) this.ctx.error(at, `must be a map with condition; got ${got(policy)}`);
      else {
        const condition = policy.condition ?? 'any';
        fromDeploy = typeof condition === 'string' ? CONDITION[condition] : undefined;
        if (fromDeploy === undefined) this.ctx.error(`${at}.condition`, `must be none, on-failure or any; got ${got(condition)}`);
        for (const key of ['delay', 'max_attempts', 'window']) {
          if (policy[key] !== undefined)
            this.ctx.warn(`${at}.${key}`, 'is left out: the agent restarts with its own back-off (1 s doubling to 30 s), without a limit on attempts');
        }
      }
    }
    let fromRestart: string | undefined;
    if (svc.restart !== undefined) {
      const text = String(svc.restart);
      const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(text);
      if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) {
        this.ctx.error(this.path('restart'), `must be "no", always, on-failure[:max-retries] or unless-stopped; got ${got(svc.restart)}`);
      } else {
        fromRestart = RESTART[m[1]];
        if (m[2] !== undefined)
          this.ctx.warn(
            this.path('restart'),
            `the limit of ${m[2]} retries is left out: the agent restarts with its own back-off, without a limit on attempts`,
          );
      }
    }
    if (fromDeploy !== undefined && fromRestart !== undefined && fromDeploy !== fromRestart) {
      this.ctx.warn(this.path('restart'), `is left out: deploy.restart_policy (${fromDeploy}) is used, as docker stack deploy does`);
    }
    const chosen = fromDeploy ?? fromRestart;
    if (chosen !== undefined && chosen !== 'always') this.spec.restartPolicy = chosen;
  }

  private volumes(): void {
    const { svc } = this;
    const mounts: Record<string, unknown>[] = [];
    let scratch = 0;
    const mount = (volume: string, target: string, readOnly: boolean) =>
      mounts.push({ name: volume, mountPath: target, ...(readOnly ? { readOnly: true } : {}) });
    const emptyDir = (prefix: string) => {
      const name = `${prefix}-${++scratch}`;
      this.podVolumes.push({ name, emptyDir: {} });
      return name;
    };
    const named = (source: string, target: string, readOnly: boolean, at: string) => {
      const top = this.env.volumes.get(source);
      if (!top) {
        this.ctx.error(
          at,
          `names the volume ${got(source)}, which the top-level volumes map does not declare${didYouMean(source, [...this.env.volumes.keys()])}: add volumes: { ${source}: {} }`,
        );
        return;
      }
      if (!this.podVolumes.some((v) => v.name === top.skiffName)) {
        const entry = { name: top.skiffName, persistent: {} };
        composeNames.set(entry, source);
        this.podVolumes.push(entry);
      }
      mount(top.skiffName, target, readOnly);
    };
    const list = svc.volumes;
    if (list !== undefined && list !== null) {
      if (!Array.isArray(list)) this.ctx.error(this.path('volumes'), `must be a list of mounts such as "data:/var/lib/data"; got ${got(list)}`);
      else
        list.forEach((entry, i) => {
          const at = this.path('volumes', i);
          if (typeof entry === 'string') {
            const parts = entry.split(':');
            const [source, target, mode] = parts.length === 1 ? [undefined, parts[0], undefined] : parts;
            if (parts.length > 3 || target === undefined || target === '') {
              this.ctx.error(at, `must be [source:]target[:mode] such as "data:/var/lib/data" or "data:/etc/app:ro"; got ${got(entry)}`);
              return;
            }
            const modes = (mode ?? '').split(',').filter((m) => m !== '');
            const unknownMode = modes.find((m) => !['ro', 'rw', 'z', 'Z', 'nocopy', 'cached', 'delegated', 'consistent'].includes(m));
            if (unknownMode !== undefined) {
              this.ctx.error(at, `mode ${got(unknownMode)} is not a volume mode (ro, rw, nocopy, z, Z)`);
              return;
            }
            const readOnly = modes.includes('ro');
            if (source === undefined) mount(emptyDir('anon'), target, readOnly);
            else if (isHostPath(source)) this.ctx.error(at, bindRefusal(source));
            else named(source, target, readOnly, at);
            return;
          }
          if (!isRecord(entry)) {
            this.ctx.error(at, `must be a mount such as "data:/var/lib/data" or { type: volume, source: data, target: /var/lib/data }; got ${got(entry)}`);
            return;
          }
          const target = entry.target;
          if (typeof target !== 'string' || target === '') {
            this.ctx.error(`${at}.target`, `is required: the path in the container; got ${got(target)}`);
            return;
          }
          const readOnly = entry.read_only === true;
          const type = entry.type ?? 'volume';
          if (type === 'bind') this.ctx.error(at, bindRefusal(String(entry.source ?? '')));
          else if (type === 'volume') {
            if (typeof entry.source === 'string' && entry.source !== '') named(entry.source, target, readOnly, `${at}.source`);
            else mount(emptyDir('anon'), target, readOnly);
          } else if (type === 'tmpfs') {
            mount(emptyDir('tmpfs'), target, readOnly);
            this.ctx.warn(at, 'tmpfs becomes an emptyDir volume: scratch space on the host disk that lives with the pod, not memory');
          } else this.ctx.error(`${at}.type`, `${got(type)} is not offered: use a named volume (type: volume)`);
        });
    }
    const tmpfs = svc.tmpfs;
    if (tmpfs !== undefined && tmpfs !== null) {
      const paths = typeof tmpfs === 'string' ? [tmpfs] : Array.isArray(tmpfs) ? tmpfs : undefined;
      if (!paths) this.ctx.error(this.path('tmpfs'), `must be a path or a list of paths; got ${got(tmpfs)}`);
      else {
        for (const p of paths) mount(emptyDir('tmpfs'), String(p).split(':')[0], false);
        this.ctx.warn(this.path('tmpfs'), 'becomes emptyDir volumes: scratch space on the host disk that lives with the pod, not memory');
      }
    }
    const persistent = this.podVolumes.filter((v) => v.persistent);
    const replicas = this.replicaCount();
    if (persistent.length > 0 && (replicas > 1 || this.spec.mode === 'global')) {
      this.ctx.warn(
        this.path('volumes'),
        `each replica gets its own copy of ${persistent.map((v) => v.name).join(', ')} (a persistent volume per replica slot), not one volume shared by ${this.spec.mode === 'global' ? 'every host' : `the ${replicas} replicas`}`,
      );
    }
    if (mounts.length > 0) this.container.volumeMounts = mounts;
  }

  private stopping(): void {
    const { svc } = this;
    if (svc.stop_signal !== undefined) {
      const text = String(svc.stop_signal).toUpperCase();
      // Docker takes TERM and SIGTERM alike; Skiff stores the SIG form.
      this.container.stopSignal = text.startsWith('SIG') ? text : `SIG${text}`;
    }
    if (svc.stop_grace_period !== undefined) {
      const s = parseDuration(svc.stop_grace_period);
      if (typeof s !== 'number') this.ctx.error(this.path('stop_grace_period'), s.error);
      else if (Math.ceil(s) > MAX_TERMINATION_GRACE_SECONDS)
        this.ctx.error(
          this.path('stop_grace_period'),
          `${svc.stop_grace_period} is longer than Skiff allows (${MAX_TERMINATION_GRACE_SECONDS}s): a leaving replica holds its host's memory and ports`,
        );
      else this.spec.terminationGracePeriodSeconds = Math.ceil(s);
    }
  }

  private security(): void {
    const { svc } = this;
    const sc: Record<string, unknown> = {};
    const allowed = ALLOWED_CAPABILITIES as readonly string[];
    const caps = (key: 'cap_add' | 'cap_drop') =>
      stringList(svc[key], this.path(key), this.ctx).map((c, i) => ({ name: c.toUpperCase().replace(/^CAP_/, ''), at: this.path(key, i) }));
    const add = caps('cap_add').filter((c) => {
      if (allowed.includes(c.name)) return true;
      this.ctx.warn(c.at, `${c.name} is left out: Skiff refuses capabilities that reach beyond the container; it may add ${allowed.join(', ')}`);
      return false;
    });
    // A capability outside Skiff's set is never granted, so dropping it is already done.
    const drop = caps('cap_drop').filter((c) => c.name === 'ALL' || allowed.includes(c.name));
    if (add.length > 0 || drop.length > 0) {
      sc.capabilities = {
        ...(add.length > 0 ? { add: [...new Set(add.map((c) => c.name))] } : {}),
        ...(drop.length > 0 ? { drop: [...new Set(drop.map((c) => c.name))] } : {}),
      };
    }
    if (svc.read_only === true) sc.readOnlyRootFilesystem = true;
    if (svc.user !== undefined) {
      const text = String(svc.user);
      const m = /^(\d+)(?::(\d+))?$/.exec(text);
      if (m) {
        sc.runAsUser = Number(m[1]);
        if (m[2] !== undefined) sc.runAsGroup = Number(m[2]);
      } else
        this.ctx.warn(
          this.path('user'),
          `${got(text)} is left out: Skiff takes a numeric uid[:gid] (the image's user is used); write the numbers, such as "999:999"`,
        );
    }
    if (Object.keys(sc).length > 0) this.container.securityContext = sc;
  }

  private serviceLabels(): void {
    this.addLabels(this.svc.labels, this.path('labels'));
  }

  private addLabels(value: unknown, at: string): void {
    if (value === undefined || value === null) return;
    let entries: [string, unknown][];
    if (Array.isArray(value)) {
      entries = value.map((item) => {
        const text = String(item);
        const eq = text.indexOf('=');
        return eq < 0 ? [text, ''] : [text.slice(0, eq), text.slice(eq + 1)];
      });
    } else if (isRecord(value)) entries = Object.entries(value);
    else {
      this.ctx.error(at, `must be a list of key=value or a map; got ${got(value)}`);
      return;
    }
    for (const [key, raw] of entries) {
      const v = raw === null ? '' : scalarText(raw);
      const problem = v === undefined ? `its value must be a string; got ${got(raw)}` : (labelKeyProblem(key) ?? labelValueProblem(v));
      if (problem !== undefined) {
        this.ctx.warn(`${at}.${key}`, `is left out: Skiff labels follow Kubernetes' rules, and ${problem}`);
        continue;
      }
      Object.defineProperty(this.labels, key, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }

  /**
   * `x-skiff-ingress: { host, port }` (a Compose extension field, which Compose itself ignores): HTTP
   * requests for `host` reach the healthy replicas through the load balancer, on a container port
   * the service declares; `port` may be left out when the service declares exactly one tcp port.
   */
  private ingress(): void {
    const value = this.svc[INGRESS_KEY];
    if (value === undefined || value === null) return;
    const at = this.path(INGRESS_KEY);
    if (!isRecord(value) || typeof value.host !== 'string') {
      this.ctx.error(at, `must be a map such as { host: shop.example.com, port: 8080 }; got ${got(value)}`);
      return;
    }
    for (const key of Object.keys(value)) {
      if (!['host', 'port', 'sessionAffinity'].includes(key))
        this.ctx.error(`${at}.${key}`, `unknown ingress attribute ${got(key)}${didYouMean(key, ['host', 'port', 'sessionAffinity'])}`);
    }
    const tcp = ((this.container.ports as Port[] | undefined) ?? []).filter((p) => p.protocol === 'tcp');
    const port = value.port === undefined ? (tcp.length === 1 ? tcp[0].containerPort : undefined) : (whole(value.port) ?? value.port);
    if (port === undefined) {
      this.ctx.error(
        `${at}.port`,
        `is required when the service declares ${tcp.length === 0 ? 'no tcp port (add the port to expose or ports)' : `${tcp.length} tcp ports`}: the container port requests go to`,
      );
      return;
    }
    this.spec.ingress = { host: value.host, port, ...(value.sessionAffinity !== undefined ? { sessionAffinity: value.sessionAffinity } : {}) };
  }

  /** Skiff has no start order: the warning says so and what the service must do instead. */
  private dependsOn(): void {
    const d = this.svc.depends_on;
    if (d === undefined || d === null) return;
    const at = this.path('depends_on');
    const deps: { name: string; condition: string }[] = [];
    if (Array.isArray(d)) {
      d.forEach((x, i) => {
        if (typeof x === 'string') deps.push({ name: x, condition: 'service_started' });
        else this.ctx.error(`${at}[${i}]`, `must be a service name; got ${got(x)}`);
      });
    } else if (isRecord(d)) {
      for (const [name, opts] of Object.entries(d)) {
        const condition = isRecord(opts) && typeof opts.condition === 'string' ? opts.condition : 'service_started';
        if (!['service_started', 'service_healthy', 'service_completed_successfully'].includes(condition)) {
          this.ctx.error(`${at}.${name}.condition`, `must be service_started, service_healthy or service_completed_successfully; got ${got(condition)}`);
        }
        deps.push({ name, condition });
      }
    } else {
      this.ctx.error(at, `must be a list of service names or a map; got ${got(d)}`);
      return;
    }
    for (const dep of deps) {
      if (!this.env.services.includes(dep.name)) {
        this.ctx.error(`${at}.${dep.name}`, `names the service ${got(dep.name)}, which the file does not define${didYouMean(dep.name, this.env.services)}`);
      }
    }
    if (deps.length === 0) return;
    const waits = deps.filter((x) => x.condition !== 'service_started').map((x) => `${x.name} (${x.condition})`);
    const once = deps.filter((x) => x.condition === 'service_completed_successfully').map((x) => x.name);
    this.ctx.warn(
      at,
      `Skiff starts every service at once and keeps no start order: ${this.name} may start before ${deps.map((x) => x.name).join(', ')}${
        waits.length > 0 ? `, without waiting for ${waits.join(', ')}` : ''
      }. ${this.name} must retry until they answer (a container that exits is restarted with back-off; a readiness wait in its entrypoint works too)${
        once.length > 0
          ? `; ${once.join(', ')} run${once.length === 1 ? 's' : ''} once: a Skiff Job (kind: Job) applied first fits it better than a service`
          : ''
      }`,
    );
  }
}

/** The extension field that puts a service behind the load balancer (docs/compose.md). */
export const INGRESS_KEY = 'x-skiff-ingress';

const HOST_IP = 'the host address is left out: Skiff publishes on each host address that runs a replica (127.0.1.i locally, the private address on AWS)';

function isHostPath(source: string): boolean {
  return source.startsWith('/') || source.startsWith('.') || source.startsWith('~') || /^[A-Za-z]:[\\/]/.test(source);
}

function bindRefusal(source: string): string {
  if (/docker\.sock$/.test(source))
    return `mounts the Docker socket ${got(source)}: refused, it would give the container every host of the cluster; Skiff manages containers itself`;
  return `binds the host path ${got(source)}: refused, a host directory is on one host only and bypasses the container's isolation; copy files into the image (COPY in a Dockerfile), pass settings in environment, or keep data in a named volume`;
}

/** Splits a command line into words as a POSIX shell would (single and double quotes, backslashes), or says why it cannot. */
export function shellWords(text: string): string[] | string {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return `has an unclosed single quote: ${got(text)}`;
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`'.includes(text[j + 1])) j++;
        word += text[j];
      }
      if (j >= text.length) return `has an unclosed double quote: ${got(text)}`;
      inWord = true;
      i = j;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
