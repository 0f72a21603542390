#include "dense/epilogue.h"
#include "dense/epilogue_internal.h"

#include <algorithm>
#include <cmath>

#include "common/thread_pool.h"

namespace clicktrain {
namespace {

void EpilogueRows(const Epilogue& ep, int64_t r0, int64_t r1, int64_t channels, float* data) {
  const float* bias = ep.bias;
  const float* pw = ep.prelu;
  for (int64_t r = r0; r < r1; ++r) {
    float* row = data + r * channels;
    if (bias) {
      if (ep.bias_scalar) {
        const float b = bias[0];
        for (int64_t c = 0; c < channels; ++c) row[c] += b;
      } else {
        for (int64_t c = 0; c < channels; ++c) row[c] += bias[c];
      }
    }
    switch (ep.activation) {
      case Activation::kLinear:
        break;
      case Activation::kRelu:  // Math.max(0, x): NaN stays NaN
        for (int64_t c = 0; c < channels; ++c) row[c] = row[c] < 0.f ? 0.f : row[c];
        break;
      case Activation::kRelu6:  // min(max(x, 0), 6)
        for (int64_t c = 0; c < channels; ++c) {
          const float v = row[c];
          row[c] = v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
        }
        break;
      case Activation::kElu:
        for (int64_t c = 0; c < channels; ++c) {
          const float v = row[c];
          row[c] = v >= 0.f ? v : std::exp(v) - 1.f;
        }
        break;
      case Activation::kSigmoid:
        for (int64_t c = 0; c < channels; ++c) row[c] = 1.f / (1.f + std::exp(-row[c]));
        break;
      case Activation::kLeakyRelu: {
        const float alpha = ep.leaky_alpha;
        for (int64_t c = 0; c < channels; ++c) {
          const float v = row[c];
          row[c] = v < 0.f ? alpha * v : v;
        }
        break;
      }
      case Activation::kPrelu:
        if (!pw) break;  // no weights: identity (the binding always passes them)
        if (ep.prelu_scalar) {
          const float w = pw[0];
          for (int64_t c = 0; c < channels; ++c) {
            const float v = row[c];
            row[c] = v < 0.f ? w * v : v;
          }
        } else {
          for (int64_t c = 0; c < channels; ++c) {
            const float v = row[c];
            row[c] = v < 0.f ? pw[c] * v : v;
          }
        }
        break;
    }
  }
  if (ep.batch_norm) ApplyEpilogueBatchNorm(*ep.batch_norm, r1 - r0, channels, 0, channels, data + r0 * channels);
}

}  // namespace

void ApplyEpilogueSerial(const Epilogue& ep, int64_t rows, int64_t channels, float* data) {
  if (rows <= 0 || channels <= 0 || EpilogueIsIdentity(ep)) return;
  EpilogueRows(ep, 0, rows, channels, data);
}

void ApplyEpilogue(const Epilogue& ep, int64_t rows, int64_t channels, float* data) {
  if (rows <= 0 || channels <= 0 || EpilogueIsIdentity(ep)) return;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / channels);
  ParallelFor(rows, grain, [&](int64_t r0, int64_t r1) { EpilogueRows(ep, r0, r1, channels, data); });
}

}  // namespace clicktrain
