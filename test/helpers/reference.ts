/**
 * Float64 reference implementations used by the kernel tests: straightforward loops over the
 * definitions, NHWC, filters HWIO, geometry given explicitly (as tfjs's computeConv2DInfo yields).
 */
export interface Geometry {
  batch: number; inH: number; inW: number; inC: number;
  outH: number; outW: number; outC: number;
  fh: number; fw: number; sh: number; sw: number; dh: number; dw: number;
  padTop: number; padLeft: number;
}

export function geometryFromInfo(info: {
  batchSize: number, inHeight: number, inWidth: number, inChannels: number, outHeight: number,
  outWidth: number, outChannels: number, filterHeight: number, filterWidth: number,
  strideHeight: number, strideWidth: number, dilationHeight: number, dilationWidth: number,
  padInfo: {top: number, left: number}
}): Geometry {
  return {
    batch: info.batchSize, inH: info.inHeight, inW: info.inWidth, inC: info.inChannels,
    outH: info.outHeight, outW: info.outWidth, outC: info.outChannels, fh: info.filterHeight,
    fw: info.filterWidth, sh: info.strideHeight, sw: info.strideWidth, dh: info.dilationHeight,
    dw: info.dilationWidth, padTop: info.padInfo.top, padLeft: info.padInfo.left
  };
}

/** Calls fn(b, oh, ow, kh, kw, ih, iw) for every in-range tap of every output pixel. */
function forEachTap(g: Geometry, fn: (b: number, oh: number, ow: number, kh: number, kw: number,
                                      ih: number, iw: number) => void) {
  for (let b = 0; b < g.batch; b++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++)
        for (let kh = 0; kh < g.fh; kh++) {
          const ih = oh * g.sh - g.padTop + kh * g.dh;
          if (ih < 0 || ih >= g.inH) continue;
          for (let kw = 0; kw < g.fw; kw++) {
            const iw = ow * g.sw - g.padLeft + kw * g.dw;
            if (iw < 0 || iw >= g.inW) continue;
            fn(b, oh, ow, kh, kw, ih, iw);
          }
        }
}

const xi = (g: Geometry, b: number, h: number, w: number, c: number) =>
    ((b * g.inH + h) * g.inW + w) * g.inC + c;
const yi = (g: Geometry, b: number, h: number, w: number, c: number) =>
    ((b * g.outH + h) * g.outW + w) * g.outC + c;

export function conv2d(g: Geometry, x: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const y = new Float64Array(g.batch * g.outH * g.outW * g.outC);
  forEachTap(g, (b, oh, ow, kh, kw, ih, iw) => {
    for (let ic = 0; ic < g.inC; ic++) {
      const xv = x[xi(g, b, ih, iw, ic)];
      const wbase = ((kh * g.fw + kw) * g.inC + ic) * g.outC;
      const ybase = yi(g, b, oh, ow, 0);
      for (let oc = 0; oc < g.outC; oc++) y[ybase + oc] += xv * w[wbase + oc];
    }
  });
  return y;
}

export function conv2dBackpropInput(g: Geometry, dy: ArrayLike<number>, w: ArrayLike<number>) {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.inC);
  forEachTap(g, (b, oh, ow, kh, kw, ih, iw) => {
    for (let ic = 0; ic < g.inC; ic++) {
      const wbase = ((kh * g.fw + kw) * g.inC + ic) * g.outC;
      const ybase = yi(g, b, oh, ow, 0);
      let s = 0;
      for (let oc = 0; oc < g.outC; oc++) s += dy[ybase + oc] * w[wbase + oc];
      dx[xi(g, b, ih, iw, ic)] += s;
    }
  });
  return dx;
}

export function conv2dBackpropFilter(g: Geometry, x: ArrayLike<number>, dy: ArrayLike<number>) {
  const dw = new Float64Array(g.fh * g.fw * g.inC * g.outC);
  forEachTap(g, (b, oh, ow, kh, kw, ih, iw) => {
    for (let ic = 0; ic < g.inC; ic++) {
      const xv = x[xi(g, b, ih, iw, ic)];
      const wbase = ((kh * g.fw + kw) * g.inC + ic) * g.outC;
      const ybase = yi(g, b, oh, ow, 0);
      for (let oc = 0; oc < g.outC; oc++) dw[wbase + oc] += xv * dy[ybase + oc];
    }
  });
  return dw;
}

/** Depthwise: outC = inC * mult, filter [fh, fw, inC, mult]. */
export function depthwise(g: Geometry, mult: number, x: ArrayLike<number>, w: ArrayLike<number>) {
  const y = new Float64Array(g.batch * g.outH * g.outW * g.outC);
  forEachTap(g, (b, oh, ow, kh, kw, ih, iw) => {
    for (let ic = 0; ic < g.inC; ic++)
      for (let m = 0; m < mult; m++)
        y[yi(g, b, oh, ow, ic * mult + m)] +=
            x[xi(g, b, ih, iw, ic)] * w[((kh * g.fw + kw) * g.inC + ic) * mult + m];
  });
  return y;
}

