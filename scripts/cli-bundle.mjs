// Whether a bundle in dist/ (dist/cli/ by scripts/build-cli.mjs, dist/agent/ by build-agent.mjs) is up to date with its sources; shared by
// bin/skiff.mjs and local/cluster.ts, which run a bundle only then, and the builds, which skip a fresh one with --if-stale. It also swaps a new build into place (swapInto), for the three builds.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

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
