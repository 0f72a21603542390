// Max pooling that records each window's argmax, reading its input row by row from a function
// (a batch norm + relu output that is never written out), and the gradient from those argmaxes.
// For VGG's conv -> batch norm -> relu -> 2x2/2 max pool in training: the relu output (the largest
// activation of its block) is neither written by the batch norm, read by the pool, nor read again
// by the pool's gradient; the pool writes one byte per output element more.
//
// Only disjoint windows that tile the input exactly (MaxPoolArgmaxSupported). Semantics are
// pooling.h's: the window maximum is the first strict '>' from -Infinity in window order (NaN
// never wins; no taps above -Infinity: y = -Infinity, no argmax, no gradient), so y and dx have the
// bits of MaxPoolForward / MaxPoolBackward on the materialised input.
#pragma once
#include <cstdint>
#include <functional>

#include "common/conv_params.h"

namespace clicktrain {

// argmax value of a window without a maximum.
constexpr uint8_t kNoArgmax = 255;

// Stride = window, no padding or dilation, out * stride = in in both dimensions, in_c = out_c,
// 2 to 254 taps per window (a 1x1 pool is tfjs's identity: NaN passes through it).
bool MaxPoolArgmaxSupported(const Conv2DParams& p);

// rows(first, n, out) writes n consecutive input rows (of in_w * in_c floats) starting at flat
// row first = b * in_h + ih into out; it is called from worker threads, for disjoint row ranges.
using PoolInputRows = std::function<void(int64_t first, int64_t n, float* out)>;

// y [N, out_h, out_w, C] and argmax (same size: the window tap r * filter_w + c, or kNoArgmax).
void MaxPoolArgmaxForward(const Conv2DParams& p, const PoolInputRows& rows, float* y, uint8_t* argmax);

// dx [N, in_h, in_w, C] = dy at each window's argmax, 0 elsewhere (every element written).
void MaxPoolArgmaxBackward(const Conv2DParams& p, const uint8_t* argmax, const float* dy, float* dx);

// Pixels [first, first + n) of that dx (pixel q = (b * in_h + ih) * in_w + iw, C floats each) into
// out, on the calling thread: for a consumer that reads the gradient in small blocks instead of
// having it written out (the batch-norm gradient, dense/batch_norm.h: BatchNormTrainingBackwardRows).
void MaxPoolArgmaxBackwardPixels(const Conv2DParams& p, const uint8_t* argmax, const float* dy, int64_t first,
                                 int64_t n, float* out);

}  // namespace clicktrain
