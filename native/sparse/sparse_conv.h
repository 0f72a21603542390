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
// * Lane strips: a pass whose grid gives every thread several bands of tile rows (about 8 tiles
//   each) never builds the whole lane image: each unit converts just the padded rows its band
//   reads into a thread-local, L2-sized strip and runs its tiles from there (forward,
//   stride-1 backward-data, backward-filter, which converts its dy rows the same way). The
//   whole image (9.5 MiB for 32x32x64 at batch 32) was written to memory and read back, once per
//   thread in backward-filter: 1.2-1.6x per pass. Backward-filter then gives each thread its own
//   lane sums over a contiguous share of the bands, added in a fixed order: its bits depend on
//   the thread count (not on scheduling).
// * Batch < 8, stride 1 (batch-1 inference): "flat" images, one image at a time, each channel a
//   zero-padded plane [Hp][Wp] read as one long row; a vector is 8 consecutive flat output
//   positions (the 2 pad columns per row are computed and dropped); tap (kh, kw) = + kh*Wp + kw.
// * Micro-kernels (sparse_kernels_inl.h): one filter x one register tile (3x4, 1x8 or 2x4
//   pixels of 8 lanes, or 8 / 4 flat vectors), the filter's kept kernels in one loop with the
//   accumulators in registers (12 for 3x4). Lane-image tiles run every 4-entry kernel through
//   one fixed, fully unrolled 4-tap body whose tap offsets are data (Fwd4): one
//   broadcast per tap feeding RT*WT FMAs with memory-operand inputs. The pattern is resolved
//   per call, not per tile: each kept kernel becomes a KernelEntry (absolute int32 offsets of
//   its 4 taps = channel plane + the pattern's tap offsets, and its value index), so a kernel
//   start is one load level and there is no per-kernel pattern switch. Measured on Zen 3 this is
//   1.1-1.35x faster than the earlier 126-case compile-time-specialised switch: with the switch
//   inside the kernel loop GCC spilled/shuffled the 12 accumulators at every case boundary and
//   every pattern change cost an indirect-branch misprediction. Other pattern sizes and the
//   stride-2 backward-data phases take a runtime tap loop. When every kernel of a call resolved
//   to the 4-tap body (a 4-entry pattern library, the ClickTrain case), fast-path variants run
//   (FwdTile4 / GradTile4 / FlatTile4): no per-kernel branch or index path, and each tile row read
//   through its own base pointer, so an input load is a single addressing mode: 1.1-1.25x.
//   The flat tiles (batch < 8) take the resolved entries too when every kernel has 4 taps
//   (FlatTile4, 1.35-1.65x over the per-pattern switch); otherwise the compile-time-specialised
//   per-pattern bodies (switch on the pattern). Input reuse across
//   taps and neighbouring outputs happens in L1 (register-level load-redundancy elimination
//   leaves room for only 8 accumulators and was measured 2x slower).
// * Driver (sparse_conv.cc): a per-call BlockPlan (O(kernels)) splits each filter's kernels into
//   input-channel blocks whose input windows fit in L1, grouped by pattern inside a block, and
//   resolves them into KernelEntries. A work unit is 8 neighbouring tiles x a chunk of output
//   channels; one micro-kernel call per (unit, block) runs every filter of the chunk on each of
//   the 8 tiles, so call overhead and layout reads are shared (deep layers do not stream their
//   whole layout once per tile). Partial sums wait in a per-unit stage
//   [tile][out channel][pixel][8], indexed by ORIGINAL output channel (filter_order), which
//   undoes the filter reordering; the stage is transposed back to NHWC with the epilogue (bias,
//   activation) fused.
// * Small images at batch >= 8 (2x2, 4x4, 8x8 with 'same' padding, stride 1, every kernel a
//   4-entry pattern): sparse_tiny_image.h, where the register tile is a whole small image or one
//   row and the (tap, pixel) pairs that read padding are compiled out per pattern; calls of at
//   most kSmallImageMaxPixels output pixels go to sparse_small.h first.
// * Dense fallback: a layer on which the sparse kernels would not beat dense (a cost model over
//   the kept weights, pattern sizes, stride and batch; e.g. 5-entry patterns with no
//   connectivity pruning, or stride-2 backward-data below 5x theoretical) runs the dense kernels
//   on the unpacked weights inside the same entry points (backward-filter: dense gradient
//   gathered at the kept positions). See SparseRunsDense and SetSparseDenseFallback.
// * Backward data = the same forward pass over dy with layout.transposed (rotated patterns);
//   stride 2 runs 4 stride-1 phases with 2x2 sub-patterns (runtime tap loop).
// * Backward filter: dy of a tile held in registers, one 8-lane dot product per kept tap
//   (12 FMAs in two chains, taps at the KernelEntry offsets) accumulated in per-weight lane sums; each thread owns a disjoint set of filters (balanced by
//   the reorder), in groups whose lane sums fit in L2, sweeping the tiles 8 at a time.
#pragma once
#include <cstdint>

