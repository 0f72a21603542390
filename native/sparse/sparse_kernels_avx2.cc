// AVX2 + FMA micro-kernels (this file is compiled with -mavx2 -mfma; only called after CPUID).
#include <immintrin.h>

#include "sparse/sparse_kernels_inl.h"
#include "sparse/transpose8_avx2.h"

namespace clicktrain {
namespace sparse_internal {
namespace {

struct VecA {
  __m256 v;
  static VecA Zero() { return {_mm256_setzero_ps()}; }
  static VecA Bcast(float x) { return {_mm256_set1_ps(x)}; }
  static VecA Load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static void Store(float* p, VecA a) { _mm256_storeu_ps(p, a.v); }
  static VecA Fma(VecA a, VecA b, VecA c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  static VecA Add(VecA a, VecA b) { return {_mm256_add_ps(a.v, b.v)}; }
};

void ToLanesAvx2(const float* src, int64_t H, int64_t W, int64_t C, int64_t b0, int nl,
                 int64_t pad_h, int64_t pad_w, int64_t Hp, int64_t Wp, int64_t hp_begin,
                 int64_t hp_end, float* dst) {
  const int64_t plane = Hp * Wp * kLanes;
  const __m256 z = _mm256_setzero_ps();
  for (int64_t hp = hp_begin; hp < hp_end; ++hp) {
    const int64_t h = hp - pad_h;
    for (int64_t wp = 0; wp < Wp; ++wp) {
      const int64_t w = wp - pad_w;
      float* d = dst + (hp * Wp + wp) * kLanes;
      if (h < 0 || h >= H || w < 0 || w >= W) {
        for (int64_t c = 0; c < C; ++c) _mm256_storeu_ps(d + c * plane, z);
        continue;
      }
      const float* s[kLanes];
      for (int l = 0; l < kLanes; ++l) s[l] = l < nl ? src + (((b0 + l) * H + h) * W + w) * C : nullptr;
      int64_t c = 0;
      for (; c + 8 <= C; c += 8) {
        __m256 r[8];
        for (int l = 0; l < kLanes; ++l) r[l] = s[l] ? _mm256_loadu_ps(s[l] + c) : z;
        Transpose8(r);
        for (int j = 0; j < 8; ++j) _mm256_storeu_ps(d + (c + j) * plane, r[j]);
      }
      for (; c < C; ++c)
        for (int l = 0; l < kLanes; ++l) d[c * plane + l] = s[l] ? s[l][c] : 0.f;
    }
  }
}

// s[c * cs + l] -> d[l][c]: 8 channels at a time through an in-register transpose.
void Unpack8Avx2(const float* s, int64_t C, int64_t cs, float* const* d) {
  int64_t c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 r[8];
    for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(s + (c + j) * cs);
    Transpose8(r);
    for (int l = 0; l < kLanes; ++l)
      if (d[l]) _mm256_storeu_ps(d[l] + c, r[l]);
  }
  for (; c < C; ++c)
    for (int l = 0; l < kLanes; ++l)
      if (d[l]) d[l][c] = s[c * cs + l];
}

void Pack8Avx2(const float* const* s, int64_t C, float* d, int64_t cs) {
  const __m256 z = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 r[8];
    for (int l = 0; l < kLanes; ++l) r[l] = s[l] ? _mm256_loadu_ps(s[l] + c) : z;
    Transpose8(r);
    for (int j = 0; j < 8; ++j) _mm256_storeu_ps(d + (c + j) * cs, r[j]);
  }
  for (; c < C; ++c)
    for (int l = 0; l < kLanes; ++l) d[c * cs + l] = s[l] ? s[l][c] : 0.f;
}

IsaKernels MakeAvx2() {
  IsaKernels k{};
  FillKernelTable<VecA, true>(k);
  k.to_lanes = &ToLanesAvx2;
  k.to_lanes_affine = &ToLanesAffineAvx2;
  k.pack8_affine = &Pack8AffineAvx2;
  k.pack8 = &Pack8Avx2;
  k.unpack8 = &Unpack8Avx2;
  return k;
}

}  // namespace

const IsaKernels& Avx2Kernels() {
  static const IsaKernels k = MakeAvx2();
  return k;
}

}  // namespace sparse_internal
}  // namespace clicktrain
