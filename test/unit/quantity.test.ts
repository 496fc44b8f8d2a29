import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatCpu, formatMemory, parseCpu, parseMemory } from '../../core/quantity.ts';
import { ValidationError } from '../../core/errors.ts';

const Ki = 1024;
const Mi = 1024 ** 2;
const Gi = 1024 ** 3;
const Ti = 1024 ** 4;

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError, but nothing was thrown');
}

describe('parseCpu', () => {
  it.each<[string | number, number]>([
    ['250m', 250],
    ['1m', 1],
    ['0.5', 500],
    [0.5, 500],
    ['1', 1000],
    [1, 1000],
    ['2.5', 2500],
    [2.5, 2500],
    ['0.001', 1],
    [0.001, 1],
    ['.5', 500],
    // 1.005 * 1000 is 1004.9999999999999 in floating point; the parser must not lose the millicore.
    ['1.005', 1005],
    [1.005, 1005],
    ['0', 0],
    ['1e3', 1_000_000],
    ['1000m', 1000],
  ])('reads %j as %d millicores', (input, expected) => {
    expect(parseCpu(input)).toBe(expected);
  });

  it.each<[string | number, string]>([
    ['-1', 'must not be negative'],
    [-0.5, 'must not be negative'],
    ['-250m', 'must not be negative'],
    ['0.0005', 'whole number of millicores'],
    [0.0001, 'whole number of millicores'],
    ['0.5m', 'whole number of millicores'],
    [Number.NaN, 'such as 250m, 0.5 or 2'],
    [Number.POSITIVE_INFINITY, 'such as 250m, 0.5 or 2'],
    ['abc', 'such as 250m, 0.5 or 2'],
    ['', 'such as 250m, 0.5 or 2'],
    ['1k', 'such as 250m, 0.5 or 2'],
    ['2 cores', 'such as 250m, 0.5 or 2'],
    ['100 m', 'such as 250m, 0.5 or 2'],
    ['1e3m', 'such as 250m, 0.5 or 2'],
    ['1e30', 'too large'],
  ])('rejects %j with a message containing %j', (input, fragment) => {
    const error = errorOf(() => parseCpu(input));
    expect(error.message).toContain(fragment);
  });

  it('names the accepted forms and the rejected value', () => {
    expect(errorOf(() => parseCpu('fast')).message).toBe(
      'cpu must be a Kubernetes quantity such as 250m, 0.5 or 2 (millicores with "m", or cores with at most 3 decimals); got "fast"',
    );
  });
});

describe('parseMemory', () => {
  it.each<[string | number, number]>([
    ['0', 0],
    ['1', 1],
    [33554432, 32 * Mi],
    ['33554432', 32 * Mi],
    ['1k', 1000],
    ['500M', 500_000_000],
    ['1G', 1e9],
    ['2T', 2e12],
    ['1P', 1e15],
    ['1Ki', Ki],
    ['128Mi', 128 * Mi],
    ['1Gi', Gi],
    ['2Ti', 2 * Ti],
    ['1Pi', 1024 * Ti],
    ['1.5Gi', 1.5 * Gi],
    ['0.5Ki', 512],
    ['1.5k', 1500],
    ['1e9', 1e9],
    ['128e6', 128e6],
    ['1E3', 1000],
    [1e9, 1e9],
  ])('reads %j as %d bytes', (input, expected) => {
    expect(parseMemory(input)).toBe(expected);
  });

  it.each<[string | number, string]>([
    ['1.5', 'whole number of bytes'],
    [1.5, 'whole number of bytes'],
    ['0.1Ki', 'whole number of bytes'],
    ['1e-3', 'whole number of bytes'],
    ['-1Mi', 'must not be negative'],
    [-1, 'must not be negative'],
    ['12MB', 'did you mean "M" for powers of 1000 or "Mi" for powers of 1024?'],
    // Kubernetes reads 128m as 0.128 bytes: the classic slip gets the same hint.
    ['128m', 'did you mean "M" for powers of 1000 or "Mi" for powers of 1024?'],
    ['1gi', 'did you mean "G" for powers of 1000 or "Gi" for powers of 1024?'],
    ['1KB', 'did you mean "k" for powers of 1000 or "Ki" for powers of 1024?'],
    ['1Ei', 'such as 128Mi, 1Gi or 500M'],
    ['lots', 'such as 128Mi, 1Gi or 500M'],
    ['', 'such as 128Mi, 1Gi or 500M'],
    ['1e3Mi', 'such as 128Mi, 1Gi or 500M'],
    [Number.NaN, 'such as 128Mi, 1Gi or 500M'],
    ['99999999999Pi', 'too large'],
  ])('rejects %j with a message containing %j', (input, fragment) => {
    const error = errorOf(() => parseMemory(input));
    expect(error.message).toContain(fragment);
  });

  it('names the accepted forms and the rejected value', () => {
    expect(errorOf(() => parseMemory('huge')).message).toMatch(/^memory must be a Kubernetes quantity such as 128Mi, 1Gi or 500M .*; got "huge"$/);
  });

  it('rejects values that are neither strings nor numbers at run time, as input from YAML can be', () => {
    expect(errorOf(() => parseMemory(true as unknown as string)).message).toContain('got true');
    expect(errorOf(() => parseCpu([1] as unknown as string)).message).toContain('got a list');
  });
});

describe('formatCpu', () => {
  it.each<[number, string]>([
    [0, '0m'],
    [1, '1m'],
    [100, '100m'],
    [999, '999m'],
    [1000, '1'],
    [1500, '1.5'],
    [2250, '2.25'],
    [1001, '1.001'],
    [16000, '16'],
  ])('shows %d millicores as %j', (millicores, expected) => {
    expect(formatCpu(millicores)).toBe(expected);
  });

  it.each([-1, 1.5, Number.NaN])('refuses %d, which is not a count of millicores', (value) => {
    expect(() => formatCpu(value)).toThrow(RangeError);
  });
});

describe('formatMemory', () => {
  it.each<[number, string]>([
    [0, '0'],
    [1234, '1234'],
    [1000, '1k'],
    [Ki, '1Ki'],
    [32 * Mi, '32Mi'],
    [64 * Mi, '64Mi'],
    [1536 * Mi, '1536Mi'],
    [Gi, '1Gi'],
    [500_000_000, '500M'],
    [2 * Ti, '2Ti'],
  ])('shows %d bytes as %j', (bytes, expected) => {
    expect(formatMemory(bytes)).toBe(expected);
  });

  it.each([-1, 0.5, Number.POSITIVE_INFINITY])('refuses %d, which is not a count of bytes', (value) => {
    expect(() => formatMemory(value)).toThrow(RangeError);
  });
});

describe('round trips', () => {
  it('parses every formatted CPU amount back to the same millicores', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.maxSafeNat()), (millicores) => {
        expect(parseCpu(formatCpu(millicores))).toBe(millicores);
      }),
    );
  });

  it('parses every formatted memory amount back to the same bytes', () => {
    const multiples = fc.tuple(fc.integer({ min: 0, max: 4096 }), fc.constantFrom(1, 1000, Ki, 1e6, Mi, 1e9, Gi, Ti)).map(([n, unit]) => n * unit);
    fc.assert(
      fc.property(fc.oneof(multiples, fc.maxSafeNat()), (bytes) => {
        expect(parseMemory(formatMemory(bytes))).toBe(bytes);
      }),
    );
  });

  it('reads a number and its string form alike', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), (n) => {
        expect(parseMemory(n)).toBe(parseMemory(String(n)));
        expect(parseCpu(n / 1000)).toBe(n);
      }),
    );
  });
});
