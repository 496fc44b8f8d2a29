/**
 * The local API's admin token: 32 random bytes, base64url, in `<dataDir>/token` (mode 0600),
 * created by the first `skiff local up` and kept, so that a restarted control plane takes the
 * token that scripts and terminals already hold. The CLI reads it from there (cli/local-status.ts),
 * under the same ownership checks as the status file.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
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
