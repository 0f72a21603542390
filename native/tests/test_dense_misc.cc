// ApplyEpilogue (every activation, per-channel / scalar bias and prelu) and BatchNormInference
// (per-channel, broadcast and absent parameters) vs float64, 1 and 2 threads.
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "dense/batch_norm.h"
#include "dense/epilogue.h"
#include "test_dense_ref.h"

using namespace clicktrain;
using namespace clicktrain_test;

int main() {
  Runner r;
  for (Isa isa : RunnableIsas()) {
    SetActiveIsa(isa);
    for (int threads : {1, 2}) {
      SetNumThreads(threads);
      for (int act = 0; act <= 6; ++act)
        for (int t = 0; t < 6; ++t) {
          const int64_t rows = t == 5 ? 3000 : RandInt(1, 40), ch = RandInt(1, 37);
          std::vector<float> bias, prelu;
          Epilogue ep = RandomEpilogue(ch, &bias, &prelu);
          ep.activation = static_cast<Activation>(act);
          if (ep.activation == Activation::kPrelu && !ep.prelu) {
            prelu = RandomVector(static_cast<size_t>(ch), 0.f, 0.5f);
            ep.prelu = prelu.data();
          }
          auto data = RandomVector(static_cast<size_t>(rows * ch), -8.f, 8.f);
          std::vector<double> ref(data.begin(), data.end());
          RefEpilogue(ep, rows, ch, &ref);
          ApplyEpilogue(ep, rows, ch, data.data());
          r.CheckClose(MaxRelError(data, ref), 1e-6,
                       "epilogue act=" + std::to_string(act) + " thr=" + std::to_string(threads) +
                           " rows=" + std::to_string(rows) + " ch=" + std::to_string(ch));
        }
      for (int t = 0; t < 30; ++t) {
        const int64_t rows = t == 29 ? 5000 : RandInt(1, 50), ch = RandInt(1, 37);
        BatchNormArgs a;
        std::vector<float> mean, var, scale, offset;
        auto pick = [&](std::vector<float>* v, const float** ptr, int64_t* len, float lo, float hi,
                        bool optional) {
          const int mode = RandInt(optional ? 0 : 1, 2);
          if (mode == 0) return;
          *v = RandomVector(static_cast<size_t>(mode == 1 ? ch : 1), lo, hi);
          *ptr = v->data();
          *len = static_cast<int64_t>(v->size());
        };
        pick(&mean, &a.mean, &a.mean_len, -1.f, 1.f, false);
        pick(&var, &a.variance, &a.variance_len, 0.1f, 2.f, false);
        pick(&scale, &a.scale, &a.scale_len, -2.f, 2.f, true);
        pick(&offset, &a.offset, &a.offset_len, -1.f, 1.f, true);
        a.epsilon = 0.001f;
        auto x = RandomVector(static_cast<size_t>(rows * ch), -3.f, 3.f);
        std::vector<double> ref(x.size());
        auto at = [](const float* p, int64_t len, int64_t c, double d) {
          return p ? double(len == 1 ? p[0] : p[c]) : d;
        };
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t c = 0; c < ch; ++c)
            ref[i * ch + c] = at(a.offset, a.offset_len, c, 0) +
                              (x[i * ch + c] - at(a.mean, a.mean_len, c, 0)) *
                                  at(a.scale, a.scale_len, c, 1) /
                                  std::sqrt(at(a.variance, a.variance_len, c, 1) + double(a.epsilon));
        auto y = Poisoned(x.size());
        BatchNormInference(a, rows, ch, x.data(), y.data());
        r.CheckClose(MaxRelError(y, ref), 1e-6,
                     "batchnorm thr=" + std::to_string(threads) + " rows=" + std::to_string(rows) +
                         " ch=" + std::to_string(ch));
      }
    }
  }
  r.Expect([] { ApplyEpilogue(Epilogue{}, 0, 5, nullptr); BatchNormInference(BatchNormArgs{}, 0, 3, nullptr, nullptr); },
           "zero rows");
  return r.Finish();
}
