/**
 * Signing keys in a file of the user's, as local mode keeps its API token key (`<dataDir>/token-key`):
 * JSON with a format version, written atomically with mode 0600 from the first byte.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SkiffError } from '../../core/errors.ts';
import type { SigningKeyStore, StoredSigningKey } from '../../ports/workload-identity.ts';
import { writeFileAtomic } from './atomic-write.ts';

const FORMAT = 'skiff-signing-keys/1';

export class FileSigningKeyStore implements SigningKeyStore {
  constructor(private readonly file: string) {}

  async loadSigningKeys(): Promise<StoredSigningKey[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return parseSigningKeys(text, `signing key file ${this.file}`);
  }

  async saveSigningKeys(keys: readonly StoredSigningKey[]): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, serializeSigningKeys(keys), { mode: 0o600 });
  }
}

/** The stored form, shared with the SSM store. */
export function serializeSigningKeys(keys: readonly StoredSigningKey[]): string {
  return JSON.stringify({ format: FORMAT, keys });
}

/** Reads the stored form; `what` names the source in the error when it is not one. */
export function parseSigningKeys(text: string, what: string): StoredSigningKey[] {
  let data: { format?: unknown; keys?: unknown };
  try {
    data = JSON.parse(text) as typeof data;
  } catch (err) {
    throw new SkiffError(`${what} is not JSON`, { cause: err });
  }
  if (data?.format !== FORMAT || !Array.isArray(data.keys)) throw new SkiffError(`${what} is not in format ${FORMAT}`);
  for (const k of data.keys as Record<string, unknown>[]) {
    if (
      typeof k?.kid !== 'string' ||
      typeof k.alg !== 'string' ||
      typeof k.createdAt !== 'number' ||
      (k.retiredAt !== undefined && typeof k.retiredAt !== 'number') ||
      typeof k.publicJwk !== 'object' ||
      typeof k.privateJwk !== 'object'
    )
      throw new SkiffError(`${what} holds a malformed key (kid ${JSON.stringify(k?.kid)})`);
  }
  return data.keys as StoredSigningKey[];
}
