// Whether dist/cli/ (built by scripts/build-cli.mjs) is up to date with its sources; shared by
// bin/skiff.mjs, which runs it only then, and the build, which skips a fresh one with --if-stale.
import { readFileSync, statSync } from 'node:fs';

/**
 * True when the bundle under `root` (a file URL ending in `/`) was built after the last change to
 * each source it was built from: one read and a stat per source, well under a millisecond.
 */
export function bundleIsFresh(root) {
  try {
    const { startedAt, inputs } = JSON.parse(readFileSync(new URL('dist/cli/manifest.json', root), 'utf8'));
    return inputs.length > 0 && inputs.every((file) => statSync(new URL(file, root)).mtimeMs <= startedAt);
  } catch {
    return false; // no bundle, or a source it names is gone
  }
}
