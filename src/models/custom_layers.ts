/**
 * Custom layers used by the CIFAR builders, registered for (de)serialisation so
 * that saved models load back (`tf.loadLayersModel`) once this module is imported.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export interface ShortcutAArgs {
  /** Spatial stride (1 or 2). */
  stride: number;
  /** Output channels (>= input channels); the extra channels are zero. */
  filters: number;
  name?: string;
}

/**
 * Parameter-free ResNet "option A" shortcut (He et al. 2016, CIFAR models):
 * spatial subsampling by `stride` and zero padding of the channels on both sides.
 */
export class ShortcutA extends tfl.layers.Layer {
  static className = 'ClickTrainShortcutA';
  readonly stride: number;
  readonly filters: number;

  constructor(args: ShortcutAArgs) {
    super({name: args.name});
    this.stride = args.stride;
    this.filters = args.filters;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const d = (v: number | null) => (v == null ? null : Math.ceil(v / this.stride));
    return [s[0], d(s[1]), d(s[2]), this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      let x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      if (this.stride > 1) {
        // Subsampling as a 1x1 average pool: same values as a strided slice, but tfjs has a
        // gradient for AvgPool and none for StridedSlice.
        x = tf.avgPool(x, 1, this.stride, 'valid');
      }
      const extra = this.filters - x.shape[3];
      if (extra < 0) throw new Error(`ShortcutA: ${x.shape[3]} input channels > ${this.filters} filters`);
      if (extra > 0) {
        const lo = Math.floor(extra / 2);
        x = tf.pad(x, [[0, 0], [0, 0], [0, 0], [lo, extra - lo]]);
      }
      return x;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {...super.getConfig(), stride: this.stride, filters: this.filters};
  }
}
tf.serialization.registerClass(ShortcutA);
