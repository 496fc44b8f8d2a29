// Whether a bundle in dist/ (dist/cli/ by scripts/build-cli.mjs, dist/agent/ by build-agent.mjs) is up to date with its sources; shared by
// bin/skiff.mjs and local/cluster.ts, which run a bundle only then, and the builds, which skip a fresh one with --if-stale.
import { readFileSync, statSync } from 'node:fs';

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
