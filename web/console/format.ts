/** How quantities read in the console: the CLI's forms (cli/commands/top.ts), without its Node imports. */

/** Millicores as `250m` or `1.5` (cores). */
export function cpu(millicores: number): string {
  const m = Math.max(0, Math.round(millicores));
  return m % 1000 === 0 && m > 0 ? String(m / 1000) : m >= 1000 ? String(Math.round(m / 100) / 10) : `${m}m`;
}

/** Bytes as `64Mi`, `1.5Gi`. */
export function bytes(n: number): string {
  const units: [string, number][] = [
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ];
  for (const [suffix, unit] of units) if (n >= unit) return `${Math.round((n / unit) * 10) / 10}${suffix}`;
  return String(Math.round(n));
}

export function percent(used: number, of: number): number {
  return of > 0 ? Math.min(100, Math.round((used / of) * 100)) : 0;
}

/** `3 s ago`, `5 min ago`, or the date: a reading of a time, against the browser's clock. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const s = Math.round((now - at) / 1000);
  if (s < 0) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return new Date(at).toISOString().slice(0, 16).replace('T', ' ');
}
