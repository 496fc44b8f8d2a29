#!/usr/bin/env node
// The `skiff` command. Runs the CLI bundle (dist/cli/main.mjs, built by scripts/build-cli.mjs at
// `npm ci`, `npm start` and `npm test`) when it is there and no source it was built from changed
// since; else the TypeScript sources through tsx, so an edit to cli/ takes effect at once (at tsx's
// start-up cost, about 2 s instead of tens of milliseconds, until the next build).
// SKIFF_CLI=source runs the sources even when the bundle is fresh.
import { bundleIsFresh } from '../scripts/cli-bundle.mjs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

let main;
if (process.env.SKIFF_CLI !== 'source' && bundleIsFresh(new URL('../', import.meta.url))) {
  ({ main } = await import('../dist/cli/main.mjs'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
const code = await main(process.argv.slice(2));
// `local up` returns only after it has stopped; other commands end here.
process.exitCode = code;
