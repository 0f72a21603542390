/**
 * Loads the compiled N-API addon (build/Release/clicktrain.node, built by cmake-js on install)
 * and types its functions. Every function checks its arguments natively and throws a JS error on
 * bad input; the TypeScript kernels still only call it with shapes they have validated.
 */
import * as fs from 'fs';
import * as path from 'path';

/** Conv geometry: batch, inH, inW, inC, outH, outW, outC, filterH, filterW, strideH, strideW,
 * dilationH, dilationW, padTop, padLeft (see src/backend/conv_geometry.ts). */
export type ConvGeometry = number[];
export type Float32OrNull = Float32Array | null;

export interface AddonInfo {
  isa: 'generic' | 'avx2' | 'avx512';
  detectedIsa: 'generic' | 'avx2' | 'avx512';
  threads: number;
  gemm: string;
  openblas: boolean;
  cuda?: {built: boolean; available: boolean; device?: string; reason?: string};
}

/** An inference batch norm (then relu, when set) applied after a conv's epilogue, with the bits of
 * the separate batchNorm kernel; each array has one value per output channel, or one. */
export interface BatchNormFold {
  mean: Float32Array;
  variance: Float32Array;
  scale: Float32OrNull;
  offset: Float32OrNull;
  epsilon: number;
  relu: boolean;
}

/** A training batch norm (+ relu) that a sparse conv reads its input through (x is then the batch
 * norm's input): BatchNormFold's fields, each array with one value per input channel. */
export type InputBatchNorm = BatchNormFold;

/** A training batch norm's input gradient that the backward passes of the conv feeding it take as
 * their dy: the batch norm's statistics and parameters (BatchNormFold's fields, each array with one
 * value per output channel of the conv), its x and output gradient dy, and the coefficients
 * batchNormTrainingGradSums wrote. relu: dy is the gradient at relu(y) (offset: the forward's
 * offset). */
export interface OutputBatchNormGrad extends BatchNormFold {
  x: Float32Array;
  dy: Float32Array;
  coefficients: Float32Array;
}