export function depthwiseBackpropInput(g: Geometry, mult: number, dy: ArrayLike<number>,
                                       w: ArrayLike<number>) {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.inC);
  forEachTap(g, (b, oh, ow, kh, kw, ih, iw) => {
    for (let ic = 0; ic < g.inC; ic++)
      for (let m = 0; m < mult; m++)
        dx[xi(g, b, ih, iw, ic)] +=
            dy[yi(g, b, oh, ow, ic * mult + m)] * w[((kh * g.fw + kw) * g.inC + ic) * mult + m];
  });
  return dx;
}

export function depthwiseBackpropFilter(g: Geometry, mult: number, x: ArrayLike<number>,
                                        dy: ArrayLike<number>) {
  const dw = new Float64Array(g.fh * g.fw * g.inC * mult);
  forEachTap(g, (b, oh, ow, kh, kw, ih, iw) => {
    for (let ic = 0; ic < g.inC; ic++)
      for (let m = 0; m < mult; m++)
        dw[((kh * g.fw + kw) * g.inC + ic) * mult + m] +=
            x[xi(g, b, ih, iw, ic)] * dy[yi(g, b, oh, ow, ic * mult + m)];
  });
  return dw;
}

/** c[bi] = op(a[bi % batchA]) x op(b[bi % batchB]). */
export function batchMatMul(a: ArrayLike<number>, b: ArrayLike<number>, batchA: number,
                            batchB: number, m: number, n: number, k: number, transA: boolean,
                            transB: boolean): Float64Array {
  const batch = Math.max(batchA, batchB);
  const c = new Float64Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    const ao = (bi % batchA) * m * k, bo = (bi % batchB) * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = transA ? a[ao + p * m + i] : a[ao + i * k + p];
          const bv = transB ? b[bo + j * k + p] : b[bo + p * n + j];
          s += av * bv;
        }
        c[(bi * m + i) * n + j] = s;
      }
  }
  return c;
}

export function activation(v: number, act: string, alpha: number, prelu: number): number {
  switch (act) {
    case 'relu': return Math.max(v, 0);
    case 'relu6': return Math.min(Math.max(v, 0), 6);
    case 'elu': return v > 0 ? v : Math.exp(v) - 1;
    case 'sigmoid': return 1 / (1 + Math.exp(-v));
    case 'leakyrelu': return v < 0 ? alpha * v : v;
    case 'prelu': return v < 0 ? prelu * v : v;
    default: return v;
  }
}

/** Max relative error of got vs ref, scaled by max |ref|; NaN in got counts as infinite. */
export function maxRelError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) return Infinity;
  let scale = 1e-30;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    if (Number.isNaN(got[i]) && !Number.isNaN(ref[i])) return Infinity;
    worst = Math.max(worst, Math.abs(got[i] - ref[i]) / scale);
  }
  return worst;
}

/** Max |got - ref| with each element relative to the magnitude of what was summed into it (mag:
 * the sum of |term|, e.g. the reference run on absolute values), floored by |ref|. Float rounding is
 * bounded by that magnitude, not by the result, so a sum that cancels to near zero (one relu'd
 * channel, a reduction of random signs) cannot fail a correct kernel, while a wrong or missing
 * term still shows as an error of the order of one term. NaN in got counts as infinite. */
export function maxErrorVsMagnitude(got: ArrayLike<number>, ref: ArrayLike<number>,
                                    mag: ArrayLike<number>): number {
  if (got.length !== ref.length || mag.length !== ref.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    if (Number.isNaN(got[i]) && !Number.isNaN(ref[i])) return Infinity;
    const scale = Math.max(mag[i], Math.abs(ref[i]), 1e-30);
    worst = Math.max(worst, Math.abs(got[i] - ref[i]) / scale);
  }
  return worst;
}

export function abs(v: ArrayLike<number>): Float32Array {
  return Float32Array.from(v, (x) => Math.abs(x));
}

/** Summed-term magnitudes after a bias + activation epilogue over the last dimension: adds |bias|.
 * Every activation is 1-Lipschitz, but elu and sigmoid go through exp(v), whose float rounding is of
 * the order of exp(v) ~ 1 whatever v, so their magnitude is at least 1. */
export function epilogueMagnitude(mag: Float64Array, bias: ArrayLike<number>, act = 'linear'): Float64Array {
  const viaExp = act === 'elu' || act === 'sigmoid';
  return mag.map((m, i) => {
    const v = m + Math.abs(bias[i % bias.length]);
    return viaExp ? Math.max(v, 1) : v;
  });
}

/** Seeded PRNG (mulberry32) so a failure can be replayed: the seed is printed by the tests. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6D2B79F5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: T[]) => xs[Math.floor(next() * xs.length)],
    floats: (n: number) => {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = next() * 2 - 1;
      return a;
    },
  };
}

export function testSeed(): number {
  const env = process.env.CLICKTRAIN_TEST_SEED;
  return env ? Number(env) : (Date.now() ^ (process.pid << 8)) >>> 0;
}

/** Whether two float arrays have the same bits (NaN payloads included). */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
