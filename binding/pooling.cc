// MaxPool/AvgPool and their gradients; the geometry's filter is the pooling window and
// inC == outC.
#include "binding/args.h"
#include "binding/registry.h"
#include "dense/pooling.h"

namespace clicktrain_binding {
namespace {

clicktrain::Conv2DParams ArgPoolParams(const Napi::CallbackInfo& info) {
  clicktrain::Conv2DParams p = ArgConvParams(info, 0);
  if (p.in_c != p.out_c)
    throw Napi::RangeError::New(info.Env(), "clicktrain: pooling needs inC == outC");
  return p;
}

// poolForward(geometry, isMax, x, y)
Napi::Value PoolForward(const Napi::CallbackInfo& info) {
  auto p = ArgPoolParams(info);
  bool is_max = ArgBool(info, 1, "isMax");
  auto x = ArgFloat32Array(info, 2, "x");
  auto y = ArgFloat32Array(info, 3, "y");
  CheckLength(x, p.InputSize(), "x");
  CheckLength(y, p.OutputSize(), "y");
  if (is_max) clicktrain::MaxPoolForward(p, x.Data(), y.Data());
  else clicktrain::AvgPoolForward(p, x.Data(), y.Data());
  return info.Env().Undefined();
}

// maxPoolBackward(geometry, x, dy, dx)
Napi::Value MaxPoolBackward(const Napi::CallbackInfo& info) {
  auto p = ArgPoolParams(info);
  auto x = ArgFloat32Array(info, 1, "x");
  auto dy = ArgFloat32Array(info, 2, "dy");
  auto dx = ArgFloat32Array(info, 3, "dx");
  CheckLength(x, p.InputSize(), "x");
  CheckLength(dy, p.OutputSize(), "dy");
  CheckLength(dx, p.InputSize(), "dx");
  clicktrain::MaxPoolBackward(p, x.Data(), dy.Data(), dx.Data());
  return info.Env().Undefined();
}

// avgPoolBackward(geometry, dy, dx)
Napi::Value AvgPoolBackward(const Napi::CallbackInfo& info) {
  auto p = ArgPoolParams(info);
  auto dy = ArgFloat32Array(info, 1, "dy");
  auto dx = ArgFloat32Array(info, 2, "dx");
  CheckLength(dy, p.OutputSize(), "dy");
  CheckLength(dx, p.InputSize(), "dx");
  clicktrain::AvgPoolBackward(p, dy.Data(), dx.Data());
  return info.Env().Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("poolForward", PoolForward);
CLICKTRAIN_EXPORT("maxPoolBackward", MaxPoolBackward);
CLICKTRAIN_EXPORT("avgPoolBackward", AvgPoolBackward);

}  // namespace clicktrain_binding
