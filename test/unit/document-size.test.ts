/**
 * The host document's room as a host resource: counted at placement (core/scheduler.ts,
 * core/pass.ts), sized to what the SSM channel can hold (adapters/aws/ssm-channel.ts).
 */
import { describe, expect, it } from 'vitest';
import { REJECT, schedule, type PlacementRequest } from '../../core/scheduler.ts';
import { DOCUMENT_ENVELOPE_BYTES, documentTaskBytes, HOST_DOCUMENT_BYTES } from '../../core/document-size.ts';
import { planPlacement, serviceKey } from '../../core/pass.ts';
import { assignments, documentTask } from '../../core/allocations.ts';
import { MAX_SPEC_BYTES } from '../../core/spec/limits.ts';
import { MAX_CHUNKS, STANDARD_PARAMETER_BYTES } from '../../adapters/aws/ssm-channel.ts';
import type { HostDocumentTask, Task } from '../../core/types.ts';
import { aHost, MiB } from '../builders.ts';

const KiB = 1024;

function req(id: string, documentBytes: number): PlacementRequest {
  return {
    taskId: id,
    namespace: 'default',
    service: 'web',
    slot: 1,
    resources: { cpu: 100, memory: 32 * MiB },
    hostPorts: [],
    constraints: [],
    strategy: 'spread',
    documentBytes,
  };
}

describe('the host document budget', () => {
  it('fits the SSM channel: the budget and the envelope stay within its chunks, whatever the content compresses to', () => {
    // The channel stores gzip only when shorter than the JSON: the stored payload is at most the JSON.
    expect(HOST_DOCUMENT_BYTES + DOCUMENT_ENVELOPE_BYTES).toBeLessThanOrEqual(MAX_CHUNKS * STANDARD_PARAMETER_BYTES);
  });

  it('counts a task as the SSM channel encodes it: non-ASCII characters as 6-byte escapes, plus a comma', () => {
    const task = (env: string): HostDocumentTask => ({
      id: 't',
      namespace: 'd',
      service: 's',
      slot: 0,
      specVersion: 1,
      pod: { containers: [{ env: { A: env } }] } as never,
    });
    const ascii = documentTaskBytes(task('aaaa'));
    expect(ascii).toBe(JSON.stringify(task('aaaa')).length + 1);
    expect(documentTaskBytes(task('éééé'))).toBe(ascii + 4 * 5);
  });

  it('always holds one task of the largest spec in an empty document (64 KiB of 2-byte characters triples when escaped)', () => {
    // 64 KiB of UTF-8 JSON as 2-byte characters: the worst ratio of escaped to UTF-8 bytes.
    const env = 'é'.repeat(MAX_SPEC_BYTES / 2);
    const bytes = documentTaskBytes({ id: 't', namespace: 'd', service: 's', slot: 0, specVersion: 1, pod: { containers: [{ env: { A: env } }] } as never });
    expect(bytes).toBeGreaterThan(MAX_SPEC_BYTES * 2);
    expect(bytes).toBeLessThan(3 * MAX_SPEC_BYTES + KiB);
    expect(3 * MAX_SPEC_BYTES + KiB).toBeLessThan(HOST_DOCUMENT_BYTES);
  });
});

describe('schedule: the host document as a resource', () => {
  it.each([
    ['an empty document takes a task of the whole budget', new Map<string, number>(), HOST_DOCUMENT_BYTES, 'h1'],
    ['a document with room takes the task', new Map([['h1', 100 * KiB]]), 200 * KiB, 'h1'],
    ['a full document rejects the task', new Map([['h1', 300 * KiB]]), 200 * KiB, `0 of 1 host fit: 1 ${REJECT.document}`],
    ['one byte over the budget is rejected', new Map([['h1', 1]]), HOST_DOCUMENT_BYTES, `0 of 1 host fit: 1 ${REJECT.document}`],
  ])('%s', (_name, used, bytes, outcome) => {
    const r = schedule([aHost({ id: 'h1' })], [req('a', bytes)], { seed: 's', documentUsed: used });
    if (outcome === 'h1') expect(r.placements.map((p) => p.hostId)).toEqual(['h1']);
    else expect(r.failures.map((f) => f.reason.message)).toEqual([outcome]);
  });

  it('counts what it placed in this pass: a 200 KiB task twice per host of 384 KiB fits once per host', () => {
    const r = schedule(
      [aHost({ id: 'h1' }), aHost({ id: 'h2' })],
      ['a', 'b', 'c', 'd'].map((id) => req(id, 200 * KiB)),
      { seed: 's' },
    );
    expect(r.placements.map((p) => p.hostId).sort()).toEqual(['h1', 'h2']);
    expect(r.failures.map((f) => f.reason.message)).toEqual([`0 of 2 hosts fit: 2 ${REJECT.document}`, `0 of 2 hosts fit: 2 ${REJECT.document}`]);
    expect(REJECT.document).toBe('host document full (384 KiB)');
  });

  it('does not reuse a failure across tasks of different sizes', () => {
    const r = schedule([aHost({ id: 'h1' })], [req('big', HOST_DOCUMENT_BYTES), req('small', 10 * KiB)], {
      seed: 's',
      documentUsed: new Map([['h1', 10 * KiB]]),
    });
    expect(r.placements.map((p) => p.taskId)).toEqual(['small']);
  });
});

describe('planPlacement: documents counted from the tasks already on each host', () => {
  it('keeps a task pending with the document reason when its host documents are full', () => {
    const env = 'x'.repeat(60 * KiB);
    const task = (id: string, slot: number, host?: string): Task =>
      ({
        id,
        namespace: 'default',
        service: 'web',
        slot,
        specVersion: 1,
        desired: 'running',
        incarnation: 1,
        createdAt: 't',
        ...(host ? { host } : {}),
        pod: { containers: [{ name: 'app', image: 'i', env: { BIG: env }, ports: [], resources: { cpu: 10, memory: MiB } }] },
      }) as unknown as Task;
    const onHost = Array.from({ length: 6 }, (_, i) => task(`on-${i}`, i, 'h1'));
    const pending = task('new', 6);
    const allocations = Object.fromEntries(
      onHost.map((t) => [t.id, { taskId: t.id, namespace: 'default', service: 'web', slot: t.slot, resources: { cpu: 10, memory: MiB }, hostPorts: [] }]),
    );
    const tasks = new Map([...onHost, pending].map((t) => [t.id, t]));
    const plan = planPlacement({
      services: [],
      hosts: [aHost({ id: 'h1', allocations })],
      tasks,
      live: assignments(tasks.values()),
      claims: new Map(),
      seed: 's',
    });
    expect(documentTaskBytes(documentTask(pending)) * 7).toBeGreaterThan(HOST_DOCUMENT_BYTES);
    expect(plan.placements).toEqual([]);
    expect(plan.failures.map((f) => f.reason.message)).toEqual([`0 of 1 host fit: 1 ${REJECT.document}`]);
    expect(serviceKey(pending)).toBe('default/web');
  });
});
