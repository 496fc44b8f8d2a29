/** Compose durations (`1m30s`, `500ms`) and byte sizes (`512m`, `1gb`), as Compose and Docker read them. */

const DURATION_UNITS: Readonly<Record<string, number>> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
const DURATION = /^(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)/;

/** Seconds of a Compose duration (Go's time.ParseDuration forms: `10s`, `1m30s`, `1.5h`, `250ms`); a bare number is seconds. */
export function parseDuration(value: unknown): number | { error: string } {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  const form = 'must be a duration such as 10s, 1m30s or 500ms';
  if (typeof value !== 'string') return { error: `${form}; got ${JSON.stringify(value)}` };
  let rest = value.trim();
  if (rest === '0') return 0;
  if (rest === '') return { error: `${form}; got ""` };
  let total = 0;
  while (rest.length > 0) {
    const m = DURATION.exec(rest);
    if (!m) return { error: `${form} (units ns, us, ms, s, m, h); got ${JSON.stringify(value)}` };
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
};

/**
 * Bytes of a Compose size. Docker reads `k`, `m`, `g` (and `kb`, `mb`, `gb`, any case) as powers of
 * 1024 (`512m` is 512 MiB: go-units RAMInBytes), so that is what they mean here too.
 */
export function parseBytes(value: unknown): number | { error: string } {
  const form = 'must be a size such as 512m, 1gb or a number of bytes';
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value !== 'string') return { error: `${form}; got ${JSON.stringify(value)}` };
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m ? BYTE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) return { error: `${form} (units b, k, m, g, kb, mb, gb); got ${JSON.stringify(value)}` };
  return Math.round(Number(m[1]) * unit);
}
