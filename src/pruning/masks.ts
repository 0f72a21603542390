/**
 * Kernel masks for 3x3 convolutions.
 *
 * A layer's mask is a `Uint16Array` of length `Cin * Cout`; entry `ic * Cout + oc`
 * is the 9-bit mask of the kernel connecting input channel `ic` to output channel
 * `oc`, bit `kh * 3 + kw` set when that weight is kept. `0` means the whole kernel
 * is removed (connectivity pruning). This matches the tfjs HWIO weight layout
 * `[3, 3, Cin, Cout]`: the weight of kernel `i = ic * Cout + oc` at position
 * `p = kh * 3 + kw` lives at flat index `p * Cin * Cout + i`.
 */

/** All nine positions kept. */
export const FULL_KERNEL_MASK = 0x1ff;

/** Number of set bits of a 9-bit mask. */
export function popcount9(mask: number): number {
  let m = mask & FULL_KERNEL_MASK;
  let c = 0;
  while (m) {
    m &= m - 1;
    c++;
  }
  return c;
}

/** Builds a mask from the kept positions (each `kh * 3 + kw`, 0..8). */
export function maskFromPositions(positions: Iterable<number>): number {
  let m = 0;
  for (const p of positions) {
    if (!Number.isInteger(p) || p < 0 || p > 8) throw new Error(`kernel position ${p} outside 0..8`);
    m |= 1 << p;
  }
  return m;
}

/** Kept positions of a mask, ascending. */
export function positionsOfMask(mask: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < 9; p++) if (mask & (1 << p)) out.push(p);
  return out;
}

/** Draws a mask as a 3x3 grid of `#` (kept) and `.` (removed), rows joined by newlines. */
export function drawMask(mask: number, on = '#', off = '.'): string {
  const rows: string[] = [];
  for (let kh = 0; kh < 3; kh++) {
    let r = '';
    for (let kw = 0; kw < 3; kw++) r += mask & (1 << (kh * 3 + kw)) ? on : off;
    rows.push(r);
  }
  return rows.join('\n');
}

/** Draws several masks side by side (3 text rows), separated by two spaces. */
export function drawMasksRow(masks: number[]): string {
  const grids = masks.map((m) => drawMask(m).split('\n'));
  const rows: string[] = [];
  for (let r = 0; r < 3; r++) rows.push(grids.map((g) => g[r]).join('  '));
  return rows.join('\n');
}

/**
 * Expands a kernel mask array into a 0/1 `Float32Array` in the HWIO weight
 * layout `[3, 3, Cin, Cout]` (length `9 * Cin * Cout`).
 */
export function expandMask(mask: Uint16Array, cin: number, cout: number): Float32Array {
  const n = cin * cout;
  if (mask.length !== n) throw new Error(`mask length ${mask.length} does not match Cin*Cout = ${n}`);
  const out = new Float32Array(9 * n);
  for (let p = 0; p < 9; p++) {
    const bit = 1 << p;
    const base = p * n;
    for (let i = 0; i < n; i++) if (mask[i] & bit) out[base + i] = 1;
  }
  return out;
}

/** Number of kept weights (sum of popcounts) of a layer mask. */
export function keptWeights(mask: Uint16Array): number {
  let s = 0;
  for (let i = 0; i < mask.length; i++) s += popcount9(mask[i]);
  return s;
}

/** Number of kept (non-zero mask) kernels of a layer mask. */
export function keptKernels(mask: Uint16Array): number {
  let s = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) s++;
  return s;
}

/** Encodes a mask as base64 (little-endian uint16) for JSON state. */
export function maskToBase64(mask: Uint16Array): string {
  const bytes = new Uint8Array(mask.length * 2);
  for (let i = 0; i < mask.length; i++) {
    bytes[2 * i] = mask[i] & 0xff;
    bytes[2 * i + 1] = mask[i] >> 8;
  }
  return Buffer.from(bytes).toString('base64');
}

/** Decodes {@link maskToBase64}; checks the length and that every entry is a 9-bit mask. */
export function maskFromBase64(b64: string, expectedLength?: number): Uint16Array {
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length % 2 !== 0) throw new Error('corrupt mask: odd byte length');
  const out = new Uint16Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = bytes[2 * i] | (bytes[2 * i + 1] << 8);
    if (out[i] > FULL_KERNEL_MASK) throw new Error(`corrupt mask: entry ${i} = ${out[i]} is not a 9-bit mask`);
  }
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new Error(`corrupt mask: length ${out.length}, expected ${expectedLength}`);
  }
  return out;
}
