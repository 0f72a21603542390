// Fused optimiser updates (float32): every array is checked to hold exactly n elements.
#include "binding/args.h"
#include "binding/registry.h"
#include "elementwise/optimizer_update.h"

namespace clicktrain_binding {
namespace {

// sgdUpdate(value, grad, outValue, c)
Napi::Value SgdUpdate(const Napi::CallbackInfo& info) {
  auto value = ArgFloat32Array(info, 0, "value");
  const int64_t n = static_cast<int64_t>(value.ElementLength());
  auto grad = ArgSizedFloat32(info, 1, "grad", n);
  auto out = ArgSizedFloat32(info, 2, "outValue", n);
  const double c = ArgNumber(info, 3, "c");
  clicktrain::SgdUpdate(n, value.Data(), grad.Data(), static_cast<float>(c), out.Data());
  return info.Env().Undefined();
}

// momentumUpdate(value, accum, grad, outValue, outAccum, c, momentum, nesterov)
Napi::Value MomentumUpdate(const Napi::CallbackInfo& info) {
  auto value = ArgFloat32Array(info, 0, "value");
  const int64_t n = static_cast<int64_t>(value.ElementLength());
  auto accum = ArgSizedFloat32(info, 1, "accum", n);
  auto grad = ArgSizedFloat32(info, 2, "grad", n);
  auto out_value = ArgSizedFloat32(info, 3, "outValue", n);
  auto out_accum = ArgSizedFloat32(info, 4, "outAccum", n);
  const double c = ArgNumber(info, 5, "c");
  const double m = ArgNumber(info, 6, "momentum");
  const bool nesterov = ArgBool(info, 7, "nesterov");
  clicktrain::MomentumUpdate(n, value.Data(), accum.Data(), grad.Data(), static_cast<float>(c),
                             static_cast<float>(m), nesterov, out_value.Data(), out_accum.Data());
  return info.Env().Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("sgdUpdate", SgdUpdate);
CLICKTRAIN_EXPORT("momentumUpdate", MomentumUpdate);

}  // namespace clicktrain_binding
