// Dense 2-D convolution in NHWC with filters in HWIO ([fh, fw, in_c, out_c]), as tfjs lays them out.
// Any stride, dilation and padding; taps outside the input are zero. Outputs are overwritten.
#pragma once
#include "common/conv_params.h"
#include "dense/batch_norm.h"
#include "dense/epilogue.h"

namespace clicktrain {

// y[b, oh, ow, oc] = epilogue(sum x[b, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw, ic] * w[kh, kw, ic, oc])
void Conv2DForward(const Conv2DParams& p, const float* x, const float* filter, const Epilogue& ep,
                   float* y);

// dx = gradient w.r.t. x of sum(dy * conv(x, filter)); dx has the input shape.
void Conv2DBackpropInput(const Conv2DParams& p, const float* dy, const float* filter, float* dx);

// dfilter = gradient w.r.t. filter; dfilter has the filter shape.
void Conv2DBackpropFilter(const Conv2DParams& p, const float* x, const float* dy, float* dfilter);

// The same with dy a training batch norm's input gradient (the conv feeds that batch norm), given by
// its coefficients (dense/batch_norm.h): the direct small-channel kernels compute dy's rows as they
// read them, so it is never written out; other geometries compute it whole first. The bits of
// Conv2DBackpropFilter on BatchNormGradDx::All's dx. dy.channels() must be out_c.
void Conv2DBackpropFilter(const Conv2DParams& p, const float* x, const BatchNormGradDx& dy, float* dfilter);

// True when the convs above run the direct small-channel kernels for p (few input channels, no
// GEMM strategy forced): then a batch-norm gradient dy is read without being written out.
bool Conv2DReadsDyRows(const Conv2DParams& p);

}  // namespace clicktrain
