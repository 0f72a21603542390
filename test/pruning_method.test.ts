import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  buildLibrary, candidatePatterns, ClickTrainController, connectivityPrune, defaultSchedule, drawMask, expandMask,
  FIXED_12, FIXED_8, CORNER_SQUARES, kernelImportance, maskFromPositions, patternScore, popcount9,
  ratiosForTargetCompression, removeCountFor, resolveOptions, selectPatterns, topKPattern, clickTrain,
} from '../src/pruning';
import {Rng} from '../src/data/rng';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function tinyModel(cin = 2, cout = 3, seed = 1): tfl.LayersModel {
  const input = tfl.input({shape: [6, 6, cin]});
  let x = tfl.layers.conv2d({filters: cout, kernelSize: 3, padding: 'same', useBias: false, name: 'c1',
    kernelInitializer: tfl.initializers.glorotNormal({seed})}).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'c2',
    kernelInitializer: tfl.initializers.glorotNormal({seed: seed + 1})}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotNormal({seed: seed + 2})}).apply(x) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: x});
}

describe('masks and patterns', () => {
  test('mask layout matches HWIO [3,3,Cin,Cout], index ic*Cout+oc, bit kh*3+kw', () => {
    const cin = 2, cout = 3;
    const mask = new Uint16Array(cin * cout);
    mask[1 * cout + 2] = 1 << (2 * 3 + 1); // ic=1, oc=2, kh=2, kw=1
    const full = expandMask(mask, cin, cout);
    const t = tf.tensor4d(full, [3, 3, cin, cout]);
    const arr = t.arraySync() as number[][][][];
    expect(arr[2][1][1][2]).toBe(1);
    expect(full.reduce((a, b) => a + b, 0)).toBe(1);
    t.dispose();
    expect(drawMask(maskFromPositions([0, 4, 8]))).toBe('#..\n.#.\n..#');
    expect(popcount9(0x1ff)).toBe(9);
  });

  test('a planted important pattern is found as candidate and tops the library', () => {
    const n = 50;
    const planted = maskFromPositions([1, 3, 4, 5]);
    const rng = new Rng(3);
    const imp = new Float32Array(9 * n);
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < 9; p++) imp[p * n + i] = rng.next() * 0.1;
      if (i % 5 !== 0) for (const p of [1, 3, 4, 5]) imp[p * n + i] += 1;
    }
    const keep = new Uint8Array(n).fill(1);
    const cands = candidatePatterns(imp, keep, 4);
    expect(cands.filter((c) => c === planted).length).toBe(40);
    const lib = buildLibrary(cands, 4);
    expect(lib[0]).toBe(planted);
    const mask = selectPatterns(imp, keep, lib);
    for (let i = 0; i < n; i++) if (i % 5 !== 0) expect(mask[i]).toBe(planted);
  });

  test('the library is the K most frequent candidates (ties by mask value)', () => {
    const a = maskFromPositions([0, 1, 2, 3]);
    const b = maskFromPositions([4, 5, 6, 7]);
    const c = maskFromPositions([0, 4, 5, 8]);
    const d = maskFromPositions([1, 2, 6, 8]);
    const cands = [b, b, b, a, a, c, c, d];
    expect(buildLibrary(cands, 3)).toEqual([b, Math.min(a, c), Math.max(a, c)]);
    expect(buildLibrary(cands, 10)).toHaveLength(4);
  });

  test('top-k candidate takes the k most important positions', () => {
    const imp = new Float32Array(9);
    [0.1, 5, 0.2, 4, 0.3, 3, 0.4, 2, 0.5].forEach((v, p) => (imp[p] = v));
    expect(topKPattern(imp, 0, 1, 4)).toBe(maskFromPositions([1, 3, 5, 7]));
  });

  test('selection keeps the most importance of any library pattern', () => {
    const n = 40;
    const rng = new Rng(11);
    const imp = Float32Array.from({length: 9 * n}, () => rng.next());
    const keep = Uint8Array.from({length: n}, (_, i) => (i % 3 === 0 ? 0 : 1));
    const lib = [...FIXED_12];
    const mask = selectPatterns(imp, keep, lib);
    for (let i = 0; i < n; i++) {
      if (!keep[i]) {
        expect(mask[i]).toBe(0);
        continue;
      }
      const best = Math.max(...lib.map((p) => patternScore(imp, i, n, p)));
      expect(patternScore(imp, i, n, mask[i])).toBe(best);
      expect(lib).toContain(mask[i]);
    }
  });

  test('fixed libraries: corner squares, 8 and 12 distinct size-4 patterns', () => {
    expect(CORNER_SQUARES).toEqual([27, 54, 216, 432]);
    for (const lib of [FIXED_8, FIXED_12]) {
      expect(new Set(lib).size).toBe(lib.length);
      for (const p of lib) expect(popcount9(p)).toBe(4);
    }
  });

  test('connectivity pruning removes exactly the requested count, the least important', () => {
    const imp = Float64Array.from([5, 1, 3, 0.5, 4, 2, 6, 7, 0.1, 9]);
    const keep = connectivityPrune(imp, 4);
    expect(Array.from(keep)).toEqual([1, 0, 1, 0, 1, 0, 1, 1, 0, 1]);
    expect(keep.reduce((a, b) => a + b, 0)).toBe(6);
    expect(removeCountFor(0.35, 200)).toBe(70);
    const ki = kernelImportance(Float32Array.from({length: 18}, (_, j) => j), 2);
    expect(Array.from(ki)).toEqual([72, 81]);
  });

  test('global target compression gives ratios that reach it; unreachable targets fail clearly', () => {
    const layers = [16 * 16, 16 * 32, 32 * 32, 64 * 64];
    const r = ratiosForTargetCompression(layers, 4, 8);
    const total = layers.reduce((a, b) => a + b, 0);
    const kept = layers.reduce((a, n, i) => a + n - removeCountFor(r[i], n), 0);
    expect((9 * total) / (4 * kept)).toBeGreaterThanOrEqual(8);
    expect((9 * total) / (4 * kept)).toBeLessThan(8.1);
    expect(() => ratiosForTargetCompression(layers, 4, 2)).toThrow(/cannot be reached.*alone already gives 2.250x/);
    expect(() => ratiosForTargetCompression([4], 4, 100)).toThrow(/cannot be reached/);
    expect(() => ratiosForTargetCompression(layers, 4, 1000, 0.9)).toThrow(/at most/);
  });

  test('default schedule scales the reference (190 epochs)', () => {
    const s = defaultSchedule(190);
    expect(s.lrDecayEpochs).toEqual([55, 131]);
    expect(s.patternEpoch).toBe(63);
    expect(s.hardPruneEpoch).toBe(142);
    const t = defaultSchedule(20);
    expect(t.patternEpoch).toBe(7);
    expect(t.hardPruneEpoch).toBe(15);
    expect(t.lrDecayEpochs).toEqual([6, 14]);
  });
});