#include "common/conv_params.h"
#include "dense/batch_norm.h"
#include "dense/epilogue.h"
#include "sparse/pattern_layout.h"

namespace clicktrain {

// True when the sparse kernels handle this geometry (see above).
bool SparseConvSupported(const Conv2DParams& p);

// Dense fallback (default on): layers where the sparse kernels would not beat dense run the
// dense kernels on the unpacked weights inside the entry points below (same results up to
// rounding). Off: always the sparse kernels (tests of the kernels themselves).
void SetSparseDenseFallback(bool enabled);

enum class SparsePass { kForward, kBackwardInput, kBackwardFilter };
// True when the entry point of `pass` runs this call dense (the fallback is on and the cost model
// in sparse_conv.cc says the sparse kernels would not beat dense here).
bool SparseRunsDense(const Conv2DParams& p, const PatternLayout& layout, SparsePass pass);

// y = epilogue(conv(x, W)) where W = UnpackToDense(layout). y [N, out_h, out_w, out_c] overwritten.
// Throws std::invalid_argument for unsupported geometry or a layout whose channels differ.
// x_bn (training, a conv after batch norm -> relu): x is the batch norm's input and the conv reads
// x_bn's output (its relu'd y: BatchNormTrainingApply's bits) as it converts x rows to lanes, so that
// activation is never written out; paths without such a conversion compute it into a buffer first.
void SparseConv2DForward(const Conv2DParams& p, const float* x, const PatternLayout& layout,
                         const Epilogue& ep, float* y, const BatchNormRows* x_bn = nullptr);

// y = max pool `pool` of epilogue(conv(x, W)) (MaxPoolForward's bits; y [N, pool.out_h, pool.out_w,
// out_c] overwritten). Pool windows that tile the conv output (stride = window, no padding: VGG's
// 2x2/2) are pooled as each band of output rows leaves the lane layout, in cache, on the lane-strip
// forward and the tiny-image kernels: the conv output is never written out and read back
// (inference conv -> batch norm -> relu -> max pool). Any other pool or path runs the two in
// turn. Throws std::invalid_argument when pool's input is not the conv's output.
void SparseConv2DForwardMaxPool(const Conv2DParams& p, const float* x, const PatternLayout& layout,
                                const Epilogue& ep, const Conv2DParams& pool, float* y);
// True when SparseConv2DForwardMaxPool fuses this pool (for tests and reports).
bool SparseForwardPoolFused(const Conv2DParams& p, const PatternLayout& layout, const Conv2DParams& pool);

// dx = gradient w.r.t. x (overwritten); uses layout.transposed (rotated patterns).
void SparseConv2DBackpropInput(const Conv2DParams& p, const float* dy, const PatternLayout& layout,
                               float* dx);

// Gradient w.r.t. the kept weights only, in packed order: out_values[i] pairs with layout.values[i]
// (size layout.NumValues(), overwritten). Pruned positions get no gradient by construction; use
// ScatterPackedToDense (pattern_layout.h) for a dense HWIO gradient with zeros elsewhere.
// x_bn: as in SparseConv2DForward.
void SparseConv2DBackpropFilter(const Conv2DParams& p, const float* x, const float* dy,
                                const PatternLayout& layout, float* out_values,
                                const BatchNormRows* x_bn = nullptr);

// The two backward passes with dy the input gradient of the training batch norm this conv feeds
// (dense/batch_norm.h): where SparseReadsDyRows, the tiny-image kernels compute dy's rows as they
// convert it to lanes, so it is never written out; other paths compute it whole first. The bits of
// the calls above on BatchNormGradDx::All's dx. dy.channels() must be out_c.
void SparseConv2DBackpropInput(const Conv2DParams& p, const BatchNormGradDx& dy, const PatternLayout& layout,
                               float* dx);
void SparseConv2DBackpropFilter(const Conv2DParams& p, const float* x, const BatchNormGradDx& dy,
                                const PatternLayout& layout, float* out_values,
                                const BatchNormRows* x_bn = nullptr);
// True when both calls above read dy's rows as they go for this geometry and layout.
bool SparseReadsDyRows(const Conv2DParams& p, const PatternLayout& layout);

// Convenience: SparseConv2DBackpropFilter then ScatterPackedToDense into dfilter [3,3,in_c,out_c].
void SparseConv2DBackpropFilterDense(const Conv2DParams& p, const float* x, const float* dy,
                                     const PatternLayout& layout, float* dfilter);

}  // namespace clicktrain
