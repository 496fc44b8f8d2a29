/**
 * Kubernetes-style resource quantities: CPU as millicores (`250m`, `0.5`, `2`) and memory as
 * bytes (`128Mi`, `1Gi`, `500M`, `33554432`). Pure functions; exact decimal arithmetic (BigInt),
 * because a float like 1.005 * 1000 is 1004.9999999999999 and would silently lose a millicore.
 */
import { ValidationError } from './errors.ts';

const CPU_FORMS = 'cpu must be a Kubernetes quantity such as 250m, 0.5 or 2 (millicores with "m", or cores with at most 3 decimals)';
const MEMORY_FORMS =
  'memory must be a Kubernetes quantity such as 128Mi, 1Gi or 500M (bytes, optionally with a decimal suffix k, M, G, T, P or a binary suffix Ki, Mi, Gi, Ti, Pi)';

const DECIMAL_SUFFIXES: Readonly<Record<string, bigint>> = {
  k: 10n ** 3n,
  M: 10n ** 6n,
  G: 10n ** 9n,
  T: 10n ** 12n,
  P: 10n ** 15n,
};
const BINARY_SUFFIXES: Readonly<Record<string, bigint>> = {
  Ki: 2n ** 10n,
  Mi: 2n ** 20n,
  Gi: 2n ** 30n,
  Ti: 2n ** 40n,
  Pi: 2n ** 50n,
};

/** An unsigned decimal number with an optional exponent, as Kubernetes writes them (`1`, `0.5`, `.5`, `1.5e3`). */
const NUMBER = /^(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?/;

/** A decimal as an exact rational `num / den`, den a power of ten. */
interface Exact {
  readonly num: bigint;
  readonly den: bigint;
}

function splitNumber(text: string): { exact: Exact; rest: string } | undefined {
  const m = NUMBER.exec(text);
  // Kubernetes allows an exponent or a suffix, never both (`1e3Mi` is not a quantity).
  if (!m || (m[2] !== undefined && m[0].length !== text.length)) return undefined;
  const [intPart, fracPart = ''] = m[1].split('.');
  const exponent = m[2] === undefined ? 0 : Number(m[2]);
  // An absurd exponent cannot yield a representable quantity; refuse it before BigInt gets huge.
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 100) return undefined;
  let num = BigInt((intPart || '0') + fracPart);
  let den = 10n ** BigInt(fracPart.length);
  if (exponent >= 0) num *= 10n ** BigInt(exponent);
  else den *= 10n ** BigInt(-exponent);
  return { exact: { num, den }, rest: text.slice(m[0].length) };
}

/** Numbers arrive from YAML/JSON; their shortest decimal form is the value the user wrote. */
function numberText(value: number): string {
  return String(value);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a map';
  return String(value);
}

function fail(message: string): never {
  throw new ValidationError([{ path: '', message }]);
}

/** Parses a CPU quantity (`250m`, `0.5`, `1`, 2.5) into integer millicores; throws ValidationError. */
export function parseCpu(value: string | number): number {
  if (typeof value === 'number' && !Number.isFinite(value)) fail(`${CPU_FORMS}; got ${describe(value)}`);
  if (typeof value !== 'string' && typeof value !== 'number') fail(`${CPU_FORMS}; got ${describe(value)}`);
  const text = typeof value === 'number' ? numberText(value) : value;
  if (text.startsWith('-')) fail(`cpu must not be negative; got ${describe(value)}`);
  const split = splitNumber(text);
  if (!split || (split.rest !== '' && split.rest !== 'm')) fail(`${CPU_FORMS}; got ${describe(value)}`);
  const { num, den } = split.exact;
  const scaled = split.rest === 'm' ? num : num * 1000n;
  if (scaled % den !== 0n) fail(`cpu must be a whole number of millicores (at most 3 decimals of a core); got ${describe(value)}`);
  const millis = scaled / den;
  if (millis > BigInt(Number.MAX_SAFE_INTEGER)) fail(`cpu is too large; got ${describe(value)}`);
  return Number(millis);
}

/** Parses a memory quantity (`128Mi`, `1Gi`, `500M`, `1e9`, 33554432) into integer bytes; throws ValidationError. */
export function parseMemory(value: string | number): number {
  if (typeof value === 'number' && !Number.isFinite(value)) fail(`${MEMORY_FORMS}; got ${describe(value)}`);
  if (typeof value !== 'string' && typeof value !== 'number') fail(`${MEMORY_FORMS}; got ${describe(value)}`);
  const text = typeof value === 'number' ? numberText(value) : value;
  if (text.startsWith('-')) fail(`memory must not be negative; got ${describe(value)}`);
  const split = splitNumber(text);
  if (!split) fail(`${MEMORY_FORMS}; got ${describe(value)}`);
  const multiplier = split.rest === '' ? 1n : (DECIMAL_SUFFIXES[split.rest] ?? BINARY_SUFFIXES[split.rest]);
  if (multiplier === undefined) fail(`${MEMORY_FORMS}; got ${describe(value)}${suffixHint(split.rest)}`);
  const { num, den } = split.exact;
  const scaled = num * multiplier;
  if (scaled % den !== 0n) fail(`memory must be a whole number of bytes; got ${describe(value)}`);
  const bytes = scaled / den;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) fail(`memory is too large; got ${describe(value)}`);
  return Number(bytes);
}

/** Common slips (`MB`, `gi`, and `m`, which Kubernetes reads as milli-bytes) get a pointed hint. */
function suffixHint(suffix: string): string {
  if (!/^[kmgtp]i?b?$/i.test(suffix)) return '';
  const letter = suffix[0].toUpperCase();
  const decimal = letter === 'K' ? 'k' : letter;
  return ` (did you mean "${decimal}" for powers of 1000 or "${letter}i" for powers of 1024?)`;
}

/** Formats millicores for display: `100m` below one core, else cores (`1`, `1.5`, `2.25`). */
export function formatCpu(millicores: number): string {
  if (!Number.isSafeInteger(millicores) || millicores < 0) throw new RangeError(`cpu must be a non-negative integer of millicores; got ${millicores}`);
  if (millicores < 1000) return `${millicores}m`;
  const cores = Math.floor(millicores / 1000);
  const rest = millicores % 1000;
  if (rest === 0) return String(cores);
  // Integer arithmetic, not millicores / 1000: the float's shortest form is not exact for large values.
  return `${cores}.${String(rest).padStart(3, '0').replace(/0+$/, '')}`;
}

const FORMAT_UNITS: readonly (readonly [string, bigint])[] = [...Object.entries(BINARY_SUFFIXES).reverse(), ...Object.entries(DECIMAL_SUFFIXES).reverse()];

/** Formats bytes for display with the largest binary (then decimal) suffix that divides exactly: `32Mi`, `1Gi`, `500M`. */
export function formatMemory(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`memory must be a non-negative integer of bytes; got ${bytes}`);
  if (bytes === 0) return '0';
  const big = BigInt(bytes);
  for (const [suffix, unit] of FORMAT_UNITS) {
    if (big % unit === 0n) return `${big / unit}${suffix}`;
  }
  return String(bytes);
}