describe('configuration errors', () => {
  test('bad options', () => {
    expect(() => resolveOptions({layerRatios: 1})).toThrow(/\[0, 1\)/);
    expect(() => resolveOptions({layerRatios: -0.1})).toThrow(/\[0, 1\)/);
    expect(() => resolveOptions({layerRatios: {c1: 1.5}})).toThrow(/layer 'c1'.*\[0, 1\)/);
    expect(() => resolveOptions({patternSize: 0})).toThrow(/1\.\.9/);
    expect(() => resolveOptions({patternSize: 10})).toThrow(/1\.\.9/);
    expect(() => resolveOptions({fixedLibrary: 'fixed8', patternSize: 3})).toThrow(/pattern size 4/);
    expect(() => resolveOptions({importanceWindow: 0})).toThrow(/window/);
  });

  test('no prunable layer, unknown layers, unreachable compression', () => {
    const input = tfl.input({shape: [4]});
    const dense = tfl.model({inputs: input, outputs: tfl.layers.dense({units: 2}).apply(input) as tfl.SymbolicTensor});
    expect(() => new ClickTrainController(dense, {epochs: 4})).toThrow(/no prunable layer/);
    const m = tinyModel();
    expect(() => new ClickTrainController(m, {epochs: 4, exclude: ['c1', 'c2']})).toThrow(/no prunable layer/);
    expect(() => new ClickTrainController(m, {epochs: 4, layers: ['nope']})).toThrow(/'nope' not found/);
    expect(() => new ClickTrainController(m, {epochs: 4, targetCompression: 500})).toThrow(/cannot be reached/);
    expect(() => new ClickTrainController(m, {epochs: 4, layerRatios: {zzz: 0.5}})).toThrow(/zzz/);
    expect(() => new ClickTrainController(m, {})).toThrow(/epochs/);
  });
});

describe('Taylor importance', () => {
  test('equals (w * dL/dw)^2 summed over the window, with no side effect on weights', async () => {
    const m = tinyModel();
    const xs = tf.randomNormal([8, 6, 6, 2], 0, 1, 'float32', 5);
    const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3);
    const c = new ClickTrainController(m, {epochs: 4, importanceWindow: 2});
    const before = m.getWeights().map((w) => w.dataSync().slice());
    const provider = (i: number) => ({xs: tf.slice(xs, i * 4, 4), ys: tf.slice(ys, i * 4, 4)});
    const imp = await c.measureImportance(provider);
    // manual
    const v = c.layers[0].variable();
    const manual = new Float32Array(v.size);
    for (let i = 0; i < 2; i++) {
      const {grads} = tf.variableGrads(() => {
        const p = m.apply(tf.slice(xs, i * 4, 4), {training: true}) as tf.Tensor;
        return tf.neg(tf.mean(tf.sum(tf.mul(tf.slice(ys, i * 4, 4), tf.log(tf.clipByValue(p, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar;
      }, [v]);
      const sq = tf.square(tf.mul(v, grads[v.name])).dataSync();
      for (let j = 0; j < sq.length; j++) manual[j] += sq[j];
    }
    for (let j = 0; j < manual.length; j++) expect(imp[0][j]).toBeCloseTo(manual[j], 6);
    m.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(before[i])));
    c.dispose();
  });

  test('planted importance in real weights: the pattern with the large weights is chosen', async () => {
    const m = tinyModel(2, 3);
    const c = new ClickTrainController(m, {epochs: 4, librarySize: 1, layers: ['c1']});
    // importance ~ w^2 g^2: plant via an importance array directly
    const n = 6;
    const imp = new Float32Array(9 * n);
    const planted = [0, 2, 6, 8];
    for (let i = 0; i < n; i++) for (const p of planted) imp[p * n + i] = 1 + i;
    c.choosePatterns([imp]);
    expect(c.libraries![0]).toEqual([maskFromPositions(planted)]);
    expect(Array.from(c.masks![0])).toEqual(new Array(n).fill(maskFromPositions(planted)));
    c.dispose();
  });

  test('callback needs a sample-batch provider', async () => {
    const m = tinyModel();
    m.compile({optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy'});
    const xs = tf.randomNormal([4, 6, 6, 2]);
    const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3);
    await expect(m.fit(xs, ys, {epochs: 1, batchSize: 4, verbose: 0, callbacks: [clickTrain({schedule: {patternEpoch: 0, hardPruneEpoch: 0}})]}))
        .rejects.toThrow(/sampleBatch/);
  });
});
