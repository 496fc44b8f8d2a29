/**
 * The benchmarks' numeric flags: every one goes through `numberFlag` (bench/args.ts), which stops a
 * benchmark with exit code 2 and a line naming it, the flag and the range before anything starts.
 * Run for real, a child process per benchmark: the exit code and the one line are what its user
 * sees, and nothing is printed before them.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bench = join(import.meta.dirname, '../../bench');

async function exitOf(file: string, args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', join(bench, file), ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('benchmark flags', { timeout: 30_000 }, () => {
  it('reads no numeric flag with a bare Number(): each goes through numberFlag', () => {
    const bare = readdirSync(bench)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) =>
        readFileSync(join(bench, f), 'utf8')
          .split('\n')
          .map((line, i) => ({ where: `bench/${f}:${i + 1}`, line }))
          .filter(({ line }) => /(Number|parseInt|parseFloat)\(values[.[]/.test(line) || /values\.\w+!?\.split\(','\)\.map\(Number\)/.test(line)),
      )
      .map(({ where }) => where);
    expect(bare).toEqual([]);
  });

  it.each([
    ['ingress-tls.ts', ['--rounds', '0'], 'bench/ingress-tls: --rounds must be an integer from 1 to 50, got "0"'],
    ['cost.ts', ['--window', 'abc'], 'bench/cost: --window must be a number from 10 to 3600, got "abc"'],
    ['rollout.ts', ['--replicas', '10,x'], 'bench/rollout: --replicas must be an integer from 1 to 1000, got "x"'],
    ['log-shipping.ts', ['--streams=-1'], 'bench/log-shipping: --streams must be an integer from 1 to 1000, got "-1"'],
  ])('bench/%s %j stops with exit code 2, naming the flag and its range, before it starts anything', async (file, args, message) => {
    const r = await exitOf(file, args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(message);
    expect(r.stdout).toBe('');
  });
});
