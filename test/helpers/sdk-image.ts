/**
 * The image of the real-SDK workload identity test: `skiff/node-sdk:test`, built offline from
 * skiff/busybox, this machine's node with the shared libraries `ldd` lists for it, and the bundle of
 * test/fixtures/sdk-image/whoami.ts (esbuild). Nothing is pulled. The image carries a label with a hash
 * of everything it is built from: an up-to-date image is kept (the build is skipped), so only the first
 * run on a machine, or a change of node or of the script, pays for it. Call under the Docker lock.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const SDK_IMAGE = 'skiff/node-sdk:test';
const LABEL = 'skiff.sdk-image-key';
const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'sdk-image');
const run = promisify(execFile);

/** What `ensureSdkImage` did: whether it built, how long it took, and the image's size. */
export interface SdkImage {
  readonly built: boolean;
  readonly ms: number;
  readonly bytes: number;
}

export async function ensureSdkImage(): Promise<SdkImage> {
  const started = Date.now();
  const { build } = await import('esbuild');
  const bundled = await build({
    entryPoints: [join(FIXTURE, 'whoami.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const bundle = bundled.outputFiles[0].contents;
  const node = await realpath(process.execPath);
  const libs = await sharedLibraries(node);
  const dockerfile = await readFile(join(FIXTURE, 'Dockerfile'));
  const key = createHash('sha256');
  for (const part of [dockerfile, bundle, await readFile(node), ...(await Promise.all(libs.map((l) => readFile(l))))])
    key.update(createHash('sha256').update(part).digest());
  key.update(libs.join('\n'));
  const wanted = key.digest('hex');

  const inspect = async () => {
    try {
      const { stdout } = await run('docker', ['image', 'inspect', '--format', `{{.Id}} {{.Size}} {{ index .Config.Labels "${LABEL}" }}`, SDK_IMAGE]);
      const [id, size, label] = stdout.trim().split(' ');
      return { id, bytes: Number(size), label };
    } catch {
      return undefined;
    }
  };
  const before = await inspect();
  if (before?.label === wanted) return { built: false, ms: Date.now() - started, bytes: before.bytes };

  const context = await mkdtemp(join(tmpdir(), 'skiff-sdk-image-'));
  try {
    const rootfs = join(context, 'rootfs');
    const put = async (path: string, from: string | Uint8Array) => {
      const to = join(rootfs, path);
      await mkdir(dirname(to), { recursive: true });
      if (typeof from === 'string') await copyFile(from, to);
      else await writeFile(to, from);
    };
    await put('/usr/bin/node', node);
    // At the paths ldd names: the dynamic loader's path is compiled into node, the rest are searched there.
    for (const lib of libs) await put(lib, lib);
    await put('/app/whoami.cjs', bundle);
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    // The classic builder: no buildx plugin, and nothing fetched for a base that is present locally.
    await run('docker', ['build', '-q', '--label', `${LABEL}=${wanted}`, '-t', SDK_IMAGE, context], {
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
      timeout: 180_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  } finally {
    await rm(context, { recursive: true, force: true });
  }
  const after = await inspect();
  if (!after || after.label !== wanted) throw new Error(`docker build of ${SDK_IMAGE} left no image labelled ${LABEL}=${wanted}`);
  // The previous build is untagged now; drop it unless a container still uses it.
  if (before && before.id !== after.id) await run('docker', ['image', 'rm', before.id]).catch(() => undefined);
  return { built: true, ms: Date.now() - started, bytes: after.bytes };
}

/** The absolute paths of the shared libraries `ldd` lists for `binary`, its dynamic loader included. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  const paths = stdout
    .split('\n')
    .map((line) => /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);
  return [...new Set(paths)].sort();
}
