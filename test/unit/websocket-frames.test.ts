/** Frame boundaries of a WebSocket byte stream (local/websocket-frames.ts), however the bytes are split. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closeFrame, FrameCursor } from '../../local/websocket-frames.ts';

/** One frame with `payload` bytes, masked or not, with the 7-, 16- or 64-bit length form it needs. */
function frame(payload: number, masked: boolean): Buffer {
  const ext = payload < 126 ? 0 : payload < 65_536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  head[0] = 0x82;
  head[1] = (masked ? 0x80 : 0) | (ext === 0 ? payload : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(payload, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(payload), 2);
  return Buffer.concat([head, Buffer.alloc(payload, 7)]);
}

describe('FrameCursor', () => {
  it('finds every frame boundary, whatever the chunks', () => {
    const frameArb = fc.record({ payload: fc.oneof(fc.integer({ min: 0, max: 125 }), fc.integer({ min: 126, max: 70_000 })), masked: fc.boolean() });
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 20 }),
        (frames, cuts) => {
          const bufs = frames.map((f) => frame(f.payload, f.masked));
          const stream = Buffer.concat(bufs);
          const boundaries = new Set<number>();
          let at = 0;
          for (const b of bufs) {
            at += b.length;
            boundaries.add(at);
          }
          // Fed in chunks, the cursor is between frames exactly at the boundaries.
          const cursor = new FrameCursor();
          let pos = 0;
          let k = 0;
          while (pos < stream.length) {
            const next = Math.min(stream.length, pos + cuts[k++ % cuts.length]);
            expect(cursor.feed(stream.subarray(pos, next))).toBe(-1);
            pos = next;
            expect(cursor.atBoundary()).toBe(boundaries.has(pos));
          }
          // Asked to stop, it stops at the first boundary at or after where it is.
          for (const from of [0, ...boundaries].filter((b) => b < stream.length)) {
            const c = new FrameCursor();
            c.feed(stream.subarray(0, from + 1));
            const found = c.feed(stream.subarray(from + 1), true);
            const first = Math.min(...[...boundaries].filter((b) => b > from));
            expect(found + from + 1).toBe(first);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('is between frames only once a whole frame has passed', () => {
    const cursor = new FrameCursor();
    const f = frame(300, false);
    expect(cursor.feed(f.subarray(0, 3))).toBe(-1);
    expect(cursor.atBoundary()).toBe(false);
    expect(cursor.feed(f.subarray(3), true)).toBe(f.length - 3);
    expect(cursor.atBoundary()).toBe(true);
  });

  it('writes a server close frame with its code and reason', () => {
    expect([...closeFrame(1001, 'bye')]).toEqual([0x88, 5, 0x03, 0xe9, 0x62, 0x79, 0x65]);
  });
});
