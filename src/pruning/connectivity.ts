/**
 * Connectivity pruning (ClickTrain step 3): remove whole 3x3 kernels with the least
 * importance, with per-layer ratios given explicitly or derived from one global
 * target compression.
 */

/** Kernel importance: the sum of the per-weight importance over the 3x3 positions. */
export function kernelImportance(importance: ArrayLike<number>, n: number): Float64Array {
  if (importance.length !== 9 * n) throw new Error(`importance length ${importance.length} != 9 * ${n}`);
  const out = new Float64Array(n);
  for (let p = 0; p < 9; p++) {
    const base = p * n;
    for (let i = 0; i < n; i++) out[i] += importance[base + i];
  }
  return out;
}

/** Number of kernels a ratio removes from `n` kernels (rounded, always leaving at least one). */
export function removeCountFor(ratio: number, n: number): number {
  checkRatio(ratio, 'connectivity ratio');
  return Math.min(n - 1, Math.round(ratio * n));
}

export function checkRatio(ratio: number, what: string): void {
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0 || ratio >= 1) {
    throw new Error(`${what} must be in [0, 1), got ${ratio}`);
  }
}

/**
 * Removes exactly `removeCount` kernels, the least important ones (ties: lower
 * kernel index removed first). Returns keep flags (1 kept, 0 removed).
 */
export function connectivityPrune(kernelImp: ArrayLike<number>, removeCount: number): Uint8Array {
  const n = kernelImp.length;
  if (!Number.isInteger(removeCount) || removeCount < 0 || removeCount > n) {
    throw new Error(`cannot remove ${removeCount} of ${n} kernels`);
  }
  const order = Array.from({length: n}, (_, i) => i);
  order.sort((a, b) => (kernelImp[a] - kernelImp[b]) || (a - b));
  const keep = new Uint8Array(n).fill(1);
  for (let j = 0; j < removeCount; j++) keep[order[j]] = 0;
  return keep;
}

/**
 * Per-layer connectivity ratios reaching a global conv compression target.
 *
 * Compression is counted over the prunable 3x3 conv weights: dense weights / kept
 * weights, where a kept kernel keeps `patternSize` of its 9 weights. Patterns alone
 * give `9 / patternSize`; the same ratio `r` is then used for every layer
 * (uniform allocation), chosen as the smallest r whose rounded per-layer kept
 * counts reach the target. Throws when the target is below what patterns alone
 * give, or when reaching it needs a layer ratio above `maxRatio` (or >= 1).
 */
export function ratiosForTargetCompression(
    kernelsPerLayer: number[], patternSize: number, target: number, maxRatio = 0.99): number[] {
  if (!(typeof target === 'number' && Number.isFinite(target) && target >= 1)) {
    throw new Error(`target compression must be a number >= 1, got ${target}`);
  }
  if (kernelsPerLayer.length === 0) throw new Error('no prunable layer');
  const patternOnly = 9 / patternSize;
  if (target < patternOnly - 1e-9) {
    throw new Error(
        `target compression ${target}x cannot be reached: pattern size ${patternSize} alone already gives ` +
        `${patternOnly.toFixed(3)}x; use a larger pattern size or a target >= ${patternOnly.toFixed(3)}`);
  }
  const total = kernelsPerLayer.reduce((a, b) => a + b, 0);
  const achieved = (r: number) => {
    let kept = 0;
    for (const n of kernelsPerLayer) kept += n - removeCountFor(r, n);
    return (9 * total) / (patternSize * kept);
  };
  const need = 1 - patternOnly / target; // continuous ratio
  if (need >= 1 || achieved(Math.min(maxRatio, 1 - 1e-12)) < target - 1e-9) {
    const best = achieved(Math.min(maxRatio, 1 - 1e-12));
    throw new Error(
        `target compression ${target}x cannot be reached with pattern size ${patternSize}: ` +
        `at most ${best.toFixed(2)}x with connectivity ratio <= ${maxRatio} on these layers`);
  }
  // Smallest ratio on a fine grid (and the exact continuous value) that reaches the target.
  let r = Math.max(0, need);
  for (let iter = 0; iter < 100000 && achieved(r) < target - 1e-9; iter++) r = Math.min(maxRatio, r + 1e-4);
  return kernelsPerLayer.map(() => r);
}
