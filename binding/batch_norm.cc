// FusedBatchNorm (inference form; tfjs-layers also uses it in training with batch moments).
#include "binding/args.h"
#include "binding/registry.h"
#include "dense/batch_norm.h"

namespace clicktrain_binding {
namespace {

const float* ArgParam(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t channels,
                      int64_t* len) {
  const float* p = ArgOptionalFloat32(info, i, name, len);
  if (p && *len != channels && *len != 1)
    throw Napi::RangeError::New(info.Env(), std::string("clicktrain: batchNorm ") + name +
                                                " must have one value per channel, or one");
  return p;
}

// batchNorm(rows, channels, x, y, mean, variance, scale|null, offset|null, epsilon, relu)
// relu: y = tfjs's Relu of the batch norm, in the same pass.
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int64_t kMax = int64_t(1) << 34;
  int64_t rows = ArgInt(info, 0, "rows", 0, kMax), channels = ArgInt(info, 1, "channels", 0, kMax);
  auto x = ArgFloat32Array(info, 2, "x");
  auto y = ArgFloat32Array(info, 3, "y");
  int64_t total = CheckedProduct(env, {rows, channels}, "x");
  CheckLength(x, total, "x");
  CheckLength(y, total, "y");
  clicktrain::BatchNormArgs a;
  a.mean = ArgParam(info, 4, "mean", channels, &a.mean_len);
  a.variance = ArgParam(info, 5, "variance", channels, &a.variance_len);
  if (!a.mean || !a.variance)
    throw Napi::TypeError::New(env, "clicktrain: batchNorm needs mean and variance");
  a.scale = ArgParam(info, 6, "scale", channels, &a.scale_len);
  a.offset = ArgParam(info, 7, "offset", channels, &a.offset_len);
  a.epsilon = static_cast<float>(ArgNumber(info, 8, "epsilon"));
  const bool relu = ArgBool(info, 9, "relu");
  if (total == 0) return env.Undefined();
  clicktrain::BatchNormInference(a, rows, channels, x.Data(), y.Data(), relu);
  return env.Undefined();
}

// batchNormGrad(rows, channels, x, dy, mean, variance, scale|null, epsilon,
//               dx, dmean, dvariance, dscale, doffset)
Napi::Value BatchNormGrad(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int64_t kMax = int64_t(1) << 34;
  int64_t rows = ArgInt(info, 0, "rows", 0, kMax), channels = ArgInt(info, 1, "channels", 0, kMax);
  const int64_t total = CheckedProduct(env, {rows, channels}, "x");
  auto x = ArgSizedFloat32(info, 2, "x", total);
  auto dy = ArgSizedFloat32(info, 3, "dy", total);
  auto mean = ArgSizedFloat32(info, 4, "mean", channels);
  auto variance = ArgSizedFloat32(info, 5, "variance", channels);
  int64_t scale_len = 0;
  const float* scale = ArgOptionalFloat32(info, 6, "scale", &scale_len);
  if (scale && scale_len != channels)
    throw Napi::RangeError::New(env, "clicktrain: batchNormGrad scale must have one value per channel");
  const float epsilon = static_cast<float>(ArgNumber(info, 7, "epsilon"));
  auto dx = ArgSizedFloat32(info, 8, "dx", total);
  auto dmean = ArgSizedFloat32(info, 9, "dmean", channels);
  auto dvariance = ArgSizedFloat32(info, 10, "dvariance", channels);
  auto dscale = ArgSizedFloat32(info, 11, "dscale", channels);
  auto doffset = ArgSizedFloat32(info, 12, "doffset", channels);
  clicktrain::BatchNormBackward(rows, channels, x.Data(), dy.Data(), mean.Data(), variance.Data(),
                                scale, epsilon,
                                {dx.Data(), dmean.Data(), dvariance.Data(), dscale.Data(), doffset.Data()});
  return env.Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("batchNorm", BatchNorm);
CLICKTRAIN_EXPORT("batchNormGrad", BatchNormGrad);

}  // namespace clicktrain_binding
