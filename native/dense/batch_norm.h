// tfjs FusedBatchNorm: y = (x - mean) * rsqrt(variance + epsilon) * scale + offset, where x is
// [rows, channels] (channels innermost) and each parameter has `channels` values, or one value
// (its *_len = 1) broadcast to all, or is absent (nullptr: scale 1, offset 0).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "dense/epilogue.h"

namespace clicktrain {

struct BatchNormArgs {
  const float* mean = nullptr;
  int64_t mean_len = 0;
  const float* variance = nullptr;
  int64_t variance_len = 0;
  const float* scale = nullptr;
  int64_t scale_len = 0;
  const float* offset = nullptr;
  int64_t offset_len = 0;
  float epsilon = 1e-3f;
};

// relu: y = relu(y) as tfjs's Relu (NaN passes), in the same pass.
void BatchNormInference(const BatchNormArgs& a, int64_t rows, int64_t channels, const float* x,
                        float* y, bool relu = false);

// An inference batch norm (and relu) for a conv's epilogue: the per-channel arrays
// BatchNormInference computes with, so conv + fold gives the bits of conv, then BatchNormInference.
// Keep it alive while the epilogue is in use.
class BatchNormFold {
 public:
  BatchNormFold(const BatchNormArgs& a, int64_t channels, bool relu);
  const EpilogueBatchNorm* epilogue() const { return &ep_; }

 private:
  std::vector<float> sub_, mul_, add_;
  EpilogueBatchNorm ep_;
};

// Gradients of FusedBatchNorm with respect to each of its inputs, as tfjs defines them (mean and
// variance are inputs there: their gradients flow on to the moments that produced them). All
// parameters have `channels` values; scale may be nullptr (scale 1). One pass over x and dy:
//   dx = dy * scale * r                      (r = 1 / sqrt(variance + epsilon))
//   dmean = -r * scale * sum(dy)             dvariance = -r^3 / 2 * scale * sum(dy * (x - mean))
//   dscale = r * sum(dy * (x - mean))        doffset = sum(dy)
// Sums accumulate in double per thread and combine in a fixed order (deterministic).
struct BatchNormGrads {
  float* dx;         // rows * channels
  float* dmean;      // channels each
  float* dvariance;
  float* dscale;
  float* doffset;
};
void BatchNormBackward(int64_t rows, int64_t channels, const float* x, const float* dy,
                       const float* mean, const float* variance, const float* scale,
                       float epsilon, const BatchNormGrads& g);

// Training-mode batch norm as one op (tfjs-layers' moments + FusedBatchNorm, whose autodiff
// chain costs ~25 activation-sized passes per layer and step; this is 3 forward, 5 backward).
// Forward: per-channel batch mean and biased variance over the rows (accumulated in double around
// a per-channel shift, so a large mean does not cancel the variance away), then
// y = (x - mean) * rsqrt(variance + epsilon) * scale + offset. scale/offset may be nullptr;
// y may be nullptr (statistics only: the caller applies them later with BatchNormTrainingApply).
void BatchNormTrainingForward(int64_t rows, int64_t channels, const float* x, const float* scale,
                              const float* offset, float epsilon, float* y, float* mean,
                              float* variance);
// y of BatchNormTrainingForward from its statistics (the same bits), or relu(y) when relu is set:
// a batch norm followed by a relu then reads x once and writes one activation.
void BatchNormTrainingApply(int64_t rows, int64_t channels, const float* x, const float* mean,
                            const float* variance, const float* scale, const float* offset,
                            float epsilon, bool relu, float* y);

// BatchNormTrainingApply's y (relu'd when relu is set) for any rows, on the calling thread: for a
// pass that consumes a batch norm's output row by row without writing it out (max pooling,
// dense/max_pool_argmax.h). The same bits as BatchNormTrainingApply.
class BatchNormRows {
 public:
  BatchNormRows(int64_t channels, const float* mean, const float* variance, const float* scale,
                const float* offset, float epsilon, bool relu);
  // y[0, rows * channels) from x[0, rows * channels).
  void Apply(const float* x, int64_t rows, float* y) const;
  int64_t channels() const { return channels_; }
  // The per-channel affine Apply computes, y = (x - sub) * mul + add (each operation rounded, no
  // fused multiply-add), then tfjs's Relu (NaN passes) when relu(): for kernels that apply it on
  // the way into their own layout (sparse/lanes_affine.h).
  const float* sub() const { return sub_.data(); }
  const float* mul() const { return mul_.data(); }
  const float* add() const { return add_.data(); }
  bool relu() const { return relu_; }

