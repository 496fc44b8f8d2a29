/** store.setJobStatus on both stores (memory, DynamoDB on dynalite): conditional on the spec version, never a new one. */
import { describe, expect, it } from 'vitest';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { MemoryStore } from '../../adapters/memory/store.ts';
import { ConflictError } from '../../core/errors.ts';
import { parseServiceSpec } from '../../core/spec.ts';
import type { JobStatus } from '../../core/types.ts';
import type { Store } from '../../ports/index.ts';
import { useDynalite } from '../helpers/dynalite.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const job = parseServiceSpec({ kind: 'Job', metadata: { name: 'once' }, spec: { completions: 2, containers: [{ name: 'a', image: 'skiff/busybox' }] } });
const status: JobStatus = { state: 'running', succeeded: [1], failed: ['once-2-abcde'], startedAt: T0 };

function contract(label: string, make: () => Promise<Store>) {
  describe(label, () => {
    it('records a job status without a new spec version, and reads it back', async () => {
      const s = await make();
      const stored = await s.putService(job, T0, 0);
      const written = await s.setJobStatus('default', 'once', status, stored.specVersion);
      expect(written.job).toEqual(status);
      expect(written.specVersion).toBe(stored.specVersion);
      expect((await s.getService('default', 'once'))?.job).toEqual(status);
      expect((await s.listServices())[0].job).toEqual(status);
      const done: JobStatus = { ...status, state: 'succeeded', succeeded: [1, 2], completedAt: T0 };
      expect((await s.setJobStatus('default', 'once', done, stored.specVersion)).job).toEqual(done);
    });

    it('conflicts on another spec version, an absent job and a deleting one', async () => {
      const s = await make();
      await expect(s.setJobStatus('default', 'once', status, 1)).rejects.toBeInstanceOf(ConflictError);
      const stored = await s.putService(job, T0, 0);
      await expect(s.setJobStatus('default', 'once', status, stored.specVersion + 1)).rejects.toBeInstanceOf(ConflictError);
      await s.markServiceDeleting('default', 'once', T0);
      await expect(s.setJobStatus('default', 'once', status, stored.specVersion)).rejects.toBeInstanceOf(ConflictError);
    });
  });
}

const db = useDynalite({ onDisk: 'skiff-job-contract-' });

contract('MemoryStore', async () => new MemoryStore());
contract('DynamoStore on dynalite', async () => {
  const tableName = await db.table('skiff-jobs');
  return new DynamoStore(db.client, { tableName });
});
