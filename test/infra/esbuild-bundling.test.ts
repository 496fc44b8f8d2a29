import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ESM_BANNER, EsbuildBundling } from '../../infra/esbuild-bundling.ts';
import { fixture } from './helpers.ts';

const dirs: string[] = [];
function tempDir(): string {
  // Outside the repository, so the bundle cannot resolve anything from node_modules.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-bundle-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('EsbuildBundling', () => {
  it('bundles an entry that uses dockerode into one ESM file that loads without node_modules', () => {
    const out = tempDir();
    expect(new EsbuildBundling({ entry: fixture('agent-main.ts'), outfile: 'agent.mjs' }).tryBundle(out)).toBe(true);
    expect(fs.readdirSync(out)).toEqual(['agent.mjs']);
    const run = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `const m = await import(${JSON.stringify(path.join(out, 'agent.mjs'))}); console.log(m.dockerClientLoaded);`],
      { cwd: out, encoding: 'utf8', timeout: 20_000 },
    );
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('true');
  });

  it('leaves no native addon in the bundle, so it runs on arm64 and x86_64 alike', () => {
    const out = tempDir();
    new EsbuildBundling({ entry: fixture('agent-main.ts'), outfile: 'agent.mjs' }).tryBundle(out);
    const code = fs.readFileSync(path.join(out, 'agent.mjs'), 'utf8');
    expect(code).not.toMatch(/\x7fELF/);
    expect(code.startsWith(ESM_BANNER)).toBe(true);
  });

  it('fails loudly instead of returning false (which would make CDK fall back to Docker)', () => {
    const out = tempDir();
    const bundling = new EsbuildBundling({ entry: fixture('does-not-exist.ts'), outfile: 'agent.mjs' });
    expect(() => bundling.tryBundle(out)).toThrow(/does-not-exist\.ts/);
  });

  it('rejects a relative entry and an outfile with a directory', () => {
    expect(() => new EsbuildBundling({ entry: 'agent/main.ts', outfile: 'agent.mjs' })).toThrow(
      "EsbuildBundling entry must be an absolute path, got 'agent/main.ts'",
    );
    expect(() => new EsbuildBundling({ entry: fixture('agent-main.ts'), outfile: 'dist/agent.mjs' })).toThrow(
      "EsbuildBundling outfile must be a bare file name, got 'dist/agent.mjs'",
    );
  });
});
