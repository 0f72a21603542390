/** Losses used by the trainer and by ClickTrain's importance measurement. */
import * as tf from '@tensorflow/tfjs-core';

/** A loss: per-example or scalar; callers take the mean. */
export type LossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** Categorical cross-entropy on probabilities (softmax outputs), mean over the batch. */
export function categoricalCrossentropy(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.clipByValue(yPred, 1e-7, 1 - 1e-7);
    return tf.neg(tf.mean(tf.sum(tf.mul(yTrue, tf.log(p)), -1))) as tf.Scalar;
  });
}

/** Softmax cross-entropy on logits, mean over the batch. */
export function softmaxCrossentropyFromLogits(yTrue: tf.Tensor, logits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(yTrue, tf.logSoftmax(logits)), -1))) as tf.Scalar);
}

/** Label smoothing: `y * (1 - eps) + eps / numClasses`. */
export function smoothLabels(y: tf.Tensor, eps: number): tf.Tensor {
  if (!(eps >= 0 && eps < 1)) throw new Error(`label smoothing must be in [0, 1), got ${eps}`);
  if (eps === 0) return y.clone();
  const k = y.shape[y.shape.length - 1];
  return tf.tidy(() => tf.add(tf.mul(y, 1 - eps), eps / k));
}

export function resolveLoss(loss: string | LossFn | undefined): LossFn {
  if (loss === undefined || loss === 'categoricalCrossentropy') return categoricalCrossentropy;
  if (loss === 'softmaxCrossentropy' || loss === 'logits') return softmaxCrossentropyFromLogits;
  if (typeof loss === 'function') return loss;
  throw new Error(`unknown loss '${loss}' (use 'categoricalCrossentropy', 'softmaxCrossentropy' or a function)`);
}
