// Dense 2-D convolution in NHWC with filters in HWIO ([fh, fw, in_c, out_c]), as tfjs lays them out.
// Any stride, dilation and padding; taps outside the input are zero. Outputs are overwritten.
#pragma once
#include "common/conv_params.h"
#include "dense/epilogue.h"

namespace clicktrain {

// y[b, oh, ow, oc] = epilogue(sum x[b, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw, ic] * w[kh, kw, ic, oc])
void Conv2DForward(const Conv2DParams& p, const float* x, const float* filter, const Epilogue& ep,
                   float* y);

// dx = gradient w.r.t. x of sum(dy * conv(x, filter)); dx has the input shape.
void Conv2DBackpropInput(const Conv2DParams& p, const float* dy, const float* filter, float* dx);

// dfilter = gradient w.r.t. filter; dfilter has the filter shape.
void Conv2DBackpropFilter(const Conv2DParams& p, const float* x, const float* dy, float* dfilter);

}  // namespace clicktrain
