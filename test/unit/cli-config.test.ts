import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findApi } from '../../cli/client.ts';
import { configPath } from '../../cli/config.ts';
import { main } from '../../cli/main.ts';

let dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'skiff-config-'));
  dirs.push(d);
  return d;
}

let savedXdg: string | undefined;
let xdg: string;
let logs: string[];
let errs: string[];
const out = { log: (s: string) => logs.push(s), err: (s: string) => errs.push(s), isTTY: false };
const file = () => join(xdg, 'skiff', 'config.json');

beforeEach(() => {
  savedXdg = process.env.XDG_CONFIG_HOME;
  xdg = tempDir();
  process.env.XDG_CONFIG_HOME = xdg;
  logs = [];
  errs = [];
});

afterEach(() => {
  try {
    if (savedXdg === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = savedXdg;
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs = [];
  }
});

describe('skiff config', () => {
  it('set writes the file under XDG_CONFIG_HOME with mode 0600, get prints it, unset removes it', async () => {
    expect(await main(['config', 'set', '--api', 'https://api.example.com/prod/', '--region', 'eu-west-1', '--profile', 'ops'], out)).toBe(0);
    expect(statSync(file()).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file(), 'utf8'))).toEqual({ api: 'https://api.example.com/prod', region: 'eu-west-1', profile: 'ops' });
    expect(logs.join('\n')).toContain('signed with SigV4 for eu-west-1');

    logs = [];
    expect(await main(['config', 'get', '-o', 'json'], out)).toBe(0);
    expect(JSON.parse(logs.join('\n'))).toEqual({ api: 'https://api.example.com/prod', region: 'eu-west-1', profile: 'ops' });
    logs = [];
    expect(await main(['config', 'get'], out)).toBe(0);
    expect(logs.join('\n')).toMatch(/https:\/\/api\.example\.com\/prod\s+eu-west-1\s+ops/);

    logs = [];
    expect(await main(['config', 'unset'], out)).toBe(0);
    expect(existsSync(file())).toBe(false);
    expect(await main(['config', 'unset'], out)).toBe(0);
    expect(logs.join('\n')).toContain('nothing to remove');
    expect(await main(['config', 'get'], out)).toBe(1);
    expect(errs.join('\n')).toContain(`no config at ${file()}`);
  });

  it('takes the region from an execute-api URL when --region is absent, and none from another URL', async () => {
    expect(await main(['config', 'set', '--api', 'https://abc123.execute-api.ap-south-1.amazonaws.com'], out)).toBe(0);
    expect(JSON.parse(readFileSync(file(), 'utf8'))).toEqual({ api: 'https://abc123.execute-api.ap-south-1.amazonaws.com', region: 'ap-south-1' });
    expect(await main(['config', 'set', '--api', 'https://skiff.example.com'], out)).toBe(0);
    expect(JSON.parse(readFileSync(file(), 'utf8'))).toEqual({ api: 'https://skiff.example.com' });
  });

  it.each([
    [['--api', 'not a url'], 'is not a URL'],
    [['--api', 'ftp://example.com'], 'must be an http:// or https:// URL'],
    [['--api', 'https://me:secret@example.com'], 'user name or password'],
    [['--api', 'https://example.com/?stage=prod'], 'query string'],
    [['--api', 'https://example.com', '--region', 'EU-WEST-1'], '--region "EU-WEST-1" is not an AWS region name'],
    [['--api', 'https://example.com', '--region', 'eu_west_1'], 'is not an AWS region name'],
    [['--api', 'https://example.com', '--profile', 'my profile'], 'is not a profile name'],
    [['--region', 'eu-west-1'], 'config set needs --api URL'],
    [['--api', 'https://example.com', '--namespace', 'x'], "Unknown option '--namespace'"],
    [['--api', 'https://example.com', 'extra'], 'unexpected argument "extra"'],
  ])('set %j is a usage error (exit 2) saying "%s", and writes nothing', async (args, message) => {
    expect(await main(['config', 'set', ...args], out)).toBe(2);
    expect(errs.join('\n')).toContain(message);
    expect(existsSync(file())).toBe(false);
  });

  it('rejects an unknown subcommand and flags of other subcommands', async () => {
    expect(await main(['config', 'show'], out)).toBe(2);
    expect(await main(['config', 'get', '--api', 'https://example.com'], out)).toBe(2);
    expect(await main(['config', 'unset', '--region', 'eu-west-1'], out)).toBe(2);
    expect(errs).toHaveLength(3);
  });

  it('ignores a relative XDG_CONFIG_HOME, as the XDG spec says, and falls back to ~/.config', () => {
    expect(configPath({ XDG_CONFIG_HOME: 'relative/dir', HOME: '/home/ann' })).toBe('/home/ann/.config/skiff/config.json');
    expect(configPath({ HOME: '/home/ann' })).toBe('/home/ann/.config/skiff/config.json');
    expect(configPath({ XDG_CONFIG_HOME: '/x/conf', HOME: '/home/ann' })).toBe('/x/conf/skiff/config.json');
  });
});

