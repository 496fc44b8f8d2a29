import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkRateLimit, checkStandInOptions, JsonFileStore } from '../../local/stand-in.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'skiff-stand-in-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('JsonFileStore', () => {
  it('writes every change before the persist that follows it resolves, and loads it back', async () => {
    const file = join(dir, 'sub', 'data.json');
    const items: number[] = [];
    const store = new JsonFileStore(file, 'test/1', 'Test stand-in', () => ({ items: [...items] }));
    const persisted: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      items.push(i);
      persisted.push(store.persist());
    }
    await Promise.all(persisted);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ format: 'test/1', items: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
    expect(readdirSync(join(dir, 'sub'))).toEqual(['data.json']);
    expect(await new JsonFileStore(file, 'test/1', 'Test stand-in', () => ({})).load('items')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('finds nothing without a file, and refuses a file of another format or not JSON', async () => {
    expect(await new JsonFileStore(join(dir, 'absent.json'), 'test/1', 'Test stand-in', () => ({})).load('items')).toBeUndefined();
    expect(await new JsonFileStore(undefined, 'test/1', 'Test stand-in', () => ({})).load('items')).toBeUndefined();
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ format: 'test/2', items: [] }));
    await expect(new JsonFileStore(other, 'test/1', 'Test stand-in', () => ({})).load('items')).rejects.toThrow(
      `Test stand-in data file ${other} is not in format test/1`,
    );
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"format":');
    await expect(new JsonFileStore(broken, 'test/1', 'Test stand-in', () => ({})).load('items')).rejects.toThrow(/is not valid JSON/);
  });
});

describe('stand-in options', () => {
  const known = new Set(['host', 'port', 'dataFile']);
  it.each([
    [{ prot: 1 }, /startX: unknown option\(s\) prot; known: host, port, dataFile/],
    [{ host: '0.0.0.0' }, /startX: host must be a 127\.x\.x\.x loopback address/],
    [{ port: 70000 }, /startX: port must be an integer 0-65535/],
    [{ dataFile: '' }, /startX: dataFile must be a non-empty path/],
    [null, /startX: options must be an object/],
  ])('refuses %j', (opts, message) => {
    expect(() => checkStandInOptions('startX', opts, known)).toThrow(message);
  });

  it('defaults to an ephemeral port on 127.0.0.1', () => {
    expect(checkStandInOptions('startX', {}, known)).toEqual({ host: '127.0.0.1', port: 0, dataFile: undefined });
  });

  it.each([
    [{ rate: 0 }, /limits\.get\.rate must be a positive number/],
    [{ rate: 1, burst: 0.5 }, /limits\.get\.burst must be a number >= 1/],
    [{ rate: 1, size: 2 }, /unknown key\(s\) in limits\.get: size/],
    ['fast', /limits\.get must be \{ rate, burst\? \}/],
  ])('refuses the rate limit %j', (limit, message) => {
    expect(() => checkRateLimit('startX', 'limits.get', limit)).toThrow(message);
  });
});
