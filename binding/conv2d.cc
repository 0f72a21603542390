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

// conv2dBackpropFilter(geometry, x, dy, dfilter)
Napi::Value Conv2DBackpropFilter(const Napi::CallbackInfo& info) {
  Conv2DParams p = ArgConvParams(info, 0);
  auto x = ArgSizedFloat32(info, 1, "x", p.InputSize());
  auto dy = ArgSizedFloat32(info, 2, "dy", p.OutputSize());
  auto dw = ArgSizedFloat32(info, 3, "dfilter", p.FilterSize());
  clicktrain::Conv2DBackpropFilter(p, x.Data(), dy.Data(), dw.Data());
  return info.Env().Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("conv2dForward", Conv2DForward);
CLICKTRAIN_EXPORT("conv2dBackpropInput", Conv2DBackpropInput);
CLICKTRAIN_EXPORT("conv2dBackpropFilter", Conv2DBackpropFilter);

}  // namespace clicktrain_binding
