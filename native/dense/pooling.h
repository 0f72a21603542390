// 2-D max and average pooling in NHWC (p.in_c == p.out_c, filter = window), reproducing
// tfjs-backend-cpu (utils/pool_utils.js pool()/maxPoolPositions(), kernels/MaxPoolGrad.js and
// kernels/AvgPoolGrad.js) exactly:
//  * Forward, both kinds: a 1x1 window with in_h == out_h and in_w == out_w is the identity (tfjs
//    returns x itself). Otherwise window rows are max(0, oh*sh - pt) .. min(in_h, oh*sh - pt +
//    (fh-1)*dh + 1) stepping by dh (likewise columns); padded taps are skipped.
//  * Max: starts at -Infinity and keeps the first strict '>' maximum in window order (row, then
//    column), so NaN inputs are ignored; a window with no taps (or only NaN) yields -Infinity.
//  * Avg: sum of the in-range taps divided by their count (count_include_pad = false), summed in
//    double as JS does; a window with no in-range taps yields NaN (0/0).
//  * MaxPoolBackward: dx[argmax of each window] += dy, argmax = first strict maximum over the
//    in-range taps (NaN never wins); windows without a maximum pass no gradient.
//  * AvgPoolBackward: NOT the exact adjoint of the forward above: tfjs spreads dy over every
//    in-range tap of each window divided by the full window size fh*fw (padding included),
//    regardless of how many taps were in range.
#pragma once
#include "common/conv_params.h"

namespace clicktrain {

void MaxPoolForward(const Conv2DParams& p, const float* x, float* y);
// dx[argmax of each window] += dy; x is the forward input. dx is overwritten.
void MaxPoolBackward(const Conv2DParams& p, const float* x, const float* dy, float* dx);
void AvgPoolForward(const Conv2DParams& p, const float* x, float* y);
// dx[tap] += dy / (filter_h * filter_w) for every in-range tap of each window. dx is overwritten.
void AvgPoolBackward(const Conv2DParams& p, const float* dy, float* dx);

// Windows that tile the input exactly: stride = window, no padding or dilation, out * stride = in
// in both dimensions, in_c = out_c (VGG's 2x2/2 pools).
bool PoolWindowsTileInput(const Conv2DParams& p);

// Max pool of one block of rows on the calling thread, for kernels that produce a pool's input a
// band at a time (the sparse conv's fused pool, sparse_conv.h): windows fh x fw with stride =
// window and no padding, tiling in [rows][W][C] (rows % fh == 0, W % fw == 0) ->
// out [rows / fh][W / fw][C]. The bits of MaxPoolForward on those rows, except for a 1x1 window
// (tfjs's identity passes NaN; here a window without a maximum is -Infinity).
void MaxPoolTiledBlock(int64_t fh, int64_t fw, int64_t rows, int64_t W, int64_t C, const float* in, float* out);

}  // namespace clicktrain
