// Depthwise convolution (tfjs DepthwiseConv2dNative): filter [fh, fw, in_c, multiplier],
// output channel c*multiplier + m reads input channel c. NHWC. Outputs are overwritten.
#pragma once
#include "common/conv_params.h"
#include "dense/epilogue.h"

namespace clicktrain {

void DepthwiseConv2DForward(const DepthwiseParams& p, const float* x, const float* filter,
                            const Epilogue& ep, float* y);
void DepthwiseConv2DBackpropInput(const DepthwiseParams& p, const float* dy, const float* filter,
                                  float* dx);
void DepthwiseConv2DBackpropFilter(const DepthwiseParams& p, const float* x, const float* dy,
                                   float* dfilter);

}  // namespace clicktrain
