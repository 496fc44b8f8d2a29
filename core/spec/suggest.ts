/**
 * "Did you mean": the known name closest to an unknown one. Both may be the user's (a probe port
 * against the pod's port names), so the work is bounded: words longer than any name are not
 * compared, and the edit distance is computed only within a band of MAX_EDITS around the diagonal.
 */

/** A suggestion is at most this many edits away. */
const MAX_EDITS = 2;
/**
 * Longer words are not typos of a name: field names and port names (15) are far shorter. Past it
 * nothing is compared, so a huge word costs nothing here.
 */
export const MAX_SUGGEST_LENGTH = 64;

/**
 * The Levenshtein distance of `a` and `b` when it is at most `max`, else `max + 1`. Only cells
 * within `max` of the diagonal can lead to a distance within `max` (Ukkonen), so the work is
 * O(length × max) instead of the product of the lengths, and it stops at the first row whose
 * every cell is already over `max`.
 */
export function editDistanceAtMost(a: string, b: string, max: number): number {
  const over = max + 1;
  if (Math.abs(a.length - b.length) > max) return over;
  const width = 2 * max + 1;
  // Band cell k of row i is column j = i + k - max.
  let prev = new Array<number>(width);
  let cur = new Array<number>(width);
  for (let k = 0; k < width; k++) {
    const j = k - max;
    prev[k] = j < 0 || j > b.length ? over : j;
  }
  for (let i = 1; i <= a.length; i++) {
    let rowMin = over;
    for (let k = 0; k < width; k++) {
      const j = i + k - max;
      let d: number;
      if (j < 0 || j > b.length) d = over;
      else if (j === 0) d = i;
      else {
        const diagonal = prev[k] + (a[i - 1] === b[j - 1] ? 0 : 1);
        const up = k + 1 < width ? prev[k + 1] + 1 : over;
        const left = k > 0 ? cur[k - 1] + 1 : over;
        d = Math.min(diagonal, up, left);
      }
      cur[k] = Math.min(d, over);
      if (cur[k] < rowMin) rowMin = cur[k];
    }
    if (rowMin > max) return over;
    [prev, cur] = [cur, prev];
  }
  return prev[b.length - a.length + max];
}

/** The candidate that matches case-insensitively or is within 2 edits, if any. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > MAX_SUGGEST_LENGTH) return undefined;
  const lower = word.toLowerCase();
  const short = candidates.filter((c) => c.length <= MAX_SUGGEST_LENGTH);
  const exact = short.find((c) => c.toLowerCase() === lower);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of short) {
    const d = editDistanceAtMost(lower, c.toLowerCase(), MAX_EDITS);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  // A two-letter word is within 2 edits of every short field; only suggest when something of it survives.
  return bestDistance <= MAX_EDITS && bestDistance < word.length ? best : undefined;
}

/** ` (did you mean "x"?)` when a candidate is close, else ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const match = closest(word, candidates);
  return match === undefined ? '' : ` (did you mean "${match}"?)`;
}
