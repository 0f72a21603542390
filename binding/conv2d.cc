// Dense Conv2D (with fused epilogue) and its two backprops.
#include "binding/args.h"
#include "binding/registry.h"
#include "dense/conv2d.h"

namespace clicktrain_binding {
namespace {

using clicktrain::Conv2DParams;

// conv2dForward(geometry, x, filter, y, bias|null, activation, leakyAlpha, prelu|null, batchNorm?)
// batchNorm: an inference batch norm (+ relu) applied after the activation (args.h).
Napi::Value Conv2DForward(const Napi::CallbackInfo& info) {
  Conv2DParams p = ArgConvParams(info, 0);
  auto x = ArgSizedFloat32(info, 1, "x", p.InputSize());
  auto w = ArgSizedFloat32(info, 2, "filter", p.FilterSize());
  auto y = ArgSizedFloat32(info, 3, "y", p.OutputSize());
  clicktrain::Epilogue ep = ArgEpilogue(info, 4, p.out_c);
  const auto fold = ArgBatchNormFold(info, 8, p.out_c);
  if (fold) ep.batch_norm = fold->epilogue();
  clicktrain::Conv2DForward(p, x.Data(), w.Data(), ep, y.Data());
  return info.Env().Undefined();
}

// conv2dBackpropInput(geometry, dy, filter, dx)
Napi::Value Conv2DBackpropInput(const Napi::CallbackInfo& info) {
  Conv2DParams p = ArgConvParams(info, 0);
  auto dy = ArgSizedFloat32(info, 1, "dy", p.OutputSize());
  auto w = ArgSizedFloat32(info, 2, "filter", p.FilterSize());
  auto dx = ArgSizedFloat32(info, 3, "dx", p.InputSize());
  clicktrain::Conv2DBackpropInput(p, dy.Data(), w.Data(), dx.Data());
  return info.Env().Undefined();
}

// conv2dBackpropFilter(geometry, x, dy|null, dfilter, dyBatchNormGrad?) - dy null: dy is the input
// gradient of the training batch norm this conv feeds, described by dyBatchNormGrad (args.h:
// ArgOutputBatchNormGrad), computed as it is read (whole first when conv2dReadsDyRows is false).
Napi::Value Conv2DBackpropFilter(const Napi::CallbackInfo& info) {
  Conv2DParams p = ArgConvParams(info, 0);
  auto x = ArgSizedFloat32(info, 1, "x", p.InputSize());
  const bool dy_given = !info[2].IsNull();
  auto dw = ArgSizedFloat32(info, 3, "dfilter", p.FilterSize());
  const auto bn = ArgOutputBatchNormGrad(info, 4, p.batch * p.out_h * p.out_w, p.out_c);
  if (dy_given == bn.has_value())
    throw Napi::TypeError::New(info.Env(), "clicktrain: conv2dBackpropFilter takes dy or a batch norm gradient, not both");
  if (bn) {
    clicktrain::Conv2DBackpropFilter(p, x.Data(), *bn, dw.Data());
  } else {
    auto dy = ArgSizedFloat32(info, 2, "dy", p.OutputSize());
    clicktrain::Conv2DBackpropFilter(p, x.Data(), dy.Data(), dw.Data());
  }
  return info.Env().Undefined();
}

// conv2dReadsDyRows(geometry): whether conv2dBackpropFilter computes a batch norm gradient dy as it
// reads it (the direct small-channel kernels) rather than whole first.
Napi::Value Conv2DReadsDyRows(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), clicktrain::Conv2DReadsDyRows(ArgConvParams(info, 0)));
}

}  // namespace

CLICKTRAIN_EXPORT("conv2dForward", Conv2DForward);
CLICKTRAIN_EXPORT("conv2dBackpropInput", Conv2DBackpropInput);
CLICKTRAIN_EXPORT("conv2dBackpropFilter", Conv2DBackpropFilter);
CLICKTRAIN_EXPORT("conv2dReadsDyRows", Conv2DReadsDyRows);

}  // namespace clicktrain_binding
