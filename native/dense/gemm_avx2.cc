// AVX2+FMA GEMM microkernel: 6 x 16 tile, 12 ymm accumulators, 2 B loads + 6 broadcasts per k,
// reading A from packed panels or in place.
#include <immintrin.h>

#include "dense/gemm_kernels.h"

namespace clicktrain {
namespace gemm_internal {
namespace {

constexpr int kMr = 6;
constexpr int kNr = 16;

// A_ROW(i, p): element p of tile row i. Packed panels: a[p * kMr + i]; in place: rows[i][p].
template <bool kPacked>
inline void Kernel6x16Impl(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                           int64_t ldc, float alpha, float beta) {
  const float* r0 = a;
  const float* r1 = a + lda;
  const float* r2 = a + 2 * lda;
  const float* r3 = a + 3 * lda;
  const float* r4 = a + 4 * lda;
  const float* r5 = a + 5 * lda;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    __m256 av;
    av = _mm256_broadcast_ss(kPacked ? a + 0 : r0 + p);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(kPacked ? a + 1 : r1 + p);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(kPacked ? a + 2 : r2 + p);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(kPacked ? a + 3 : r3 + p);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(kPacked ? a + 4 : r4 + p);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(kPacked ? a + 5 : r5 + p);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
    if (kPacked) a += kMr;
    b += kNr;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  __m256 acc[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (beta == 0.f) {
    for (int i = 0; i < kMr; ++i) {
      _mm256_storeu_ps(c + i * ldc, _mm256_mul_ps(va, acc[i][0]));
      _mm256_storeu_ps(c + i * ldc + 8, _mm256_mul_ps(va, acc[i][1]));
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
    for (int i = 0; i < kMr; ++i) {
      float* ci = c + i * ldc;
      _mm256_storeu_ps(ci, _mm256_fmadd_ps(va, acc[i][0], _mm256_mul_ps(vb, _mm256_loadu_ps(ci))));
      _mm256_storeu_ps(ci + 8,
                       _mm256_fmadd_ps(va, acc[i][1], _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8))));
    }
  }
}

void Kernel6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                float beta) {
  Kernel6x16Impl<true>(kc, a, 0, b, c, ldc, alpha, beta);
}

void Kernel6x16Rows(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                    int64_t ldc, float alpha, float beta) {
  Kernel6x16Impl<false>(kc, a, lda, b, c, ldc, alpha, beta);
}

}  // namespace

const KernelInfo& Avx2Kernel() {
  static const KernelInfo info{kMr, kNr, 144, 256, 4096, &Kernel6x16, "builtin-avx2",
                               &Kernel6x16Rows};
  return info;
}

}  // namespace gemm_internal
}  // namespace clicktrain