export interface Addon {
  info(): AddonInfo;
  setNumThreads(n: number): number;
  setIsa(isa: string): string;
  sgemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array,
        b: Float32Array, c: Float32Array): void;
  conv2dForward(g: ConvGeometry, x: Float32Array, filter: Float32Array, y: Float32Array,
                bias: Float32OrNull, activation: number, leakyAlpha: number,
                prelu: Float32OrNull, batchNorm?: BatchNormFold | null): void;
  conv2dBackpropInput(g: ConvGeometry, dy: Float32Array, filter: Float32Array,
                      dx: Float32Array): void;
  /** dy null: dy is the input gradient of the batch norm this conv feeds (dyBatchNormGrad). */
  conv2dBackpropFilter(g: ConvGeometry, x: Float32Array, dy: Float32OrNull,
                       dfilter: Float32Array, dyBatchNormGrad?: OutputBatchNormGrad | null): void;
  /** Whether conv2dBackpropFilter computes a batch-norm-gradient dy row by row as it reads it. */
  conv2dReadsDyRows(g: ConvGeometry): boolean;
  depthwiseForward(g: ConvGeometry, multiplier: number, x: Float32Array, filter: Float32Array,
                   y: Float32Array, bias: Float32OrNull, activation: number, leakyAlpha: number,
                   prelu: Float32OrNull): void;
  depthwiseBackpropInput(g: ConvGeometry, multiplier: number, dy: Float32Array,
                         filter: Float32Array, dx: Float32Array): void;
  depthwiseBackpropFilter(g: ConvGeometry, multiplier: number, x: Float32Array, dy: Float32Array,
                          dfilter: Float32Array): void;
  batchMatMul(batchA: number, batchB: number, m: number, n: number, k: number, transA: boolean,
              transB: boolean, a: Float32Array, b: Float32Array, c: Float32Array,
              bias: Float32OrNull, activation: number, leakyAlpha: number,
              prelu: Float32OrNull): void;
  poolForward(g: ConvGeometry, isMax: boolean, x: Float32Array, y: Float32Array): void;
  maxPoolBackward(g: ConvGeometry, x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  avgPoolBackward(g: ConvGeometry, dy: Float32Array, dx: Float32Array): void;
  /** Disjoint windows tiling the input exactly (native/dense/max_pool_argmax.h). */
  maxPoolArgmaxSupported(g: ConvGeometry): boolean;
  /** The max pool of batchNormTrainingApply's output, never written out; argmax: the window tap of
   * each output element (255: none), for maxPoolArgmaxBackward. */
  maxPoolOfBatchNorm(g: ConvGeometry, x: Float32Array, mean: Float32Array, variance: Float32Array,
                     scale: Float32OrNull, offset: Float32OrNull, epsilon: number, relu: boolean,
                     y: Float32Array, argmax: Uint8Array): void;
  maxPoolArgmaxBackward(g: ConvGeometry, argmax: Uint8Array, dy: Float32Array, dx: Float32Array): void;
  /** relu: tfjs's Relu of the result, in the same pass. */
  batchNorm(rows: number, channels: number, x: Float32Array, y: Float32Array, mean: Float32Array,
            variance: Float32Array, scale: Float32OrNull, offset: Float32OrNull,
            epsilon: number, relu: boolean): void;
  batchNormGrad(rows: number, channels: number, x: Float32Array, dy: Float32Array, mean: Float32Array,
                variance: Float32Array, scale: Float32OrNull, epsilon: number, dx: Float32Array,
                dmean: Float32Array, dvariance: Float32Array, dscale: Float32Array, doffset: Float32Array): void;
  /** y null: the batch statistics only (batchNormTrainingApply computes y from them). */
  batchNormTraining(rows: number, channels: number, x: Float32Array, scale: Float32OrNull,
                    offset: Float32OrNull, epsilon: number, y: Float32OrNull, mean: Float32Array,
                    variance: Float32Array): void;
  /** y (or relu(y)) of batchNormTraining from its statistics, the same bits. */
  batchNormTrainingApply(rows: number, channels: number, x: Float32Array, mean: Float32Array,
                         variance: Float32Array, scale: Float32OrNull, offset: Float32OrNull, epsilon: number,
                         relu: boolean, y: Float32Array): void;
  /** followsRelu: dy is the gradient at relu(y), and the relu gradient is taken on the way in (y
   * recomputed from x with reluOffset, the forward's offset: the same bits). */
  batchNormTrainingGrad(rows: number, channels: number, x: Float32Array, dy: Float32Array,
                        mean: Float32Array, variance: Float32Array, scale: Float32OrNull, epsilon: number,
                        dx: Float32Array, dscale: Float32Array, doffset: Float32Array,
                        followsRelu: boolean, reluOffset: Float32OrNull): void;
  /** batchNormTrainingGrad's sums pass (dscale, doffset) and dx's coefficients (3 * channels). */
  batchNormTrainingGradSums(rows: number, channels: number, x: Float32Array, dy: Float32Array,
                            mean: Float32Array, variance: Float32Array, scale: Float32OrNull, epsilon: number,
                            dscale: Float32Array, doffset: Float32Array, coefficients: Float32Array,
                            followsRelu: boolean, reluOffset: Float32OrNull): void;
  /** batchNormTrainingGrad's dx from batchNormTrainingGradSums' coefficients (the same bits). */
  batchNormTrainingGradDx(rows: number, channels: number, x: Float32Array, dy: Float32Array,
                          mean: Float32Array, variance: Float32Array, scale: Float32OrNull, epsilon: number,
                          coefficients: Float32Array, followsRelu: boolean, reluOffset: Float32OrNull,
                          dx: Float32Array): void;
  /** batchNormTrainingGrad with dy = maxPoolArgmaxBackward(g, argmax, dyPooled), never written out. */
  batchNormTrainingGradPooledDy(rows: number, channels: number, x: Float32Array, g: ConvGeometry, argmax: Uint8Array,
                                dyPooled: Float32Array, mean: Float32Array, variance: Float32Array,
                                scale: Float32OrNull, epsilon: number, dx: Float32Array, dscale: Float32Array,
                                doffset: Float32Array, followsRelu: boolean, reluOffset: Float32OrNull): void;
  binaryOp(op: number, aShape: number[], a: Float32Array, bShape: number[], b: Float32Array,
           outShape: number[], out: Float32Array): void;
  reduce(op: number, shape: number[], axes: number[], x: Float32Array, out: Float32Array): void;
  transpose(shape: number[], perm: number[], x: Float32Array, out: Float32Array): void;
  tile(shape: number[], reps: number[], x: Float32Array, out: Float32Array): void;
  slice(shape: number[], begin: number[], size: number[], x: Float32Array, out: Float32Array): void;
  pad(shape: number[], before: number[], after: number[], value: number, x: Float32Array,
      out: Float32Array): void;
  unary(op: number, x: Float32Array, alpha: number, out: Float32Array): void;
  sgdUpdate(value: Float32Array, grad: Float32Array, outValue: Float32Array, c: number): void;
  momentumUpdate(value: Float32Array, accum: Float32Array, grad: Float32Array, outValue: Float32Array,
                 outAccum: Float32Array, c: number, momentum: number, nesterov: boolean): void;
  // Further functions (sparse, CUDA) are typed where they are used.
  [name: string]: unknown;
}

/** The package root: the nearest folder above this file whose package.json names clicktrain. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'clicktrain') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('clicktrain: cannot find the package root');
    dir = up;
  }
}

let cached: Addon | undefined;

/** The addon, loaded once. CLICKTRAIN_ADDON may name another build (e.g. a sanitizer build). */
export function addon(): Addon {
  if (cached) return cached;
  const root = packageRoot();
  const candidates = [
    process.env.CLICKTRAIN_ADDON,
    path.join(root, 'build', 'Release', 'clicktrain.node'),
    path.join(root, 'build', 'Debug', 'clicktrain.node'),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new Error(
        `clicktrain: native addon not built (looked in ${candidates.join(', ')}); ` +
        'run `npm run build:native` (needs cmake and a C++17 compiler)');
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  cached = require(found) as Addon;
  return cached;
}
