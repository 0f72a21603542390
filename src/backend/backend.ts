/**
 * The `clicktrain` backend: tfjs-backend-cpu's MathBackendCPU (tensors live in JS typed arrays)
 * with the heavy kernels replaced by native ones that read those arrays zero-copy.
 *
 * Output buffers of the native kernels are recycled: a training step allocates its activations
 * and gradients again every step, and fresh multi-MiB Float32Arrays cost page faults, kernel page
 * clearing and major GCs (perf on a VGG-16 step: ~20% of the cores). A buffer goes back to the
 * pool only when its tensor is freed and nothing else can still see it: a buffer whose values were
 * read out (dataSync/data/buffer), moved, or wrapped by another tensor (a cpu kernel returning a
 * view of it) is never reused.
 *
 * Deferred outputs: a kernel may return a tensor whose values are computed on first read (a
 * getter on the backend's record: every reader, tfjs's cpu kernels included, goes through
 * `data.get(id).values`). The frozen sparse layers use it for dense forms of packed arrays
 * (gradient, weight, momentum) that a training step normally never reads. A deferred output may
 * pin the arrays its fill reads (they are not recycled while its record lives, so a late fill reads
 * what the kernel saw) and carry a description of how it would be computed (`fusedSource`): a
 * later kernel can then compute its own result from the sources in fewer passes, and the deferred
 * values are never computed (batch norm + relu, see kernels/BatchNormTraining.ts). A computed
 * tensor may carry a source too (attachSource: a max pool's argmaxes, kernels/Pooling.ts).
 */
import {MathBackendCPU} from '@tensorflow/tfjs-backend-cpu';
import {backend_util, DataId, DataType, util} from '@tensorflow/tfjs-core';

export const BACKEND_NAME = 'clicktrain';

// Small arrays are cheap to allocate; pooling them would only add bookkeeping.
const MIN_POOLED_LENGTH = 4096;
// A VGG-16 step at batch 32 frees ~1 GiB of same-sized activations and gradients a step; a pool
// smaller than that drops buffers each step and the next step page-faults fresh ones again.
const MAX_POOLED_BYTES = Number(process.env.CLICKTRAIN_BUFFER_POOL_MB ?? 1024) * 1024 * 1024;
const MAX_PER_LENGTH = 64;
const POOL_ENABLED = process.env.CLICKTRAIN_BUFFER_POOL !== '0';

type Values = backend_util.BackendValues;

export class ClickTrainBackend extends MathBackendCPU {
  private readonly pool = new Map<number, Float32Array[]>();
  private pooledBytes = 0;
  /** Buffers allocated by allocOutput: candidates for reuse. */
  private readonly owned = new WeakSet<ArrayBufferLike>();
  /** Owned buffers that escaped (read out, moved, or shared by another tensor). */
  private readonly escaped = new WeakSet<ArrayBufferLike>();
  /** Deferred outputs not yet computed: dataId -> computes and stores the values. */
  private readonly deferred = new Map<DataId, () => void>();
  /** Deferred outputs' pinned input arrays and source descriptions, until their record goes. */
  private readonly holds = new Map<DataId, {pins: Float32Array[], source?: unknown}>();
  /** Pinned arrays: count of the records holding each. */
  private readonly pins = new Map<Float32Array, number>();
  /** Pinned arrays whose tensor was freed: recycled when the last pin goes. */
  private readonly freedWhilePinned = new Set<Float32Array>();

  constructor() {
    super();
    // MathBackendCPU's first write warns that Node should use tfjs-node; this backend is the
    // native answer to that, so the warning would only mislead.
    (this as unknown as {firstUse: boolean}).firstUse = false;
  }

  /** A Float32Array for a native kernel's output (contents unspecified: the kernel writes it all). */
  allocOutput(length: number): Float32Array {
    if (POOL_ENABLED && length >= MIN_POOLED_LENGTH) {
      const free = this.pool.get(length);
      const reused = free?.pop();
      if (reused) {
        this.pooledBytes -= reused.byteLength;
        return reused;
      }
    }
    const values = new Float32Array(length);
    if (POOL_ENABLED && length >= MIN_POOLED_LENGTH) this.owned.add(values.buffer);
    return values;
  }

  /** Registers a native kernel's output array (from allocOutput) as a new tensor's data. */
  writeOutput(values: Float32Array, shape: number[]): {dataId: DataId, shape: number[], dtype: 'float32'} {
    return {dataId: super.write(values, shape, 'float32'), shape, dtype: 'float32'};
  }

