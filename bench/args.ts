/**
 * A benchmark's numeric flags: a value outside its range stops the benchmark with exit code 2 and a
 * line naming the benchmark, the flag and the range, before anything is started.
 */
export function numberFlag(
  bench: string,
  values: Record<string, string | boolean | undefined>,
  name: string,
  range: { min: number; max?: number; integer?: boolean },
): number {
  const raw = values[name];
  const v = Number(raw);
  const max = range.max ?? Number.POSITIVE_INFINITY;
  const kind = range.integer ? 'an integer' : 'a number';
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || (range.integer && !Number.isInteger(v)) || v < range.min || v > max) {
    console.error(`bench/${bench}: --${name} must be ${kind} from ${range.min} to ${max}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return v;
}
