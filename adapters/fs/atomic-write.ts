/**
 * Replace a file atomically: write a temporary file in the same directory (so the rename stays on
 * one filesystem), with its final mode, flush it to disk, then rename it over the target. A reader
 * or a crash sees the old file or the new one, never half of one; after a crash the new content
 * is either all there or not at all, because it was on disk before the rename made it visible.
 *
 * Used by every program that keeps a file (the agent's saved state, the stand-ins' data files,
 * the local cluster's records, the CLI's config). It lives in adapters/ because it is I/O, which
 * core/ must not do; agent/, local/ and cli/ all import from adapters/ already or may.
 */
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /**
   * The file's permission bits, set outright (not filtered by the umask), before the content is
   * written: a secret is never readable by others, not even for a moment.
   * @default 0o666 filtered by the umask, as a plain write
   */
  readonly mode?: number;
}

/**
 * Distinguishes the temporary files of concurrent writes of one process to one target; the pid
 * those of other processes. Opened with 'w', not 'wx': a temporary file left by a crash may carry
 * the same name after a restart (pids repeat in containers), and is simply overwritten.
 */
let sequence = 0;

function tempName(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${++sequence}.tmp`);
}

/** Atomically replaces `file` with `data` (see the module comment). The directory must exist. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempName(file);
  try {
    const handle = await open(tmp, 'w', options.mode ?? 0o666);
    try {
      if (options.mode !== undefined) await handle.chmod(options.mode);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** The synchronous twin of `writeFileAtomic`, for code that has no event loop to spare (exit paths, the CLI). */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const tmp = tempName(file);
  try {
    const fd = openSync(tmp, 'w', options.mode ?? 0o666);
    try {
      if (options.mode !== undefined) fchmodSync(fd, options.mode);
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
