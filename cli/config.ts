/**
 * The CLI's saved connection: `$XDG_CONFIG_HOME/skiff/config.json` (else `~/.config/skiff/config.json`),
 * written by `skiff config set`. It names a deployed API and, for IAM authorization, its region and
 * the AWS profile whose credentials sign the requests.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomicSync } from '../adapters/fs/atomic-write.ts';

export interface CliConfig {
  api: string;
  region?: string;
  profile?: string;
}

/** Thrown for a value the user typed wrong (the command turns it into a usage error). */
export class ConfigValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigValueError';
  }
}

/** Where the config file lives for this environment. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg?.startsWith('/') ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'skiff', 'config.json');
}

/** The API URL without trailing slashes; only http(s) URLs without credentials, query or fragment. */
export function validateApiUrl(raw: string, what = '--api'): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigValueError(`${what} "${raw}" is not a URL: give one like https://abc123.execute-api.eu-west-1.amazonaws.com`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ConfigValueError(`${what} "${raw}" must be an http:// or https:// URL, not ${url.protocol}`);
  if (url.username || url.password) throw new ConfigValueError(`${what} "${raw}" must not carry a user name or password`);
  if (url.search || url.hash) throw new ConfigValueError(`${what} "${raw}" must not have a query string or fragment`);
  return raw.replace(/\/+$/, '');
}

// Region names: two-letter area, one or more words, a number (us-east-1, us-gov-west-1, eu-isoe-west-1).
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** A region name such as `eu-west-1`. */
export function validateRegion(raw: string, what = '--region'): string {
  if (!REGION.test(raw)) throw new ConfigValueError(`${what} "${raw}" is not an AWS region name: give one like eu-west-1`);
  return raw;
}

/** The region in an API Gateway URL (`https://<id>.execute-api.<region>.amazonaws.com[.cn]`), if it is one. */
export function regionFromApiUrl(url: string): string | undefined {
  const m = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname);
  return m && REGION.test(m[1]!) ? m[1] : undefined;
}

function validateProfile(raw: string): string {
  if (!raw || /\s/.test(raw)) throw new ConfigValueError(`--profile "${raw}" is not a profile name: it must be non-empty, without spaces`);
  return raw;
}

/** Validates a config to save; the region defaults to the one in an execute-api URL. */
export function buildConfig(input: { api: string; region?: string; profile?: string }): CliConfig {
  const api = validateApiUrl(input.api);
  const region = input.region !== undefined ? validateRegion(input.region) : regionFromApiUrl(api);
  const profile = input.profile !== undefined ? validateProfile(input.profile) : undefined;
  return { api, ...(region ? { region } : {}), ...(profile ? { profile } : {}) };
}

/** The saved config, or undefined when there is none. A file that is there but wrong is an error, not ignored. */
export function readConfig(file = configPath()): CliConfig | undefined {
  if (!existsSync(file)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`the config file ${file} is not valid JSON (${(err as Error).message}): fix it, or remove it with skiff config unset`);
  }
  const c = data as Partial<CliConfig> | null;
  if (!c || typeof c !== 'object' || typeof c.api !== 'string')
    throw new Error(`the config file ${file} has no "api" URL: set one with skiff config set --api URL`);
  try {
    validateApiUrl(c.api, `"api" in ${file}`);
    if (c.region !== undefined) validateRegion(String(c.region), `"region" in ${file}`);
  } catch (err) {
    throw new Error(`${(err as Error).message}; fix it with skiff config set`);
  }
  return { api: c.api, ...(c.region ? { region: c.region } : {}), ...(typeof c.profile === 'string' && c.profile ? { profile: c.profile } : {}) };
}

/** Writes the config with mode 0600 (owner only): it says which account and profile to use. */
export function writeConfig(config: CliConfig, file = configPath()): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

/** Removes the config file; true when there was one. */
export function unsetConfig(file = configPath()): boolean {
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}
