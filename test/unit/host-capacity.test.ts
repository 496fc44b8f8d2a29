import { describe, expect, it } from 'vitest';
import { hostCapacity, memoryReserve, MIN_MEMORY_RESERVE_BYTES } from '../../agent/imds.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe('hostCapacity', () => {
  it.each([
    { cpus: 1, totalmem: 4 * GiB, reserve: 512 * MiB, cpu: 1000, memory: 4 * GiB - 512 * MiB },
    { cpus: 2, totalmem: 2 * GiB, reserve: 0, cpu: 2000, memory: 2 * GiB },
    { cpus: 64, totalmem: 256 * GiB, reserve: GiB, cpu: 64_000, memory: 255 * GiB },
  ])('offers $cpus CPUs as $cpu millicores and the memory less the reserve', ({ cpus, totalmem, reserve, cpu, memory }) => {
    expect(hostCapacity(cpus, totalmem, reserve)).toEqual({ cpu, memory });
  });

  it('holds back 10% of memory by default, but never less than 256 MiB', () => {
    expect(memoryReserve(2 * GiB)).toBe(MIN_MEMORY_RESERVE_BYTES);
    expect(memoryReserve(16 * GiB)).toBe(Math.floor(1.6 * GiB));
    expect(hostCapacity(2, 2 * GiB)).toEqual({ cpu: 2000, memory: 2 * GiB - 256 * MiB });
  });

  it('rounds memory down to whole bytes', () => {
    expect(hostCapacity(1, 1000.7, 0.5).memory).toBe(1000);
  });

  it('refuses a host whose memory does not exceed the reserve, naming both', () => {
    expect(() => hostCapacity(1, 200 * MiB, 256 * MiB)).toThrow('host memory (200 MiB) is not more than the memory reserve (256 MiB): set SKIFF_HOST_MEMORY');
  });

  it('refuses nonsensical inputs', () => {
    expect(() => hostCapacity(0, GiB, 0)).toThrow('host CPU count must be a positive integer, got 0');
    expect(() => hostCapacity(1, Number.NaN, 0)).toThrow('host memory must be a positive number of bytes');
    expect(() => hostCapacity(1, GiB, -1)).toThrow('memory reserve must be zero or more bytes, got -1');
  });
});
