import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { buildBundle, bundleIsFresh } from '../../scripts/cli-bundle.mjs';

// The CLI and agent builds (scripts/build-cli.mjs, build-agent.mjs) share buildBundle; what runs a
// bundle (bin/skiff.mjs, local/cluster.ts) trusts it only while bundleIsFresh says so.
describe('buildBundle and bundleIsFresh', () => {
  let root: string;
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function project(): string {
    root = mkdtempSync(join(tmpdir(), 'skiff-bundle-'));
    writeFileSync(join(root, 'dep.ts'), 'export const answer: number = 42;\n');
    writeFileSync(join(root, 'main.ts'), "import { answer } from './dep.ts';\nconsole.log(answer);\n");
    writeFileSync(join(root, 'package-lock.json'), '{}\n');
    return root;
  }
  const at = (r: string) => pathToFileURL(`${r}/`);
  const past = (file: string) => utimesSync(file, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));

  it('writes the bundle with a manifest of its sources and the lock file, and is fresh until a source changes', async () => {
    const r = project();
    for (const f of ['dep.ts', 'main.ts', 'package-lock.json']) past(join(r, f));
    const { inputs, bytes } = await buildBundle(r, 'agent', { entryPoints: { main: 'main.ts' } });
    expect(inputs).toEqual(['dep.ts', 'main.ts', 'package-lock.json']);
    expect(bytes).toBeGreaterThan(0);
    expect(readFileSync(join(r, 'dist/agent/main.mjs'), 'utf8')).toContain('42');
    expect(bundleIsFresh(at(r), 'agent')).toBe(true);
    expect(bundleIsFresh(at(r), 'cli')).toBe(false); // never built

    writeFileSync(join(r, 'dep.ts'), 'export const answer: number = 43;\n'); // now, after the build started
    expect(bundleIsFresh(at(r), 'agent')).toBe(false);
  });

  it('leaves the lock file out when packages stay external, and records extra manifest fields', async () => {
    const r = project();
    const { inputs } = await buildBundle(r, 'cli', { entryPoints: { main: 'main.ts' }, packages: 'external' }, { packages: 'external' });
    expect(inputs).toEqual(['dep.ts', 'main.ts']);
    expect(JSON.parse(readFileSync(join(r, 'dist/cli/manifest.json'), 'utf8')).packages).toBe('external');
  });

  it('is not fresh when a source it names is gone', async () => {
    const r = project();
    past(join(r, 'dep.ts'));
    await buildBundle(r, 'agent', { entryPoints: { main: 'main.ts' } });
    rmSync(join(r, 'dep.ts'));
    expect(bundleIsFresh(at(r), 'agent')).toBe(false);
  });
});
