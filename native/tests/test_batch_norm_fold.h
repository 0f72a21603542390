// Shared check for the batch norm folded into a conv's epilogue (dense/epilogue.h): the folded
// forward must give exactly the bits of the same forward followed by BatchNormInference.
#pragma once
#include <string>
#include <vector>

#include "dense/batch_norm.h"
#include "dense/epilogue.h"
#include "test_util.h"

namespace clicktrain_test {

using clicktrain::BatchNormArgs;
using clicktrain::Epilogue;

// Per-channel or single-value (broadcast) parameters, scale/offset sometimes absent, relu or not.
struct RandomBatchNorm {
  std::vector<float> mean, variance, scale, offset;
  BatchNormArgs args;
  bool relu;
  explicit RandomBatchNorm(int64_t channels) {
    auto len = [&] { return static_cast<size_t>(RandInt(0, 3) == 0 ? 1 : channels); };
    mean = RandomVector(len(), -0.5f, 0.5f);
    variance = RandomVector(len(), 0.05f, 2.f);
    scale = RandomVector(len(), -2.f, 2.f);
    offset = RandomVector(len(), -1.f, 1.f);
    args.mean = mean.data();
    args.mean_len = static_cast<int64_t>(mean.size());
    args.variance = variance.data();
    args.variance_len = static_cast<int64_t>(variance.size());
    if (RandInt(0, 3) != 0) {
      args.scale = scale.data();
      args.scale_len = static_cast<int64_t>(scale.size());
    }
    if (RandInt(0, 3) != 0) {
      args.offset = offset.data();
      args.offset_len = static_cast<int64_t>(offset.size());
    }
    args.epsilon = 1e-3f;
    relu = RandInt(0, 2) != 0;
  }
};

// run(ep, y) runs the forward with epilogue ep into y (rows x channels, NHWC).
template <class Run>
void CheckBatchNormFold(Runner& r, const Epilogue& ep, int64_t rows, int64_t channels, Run run,
                        const std::string& tag) {
  const size_t n = static_cast<size_t>(rows * channels);
  RandomBatchNorm bn(channels);
  auto y = Poisoned(n), ref = Poisoned(n), folded = Poisoned(n);
  run(ep, y.data());
  clicktrain::BatchNormInference(bn.args, rows, channels, y.data(), ref.data(), bn.relu);
  const clicktrain::BatchNormFold fold(bn.args, channels, bn.relu);
  Epilogue with = ep;
  with.batch_norm = fold.epilogue();
  r.Expect([&] { run(with, folded.data()); }, "forward with a folded batch norm runs " + tag);
  r.Check(BitwiseEqual(folded, ref), "folded batch norm = forward, then BatchNormInference " + tag);
}

}  // namespace clicktrain_test
