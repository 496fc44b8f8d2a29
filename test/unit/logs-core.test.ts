import { describe, expect, it } from 'vitest';
import { advance, decodeLogCursor, encodeLogCursor, fitMessage, isServiceStream, parseSince, splitBatch, startCursor, unseen } from '../../core/logs.ts';
import { LOG_LIMITS } from '../../ports/logs.ts';

describe('splitBatch', () => {
  it('splits by count, by bytes and by time span, keeping the order', () => {
    const many = Array.from({ length: 25_000 }, (_, i) => ({ at: i, message: 'x' }));
    expect(splitBatch(many).map((b) => b.length)).toEqual([10_000, 10_000, 5_000]);
    const big = Array.from({ length: 10 }, (_, i) => ({ at: i, message: 'y'.repeat(200_000) }));
    const byBytes = splitBatch(big);
    for (const b of byBytes)
      expect(b.reduce((n, e) => n + Buffer.byteLength(e.message) + LOG_LIMITS.eventOverheadBytes, 0)).toBeLessThanOrEqual(LOG_LIMITS.bytesPerPut);
    expect(byBytes.flat().length).toBe(10);
    const day = 24 * 3_600_000;
    expect(
      splitBatch([
        { at: 0, message: 'a' },
        { at: day - 1, message: 'b' },
        { at: day, message: 'c' },
      ]).map((b) => b.length),
    ).toEqual([2, 1]);
  });

  it('cuts a line over 256 KB and says so, without a broken character', () => {
    const cut = fitMessage('é'.repeat(200_000));
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(LOG_LIMITS.maxMessageBytes);
    expect(cut.endsWith('[cut: line longer than 256 KB]')).toBe(true);
    expect(cut).not.toContain('\uFFFD');
    expect(fitMessage('short')).toBe('short');
  });
});

describe('the follow cursor', () => {
  const e = (stream: string, at: number, message = `${stream}@${at}`) => ({ stream, at, message });

  it('returns each line once across reads, ties in one ms counted per stream', () => {
    let cursor = startCursor(0);
    const first = [e('a', 1), e('a', 1, 'a@1 again'), e('b', 1)];
    expect(unseen(cursor, first)).toEqual(first);
    cursor = advance(cursor, first);
    const second = [...first, e('a', 1, 'a@1 third'), e('b', 2)];
    expect(unseen(cursor, second).map((x) => x.message)).toEqual(['a@1 third', 'b@2']);
  });

  it('survives its text form, and a malformed one is refused naming the parameter', () => {
    const cursor = advance(startCursor(5), [e('default/web-1-aaaaa/app', 9)]);
    expect(decodeLogCursor(encodeLogCursor(cursor))).toEqual(cursor);
    expect(() => decodeLogCursor('x')).toThrow(/cursor/);
    expect(() => decodeLogCursor(Buffer.from('[1, {"k": [1, -1]}]').toString('base64url'))).toThrow(/cursor/);
  });
});

describe('names and times', () => {
  it("tells a service's task streams from another service's with the same prefix", () => {
    expect(isServiceStream('shop/web-1-abcde/app', 'shop', 'web')).toBe(true);
    expect(isServiceStream('shop/web-api-1-abcde/app', 'shop', 'web')).toBe(false);
    expect(isServiceStream('other/web-1-abcde/app', 'shop', 'web')).toBe(false);
    expect(isServiceStream('host/web-1-abcde', 'host', 'web')).toBe(false);
  });

  it('reads since as a duration back or a date', () => {
    const now = Date.parse('2026-12-07T09:00:00Z');
    expect(parseSince('10m', now)).toBe(now - 600_000);
    expect(parseSince('1h30m', now)).toBe(now - 5_400_000);
    expect(parseSince('2026-12-07T08:00:00Z', now)).toBe(Date.parse('2026-12-07T08:00:00Z'));
    expect(() => parseSince('10 minutes', now)).toThrow(/since/);
  });
});
