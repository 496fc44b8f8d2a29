#!/usr/bin/env node
// Bundles the host agent with esbuild into dist/agent/main.mjs (gitignored), so that a local host's
// agent starts without transpiling TypeScript: local/cluster.ts runs the bundle when no source it was
// built from has changed since (scripts/cli-bundle.mjs), else agent/main.ts through tsx. Under load,
// tsx's start of the agent took 6-7 s of wall time here against 2-4 s for the bundle; that start is
// most of what a new local host takes to serve (docs/benchmarks.md, host autoscaling).
// Run by `npm ci` (prepare), `npm start` and `npm test` (scripts/lib.sh provision, with --if-stale),
// or by hand: `node scripts/build-agent.mjs`. AWS hosts get their own bundle from the CDK (infra/hosts.ts).
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildBundle, bundleIsFresh } from './cli-bundle.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

if (process.argv.includes('--if-stale') && bundleIsFresh(pathToFileURL(`${root}/`), 'agent')) process.exit(0);

const { inputs, bytes } = await buildBundle(root, 'agent', {
  entryPoints: { main: 'agent/main.ts' },
  // dockerode reaches ssh2 and cpu-features, whose native addons no bundle holds: it loads from node_modules.
  external: ['dockerode', 'cpu-features', '*.node'],
});
console.log(`skiff: built the agent bundle dist/agent/ (${Math.round(bytes / 1024)} KiB) from ${inputs.length} sources`);
