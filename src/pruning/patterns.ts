/**
 * Pattern generation and selection (ClickTrain steps 3-4).
 *
 * Inputs are per-weight importances in HWIO order (`9 * N` values, `N = Cin * Cout`,
 * position `p` of kernel `i` at `p * N + i`) and a keep flag per kernel.
 */
import {maskFromPositions, popcount9} from './masks';

/** The four 2x2 corner squares of a 3x3 kernel (each contains the centre). */
export const CORNER_SQUARES: readonly number[] = [
  maskFromPositions([0, 1, 3, 4]),
  maskFromPositions([1, 2, 4, 5]),
  maskFromPositions([3, 4, 6, 7]),
  maskFromPositions([4, 5, 7, 8]),
];

/** Fixed 8-pattern set: the corner squares plus the four "T" shapes (centre + three edge midpoints). */
export const FIXED_8: readonly number[] = [
  ...CORNER_SQUARES,
  maskFromPositions([1, 3, 4, 5]),
  maskFromPositions([1, 4, 5, 7]),
  maskFromPositions([3, 4, 5, 7]),
  maskFromPositions([1, 3, 4, 7]),
];

/** Fixed 12-pattern set: {@link FIXED_8} plus centre + one full border row/column. */
export const FIXED_12: readonly number[] = [
  ...FIXED_8,
  maskFromPositions([0, 1, 2, 4]),
  maskFromPositions([2, 4, 5, 8]),
  maskFromPositions([4, 6, 7, 8]),
  maskFromPositions([0, 3, 4, 6]),
];

export type FixedLibraryName = 'corners4' | 'fixed8' | 'fixed12';

/** Returns a fixed (comparison) library; all are defined for pattern size 4. */
export function fixedLibrary(name: FixedLibraryName): number[] {
  switch (name) {
    case 'corners4':
      return [...CORNER_SQUARES];
    case 'fixed8':
      return [...FIXED_8];
    case 'fixed12':
      return [...FIXED_12];
    default:
      throw new Error(`unknown fixed pattern library '${name as string}' (use corners4, fixed8 or fixed12)`);
  }
}

/**
 * Candidate pattern of one kernel: its `k` most important positions
 * (ties broken towards the lower position index, so results are deterministic).
 */
export function topKPattern(importance: ArrayLike<number>, kernel: number, n: number, k: number): number {
  const pos = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  pos.sort((a, b) => {
    const d = importance[b * n + kernel] - importance[a * n + kernel];
    return d !== 0 ? d : a - b;
  });
  return maskFromPositions(pos.slice(0, k));
}

/** Candidate patterns of all kept kernels (`keep[i] != 0`), in kernel order. */
export function candidatePatterns(
    importance: ArrayLike<number>, keep: ArrayLike<number>, k: number): number[] {
  const n = keep.length;
  if (importance.length !== 9 * n) throw new Error(`importance length ${importance.length} != 9 * ${n}`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(topKPattern(importance, i, n, k));
  return out;
}

/** Frequency of each distinct candidate. */
export function patternHistogram(patterns: Iterable<number>): Map<number, number> {
  const h = new Map<number, number>();
  for (const p of patterns) h.set(p, (h.get(p) ?? 0) + 1);
  return h;
}

/**
 * The library: the `K` most frequent candidates (ties: smaller mask value first).
 * Fewer than `K` distinct candidates give a smaller library.
 */
export function buildLibrary(candidates: Iterable<number>, K: number): number[] {
  if (!Number.isInteger(K) || K < 1) throw new Error(`library size must be a positive integer, got ${K}`);
  const h = patternHistogram(candidates);
  return [...h.entries()]
      .sort((a, b) => (b[1] - a[1]) || (a[0] - b[0]))
      .slice(0, K)
      .map((e) => e[0]);
}

/** Importance kept by `pattern` on kernel `i`. */
export function patternScore(importance: ArrayLike<number>, kernel: number, n: number, pattern: number): number {
  let s = 0;
  for (let p = 0; p < 9; p++) if (pattern & (1 << p)) s += importance[p * n + kernel];
  return s;
}

/**
 * Pattern selection: every kept kernel gets the library pattern keeping the most
 * importance (ties: the earlier, i.e. more frequent, library entry); removed
 * kernels get 0. Returns the layer mask (`Uint16Array`, length `N`).
 */
export function selectPatterns(
    importance: ArrayLike<number>, keep: ArrayLike<number>, library: readonly number[]): Uint16Array {
  if (library.length === 0) throw new Error('empty pattern library');
  const n = keep.length;
  const k = popcount9(library[0]);
  for (const p of library) {
    if (p <= 0 || p > 0x1ff) throw new Error(`invalid pattern ${p}`);
    if (popcount9(p) !== k) throw new Error('all library patterns must have the same size');
  }
  const mask = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    if (!keep[i]) continue;
    let best = library[0];
    let bestScore = -Infinity;
    for (const p of library) {
      const s = patternScore(importance, i, n, p);
      if (s > bestScore) {
        bestScore = s;
        best = p;
      }
    }
    mask[i] = best;
  }
  return mask;
}
