#!/usr/bin/env node
// Bundles the CLI with esbuild into dist/cli/ (gitignored), so that `skiff` starts without
// transpiling TypeScript: bin/skiff.mjs runs dist/cli/main.mjs when no source it was built from has
// changed since, else the sources through tsx. Run by `npm ci` (prepare), `npm start` and `npm test`
// (scripts/lib.sh provision, with --if-stale), or by hand: `node scripts/build-cli.mjs`.
//
// One ESM entry with code splitting: what every command needs is in main.mjs; what only some load
// with a dynamic import (the spec parser with zod and yaml, the SigV4 signer, the AWS credential
// chain) is in chunks read only by those. npm packages are bundled (zod and yaml load in a third
// less CPU time from one chunk than from node_modules, docs/benchmarks.md), except the AWS SDK
// (the credential chain and the signer: only for a deployed API, whose latency dwarfs their
// loading, and whose lazy requires are best left as the SDK ships them), dockerode (native addons) and tsx. `--packages=external`
// leaves every package to node_modules (to compare). The local cluster (cli/local.ts and local/) is left out altogether: it starts its agents
// and load balancer worker from TypeScript files next to its own, so it always runs from source,
// through tsx, which the `local` commands load only then.
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildBundle, bundleIsFresh } from './cli-bundle.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const out = join(dist, 'cli');
const packages = process.argv.includes('--packages=external') ? 'external' : 'bundle';

/** `import('../local.ts')` in cli/commands/local.ts stays a dynamic import of the source file, relative to the bundle. */
const localFromSource = {
  name: 'local-from-source',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/local\.ts$/ }, (args) => {
      if (!args.importer.endsWith(join('cli', 'commands', 'local.ts'))) return undefined;
      return { path: relative(out, resolve(dirname(args.importer), args.path)), external: true };
    });
  },
};

if (process.argv.includes('--if-stale') && bundleIsFresh(pathToFileURL(`${root}/`))) process.exit(0);

// bin/skiff.mjs compares the sources' mtimes with the manifest's start time.
const { result, inputs, bytes } = await buildBundle(
  root,
  'cli',
  {
    entryPoints: { main: 'cli/main.ts' },
    splitting: true,
    chunkNames: '[name]-[hash]',
    packages,
    // dockerode (only `skiff exec` loads it) reaches ssh2 and cpu-features, whose native addons no bundle holds.
    external: ['tsx', 'tsx/*', '@aws-sdk/*', '@smithy/*', 'dockerode'],
    plugins: [localFromSource],
  },
  { packages },
);
console.log(
  `skiff: built the CLI bundle dist/cli/ (${Object.keys(result.metafile.outputs).length} files, ${Math.round(bytes / 1024)} KiB, packages ${packages}) from ${inputs.length} sources`,
);
