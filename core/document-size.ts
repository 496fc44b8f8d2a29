/**
 * The size of a host document, counted at placement: the host channel holds a bounded document
 * per host (SSM: at most `MAX_CHUNKS` Standard parameters of 4 KB, adapters/aws/ssm-channel.ts), so
 * the document's room is a host resource like cpu and memory. A task whose pod would not fit its
 * host's document is not placed there, instead of making every later publication of that host fail.
 */
import type { HostDocumentTask } from './types.ts';

/**
 * The room for tasks in one host document, in bytes of its JSON with non-ASCII characters as
 * `\uXXXX` escapes (how the SSM channel encodes it, so bytes and characters agree).
 *
 * Safe for the SSM channel whatever the content compresses to: it stores gzip+base64 only when that
 * is shorter than the JSON, so the stored payload is never longer than the JSON, and
 * 384 KiB + the envelope (cluster, host id, generation, network: `DOCUMENT_ENVELOPE_BYTES`) stays
 * within its 100 chunks of 4,096 bytes (400 KiB). A test checks the two stay consistent.
 *
 * And for the DynamoDB channel (adapters/aws/dynamo-host-channel.ts), whose document is one item of
 * at most 400 KB: it stores the gzip of this ASCII JSON when smaller, at most about 7 bits a
 * character, so a full budget of incompressible values is an item of about 340 KB
 * (test/integration/host-channel-contract.test.ts publishes one through every channel).
 *
 * One task always fits an empty document: a spec is at most 64 KiB of UTF-8 JSON (core/spec/limits.ts),
 * escaping at most triples a character's UTF-8 bytes (a 2-byte character becomes 6), so its pod is
 * under 192 KiB plus the defaults the pod adds.
 */
export const HOST_DOCUMENT_BYTES = 384 * 1024;

/** Room kept for the document's fields around its tasks: `cluster`, `hostId` (≤ 128), `generation`, `network`. */
export const DOCUMENT_ENVELOPE_BYTES = 16 * 1024;

const NON_ASCII = /[\u007f-\uffff]/;
const NON_ASCII_ALL = /[\u007f-\uffff]/g;

/** A task's bytes in its host's document: its escaped JSON and the comma that separates it. */
export function documentTaskBytes(task: HostDocumentTask): number {
  const json = JSON.stringify(task);
  // Each character from U+007F up becomes a 6-character `\uXXXX` escape (asciiJson in the SSM
  // channel). A regex scan: a pass counts every task on every host, a JS loop per character is 10x slower.
  const escaped = NON_ASCII.test(json) ? json.match(NON_ASCII_ALL)!.length : 0;
  return json.length + 1 + 5 * escaped;
}
