// Pattern-sparse 3x3 convolution for 2x2 images at batch > 8 (the last block of VGG for CIFAR):
// forward, backward-data and backward-filter. The general lane-image tiles (sparse_conv.cc) waste
// most of their work there: their narrowest register tile is 4x2 pixels, so half its
// accumulators idle, and every tap of every pattern is computed although, with 'same' padding on a
// 2x2 image, 20 of the 36 (tap, output pixel) pairs of a 3x3 kernel read padding. Measured on the
// pruned VGG-16 step (75% connectivity), each 2x2x512 layer took 5-11 ms per pass, about a tenth of
// the kernels' rate at 8x8.
//
// Here the whole 2x2 image of 8 batch lanes is the register tile, two lane groups at a time
// (8 accumulators), and the code is generated per pattern (a template per 4-entry pattern, a
// table of 126 functions): the (tap, output pixel, input pixel) triples that touch the image are
// compile-time constants, and the ones that read padding do not exist. A filter's kernels are
// grouped by pattern in the layout, so one table call runs a whole group.
//
// Layout: activations as lane images [ceil(N/8)][C][4 pixels][8 lanes], no padding. Backward data
// is this forward over dy with the rotated patterns (layout.transposed); backward filter holds
// dy of two lane groups in registers and sums each kept tap's pairs into per-weight lane sums.
#pragma once
#include <cstdint>

#include "common/conv_params.h"
#include "dense/epilogue.h"
#include "sparse/pattern_layout.h"

namespace clicktrain {

// True when these kernels take the call: 3x3, stride 1, input and output 2x2, padding 1 (same),
// batch > 8 (smaller batches: sparse_small.h), and every kernel of L a 4-entry pattern.
bool TinyImageSupported(const Conv2DParams& p, const PatternLayout& L);

// y = epilogue(conv(x, W)).
void SparseTinyImageForward(const Conv2DParams& p, const float* x, const PatternLayout& L,
                            const Epilogue& ep, float* y);

// dx = gradient w.r.t. x: the forward kernels over dy with L.transposed.
void SparseTinyImageBackpropInput(const Conv2DParams& p, const float* dy, const PatternLayout& L,
                                  float* dx);

// Gradient of the kept weights in packed order (see SparseConv2DBackpropFilter).
void SparseTinyImageBackpropFilter(const Conv2DParams& p, const float* x, const float* dy,
                                   const PatternLayout& L, float* out_values);

namespace sparse_internal {

// Per-ISA slot loops (sparse_tiny_image_kernels.inc). Lane images are [nb][C][4][8].
struct TinyArgs {
  const PatternLayout* L;
  const int16_t* group_sid;  // per layout group: index of its pattern in kMask4 (all 4-entry)
  const float* x;            // forward: input lanes; gradient: x lanes
  int64_t nb;
  float* stage;              // forward: output lanes [nb][out_c][4][8], by original channel
  const float* dy;           // gradient: dy lanes [nb][out_c][4][8]
  float* out_values;         // gradient: packed, layout order
};
void TinyForwardSlotsGeneric(const TinyArgs& a, int64_t s0, int64_t s1);
void TinyForwardSlotsAvx2(const TinyArgs& a, int64_t s0, int64_t s1);
void TinyGradSlotsGeneric(const TinyArgs& a, int64_t s0, int64_t s1);
void TinyGradSlotsAvx2(const TinyArgs& a, int64_t s0, int64_t s1);

}  // namespace sparse_internal
}  // namespace clicktrain
