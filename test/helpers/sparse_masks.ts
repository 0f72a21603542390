/** Random pattern masks and masked weights for the sparse tests ([3,3,inC,outC] weights; masks
 * index ic*outC + oc, bit kh*3+kw). */
type Rng = ReturnType<typeof import('./reference').rng>;

export function popcount(m: number): number {
  let c = 0;
  for (; m; m &= m - 1) c++;
  return c;
}

/** Masks from a library of `libSize` patterns of `size` taps, with `prune` of kernels removed. */
export function randomMasks(r: Rng, inC: number, outC: number, prune: number, libSize = 6, size = 4): Uint16Array {
  const lib: number[] = [];
  while (lib.length < libSize) {
    let m = 0;
    while (popcount(m) < size) m |= 1 << r.int(0, 8);
    if (!lib.includes(m)) lib.push(m);
  }
  return Uint16Array.from({length: inC * outC}, () => (r.next() < prune ? 0 : r.pick(lib)));
}

/** Whether tap position i of a [3,3,inC,outC] weight is kept by `masks`. */
export function isKept(masks: Uint16Array, inC: number, outC: number, i: number): boolean {
  return ((masks[i % (inC * outC)] >> Math.floor(i / (inC * outC))) & 1) === 1;
}

/** Random weights, zero outside the masks. */
export function maskedWeights(r: Rng, masks: Uint16Array, inC: number, outC: number): Float32Array {
  const w = r.floats(9 * inC * outC);
  for (let i = 0; i < w.length; i++) if (!isKept(masks, inC, outC, i)) w[i] = 0;
  return w;
}
