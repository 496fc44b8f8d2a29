/**
 * A headless browser for the web console's tests: Debian's chromium driven by playwright-core, which
 * never downloads a browser. Absent chromium, the tests that need it are skipped with this reason.
 */
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.SKIFF_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function noBrowserReason(): string | undefined {
  return existsSync(CHROMIUM)
    ? undefined
    : `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; npm test does as root) or set SKIFF_CHROMIUM`;
}

export async function launchBrowser(): Promise<Browser> {
  // --no-sandbox: the tests may run as root (CI), where chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 20_000 });
}

/** Builds the console (dist/console/) unless it is fresh, and returns its directory. */
export function builtConsole(root: string): string {
  execFileSync(process.execPath, [join(root, 'scripts', 'build-console.mjs'), '--if-stale'], { cwd: root, stdio: 'pipe', timeout: 60_000 });
  return join(root, 'dist', 'console');
}
