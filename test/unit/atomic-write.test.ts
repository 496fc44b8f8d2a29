import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '../../adapters/fs/atomic-write.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-atomic-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mode = (file: string) => statSync(file).mode & 0o777;

describe.each([
  ['writeFileAtomic', (file: string, data: string, m?: number) => writeFileAtomic(file, data, m === undefined ? {} : { mode: m })],
  ['writeFileAtomicSync', async (file: string, data: string, m?: number) => writeFileAtomicSync(file, data, m === undefined ? {} : { mode: m })],
])('%s', (_, write) => {
  it('replaces the file and leaves no temporary file beside it', async () => {
    const file = join(dir, 'state.json');
    writeFileSync(file, 'old');
    await write(file, '{"new":true}');
    expect(readFileSync(file, 'utf8')).toBe('{"new":true}');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('overwrites a temporary file left by a crashed process of the same pid', async () => {
    const file = join(dir, 'state.json');
    for (let seq = 1; seq <= 50; seq++) writeFileSync(join(dir, `.state.json.${process.pid}.${seq}.tmp`), 'stale');
    await write(file, 'fresh');
    expect(readFileSync(file, 'utf8')).toBe('fresh');
  });

  it('gives the file its mode outright, whatever the umask filters', async () => {
    const secret = join(dir, 'config.json');
    await write(secret, 'x', 0o600);
    expect(mode(secret)).toBe(0o600);
    // 0o666 is what a umask (022 by default) would cut down to 0o644.
    const shared = join(dir, 'shared.json');
    await write(shared, 'x', 0o666);
    expect(mode(shared)).toBe(0o666);
  });

  it('keeps the old file and removes its temporary one when the rename fails', async () => {
    const target = join(dir, 'taken');
    mkdirSync(join(target, 'inside'), { recursive: true });
    await expect(write(target, 'x')).rejects.toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/) });
    expect(readdirSync(dir)).toEqual(['taken']);
  });
});

describe('writeFileAtomic', () => {
  it('lets concurrent writes to one file each land whole, the file ending as one of them', async () => {
    const file = join(dir, 'data.json');
    const texts = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(10_000 + i) }));
    await Promise.all(texts.map((t) => writeFileAtomic(file, t)));
    expect(texts).toContain(readFileSync(file, 'utf8'));
    expect(readdirSync(dir)).toEqual(['data.json']);
  });
});
