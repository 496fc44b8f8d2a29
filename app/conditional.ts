/**
 * Conditional writes over HTTP (docs/api.md): a client sends `If-Match` with the version it read
 * (the `ETag` of a GET, or the `specVersion` field), and the write is refused with 412 when the
 * object has another version now, so two people editing one service do not overwrite each other
 * silently. The stores' writes are already conditional on the version read just before (a race
 * between that read and the write is a 409), so the check here plus the store's make the whole
 * request conditional on the client's version.
 */
import { PreconditionFailedError, ValidationError } from '../core/errors.ts';

/** What `If-Match` asks: a version, or `*` (the object must exist, any version). */
export type Precondition = { readonly version: string } | 'exists';

/**
 * The request's `If-Match`, parsed: `"3"`, `W/"3"` or `3` (the version), `*`; absent: undefined.
 * A list of tags (`"3", "4"`) is accepted: any of them matches.
 */
export function parseIfMatch(header: string | undefined): Precondition[] | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (text === '*') return ['exists'];
  const tags = text.split(',').map((t) => t.trim());
  return tags.map((tag) => {
    const m = /^(?:W\/)?"?([A-Za-z0-9._-]{1,64})"?$/.exec(tag);
    if (!m)
      throw new ValidationError([
        { path: 'If-Match', message: `must be the ETag of a GET (such as "3", the object's version) or *; got ${JSON.stringify(tag.slice(0, 40))}` },
      ]);
    return { version: m[1] };
  });
}

/** The ETag of an object at `version`: its version, quoted (a strong validator). */
export function etag(version: number | string): string {
  return `"${version}"`;
}

/**
 * Refuses (412) a write whose `If-Match` does not match the object's `current` version (undefined:
 * the object does not exist). `what` names the object in the message.
 */
export function checkIfMatch(headers: Readonly<Record<string, string | undefined>>, current: number | string | undefined, what: string): void {
  const wanted = parseIfMatch(headers['if-match']);
  if (wanted === undefined) return;
  if (current === undefined)
    throw new PreconditionFailedError(`${what} does not exist, but If-Match asked for ${headers['if-match']}: it was deleted since you read it`, undefined);
  if (wanted.some((w) => w === 'exists' || w.version === String(current))) return;
  const asked = wanted.map((w) => (w === 'exists' ? '*' : w.version)).join(', ');
  throw new PreconditionFailedError(
    `${what} is at version ${current}, not ${asked} as If-Match says: someone changed it since you read it; read it again, reapply your change and send If-Match: "${current}"`,
    current,
  );
}
