/** True when `dist/<name>/` under `root` (a file URL ending in `/`) is up to date with its sources (scripts/cli-bundle.mjs). */
export function bundleIsFresh(root: URL, name?: 'cli' | 'agent'): boolean;
