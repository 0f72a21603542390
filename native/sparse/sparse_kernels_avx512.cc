// AVX-512 forward lane tiles (this file is compiled with -mavx512f; only called after CPUID).
// A lane image keeps a pixel's 8 lanes contiguous, so at stride 1 the two neighbouring output
// pixels (r, 2j) and (r, 2j + 1) read 16 contiguous floats for every tap: one 512-bit load and
// one FMA serve both, with the tap's weight broadcast to all 16 floats. The stage layout is
// unchanged (pixel i of a tile at out + i * 8). Two tiles run together so that a 2x4 tile still
// has 8 independent accumulators (FMA latency x throughput); an odd last tile runs alone.
// Every other kernel of the table is the AVX2 build's.
#include <immintrin.h>

#include "sparse/sparse_internal.h"

namespace clicktrain {
namespace sparse_internal {
namespace {

#define CT_INLINE512 inline __attribute__((always_inline))

// Accumulators of T tiles of RT x WT pixels, as RT x WT/2 pixel pairs each.
template <int RT, int WT, int T>
CT_INLINE512 void PairKernels(const FwdTileArgs& a, const float* const* xr, int32_t k0, int32_t k1, __m512* acc) {
  constexpr int P = RT * WT / 2;
  for (const KernelEntry *e = a.ents + k0, *ee = a.ents + k1; e < ee; ++e) {
    const float* v = a.values + e->vb;
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      const __m512 w = _mm512_set1_ps(v[t]);
      const int64_t o = e->off[t];
#pragma GCC unroll 2
      for (int u = 0; u < T; ++u)
#pragma GCC unroll 8
        for (int r = 0; r < RT; ++r)
#pragma GCC unroll 4
          for (int j = 0; j < WT / 2; ++j) {
            __m512& s = acc[u * P + r * (WT / 2) + j];
            s = _mm512_fmadd_ps(w, _mm512_loadu_ps(xr[u * RT + r] + o + 2 * j * kLanes), s);
          }
    }
  }
}

template <int RT, int WT, int T>
CT_INLINE512 void PairTiles(const FwdTileArgs& a, int tt) {
  constexpr int P = RT * WT / 2;
  const float* xr[T * RT];
#pragma GCC unroll 8
  for (int u = 0; u < T; ++u)
#pragma GCC unroll 8
    for (int r = 0; r < RT; ++r) xr[u * RT + r] = a.xs[tt + u] + r * a.rs;
  for (int64_t f = 0; f < a.nf; ++f) {
    const int32_t k0 = a.kbeg[f], k1 = a.kend[f];
    if (a.accumulate && k0 == k1) continue;
    float* out[T];
#pragma GCC unroll 2
    for (int u = 0; u < T; ++u) out[u] = a.out + (tt + u) * a.tstride + a.fout[f];
    __m512 acc[T * P];
#pragma GCC unroll 2
    for (int u = 0; u < T; ++u)
#pragma GCC unroll 8
      for (int i = 0; i < P; ++i)
        acc[u * P + i] = a.accumulate ? _mm512_loadu_ps(out[u] + 2 * i * kLanes) : _mm512_setzero_ps();
    PairKernels<RT, WT, T>(a, xr, k0, k1, acc);
#pragma GCC unroll 2
    for (int u = 0; u < T; ++u)
#pragma GCC unroll 8
      for (int i = 0; i < P; ++i) _mm512_storeu_ps(out[u] + 2 * i * kLanes, acc[u * P + i]);
  }
}

template <int RT, int WT>
void FwdTile4Pairs(const FwdTileArgs& a) {
  static_assert(WT % 2 == 0, "pixel pairs need an even tile width");
  int tt = 0;
  for (; tt + 2 <= a.nt; tt += 2) PairTiles<RT, WT, 2>(a, tt);
  if (tt < a.nt) PairTiles<RT, WT, 1>(a, tt);
}

IsaKernels MakeAvx512() {
  IsaKernels k = Avx2Kernels();
  k.fwd4[0][0] = &FwdTile4Pairs<1, 8>;
  k.fwd4[1][0] = &FwdTile4Pairs<2, 4>;
  k.fwd4[2][0] = &FwdTile4Pairs<4, 2>;
  k.fwd4[4][0] = &FwdTile4Pairs<3, 4>;
  return k;
}

}  // namespace

const IsaKernels& Avx512Kernels() {
  static const IsaKernels k = MakeAvx512();
  return k;
}

}  // namespace sparse_internal
}  // namespace clicktrain
