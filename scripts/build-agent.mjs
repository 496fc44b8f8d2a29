#!/usr/bin/env node
// Bundles the host agent with esbuild into dist/agent/main.mjs (gitignored), so that a local host's
// agent starts without transpiling TypeScript: local/cluster.ts runs the bundle when no source it was
// built from has changed since (scripts/cli-bundle.mjs), else agent/main.ts through tsx. Under load,
// tsx's start of the agent took 6-7 s of wall time here against 2-4 s for the bundle; that start is
// most of what a new local host takes to serve (docs/benchmarks.md, host autoscaling).
// Run by `npm ci` (prepare), `npm start` and `npm test` (scripts/lib.sh provision, with --if-stale),
// or by hand: `node scripts/build-agent.mjs`. AWS hosts get their own bundle from the CDK (infra/hosts.ts).
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleIsFresh, swapInto } from './cli-bundle.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const out = join(dist, 'agent');
const tmp = join(dist, `agent.${process.pid}.tmp`);

if (process.argv.includes('--if-stale') && bundleIsFresh(pathToFileURL(`${root}/`), 'agent')) process.exit(0);

// Sources newer than this are not in the bundle.
const startedAt = Date.now();
rmSync(tmp, { recursive: true, force: true });
const { build } = await import('esbuild');
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'agent/main.ts' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: tmp,
  outExtension: { '.js': '.mjs' },
  // dockerode reaches ssh2 and cpu-features, whose native addons no bundle holds: it loads from node_modules.
  external: ['dockerode', 'cpu-features', '*.node'],
  // A bundled CommonJS package calls require(); ESM output has none unless given one.
  banner: { js: "import { createRequire as __skiffRequire } from 'node:module'; const require = __skiffRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
  legalComments: 'none',
});
const inputs = Object.keys(result.metafile.inputs)
  .filter((f) => !f.startsWith('node_modules/') && !f.includes('/node_modules/'))
  .sort();
// Bundled packages come from node_modules as the lock file pins them: a changed lock, a stale bundle.
inputs.push('package-lock.json');
writeFileSync(join(tmp, 'manifest.json'), `${JSON.stringify({ startedAt, inputs }, null, 2)}\n`);
swapInto(tmp, out);
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`skiff: built the agent bundle dist/agent/ (${Math.round(bytes / 1024)} KiB) from ${inputs.length} sources`);
