/**
 * Host documents in memory, with the rules every host channel keeps (the contract test,
 * test/integration/host-channel-contract.test.ts, runs the SSM and DynamoDB adapters and this one
 * alike): a document never goes back a generation, a generation once published keeps its content
 * (a repeat of it is a no-op), `fetch` answers `unchanged` for the generation the reader has, and
 * what is read is a copy. `failFor` makes one host's publications fail (tests of the publish step).
 */
import { ConflictError, ValidationError } from '../../core/errors.ts';
import { stableStringify } from '../../core/json.ts';
import type { HostDocument } from '../../core/types.ts';
import type { HostChannel } from '../../ports/index.ts';

const HOST_ID = /^[a-zA-Z0-9_.-]{1,128}$/;

export class MemoryHostChannel implements HostChannel {
  readonly docs = new Map<string, HostDocument>();
  /** Host → the error its next publications throw (a document too large, throttling), until deleted. */
  readonly failFor = new Map<string, Error>();

  async publish(doc: HostDocument): Promise<void> {
    checkHostId(doc.hostId);
    if (!Number.isSafeInteger(doc.generation) || doc.generation < 0) {
      throw new ValidationError([{ path: 'generation', message: `must be a non-negative integer, got ${doc.generation}` }]);
    }
    const failure = this.failFor.get(doc.hostId);
    if (failure) throw failure;
    const previous = this.docs.get(doc.hostId);
    if (previous && previous.generation > doc.generation) {
      throw new ConflictError(`host ${doc.hostId} already has generation ${previous.generation} published; refusing to go back to ${doc.generation}`);
    }
    if (previous && previous.generation === doc.generation && stableStringify(previous) !== stableStringify(doc)) {
      throw new ConflictError(`host ${doc.hostId} already has generation ${doc.generation} published with other content`);
    }
    this.docs.set(doc.hostId, structuredClone(doc));
  }

  async fetch(hostId: string, knownGeneration?: number): Promise<HostDocument | 'unchanged' | undefined> {
    checkHostId(hostId);
    const doc = this.docs.get(hostId);
    if (!doc) return undefined;
    if (knownGeneration !== undefined && doc.generation === knownGeneration) return 'unchanged';
    return structuredClone(doc);
  }

  async remove(hostId: string): Promise<void> {
    checkHostId(hostId);
    this.docs.delete(hostId);
  }
}

function checkHostId(hostId: string): void {
  if (typeof hostId !== 'string' || !HOST_ID.test(hostId)) {
    throw new ValidationError([{ path: 'hostId', message: `must be 1-128 characters of a-zA-Z0-9_.-, got ${JSON.stringify(hostId)}` }]);
  }
}
