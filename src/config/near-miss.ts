/**
 * "Did you mean ...?" for misspelt keys and names: the closest candidate by optimal-string-alignment distance
 * (insertions, deletions, substitutions, adjacent transpositions), or one that differs only in case, `_` or `-`.
 */

function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, '');

/** The candidate `word` was probably meant to be, or undefined when none is close. */
export function nearMiss(word: string, candidates: readonly string[]): string | undefined {
  const w = squash(word);
  const same = candidates.find((c) => squash(c) === w);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = distance(w, squash(c));
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  // At most 2 edits, and fewer than half the word (so "ab" does not suggest "xy").
  return bestD <= 2 && bestD * 2 < Math.max(w.length, 2) ? best : undefined;
}

/** ` — did you mean 'x'?` or ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const m = nearMiss(word, candidates);
  return m === undefined ? '' : ` — did you mean '${m}'?`;
}
