// Whether a bundle in dist/ (dist/cli/ by scripts/build-cli.mjs, dist/agent/ by build-agent.mjs) is up to date with its sources; shared by
// bin/skiff.mjs and local/cluster.ts, which run a bundle only then, and the builds, which skip a fresh one with --if-stale. It also swaps a new build into place (swapInto), for the three builds, and runs the esbuild of the CLI and the agent (buildBundle).
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * True when the bundle `dist/<name>/` under `root` (a file URL ending in `/`) was built after the
 * last change to each source it was built from: one read and a stat per source, well under a
 * millisecond. `name` is `cli` (scripts/build-cli.mjs) or `agent` (scripts/build-agent.mjs).
 */
export function bundleIsFresh(root, name = 'cli') {
  try {
    const { startedAt, inputs } = JSON.parse(readFileSync(new URL(`dist/${name}/manifest.json`, root), 'utf8'));
    return inputs.length > 0 && inputs.every((file) => statSync(new URL(file, root)).mtimeMs <= startedAt);
  } catch {
    return false; // no bundle, or a source it names is gone
  }
}

/**
 * Puts the directory built at `tmp` in place of `out` by renaming directories, not files: a reader
 * (a `skiff` or an agent starting, a server reading the console) finds the old build, none, or the
 * new one, never half of one. When another build (a second `npm test` provisioning at once) put its
 * output there first, from the same sources, that one is kept.
 */
export function swapInto(tmp, out) {
  mkdirSync(dirname(out), { recursive: true });
  const old = `${out}.${process.pid}.old`;
  try {
    renameSync(out, old);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  try {
    renameSync(tmp, out);
  } catch (err) {
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    rmSync(tmp, { recursive: true, force: true });
  }
  rmSync(old, { recursive: true, force: true });
}

/** Lets a bundled CommonJS package call require(): ESM output has none unless given one. */
const REQUIRE_BANNER = "import { createRequire as __skiffRequire } from 'node:module'; const require = __skiffRequire(import.meta.url);";

/**
 * Builds `dist/<name>/` under `root` (a path) with esbuild: into a temporary directory, with a
 * manifest of the sources it was built from (read by bundleIsFresh), then swapped into place. The
 * options every build shares are set here; `options` adds the entry points and the rest. When npm
 * packages are bundled (`options.packages` is not 'external'), the lock file is a source too: a
 * changed lock, a stale bundle. Returns esbuild's result, the sources and the bundle's size.
 */
export async function buildBundle(root, name, options, manifestExtra = {}) {
  const out = join(root, 'dist', name);
  const tmp = join(root, 'dist', `${name}.${process.pid}.tmp`);
  const bundlesPackages = options.packages !== 'external';
  // Sources newer than this are not in the bundle.
  const startedAt = Date.now();
  rmSync(tmp, { recursive: true, force: true });
  const { build } = await import('esbuild');
  const result = await build({
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir: tmp,
    outExtension: { '.js': '.mjs' },
    banner: bundlesPackages ? { js: REQUIRE_BANNER } : {},
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
    ...options,
  });
  const inputs = Object.keys(result.metafile.inputs)
    .filter((f) => !f.startsWith('node_modules/') && !f.includes('/node_modules/'))
    .sort();
  if (bundlesPackages) inputs.push('package-lock.json');
  writeFileSync(join(tmp, 'manifest.json'), `${JSON.stringify({ startedAt, ...manifestExtra, inputs }, null, 2)}\n`);
  swapInto(tmp, out);
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  return { result, inputs, bytes };
}
