// Training-mode batch norm as one op (dense/batch_norm.h: BatchNormTraining*): x is [rows, channels],
// every per-channel array has `channels` values, scale/offset may be null.
#include "binding/args.h"
#include "binding/registry.h"
#include "dense/batch_norm.h"
#include "dense/max_pool_argmax.h"

namespace clicktrain_binding {
namespace {

struct Shape {
  int64_t rows, channels, total;
};

Shape ArgRowsChannels(const Napi::CallbackInfo& info) {
  const int64_t kMax = int64_t(1) << 34;
  Shape s;
  s.rows = ArgInt(info, 0, "rows", 0, kMax);
  s.channels = ArgInt(info, 1, "channels", 0, kMax);
  s.total = CheckedProduct(info.Env(), {s.rows, s.channels}, "x");
  return s;
}

// batchNormTraining(rows, channels, x, scale|null, offset|null, epsilon, y|null, mean, variance)
// y null: the statistics only (batchNormTrainingApply computes y from them later).
Napi::Value Forward(const Napi::CallbackInfo& info) {
  const Shape s = ArgRowsChannels(info);
  auto x = ArgSizedFloat32(info, 2, "x", s.total);
  const float* scale = ArgOptionalSizedFloat32(info, 3, "scale", s.channels);
  const float* offset = ArgOptionalSizedFloat32(info, 4, "offset", s.channels);
  const float epsilon = static_cast<float>(ArgNumber(info, 5, "epsilon"));
  float* y = nullptr;
  if (!info[6].IsNull()) y = ArgSizedFloat32(info, 6, "y", s.total).Data();
  auto mean = ArgSizedFloat32(info, 7, "mean", s.channels);
  auto variance = ArgSizedFloat32(info, 8, "variance", s.channels);
  clicktrain::BatchNormTrainingForward(s.rows, s.channels, x.Data(), scale, offset, epsilon, y,
                                       mean.Data(), variance.Data());
  return info.Env().Undefined();
}

// batchNormTrainingApply(rows, channels, x, mean, variance, scale|null, offset|null, epsilon, relu, y)
Napi::Value Apply(const Napi::CallbackInfo& info) {
  const Shape s = ArgRowsChannels(info);
  auto x = ArgSizedFloat32(info, 2, "x", s.total);
  auto mean = ArgSizedFloat32(info, 3, "mean", s.channels);
  auto variance = ArgSizedFloat32(info, 4, "variance", s.channels);
  const float* scale = ArgOptionalSizedFloat32(info, 5, "scale", s.channels);
  const float* offset = ArgOptionalSizedFloat32(info, 6, "offset", s.channels);
  const float epsilon = static_cast<float>(ArgNumber(info, 7, "epsilon"));
  const bool relu = ArgBool(info, 8, "relu");
  auto y = ArgSizedFloat32(info, 9, "y", s.total);
  clicktrain::BatchNormTrainingApply(s.rows, s.channels, x.Data(), mean.Data(), variance.Data(), scale,
                                     offset, epsilon, relu, y.Data());
  return info.Env().Undefined();
}

// The arguments both gradients share, from info[i]: mean, variance, scale|null, epsilon, dx, dscale,
// doffset, followsRelu, reluOffset|null.
struct GradArgs {
  const float* mean;
  const float* variance;
  const float* scale;
  float epsilon;
  float* dx;
  float* dscale;
  float* doffset;
  clicktrain::BatchNormFollowingRelu relu;
  bool follows_relu;
  const clicktrain::BatchNormFollowingRelu* Relu() const { return follows_relu ? &relu : nullptr; }
};

GradArgs ArgGrad(const Napi::CallbackInfo& info, size_t i, const Shape& s) {
  GradArgs g;
  g.mean = ArgSizedFloat32(info, i, "mean", s.channels).Data();
  g.variance = ArgSizedFloat32(info, i + 1, "variance", s.channels).Data();
  g.scale = ArgOptionalSizedFloat32(info, i + 2, "scale", s.channels);
  g.epsilon = static_cast<float>(ArgNumber(info, i + 3, "epsilon"));
  g.dx = ArgSizedFloat32(info, i + 4, "dx", s.total).Data();
  g.dscale = ArgSizedFloat32(info, i + 5, "dscale", s.channels).Data();
  g.doffset = ArgSizedFloat32(info, i + 6, "doffset", s.channels).Data();
  g.follows_relu = ArgBool(info, i + 7, "followsRelu");
  if (g.follows_relu) g.relu.offset = ArgOptionalSizedFloat32(info, i + 8, "reluOffset", s.channels);
  return g;
}

// batchNormTrainingGrad(rows, channels, x, dy, mean, variance, scale|null, epsilon, dx, dscale, doffset,
//                       followsRelu, reluOffset|null) - followsRelu: dy is the gradient at relu(y),
// reluOffset the forward's offset (dense/batch_norm.h: BatchNormFollowingRelu).
Napi::Value Backward(const Napi::CallbackInfo& info) {
  const Shape s = ArgRowsChannels(info);
  auto x = ArgSizedFloat32(info, 2, "x", s.total);
  auto dy = ArgSizedFloat32(info, 3, "dy", s.total);
  const GradArgs g = ArgGrad(info, 4, s);
  clicktrain::BatchNormTrainingBackward(s.rows, s.channels, x.Data(), dy.Data(), g.mean, g.variance, g.scale,
                                        g.epsilon, g.dx, g.dscale, g.doffset, g.Relu());
  return info.Env().Undefined();
}

// batchNormTrainingGradPooledDy(rows, channels, x, geometry, argmax, dyPooled, mean, variance, scale|null,
//                               epsilon, dx, dscale, doffset, followsRelu, reluOffset|null)
// batchNormTrainingGrad with dy = maxPoolArgmaxBackward(geometry, argmax, dyPooled), read block by
// block and never written out; the pool's input is x's shape.
Napi::Value BackwardPooledDy(const Napi::CallbackInfo& info) {
  const Shape s = ArgRowsChannels(info);
  auto x = ArgSizedFloat32(info, 2, "x", s.total);
  const clicktrain::Conv2DParams p = ArgConvParams(info, 3);
  if (!clicktrain::MaxPoolArgmaxSupported(p) || p.InputSize() != s.total || p.in_c != s.channels)
    throw Napi::RangeError::New(info.Env(), "clicktrain: pooled dy: the pool must tile x's shape with disjoint windows");
  const uint8_t* argmax = ArgSizedUint8(info, 4, "argmax", p.OutputSize()).Data();
  const float* dyp = ArgSizedFloat32(info, 5, "dyPooled", p.OutputSize()).Data();
  const GradArgs g = ArgGrad(info, 6, s);
  clicktrain::BatchNormTrainingBackwardRows(
      s.rows, s.channels, x.Data(),
      [&](int64_t first, int64_t n, float* out) { clicktrain::MaxPoolArgmaxBackwardPixels(p, argmax, dyp, first, n, out); },
      g.mean, g.variance, g.scale, g.epsilon, g.dx, g.dscale, g.doffset, g.Relu());
  return info.Env().Undefined();
}

// batchNormTrainingGradSums(rows, channels, x, dy, mean, variance, scale|null, epsilon, dscale, doffset,
//                           coefficients, followsRelu, reluOffset|null) - batchNormTrainingGrad without
// dx: the sums pass, and dx's per-channel coefficients (3 * channels floats) for
// batchNormTrainingGradDx or a conv's backward-filter to compute dx from (dense/batch_norm.h).
Napi::Value BackwardSums(const Napi::CallbackInfo& info) {
  const Shape s = ArgRowsChannels(info);
  auto x = ArgSizedFloat32(info, 2, "x", s.total);
  auto dy = ArgSizedFloat32(info, 3, "dy", s.total);
  auto mean = ArgSizedFloat32(info, 4, "mean", s.channels);
  auto variance = ArgSizedFloat32(info, 5, "variance", s.channels);
  const float* scale = ArgOptionalSizedFloat32(info, 6, "scale", s.channels);
  const float epsilon = static_cast<float>(ArgNumber(info, 7, "epsilon"));
  auto dscale = ArgSizedFloat32(info, 8, "dscale", s.channels);
  auto doffset = ArgSizedFloat32(info, 9, "doffset", s.channels);
  auto coef = ArgSizedFloat32(info, 10, "coefficients", CheckedProduct(info.Env(), {3, s.channels}, "coefficients"));
  clicktrain::BatchNormFollowingRelu relu;
  const bool follows_relu = ArgBool(info, 11, "followsRelu");
  if (follows_relu) relu.offset = ArgOptionalSizedFloat32(info, 12, "reluOffset", s.channels);
  clicktrain::BatchNormTrainingGradSums(s.rows, s.channels, x.Data(), dy.Data(), mean.Data(), variance.Data(), scale,
                                        epsilon, dscale.Data(), doffset.Data(), coef.Data(),
                                        follows_relu ? &relu : nullptr);
  return info.Env().Undefined();
}

// batchNormTrainingGradDx(rows, channels, x, dy, mean, variance, scale|null, epsilon, coefficients,
//                         followsRelu, reluOffset|null, dx) - dx from batchNormTrainingGradSums'
// coefficients: the bits of batchNormTrainingGrad's dx.
Napi::Value BackwardDx(const Napi::CallbackInfo& info) {
  const Shape s = ArgRowsChannels(info);
  auto x = ArgSizedFloat32(info, 2, "x", s.total);
  auto dy = ArgSizedFloat32(info, 3, "dy", s.total);
  auto mean = ArgSizedFloat32(info, 4, "mean", s.channels);
  auto variance = ArgSizedFloat32(info, 5, "variance", s.channels);
  const float* scale = ArgOptionalSizedFloat32(info, 6, "scale", s.channels);
  const float epsilon = static_cast<float>(ArgNumber(info, 7, "epsilon"));
  auto coef = ArgSizedFloat32(info, 8, "coefficients", CheckedProduct(info.Env(), {3, s.channels}, "coefficients"));
  clicktrain::BatchNormFollowingRelu relu;
  const bool follows_relu = ArgBool(info, 9, "followsRelu");
  if (follows_relu) relu.offset = ArgOptionalSizedFloat32(info, 10, "reluOffset", s.channels);
  auto dx = ArgSizedFloat32(info, 11, "dx", s.total);
  const clicktrain::BatchNormGradDx grad(s.channels, x.Data(), dy.Data(), mean.Data(), variance.Data(), scale, epsilon,
                                         coef.Data(), follows_relu ? &relu : nullptr);
  grad.All(s.rows, dx.Data());
  return info.Env().Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("batchNormTraining", Forward);
CLICKTRAIN_EXPORT("batchNormTrainingApply", Apply);
CLICKTRAIN_EXPORT("batchNormTrainingGrad", Backward);
CLICKTRAIN_EXPORT("batchNormTrainingGradPooledDy", BackwardPooledDy);
CLICKTRAIN_EXPORT("batchNormTrainingGradSums", BackwardSums);
CLICKTRAIN_EXPORT("batchNormTrainingGradDx", BackwardDx);

}  // namespace clicktrain_binding
