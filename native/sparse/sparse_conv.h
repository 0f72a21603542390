// Pattern-sparse 3x3 convolution on the CPU (forward, backward-data, backward-filter) over a
// PatternLayout (native/sparse/pattern_layout.h). NHWC activations, HWIO-shaped weights.
//
// Supported geometry (SparseConvSupported): filter 3x3, strides 1 or 2 (each axis), dilation 1,
// pad_top/pad_left in [0, 2], any out_h/out_w consistent with the input (taps outside the input
// are zero). Everything else: the caller runs the dense path.
//
// Design (CPU):
// * Batch >= 8 (or stride 2): activations are repacked (8x8 SIMD transposes, padding fused) into
//   "lane images" [ceil(N/8)][C][Hp][Wp][8]: 8 batch images side by side in the SIMD lanes, each
//   channel a zero-padded plane. A tap is then a constant offset (kh*row_stride + kw*8 floats)
//   for every output pixel, stride 2 costs nothing extra and padding needs no branches.
// * Batch < 8, stride 1 (batch-1 inference): "flat" images, one image at a time, each channel a
//   zero-padded plane [Hp][Wp] read as one long row; a vector is 8 consecutive flat output
//   positions (the 2 pad columns per row are computed and dropped); tap (kh, kw) = + kh*Wp + kw.
// * Micro-kernels (sparse_kernels_inl.h): one filter x one register tile (1x8 or 2x4 pixels of
//   8 lanes, or 8 / 4 flat vectors), the filter's kept kernels in one loop with the accumulators
//   in registers. A kernel's body is chosen by a switch on its pattern: each of the 126
//   4-entry patterns has a compile-time-specialised, fully unrolled body; in lane images it does
//   load-redundancy elimination (the kernel's input window is walked once and each loaded
//   vector feeds every (output, tap) pair that reads it). Other pattern sizes and the stride-2
//   backward-data phases take a runtime tap loop.
// * Driver (sparse_conv.cc): a per-call BlockPlan (O(kernels)) splits each filter's kernels into
//   input-channel blocks whose input windows fit in L1, grouped by pattern inside a block so the
//   pattern switch stays predicted. A work unit is 8 neighbouring tiles x a chunk of output
//   channels; for every (block, filter) the 8 tiles run back to back, reusing the filter's
//   indices and values from L1 (deep layers would otherwise stream their whole layout per tile).
//   Partial sums wait in a per-unit stage [tile][out channel][pixel][8], indexed by ORIGINAL
//   output channel (filter_order), which undoes the filter reordering; the stage is transposed
//   back to NHWC with the epilogue (bias, activation) fused.
// * Backward data = the same forward pass over dy with layout.transposed (rotated patterns);
//   stride 2 runs 4 stride-1 phases with 2x2 sub-patterns (runtime tap loop).
// * Backward filter: dy of a tile held in registers, one 8-lane dot product per kept tap
//   accumulated in per-weight lane sums; each thread owns a disjoint set of filters (balanced by
//   the reorder), in groups whose lane sums fit in L2, sweeping the tiles 8 at a time.
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
