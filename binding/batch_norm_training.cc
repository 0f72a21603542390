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

// mean, variance, scale|null, epsilon at info[i .. i+3]: the statistics and scale a gradient uses.
struct StatArgs {
  const float* mean;
  const float* variance;
  const float* scale;
  float epsilon;
};

StatArgs ArgStats(const Napi::CallbackInfo& info, size_t i, const Shape& s) {
  StatArgs a;
  a.mean = ArgSizedFloat32(info, i, "mean", s.channels).Data();
  a.variance = ArgSizedFloat32(info, i + 1, "variance", s.channels).Data();
  a.scale = ArgOptionalSizedFloat32(info, i + 2, "scale", s.channels);
  a.epsilon = static_cast<float>(ArgNumber(info, i + 3, "epsilon"));
  return a;
}

// followsRelu, reluOffset|null at info[i], info[i+1]: dy is the gradient at relu(y), reluOffset
// the forward's offset (dense/batch_norm.h: BatchNormFollowingRelu).
struct ReluArg {
  clicktrain::BatchNormFollowingRelu relu;
  bool follows = false;
  const clicktrain::BatchNormFollowingRelu* Get() const { return follows ? &relu : nullptr; }
};

ReluArg ArgFollowsRelu(const Napi::CallbackInfo& info, size_t i, const Shape& s) {
  ReluArg r;
  r.follows = ArgBool(info, i, "followsRelu");
  if (r.follows) r.relu.offset = ArgOptionalSizedFloat32(info, i + 1, "reluOffset", s.channels);
  return r;
}

// The arguments both gradients share, from info[i]: mean, variance, scale|null, epsilon, dx, dscale,
// doffset, followsRelu, reluOffset|null.
struct GradArgs {
  StatArgs stats;
  float* dx;
  float* dscale;
  float* doffset;
  ReluArg relu;
};

GradArgs ArgGrad(const Napi::CallbackInfo& info, size_t i, const Shape& s) {
  GradArgs g;
  g.stats = ArgStats(info, i, s);
  g.dx = ArgSizedFloat32(info, i + 4, "dx", s.total).Data();
  g.dscale = ArgSizedFloat32(info, i + 5, "dscale", s.channels).Data();
  g.doffset = ArgSizedFloat32(info, i + 6, "doffset", s.channels).Data();
  g.relu = ArgFollowsRelu(info, i + 7, s);
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
  clicktrain::BatchNormTrainingBackward(s.rows, s.channels, x.Data(), dy.Data(), g.stats.mean, g.stats.variance,
                                        g.stats.scale, g.stats.epsilon, g.dx, g.dscale, g.doffset, g.relu.Get());
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
      g.stats.mean, g.stats.variance, g.stats.scale, g.stats.epsilon, g.dx, g.dscale, g.doffset, g.relu.Get());
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
  const StatArgs st = ArgStats(info, 4, s);
  auto dscale = ArgSizedFloat32(info, 8, "dscale", s.channels);
  auto doffset = ArgSizedFloat32(info, 9, "doffset", s.channels);
  auto coef = ArgSizedFloat32(info, 10, "coefficients", CheckedProduct(info.Env(), {3, s.channels}, "coefficients"));
  const ReluArg relu = ArgFollowsRelu(info, 11, s);
  clicktrain::BatchNormTrainingGradSums(s.rows, s.channels, x.Data(), dy.Data(), st.mean, st.variance, st.scale,
                                        st.epsilon, dscale.Data(), doffset.Data(), coef.Data(), relu.Get());
  return info.Env().Undefined();
}

// batchNormTrainingGradDx(rows, channels, x, dy, mean, variance, scale|null, epsilon, coefficients,
//                         followsRelu, reluOffset|null, dx) - dx from batchNormTrainingGradSums'
// coefficients: the bits of batchNormTrainingGrad's dx.
Napi::Value BackwardDx(const Napi::CallbackInfo& info) {
  const Shape s = ArgRowsChannels(info);
  auto x = ArgSizedFloat32(info, 2, "x", s.total);
  auto dy = ArgSizedFloat32(info, 3, "dy", s.total);
  const StatArgs st = ArgStats(info, 4, s);
  auto coef = ArgSizedFloat32(info, 8, "coefficients", CheckedProduct(info.Env(), {3, s.channels}, "coefficients"));
  const ReluArg relu = ArgFollowsRelu(info, 9, s);
  auto dx = ArgSizedFloat32(info, 11, "dx", s.total);
  const clicktrain::BatchNormGradDx grad(s.channels, x.Data(), dy.Data(), st.mean, st.variance, st.scale, st.epsilon,
                                         coef.Data(), relu.Get());
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
