// Max pooling with recorded argmaxes (dense/max_pool_argmax.h): of a training batch norm's relu'd
// output computed row by row, and the gradient from the argmaxes. The geometry's filter is the
// pooling window; argmax is a Uint8Array of the output's size.
#include "binding/args.h"
#include "binding/registry.h"
#include "dense/batch_norm.h"
#include "dense/max_pool_argmax.h"

namespace clicktrain_binding {
namespace {

// maxPoolArgmaxSupported(geometry) -> boolean
Napi::Value Supported(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), clicktrain::MaxPoolArgmaxSupported(ArgConvParams(info, 0)));
}

clicktrain::Conv2DParams ArgSupportedParams(const Napi::CallbackInfo& info) {
  clicktrain::Conv2DParams p = ArgConvParams(info, 0);
  if (!clicktrain::MaxPoolArgmaxSupported(p))
    throw Napi::RangeError::New(info.Env(), "clicktrain: max pool with argmax needs disjoint windows tiling the input");
  return p;
}

// maxPoolOfBatchNorm(geometry, x, mean, variance, scale|null, offset|null, epsilon, relu, y, argmax):
// the pool of batchNormTrainingApply(x, ...) without writing that out.
Napi::Value OfBatchNorm(const Napi::CallbackInfo& info) {
  const clicktrain::Conv2DParams p = ArgSupportedParams(info);
  const int64_t C = p.in_c;
  auto x = ArgSizedFloat32(info, 1, "x", p.InputSize());
  const float* mean = ArgSizedFloat32(info, 2, "mean", C).Data();
  const float* variance = ArgSizedFloat32(info, 3, "variance", C).Data();
  const float* scale = ArgOptionalSizedFloat32(info, 4, "scale", C);
  const float* offset = ArgOptionalSizedFloat32(info, 5, "offset", C);
  const float epsilon = static_cast<float>(ArgNumber(info, 6, "epsilon"));
  const bool relu = ArgBool(info, 7, "relu");
  auto y = ArgSizedFloat32(info, 8, "y", p.OutputSize());
  auto argmax = ArgSizedUint8(info, 9, "argmax", p.OutputSize());
  const clicktrain::BatchNormRows bn(C, mean, variance, scale, offset, epsilon, relu);
  const float* xd = x.Data();
  const int64_t row = p.in_w * C;
  clicktrain::MaxPoolArgmaxForward(
      p, [&](int64_t first, int64_t n, float* out) { bn.Apply(xd + first * row, n * p.in_w, out); }, y.Data(),
      argmax.Data());
  return info.Env().Undefined();
}

// maxPoolArgmaxBackward(geometry, argmax, dy, dx)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  const clicktrain::Conv2DParams p = ArgSupportedParams(info);
  auto argmax = ArgSizedUint8(info, 1, "argmax", p.OutputSize());
  auto dy = ArgSizedFloat32(info, 2, "dy", p.OutputSize());
  auto dx = ArgSizedFloat32(info, 3, "dx", p.InputSize());
  clicktrain::MaxPoolArgmaxBackward(p, argmax.Data(), dy.Data(), dx.Data());
  return info.Env().Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("maxPoolArgmaxSupported", Supported);
CLICKTRAIN_EXPORT("maxPoolOfBatchNorm", OfBatchNorm);
CLICKTRAIN_EXPORT("maxPoolArgmaxBackward", Backward);

}  // namespace clicktrain_binding
