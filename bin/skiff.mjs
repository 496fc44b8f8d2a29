#!/usr/bin/env node
// The `skiff` command: runs the TypeScript CLI through tsx's loader, no build step needed.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
const code = await main(process.argv.slice(2));
// `local up` returns only after it has stopped; other commands end here.
process.exitCode = code;
