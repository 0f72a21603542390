// Pattern-sparse 3x3 convolution for 2x2, 4x4 and 8x8 images at batch >= 8 (the last three blocks
// of VGG for CIFAR): forward, backward-data and backward-filter. The general lane-image tiles
// (sparse_conv.cc) waste much of their work there: at 2x2 their narrowest register tile (4x2
// pixels) leaves half its accumulators idle, and every tap of every pattern is computed although,
// with 'same' padding, 20 of the 36 (tap, output pixel) pairs of a 3x3 kernel read padding at 2x2
// (44 of 144 at 4x4). Measured in the pruned VGG-16 step (75% connectivity), each 2x2x512 layer
// took 5-11 ms per pass, a tenth of the kernels' rate at 8x8.
//
// Here a register tile is the whole 2x2 image of two lane groups, or two rows of a 4x4 image of
// one (8 accumulators), and the code is generated per pattern (a template per 4-entry pattern, a
// table of 126 functions per image size): the (tap, output pixel, input pixel) triples that touch
// the image are compile-time constants, and the ones that read padding do not exist. A filter's
// kernels are grouped by pattern in the layout, so one table call runs a whole group.
//
// Layout: activations as lane images [ceil(N/W)][C][S*S pixels][W lanes], no padding, with W = 16
// images per lane group on AVX-512 CPUs at batch >= 16 (one 512-bit vector), 8 otherwise. Backward
// data is this forward over dy with the rotated patterns (layout.transposed); backward filter
// runs kernel by kernel, a kernel's tap sums in registers over every tile of a block of lane
// groups (dy of the tile reloaded per kernel), reduced over the lanes once.
#pragma once
#include <cstdint>

#include "common/conv_params.h"
#include "dense/batch_norm.h"
#include "dense/epilogue.h"
#include "sparse/pattern_layout.h"

namespace clicktrain {

// True when these kernels can take the call: 3x3, stride 1, input and output all 2x2, 4x4 or 8x8,
// padding 1 (same), batch >= 8, and every kernel of L a 4-entry pattern. (The dispatcher gives
// calls of at most kSmallImageMaxPixels output pixels to sparse_small.h first.)
bool TinyImageSupported(const Conv2DParams& p, const PatternLayout& L);

// y = epilogue(conv(x, W)); x_bn: x read through that batch norm (sparse_conv.h).
void SparseTinyImageForward(const Conv2DParams& p, const float* x, const PatternLayout& L,
                            const Epilogue& ep, float* y, const BatchNormRows* x_bn = nullptr);

// y = max pool `pool` of that, windows tiling the output (dense/pooling.h: PoolWindowsTileInput;
// MaxPoolTiledBlock's bits, so not 1x1), pooled as the result leaves the lane layout.
void SparseTinyImageForwardMaxPool(const Conv2DParams& p, const float* x, const PatternLayout& L,
                                   const Epilogue& ep, const Conv2DParams& pool, float* y);

// dx = gradient w.r.t. x: the forward kernels over dy with L.transposed. dy_rows (dy then
// unused): dy's rows computed as they are converted to lanes (a batch norm's gradient,
// SparseConv2DBackpropInput in sparse_conv.h).
void SparseTinyImageBackpropInput(const Conv2DParams& p, const float* dy, const PatternLayout& L,
                                  float* dx, const BatchNormGradDx* dy_rows = nullptr);

// Gradient of the kept weights in packed order (see SparseConv2DBackpropFilter); dy_rows as above.
void SparseTinyImageBackpropFilter(const Conv2DParams& p, const float* x, const float* dy,
                                   const PatternLayout& L, float* out_values,
                                   const BatchNormRows* x_bn = nullptr,
                                   const BatchNormGradDx* dy_rows = nullptr);

namespace sparse_internal {

// Images per lane group for a batch: 16 on AVX-512 CPUs from batch 16 (at batch 32, 75%
// connectivity, the 8x8, 4x4 and 2x2 forward 22-28% faster than 8-image groups on AVX-512,
// backward-filter 7-18%), 8 otherwise. SetTinyLanes(8): always 8 (tests, A/B); 0: this rule.
int TinyLanes(int64_t batch);
void SetTinyLanes(int lanes);

// Per-ISA slot loops (sparse_tiny_image_kernels.inc): 8-image lane groups (portable, AVX2, and
// AVX-512 with 32 vector registers: 8-19% faster than the AVX2 build at batch 32, 75%
// connectivity pruning), and 16-image lane groups on AVX-512 (X16). Lane images are
// [nb][C][side*side][lanes].
struct TinyArgs {
  const PatternLayout* L;
  int side;                  // 2, 4 or 8
  int lanes;                 // images per lane group: 8, or 16 for the X16 build
  const int16_t* group_sid;  // per layout group: index of its pattern in kMask4 (all 4-entry)
  const float* x;            // forward: input lanes; gradient: x lanes
  int64_t nb;                // lane groups
  float* stage;              // forward: output lanes [nb][out_c][side^2][lanes], by original channel
  const float* dy;           // gradient: dy lanes [nb][out_c][side^2][lanes]
  float* out_values;         // gradient: packed, layout order
  int64_t grad_block_floats;  // gradient: x floats per input-channel block (TinyGradBlockFloats)
};

// Input-channel blocks of the tiny-image backward-filter hold this many floats of x (over a block
// of lane groups) in L2 while every filter's kernels of those channels read it: 3/8 of the L2 size
// (192 KiB of the Zen 3's 512 KiB, measured there; 768 KiB of a 2 MiB L2: 5-20% faster at 75%
// connectivity than 192 KiB on such a core). Set > 0 to override (tests: several blocks on small
// shapes), 0 to go back to the L2 rule.
int64_t TinyGradBlockFloats();
void SetTinyGradBlockFloats(int64_t floats);

// Each runs the listed slots (filters) over every lane group: the forward with lane groups outer
// (see LaneStep), the gradient in blocks of lane groups and input channels (see TinyGradSlots).
void TinyForwardSlotsGeneric(const TinyArgs& a, const int32_t* slots, int64_t n);
void TinyForwardSlotsAvx2(const TinyArgs& a, const int32_t* slots, int64_t n);
void TinyForwardSlotsAvx512(const TinyArgs& a, const int32_t* slots, int64_t n);
void TinyGradSlotsGeneric(const TinyArgs& a, const int32_t* slots, int64_t n);
void TinyGradSlotsAvx2(const TinyArgs& a, const int32_t* slots, int64_t n);
void TinyGradSlotsAvx512(const TinyArgs& a, const int32_t* slots, int64_t n);
void TinyForwardSlotsAvx512X16(const TinyArgs& a, const int32_t* slots, int64_t n);
void TinyGradSlotsAvx512X16(const TinyArgs& a, const int32_t* slots, int64_t n);

}  // namespace sparse_internal
}  // namespace clicktrain
