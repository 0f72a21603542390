#include "dense/matmul.h"

#include <algorithm>
#include <stdexcept>

#include "common/thread_pool.h"
#include "dense/gemm.h"

namespace clicktrain {

void BatchMatMul(int64_t batch_a, int64_t batch_b, int64_t m, int64_t n, int64_t k, bool trans_a,
                 bool trans_b, const float* a, const float* b, const Epilogue& ep, float* c) {
  if (batch_a < 0 || batch_b < 0 || m < 0 || n < 0 || k < 0)
    throw std::invalid_argument("batchMatMul: negative size");
  if (batch_a != batch_b && batch_a != 1 && batch_b != 1)
    throw std::invalid_argument("batchMatMul: batch sizes must match or one must be 1");
  const int64_t batch = (batch_a == 0 || batch_b == 0) ? 0 : std::max(batch_a, batch_b);
  if (batch == 0 || m == 0 || n == 0) return;
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  const int64_t sa = batch_a == 1 ? 0 : m * k, sb = batch_b == 1 ? 0 : k * n;
  const int64_t lda_safe = std::max<int64_t>(lda, 1), ldb_safe = std::max<int64_t>(ldb, 1);
  const double flops_each = 2.0 * m * n * k;
  if (batch > 1 && flops_each < 2.0e6) {
    // Many small products: one serial GEMM per batch entry, spread over the threads.
    ParallelFor(batch, std::max<int64_t>(1, static_cast<int64_t>(2.0e5 / (flops_each + 1.0))),
                [&](int64_t b0, int64_t b1) {
                  for (int64_t i = b0; i < b1; ++i)
                    SgemmSerial(trans_a, trans_b, m, n, k, 1.f, a + i * sa, lda_safe, b + i * sb,
                                ldb_safe, 0.f, c + i * m * n, n);
                  ApplyEpilogue(ep, (b1 - b0) * m, n, c + b0 * m * n);
                });
    return;
  }
  for (int64_t i = 0; i < batch; ++i) {
    Sgemm(trans_a, trans_b, m, n, k, 1.f, a + i * sa, lda_safe, b + i * sb, ldb_safe, 0.f,
          c + i * m * n, n);
    ApplyEpilogue(ep, m, n, c + i * m * n);
  }
}

}  // namespace clicktrain
