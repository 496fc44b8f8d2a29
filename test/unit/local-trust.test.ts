import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findApi } from '../../cli/client.ts';
import { isLoopbackUrl, readTrustedStatus } from '../../cli/local-status.ts';

const configured = { api: 'https://abc123.execute-api.eu-west-1.amazonaws.com', region: 'eu-west-1' };
let root: string;
let cwd: string;
let statusFile: string;
let env: NodeJS.ProcessEnv;
let warnings: string[];
const warn = (line: string) => warnings.push(line);

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'skiff-trust-'));
  cwd = join(root, 'project', 'sub');
  mkdirSync(cwd, { recursive: true });
  // In a parent folder, as a status file is found from any subfolder.
  mkdirSync(join(root, 'project', '.skiff'), { mode: 0o755 });
  chmodSync(join(root, 'project', '.skiff'), 0o755);
  statusFile = join(root, 'project', '.skiff', 'local.json');
  writeFileSync(statusFile, JSON.stringify({ api: 'http://127.0.0.1:7000', pid: 1 }), { mode: 0o644 });
  chmodSync(statusFile, 0o644);
  mkdirSync(join(root, 'xdg', 'skiff'), { recursive: true });
  writeFileSync(join(root, 'xdg', 'skiff', 'config.json'), JSON.stringify(configured));
  env = { XDG_CONFIG_HOME: join(root, 'xdg') };
  warnings = [];
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('a .skiff/local.json is trusted only when it is the user’s and names a loopback API', () => {
  it('uses a status file of the user’s, in a parent folder, that names a loopback API', () => {
    expect(findApi(undefined, { env, cwd, warn })).toEqual({ url: 'http://127.0.0.1:7000', source: 'local' });
    expect(warnings).toEqual([]);
  });

  it('ignores a status file that names a non-loopback API, says why, and the saved config applies', () => {
    writeFileSync(statusFile, JSON.stringify({ api: 'http://attacker.example.com:7000', pid: 1 }));
    expect(findApi(undefined, { env, cwd, warn })).toEqual({ url: configured.api, source: 'config', region: 'eu-west-1' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(statusFile);
    expect(warnings[0]).toMatch(/not a loopback address/);
  });

  it('ignores a status file that others may write', () => {
    chmodSync(statusFile, 0o666);
    expect(findApi(undefined, { env, cwd, warn }).source).toBe('config');
    expect(warnings).toEqual([`skiff: ignoring ${statusFile}: others may write it (mode 0666)`]);
  });

  it('ignores a status file whose folder others may write', () => {
    chmodSync(join(root, 'project', '.skiff'), 0o777);
    expect(findApi(undefined, { env, cwd, warn }).source).toBe('config');
    expect(warnings).toEqual([`skiff: ignoring ${statusFile}: others may write its folder (mode 0777)`]);
  });

  it('ignores a status file that is a symbolic link (its target could be anyone’s)', () => {
    const real = join(root, 'elsewhere.json');
    writeFileSync(real, JSON.stringify({ api: 'http://127.0.0.1:7000', pid: 1 }));
    rmSync(statusFile);
    symlinkSync(real, statusFile);
    expect(readTrustedStatus(statusFile)).toEqual({ untrusted: 'it is a symbolic link' });
  });

  it.skipIf(process.getuid?.() !== 0)('ignores a status file of another user (run as root: chown)', async () => {
    const { chownSync } = await import('node:fs');
    chownSync(statusFile, 65534, 65534);
    expect(readTrustedStatus(statusFile)?.untrusted).toMatch(/belongs to uid 65534, not to you/);
  });

  it('knows loopback URLs', () => {
    for (const u of ['http://127.0.0.1:1', 'http://127.1.2.3:1', 'http://localhost:1', 'http://[::1]:1']) expect(isLoopbackUrl(u)).toBe(true);
    for (const u of ['http://128.0.0.1:1', 'http://127.0.0.1.nip.io:1', 'http://example.com', 'http://[::2]:1', 'not a url'])
      expect(isLoopbackUrl(u)).toBe(false);
  });
});

describe('the local API token', () => {
  const dataDir = () => join(root, 'project', '.skiff', 'local');
  beforeEach(() => {
    writeFileSync(statusFile, JSON.stringify({ api: 'http://127.0.0.1:7000', pid: 1, dataDir: dataDir() }));
  });

  it('is created once, 32 random bytes in base64url, mode 0600, and kept across starts', async () => {
    const { ensureLocalToken } = await import('../../local/token.ts');
    const token = ensureLocalToken(dataDir());
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(statSync(join(dataDir(), 'token')).mode & 0o777).toBe(0o600);
    expect(ensureLocalToken(dataDir())).toBe(token);
    expect(ensureLocalToken(join(root, 'other'))).not.toBe(token);
  });

  it('is sent by the CLI for the local cluster; --token and $SKIFF_TOKEN override it', async () => {
    const { ensureLocalToken } = await import('../../local/token.ts');
    const token = ensureLocalToken(dataDir());
    expect(findApi(undefined, { env, cwd, warn })).toEqual({ url: 'http://127.0.0.1:7000', source: 'local', token });
    expect(findApi(undefined, { env: { ...env, SKIFF_TOKEN: 'from-env' }, cwd, warn }).token).toBe('from-env');
    expect(findApi(undefined, { env: { ...env, SKIFF_TOKEN: 'from-env' }, cwd, warn, token: 'from-flag' }).token).toBe('from-flag');
    expect(findApi('http://127.0.0.1:9000', { env: { ...env, SKIFF_TOKEN: 'from-env' }, cwd, warn })).toEqual({
      url: 'http://127.0.0.1:9000',
      source: 'flag',
      token: 'from-env',
    });
    // A signed request carries no bearer token: SigV4 owns the Authorization header.
    expect(
      findApi('https://abc123.execute-api.eu-west-1.amazonaws.com', { env: { ...env, SKIFF_REGION: 'eu-west-1', SKIFF_TOKEN: 't' }, cwd, warn }).token,
    ).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('is not read from a token file others may write: the CLI warns and sends none', async () => {
    const { ensureLocalToken } = await import('../../local/token.ts');
    ensureLocalToken(dataDir());
    chmodSync(join(dataDir(), 'token'), 0o666);
    expect(findApi(undefined, { env, cwd, warn })).toEqual({ url: 'http://127.0.0.1:7000', source: 'local' });
    expect(warnings).toEqual([`skiff: ignoring ${join(dataDir(), 'token')}: others may write it (mode 0666)`]);
    // The next start replaces it with a fresh one of the user's alone.
    const fresh = ensureLocalToken(dataDir());
    expect(statSync(join(dataDir(), 'token')).mode & 0o777).toBe(0o600);
    expect(findApi(undefined, { env, cwd, warn }).token).toBe(fresh);
  });
});
