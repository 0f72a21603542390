// Pattern-sparse 3x3 convolution on the CPU (forward, backward-data, backward-filter) over a
// PatternLayout (native/sparse/pattern_layout.h). NHWC activations, HWIO-shaped weights.
//
// Supported geometry (SparseConvSupported): filter 3x3, strides 1 or 2 (each axis), dilation 1,
// pad_top/pad_left in [0, 2], any out_h/out_w consistent with the input (taps outside the input
// are zero). Everything else: the caller runs the dense path.
//
// Data layout inside the kernels: activations are repacked into "lane images"
// [ceil(N/8)][C][Hp][Wp][8]: 8 batch images side by side in the SIMD lanes, each channel a
// zero-padded plane. A tap of a kernel is then a constant offset (kh*row_stride + kw*8 floats)
// for every output pixel, stride 2 costs nothing extra, and padding needs no branches. Each
// register tile is RT x WT output pixels x 8 images of one filter; for every kept kernel of the
// filter and every tap of its pattern: one weight broadcast and RT*WT FMAs whose input operand
// is loaded straight from the lane image. Results go through a small per-tile staging buffer
// indexed by the ORIGINAL output channel (filter_order), which undoes the filter reordering,
// and are transposed back to NHWC with the epilogue fused.
#pragma once
#include <cstdint>

#include "common/conv_params.h"
#include "dense/epilogue.h"
#include "sparse/pattern_layout.h"

namespace clicktrain {

// True when the sparse kernels handle this geometry (see above).
bool SparseConvSupported(const Conv2DParams& p);

// y = epilogue(conv(x, W)) where W = UnpackToDense(layout). y [N, out_h, out_w, out_c] overwritten.
// Throws std::invalid_argument for unsupported geometry or a layout whose channels differ.
void SparseConv2DForward(const Conv2DParams& p, const float* x, const PatternLayout& layout,
                         const Epilogue& ep, float* y);

// dx = gradient w.r.t. x (overwritten); uses layout.transposed (rotated patterns).
void SparseConv2DBackpropInput(const Conv2DParams& p, const float* dy, const PatternLayout& layout,
                               float* dx);

// Gradient w.r.t. the kept weights only, in packed order: out_values[i] pairs with layout.values[i]
// (size layout.NumValues(), overwritten). Pruned positions get no gradient by construction; use
// ScatterPackedToDense (pattern_layout.h) for a dense HWIO gradient with zeros elsewhere.
void SparseConv2DBackpropFilter(const Conv2DParams& p, const float* x, const float* dy,
                                const PatternLayout& layout, float* out_values);

// Convenience: SparseConv2DBackpropFilter then ScatterPackedToDense into dfilter [3,3,in_c,out_c].
void SparseConv2DBackpropFilterDense(const Conv2DParams& p, const float* x, const float* dy,
                                     const PatternLayout& layout, float* dfilter);

}  // namespace clicktrain
