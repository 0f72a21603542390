// Internal: direct convolution for inputs with few channels (a CNN's first layer: RGB images).
// With in_c <= 4 an im2col row is only fh*fw*in_c floats (27 for 3x3 RGB), too short for a GEMM
// to run well (its packing and K loop overheads dominate; a 32x32x3 -> 64 forward ran at ~60% of
// the sgemm rate and its backward-filter at ~40%). These kernels read the input through per-tap
// offsets into a zero-padded slab of input rows instead, with the output channels in vector
// registers (the design of XNNPACK's conv-hwc kernels, written here for NHWC/HWIO and training).
#pragma once
#include "common/conv_params.h"
#include "dense/batch_norm.h"
#include "dense/epilogue.h"

namespace clicktrain {

// The geometries the direct kernels take: few input channels (any filter, stride, dilation,
// padding). Conv2DForward / Conv2DBackpropFilter route these here unless a GEMM strategy is forced.
bool SmallChannelsConvApplies(const Conv2DParams& p);

// Same contracts as Conv2DForward / Conv2DBackpropFilter (dense/conv2d.h); p already validated,
// batch, out_h, out_w, out_c > 0.
void SmallChannelsConvForward(const Conv2DParams& p, const float* x, const float* filter,
                              const Epilogue& ep, float* y);
// dy: the output gradient, or nullptr with dy_rows giving its rows as they are read.
void SmallChannelsConvBackpropFilter(const Conv2DParams& p, const float* x, const float* dy,
                                     float* dfilter, const BatchNormGradDx* dy_rows = nullptr);

}  // namespace clicktrain