  /** A float32 tensor whose values `fill` computes (writing every element) when first read.
   * `pins`: the arrays fill reads, kept from recycling while the tensor lives; `source`: what
   * fusedSource returns for it. */
  deferOutput(shape: number[], fill: (values: Float32Array) => void,
              hold?: {pins: Float32Array[], source?: unknown}): {dataId: DataId, shape: number[], dtype: 'float32'} {
    const info = this.writeOutput(new Float32Array(0), shape);
    if (hold) {
      for (const a of hold.pins) this.pins.set(a, (this.pins.get(a) ?? 0) + 1);
      this.holds.set(info.dataId, hold);
    }
    const record = this.data.get(info.dataId);
    const store = (values: Float32Array) =>
      Object.defineProperty(record, 'values', {value: values, writable: true, enumerable: true, configurable: true});
    const materialize = () => {
      this.deferred.delete(info.dataId);
      const values = this.allocOutput(util.sizeFromShape(shape));
      fill(values);
      store(values);
    };
    Object.defineProperty(record, 'values', {
      enumerable: true,
      configurable: true,
      get: () => {
        materialize();
        return record.values;
      },
      set: (v: Values) => {
        this.deferred.delete(info.dataId);
        store(v as Float32Array);
      },
    });
    this.deferred.set(info.dataId, materialize);
    return info;
  }

  /** Attaches a source description to a tensor that is not deferred (what a later kernel may use
   * instead of its inputs, e.g. a max pool's argmaxes); dropped with the tensor's record. */
  attachSource(dataId: DataId, source: unknown): void {
    if (!this.data.has(dataId) || this.holds.has(dataId)) throw new Error('clicktrain: attachSource on a tensor with a source');
    this.holds.set(dataId, {pins: [], source});
  }

  /** The source description a deferred output was made with (computed or not), if any. */
  fusedSource(dataId: DataId | undefined): unknown {
    return dataId === undefined ? undefined : this.holds.get(dataId)?.source;
  }

  /** Whether `dataId` is a deferred output whose values were not computed yet. */
  isDeferred(dataId: DataId | undefined): boolean {
    return dataId !== undefined && this.deferred.has(dataId);
  }

  /** Computes a deferred output's values now (before the arrays its fill reads change). */
  materialize(dataId: DataId | undefined): void {
    if (dataId !== undefined) this.deferred.get(dataId)?.();
  }

  private noteEscape(values: unknown): void {
    const buffer = (values as {buffer?: ArrayBufferLike} | null)?.buffer;
    if (buffer && this.owned.has(buffer)) this.escaped.add(buffer);
  }

  override write(values: Values, shape: number[], dtype: DataType): DataId {
    this.noteEscape(values);  // another tensor (e.g. a cpu kernel's view) now shares the buffer
    return super.write(values, shape, dtype);
  }

  override move(dataId: DataId, values: Values, shape: number[], dtype: DataType, refCount: number): void {
    this.noteEscape(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override readSync(dataId: DataId): Values {
    const values = super.readSync(dataId);  // the backend's own array: the caller may keep it
    this.noteEscape(values);
    return values;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    if (this.deferred.has(dataId)) {  // nothing to recycle; do not compute it
      const result = super.disposeData(dataId, force);
      if (!this.data.has(dataId)) {
        this.deferred.delete(dataId);
        this.release(dataId);
      }
      return result;
    }
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const result = super.disposeData(dataId, force);
    if (!this.data.has(dataId)) {
      this.release(dataId);
      if (values instanceof Float32Array) this.recycle(values);
    }
    return result;
  }

  /** Drops a freed record's pins (recycling arrays freed meanwhile) and source. */
  private release(dataId: DataId): void {
    const hold = this.holds.get(dataId);
    if (!hold) return;
    this.holds.delete(dataId);
    for (const a of hold.pins) {
      const n = (this.pins.get(a) ?? 1) - 1;
      if (n > 0) {
        this.pins.set(a, n);
      } else {
        this.pins.delete(a);
        if (this.freedWhilePinned.delete(a)) this.recycle(a);
      }
    }
  }

  private recycle(values: Float32Array): void {
    if (this.pins.has(values)) {  // a deferred fill may still read it
      this.freedWhilePinned.add(values);
      return;
    }
    const buffer = values.buffer;
    if (!this.owned.has(buffer) || this.escaped.has(buffer)) return;
    if (values.byteOffset !== 0 || values.byteLength !== buffer.byteLength) return;
    if (this.pooledBytes + values.byteLength > MAX_POOLED_BYTES) return;
    let free = this.pool.get(values.length);
    if (!free) this.pool.set(values.length, free = []);
    if (free.length >= MAX_PER_LENGTH || free.includes(values)) return;
    free.push(values);
    this.pooledBytes += values.byteLength;
  }

  /** Drops the recycled buffers (they are garbage-collected). */
  releasePooledBuffers(): void {
    this.pool.clear();
    this.pooledBytes = 0;
  }

  override dispose(): void {
    this.deferred.clear();
    this.holds.clear();
    this.pins.clear();
    this.freedWhilePinned.clear();
    this.releasePooledBuffers();
    super.dispose();
  }
}
