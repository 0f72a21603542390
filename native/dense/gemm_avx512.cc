// AVX-512F GEMM microkernel: 12 x 32 tile, 24 zmm accumulators, 2 B loads + 1 broadcast per row
// and k (27 of the 32 zmm registers live). Compiled with AVX-512 flags; only reached when
// ActiveIsa() == kAvx512.
#include <immintrin.h>

#include "dense/gemm_kernels.h"

namespace clicktrain {
namespace gemm_internal {
namespace {

constexpr int kMr = 12;
constexpr int kNr = 32;

// A_ROW(i, p): element p of tile row i. Packed panels: a[p * kMr + i]; in place: a[i * lda + p].
template <bool kPacked>
inline void Kernel12x32Impl(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                            float alpha, float beta) {
  __m512 acc[kMr][2];
#pragma GCC unroll 12
  for (int i = 0; i < kMr; ++i) {
    acc[i][0] = _mm512_setzero_ps();
    acc[i][1] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
    for (int i = 0; i < kMr; ++i) {
      const __m512 av = _mm512_set1_ps(kPacked ? a[i] : a[i * lda + p]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
    }
    if (kPacked) a += kMr;
    b += kNr;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.f) {
#pragma GCC unroll 12
    for (int i = 0; i < kMr; ++i) {
      _mm512_storeu_ps(c + i * ldc, _mm512_mul_ps(va, acc[i][0]));
      _mm512_storeu_ps(c + i * ldc + 16, _mm512_mul_ps(va, acc[i][1]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < kMr; ++i) {
      float* ci = c + i * ldc;
      _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, acc[i][0], _mm512_mul_ps(vb, _mm512_loadu_ps(ci))));
      _mm512_storeu_ps(
          ci + 16, _mm512_fmadd_ps(va, acc[i][1], _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16))));
    }
  }
}

void Kernel12x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                 float beta) {
  Kernel12x32Impl<true>(kc, a, 0, b, c, ldc, alpha, beta);
}

void Kernel12x32Rows(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                     float alpha, float beta) {
  Kernel12x32Impl<false>(kc, a, lda, b, c, ldc, alpha, beta);
}

}  // namespace

const KernelInfo& Avx512Kernel() {
  static const KernelInfo info{kMr, kNr, 144, 256, 4096, &Kernel12x32, "builtin-avx512", &Kernel12x32Rows};
  return info;
}

}  // namespace gemm_internal
}  // namespace clicktrain
