/**
 * Local esbuild bundling for CDK assets that are not Lambda functions (the host agent).
 * It runs esbuild's JS API in-process, so synthesis never needs Docker.
 */
import path from 'node:path';
import { buildSync } from 'esbuild';
import type { ILocalBundling } from 'aws-cdk-lib';

/**
 * Lets ESM output run bundled CommonJS code, which expects `require`, `__filename` and
 * `__dirname` (dockerode's dependencies use all three); an `.mjs` file has none of them.
 * `__filename`/`__dirname` are provided under private names and mapped with `ESM_DEFINE`, so an
 * ESM module that declares its own `__dirname` does not collide with the banner.
 */
export const ESM_BANNER = [
  "import { createRequire as __skiffCreateRequire } from 'node:module';",
  "import { fileURLToPath as __skiffFileURLToPath } from 'node:url';",
  "import { dirname as __skiffDirnameOf } from 'node:path';",
  'const require = __skiffCreateRequire(import.meta.url);',
  'const __skiffFilename = __skiffFileURLToPath(import.meta.url);',
  'const __skiffDirname = __skiffDirnameOf(__skiffFilename);',
].join(' ');

/** esbuild `define`: free `__filename`/`__dirname` references resolve to the banner's values. */
export const ESM_DEFINE: Readonly<Record<string, string>> = { __filename: '__skiffFilename', __dirname: '__skiffDirname' };

/**
 * Modules left out of the bundle. ssh2 (pulled in by docker-modem) loads an optional native
 * crypto binding and `cpu-features` inside try/catch and falls back to pure JS when they are
 * missing; bundling them would make the output architecture-specific (hosts are arm64, the
 * build machine may not be).
 */
export const AGENT_EXTERNALS: readonly string[] = ['cpu-features', '*.node'];

export interface EsbuildBundlingProps {
  /** Absolute path of the TypeScript entry point. */
  readonly entry: string;
  /** File name of the single output file, written into the asset directory. */
  readonly outfile: string;
  /**
   * esbuild target, for example `node22`.
   * @default 'node22'
   */
  readonly target?: string;
  /**
   * Modules esbuild must not bundle.
   * @default AGENT_EXTERNALS
   */
  readonly externals?: readonly string[];
}

/** Bundles one entry into a single ESM file with esbuild, in-process. */
export class EsbuildBundling implements ILocalBundling {
  private readonly props: EsbuildBundlingProps;

  constructor(props: EsbuildBundlingProps) {
    if (!path.isAbsolute(props.entry)) {
      throw new Error(`EsbuildBundling entry must be an absolute path, got '${props.entry}'`);
    }
    if (props.outfile.includes('/') || props.outfile.includes('\\')) {
      throw new Error(`EsbuildBundling outfile must be a bare file name, got '${props.outfile}'`);
    }
    this.props = props;
  }

  /** Always bundles locally or throws: returning false would make CDK fall back to Docker. */
  tryBundle(outputDir: string): boolean {
    const result = buildSync({
      entryPoints: [this.props.entry],
      outfile: path.join(outputDir, this.props.outfile),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: this.props.target ?? 'node22',
      external: [...(this.props.externals ?? AGENT_EXTERNALS)],
      banner: { js: ESM_BANNER },
      define: { ...ESM_DEFINE },
      legalComments: 'none',
      logLevel: 'silent',
    });
    if (result.errors.length > 0) {
      throw new Error(`esbuild failed for ${this.props.entry}: ${result.errors.map((e) => e.text).join('; ')}`);
    }
    return true;
  }
}
