#!/usr/bin/env node
// Bundles the web console (web/console/, preact) with esbuild into dist/console/ (gitignored):
// console.js (minified, one classic script), console.css and index.html, which the API serves at
// /console (app/console-assets.ts, docs/console.md). Run by `npm ci` (prepare), `npm start` and
// `npm test` (scripts/lib.sh provision, with --if-stale), by the CDK bundling of the API function
// (infra/control-functions.ts, with --out <its asset>/console), or by hand: `npm run build:console`.
// Prints the bundle's size, raw and gzipped.
import { copyFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { swapInto } from './cli-bundle.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? resolve(args[outAt + 1] ?? '') : join(root, 'dist', 'console');
if (outAt >= 0 && !args[outAt + 1]) {
  console.error('skiff: build-console: --out needs a directory');
  process.exit(2);
}

/** True when `dir` holds a build newer than every source it was built from. */
function fresh(dir) {
  try {
    const { startedAt, inputs } = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    return inputs.length > 0 && inputs.every((f) => statSync(join(root, f)).mtimeMs <= startedAt);
  } catch {
    return false;
  }
}

if (args.includes('--if-stale') && fresh(out)) process.exit(0);

const startedAt = Date.now();
const tmp = `${out}.${process.pid}.tmp`;
rmSync(tmp, { recursive: true, force: true });
const { build } = await import('esbuild');
const result = await build({
  absWorkingDir: root,
  entryPoints: ['web/console/main.tsx', 'web/console/console.css'],
  entryNames: 'console',
  bundle: true,
  minify: true,
  // A classic script (defer): nothing depends on module loading, and the page needs one file.
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: tmp,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(root, 'web/console/index.html'), join(tmp, 'index.html'));
const inputs = [...Object.keys(result.metafile.inputs), 'web/console/index.html', 'package-lock.json'].filter((f) => !f.includes('node_modules/')).sort();
// The manifest serves --if-stale in dist/. A Lambda asset gets none: its hash is its content's, and
// a build time in it would redeploy the API function on every `cdk deploy`.
if (outAt < 0) writeFileSync(join(tmp, 'manifest.json'), `${JSON.stringify({ startedAt, inputs }, null, 2)}\n`);
swapInto(tmp, out);
const size = (file) => {
  const b = readFileSync(join(out, file));
  return `${(b.length / 1024).toFixed(1)} KiB (${(gzipSync(b, { level: 9 }).length / 1024).toFixed(1)} KiB gzipped)`;
};
console.log(
  `skiff: built the web console ${out === join(root, 'dist', 'console') ? 'dist/console/' : out}: console.js ${size('console.js')}, console.css ${size('console.css')}`,
);