describe('findApi precedence: --api, $SKIFF_API, the local cluster, the config file', () => {
  const configured = { api: 'https://abc123.execute-api.eu-west-1.amazonaws.com', region: 'eu-west-1', profile: 'ops' };
  let cwd: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    cwd = tempDir();
    mkdirSync(join(cwd, '.skiff'));
    writeFileSync(join(cwd, '.skiff', 'local.json'), JSON.stringify({ api: 'http://127.0.0.1:7000' }));
    mkdirSync(join(xdg, 'skiff'));
    writeFileSync(file(), JSON.stringify(configured));
    env = { XDG_CONFIG_HOME: xdg, SKIFF_API: 'https://env.example.com/' };
  });

  it('takes the flag first, then $SKIFF_API, then the local cluster, then the config file', () => {
    expect(findApi('https://flag.example.com', { env, cwd })).toEqual({ url: 'https://flag.example.com', source: 'flag' });
    expect(findApi(undefined, { env, cwd })).toEqual({ url: 'https://env.example.com', source: 'env' });
    delete env.SKIFF_API;
    expect(findApi(undefined, { env, cwd })).toEqual({ url: 'http://127.0.0.1:7000', source: 'local' });
    rmSync(join(cwd, '.skiff'), { recursive: true });
    expect(findApi(undefined, { env, cwd })).toEqual({ url: configured.api, source: 'config', region: 'eu-west-1', profile: 'ops' });
    rmSync(file());
    expect(() => findApi(undefined, { env, cwd })).toThrow(/skiff config set --api URL/);
  });

  it('gives a flag or $SKIFF_API URL the region of $SKIFF_REGION, else $AWS_REGION except for a loopback URL', () => {
    expect(findApi('https://flag.example.com', { env: { ...env, SKIFF_REGION: 'us-east-2', AWS_REGION: 'eu-west-1' }, cwd }).region).toBe('us-east-2');
    expect(findApi(undefined, { env: { ...env, AWS_REGION: 'eu-west-1' }, cwd }).region).toBe('eu-west-1');
    expect(findApi('http://127.0.0.1:7000', { env: { ...env, AWS_REGION: 'eu-west-1' }, cwd }).region).toBeUndefined();
    expect(findApi('http://127.0.0.1:7000', { env: { ...env, SKIFF_REGION: 'eu-west-1' }, cwd }).region).toBe('eu-west-1');
    expect(() => findApi('https://flag.example.com', { env: { ...env, SKIFF_REGION: 'nowhere' }, cwd })).toThrow(
      /SKIFF_REGION "nowhere" is not an AWS region name/,
    );
  });

  it('reports a wrong --api or $SKIFF_API as itself rather than falling through', () => {
    expect(() => findApi('nope', { env, cwd })).toThrow(/--api "nope" is not a URL/);
    expect(() => findApi(undefined, { env: { ...env, SKIFF_API: 'nope' }, cwd })).toThrow(/SKIFF_API "nope" is not a URL/);
  });

  it('names the config file when it is broken', () => {
    rmSync(join(cwd, '.skiff'), { recursive: true });
    delete env.SKIFF_API;
    writeFileSync(file(), '{ not json');
    expect(() => findApi(undefined, { env, cwd })).toThrow(`the config file ${file()} is not valid JSON`);
    writeFileSync(file(), JSON.stringify({ api: 'https://x.example.com', region: 'Mars' }));
    expect(() => findApi(undefined, { env, cwd })).toThrow(/"region" in .*config\.json "Mars" is not an AWS region name/);
  });
});
