/**
 * The local API's admin token: 32 random bytes, base64url, in `<dataDir>/token` (mode 0600),
 * created by the first `skiff local up` and kept, so that a restarted control plane takes the
 * token that scripts and terminals already hold. The CLI reads it from there (cli/local-status.ts),
 * under the same ownership checks as the status file.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomicSync } from '../adapters/fs/atomic-write.ts';
import { readLocalToken, tokenFilePath } from '../cli/local-status.ts';

/** 32 bytes in base64url, unpadded. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** The data folder's token, created when there is none (or one that is not the user's alone, or not a token). */
export function ensureLocalToken(dataDir: string): string {
  const saved = readLocalToken(dataDir);
  if (saved?.token && TOKEN.test(saved.token)) return saved.token;
  const token = randomBytes(32).toString('base64url');
  const file = tokenFilePath(dataDir);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/**
 * The key that signs the tokens `skiff token create` issues (app/tokens.ts): 32 random bytes in
 * `<dataDir>/token-key` (mode 0600), made once and kept, so tokens outlive a restart. Only the
 * control plane reads it; a file that is not the user's alone, or not 32 bytes, is replaced (which
 * invalidates every token signed before: the safe way to fail).
 */
export function ensureSigningKey(dataDir: string): Uint8Array {
  const file = join(dataDir, 'token-key');
  try {
    const st = lstatSync(file);
    const mine = st.isFile() && (st.mode & 0o077) === 0 && (process.getuid === undefined || st.uid === process.getuid());
    const key = mine ? readFileSync(file) : undefined;
    if (key && key.length === 32) return new Uint8Array(key);
  } catch {
    // Absent: made below.
  }
  const key = randomBytes(32);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomicSync(file, key, { mode: 0o600 });
  return new Uint8Array(key);
}
