// Single-precision GEMM, row-major: C = alpha * op(A) * op(B) + beta * C, op(A) is m x k and
// op(B) is k x n. OpenBLAS when linked; otherwise the built-in SIMD kernels (per-ISA files).
// Multi-threaded over NumThreads(); safe to call from inside ParallelFor (then runs serially).
#pragma once
#include <cstdint>

namespace clicktrain {

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc);

// Same, single-threaded on the calling thread (for callers that parallelise themselves).
void SgemmSerial(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                 int64_t ldc);

// "openblas" or "builtin-avx512" / "builtin-avx2" / "builtin-generic".
const char* GemmBackendName();

}  // namespace clicktrain
