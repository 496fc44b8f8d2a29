/** True when `dist/<name>/` under `root` (a file URL ending in `/`) is up to date with its sources (scripts/cli-bundle.mjs). */
export function bundleIsFresh(root: URL, name?: 'cli' | 'agent'): boolean;
/** Builds `dist/<name>/` under `root` (a path) with esbuild, with its manifest, swapped into place (scripts/cli-bundle.mjs). */
export function buildBundle(
  root: string,
  name: string,
  options: Record<string, unknown>,
  manifestExtra?: Record<string, unknown>,
): Promise<{ result: unknown; inputs: string[]; bytes: number }>;