 private:
  int64_t channels_;
  bool relu_;
  std::vector<float> sub_, mul_, add_;
};

// A relu right after the batch norm, folded into its gradient: dy is then the gradient at
// relu(y), with y recomputed from x exactly as BatchNormTrainingApply computes it (offset: the
// forward's offset, nullptr = 0), and each element takes tfjs's relu gradient dy * step(y) first.
// Saves the relu gradient's pass over three activation-sized arrays.
struct BatchNormFollowingRelu {
  const float* offset = nullptr;
};

// Backward of the whole op (mean and variance depend on x), with r = rsqrt(variance + epsilon),
// n = rows: dx = scale * r * (dy - sum(dy) / n - (x - mean) * r^2 * sum(dy * (x - mean)) / n),
// dscale = r * sum(dy * (x - mean)), doffset = sum(dy). scale may be nullptr (1).
void BatchNormTrainingBackward(int64_t rows, int64_t channels, const float* x, const float* dy,
                               const float* mean, const float* variance, const float* scale,
                               float epsilon, float* dx, float* dscale, float* doffset,
                               const BatchNormFollowingRelu* relu = nullptr);

// dy given row by row: dy(first, n, out) writes rows [first, first + n) (n <= 64) into out, from
// worker threads, for a dy that is never written out whole (a max pool's gradient scattered from
// its argmaxes, dense/max_pool_argmax.h). The same bits as BatchNormTrainingBackward on that dy.
using BatchNormDyRows = std::function<void(int64_t first, int64_t n, float* out)>;
void BatchNormTrainingBackwardRows(int64_t rows, int64_t channels, const float* x, const BatchNormDyRows& dy,
                                   const float* mean, const float* variance, const float* scale, float epsilon,
                                   float* dx, float* dscale, float* doffset,
                                   const BatchNormFollowingRelu* relu = nullptr);

// BatchNormTrainingBackward in two halves, for a consumer of dx that computes its rows as it reads
// them instead of reading a written dx (the backward-filter of the conv that fed the batch norm,
// dense/conv2d.h): BatchNormTrainingGradSums is the sums pass (dscale and doffset, and the
// per-channel coefficients of dx in `coefficients`: 3 * channels floats); BatchNormGradDx then
// gives any rows of dx from them with BatchNormTrainingBackward's bits (it reads x, dy, mean and
// coefficients in place: they must outlive it).
void BatchNormTrainingGradSums(int64_t rows, int64_t channels, const float* x, const float* dy,
                               const float* mean, const float* variance, const float* scale, float epsilon,
                               float* dscale, float* doffset, float* coefficients,
                               const BatchNormFollowingRelu* relu = nullptr);

class BatchNormGradDx {
 public:
  BatchNormGradDx(int64_t channels, const float* x, const float* dy, const float* mean, const float* variance,
                  const float* scale, float epsilon, const float* coefficients,
                  const BatchNormFollowingRelu* relu = nullptr);
  int64_t channels() const { return channels_; }
  // dx rows [first, first + n) into dx[0, n * channels), on the calling thread.
  void Rows(int64_t first, int64_t n, float* dx) const;
  // dx rows [0, rows), on the pool.
  void All(int64_t rows, float* dx) const;

 private:
  struct Relu;  // the forward's affine for the relu gradient; on the heap (shared by copies) because
                // its kernel view points into its own vectors
  int64_t channels_;
  const float* x_;
  const float* dy_;
  const float* mean_;
  const float* k_;
  std::shared_ptr<const Relu> relu_;
};

}  // namespace clicktrain
