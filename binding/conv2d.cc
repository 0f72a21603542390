// Dense Conv2D (with fused epilogue) and its two backprops.
#include "binding/args.h"
#include "binding/registry.h"
#include "dense/conv2d.h"

namespace clicktrain_binding {
namespace {

using clicktrain::Conv2DParams;

// conv2dForward(geometry, x, filter, y, bias|null, activation, leakyAlpha, prelu|null)
Napi::Value Conv2DForward(const Napi::CallbackInfo& info) {
  Conv2DParams p = ArgConvParams(info, 0);
  auto x = ArgFloat32Array(info, 1, "x");
  auto w = ArgFloat32Array(info, 2, "filter");
  auto y = ArgFloat32Array(info, 3, "y");
  CheckLength(x, p.InputSize(), "x");
  CheckLength(w, p.FilterSize(), "filter");
  CheckLength(y, p.OutputSize(), "y");
  clicktrain::Epilogue ep = ArgEpilogue(info, 4, p.out_c);
  clicktrain::Conv2DForward(p, x.Data(), w.Data(), ep, y.Data());
  return info.Env().Undefined();
}

// conv2dBackpropInput(geometry, dy, filter, dx)
Napi::Value Conv2DBackpropInput(const Napi::CallbackInfo& info) {
  Conv2DParams p = ArgConvParams(info, 0);
  auto dy = ArgFloat32Array(info, 1, "dy");
  auto w = ArgFloat32Array(info, 2, "filter");
  auto dx = ArgFloat32Array(info, 3, "dx");
  CheckLength(dy, p.OutputSize(), "dy");
  CheckLength(w, p.FilterSize(), "filter");
  CheckLength(dx, p.InputSize(), "dx");
  clicktrain::Conv2DBackpropInput(p, dy.Data(), w.Data(), dx.Data());
  return info.Env().Undefined();
}

// conv2dBackpropFilter(geometry, x, dy, dfilter)
Napi::Value Conv2DBackpropFilter(const Napi::CallbackInfo& info) {
  Conv2DParams p = ArgConvParams(info, 0);
  auto x = ArgFloat32Array(info, 1, "x");
  auto dy = ArgFloat32Array(info, 2, "dy");
  auto dw = ArgFloat32Array(info, 3, "dfilter");
  CheckLength(x, p.InputSize(), "x");
  CheckLength(dy, p.OutputSize(), "dy");
  CheckLength(dw, p.FilterSize(), "dfilter");
  clicktrain::Conv2DBackpropFilter(p, x.Data(), dy.Data(), dw.Data());
  return info.Env().Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("conv2dForward", Conv2DForward);
CLICKTRAIN_EXPORT("conv2dBackpropInput", Conv2DBackpropInput);
CLICKTRAIN_EXPORT("conv2dBackpropFilter", Conv2DBackpropFilter);

}  // namespace clicktrain_binding
