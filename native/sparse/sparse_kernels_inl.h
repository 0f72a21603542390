// Micro-kernel templates shared by the per-ISA translation units. Include only from a
// sparse_kernels_*.cc file, after defining the vector type VecT with:
//   static VecT Zero(); static VecT Bcast(float); static VecT Load(const float*);
//   static void Store(float*, VecT); static VecT Fma(VecT a, VecT b, VecT c) /* a*b + c */;
//   static VecT Add(VecT, VecT);
//
// Every tile kernel walks its kernels in one loop with the accumulators in registers; the body
// of a kernel is picked by a switch on TapList::sid: one case per 4-entry pattern (126 cases,
// compile-time tap offsets, fully unrolled), default = runtime tap loop (other sizes, phases).
// kSpecialise = false (the portable build) keeps only the runtime loop: smaller, faster to build.
#pragma once
#include <algorithm>
#include <cstring>

#include "sparse/sparse_internal.h"

#if defined(__GNUC__)
#define CT_INLINE inline __attribute__((always_inline))
#else
#define CT_INLINE inline
#endif

namespace clicktrain {
namespace sparse_internal {

// Expands X(i) for the 126 pattern indices (case labels must be literals).
#define CT_P5(X, i) X(i) X(i + 1) X(i + 2) X(i + 3) X(i + 4)
#define CT_P25(X, i) CT_P5(X, i) CT_P5(X, i + 5) CT_P5(X, i + 10) CT_P5(X, i + 15) CT_P5(X, i + 20)
#define CT_P126(X) CT_P25(X, 0) CT_P25(X, 25) CT_P25(X, 50) CT_P25(X, 75) CT_P25(X, 100) X(125)

// ---- forward / backward-data, lane images ------------------------------------------------------

// Pattern M on an RT x WT tile (stride S): per tap one broadcast weight feeds RT*WT FMAs whose
// input vector is a memory operand at a compile-time displacement. Only the accumulators and one
// weight live in registers, which leaves room for 12 accumulators (enough independent FMA chains
// to hide the 4-cycle latency on both FMA pipes). Measured on Zen 3 this beats an explicit
// load-redundancy-eliminated version (each input vector loaded once into a register and reused
// by every tap that reads it) by 2x or more: that needs 4 weight registers + 1 input register,
// so only 8 accumulators fit, the FMA chains become the bottleneck, and the two L1 loads per
// cycle it saves were not the limit. Reuse across taps still happens, in L1.
template <class V, int RT, int WT, int S, int M>
CT_INLINE void FwdPat(V* acc, const float* xk, int64_t rs, const float* v) {
  int t = 0;
#pragma GCC unroll 9
  for (int b = 0; b < 9; ++b) {
    if (!(M >> b & 1)) continue;
    const V w = V::Bcast(v[t++]);
#pragma GCC unroll 4
    for (int r = 0; r < RT; ++r)
#pragma GCC unroll 8
      for (int c = 0; c < WT; ++c)
        acc[r * WT + c] =
            V::Fma(w, V::Load(xk + (r * S + b / 3) * rs + (c * S + b % 3) * kLanes), acc[r * WT + c]);
  }
}

template <class V, int RT, int WT, int S>
CT_INLINE void FwdGeneric(V* acc, const float* xk, int64_t rs, const float* v, const TapList& tl) {
  const int64_t rstep = S * rs;
  for (int t = 0; t < tl.n; ++t) {
    const V w = V::Bcast(v[tl.vi[t]]);
    const float* p = xk + tl.off[t];
    for (int r = 0; r < RT; ++r)
      for (int c = 0; c < WT; ++c)
        acc[r * WT + c] = V::Fma(w, V::Load(p + r * rstep + c * S * kLanes), acc[r * WT + c]);
  }
}

template <class V, int RT, int WT, int S, bool kSpecialise>
void FwdTile(const FwdTileArgs& a) {
  const int64_t rs = a.rs;
  for (int tt = 0; tt < a.nt; ++tt) {
    const float* x = a.xs[tt];
    for (int64_t f = 0; f < a.nf; ++f) {
      const int32_t k0 = a.kbeg[f], k1 = a.kend[f];
      if (a.accumulate && k0 == k1) continue;
      float* out = a.out + tt * a.tstride + a.fout[f];
      V acc[RT * WT];
      if (a.accumulate) {
        for (int i = 0; i < RT * WT; ++i) acc[i] = V::Load(out + i * kLanes);
      } else {
        for (int i = 0; i < RT * WT; ++i) acc[i] = V::Zero();
      }
      for (int32_t kk = k0; kk < k1; ++kk) {
        const int32_t k = a.korder[kk];
        const float* xk = x + a.kic[k] * a.plane;
        const TapList& tl = a.taps[a.kpat[k]];
        const float* v = a.values + a.kvb[k];
        if constexpr (kSpecialise) {
          switch (tl.sid) {
#define CT_CASE(i) \
  case i: FwdPat<V, RT, WT, S, kMask4.mask[i]>(acc, xk, rs, v); break;
            CT_P126(CT_CASE)
#undef CT_CASE
            default: FwdGeneric<V, RT, WT, S>(acc, xk, rs, v, tl);
          }
        } else {
          FwdGeneric<V, RT, WT, S>(acc, xk, rs, v, tl);
        }
      }
      for (int i = 0; i < RT * WT; ++i) V::Store(out + i * kLanes, acc[i]);
    }
  }
}

// ---- forward, flat (width-vectorised) images ---------------------------------------------------

// Vector c of the tile covers flat positions c*8 .. c*8+7; tap (kh, kw) reads + kh*rs + kw.
// Neighbouring taps are misaligned by one float, so loads cannot be shared across kw; each FMA
// takes its input straight from L1.
template <class V, int NV, int M>
CT_INLINE void FlatPat(V* acc, const float* xk, int64_t rs, const float* v) {
  int t = 0;
#pragma GCC unroll 9
  for (int b = 0; b < 9; ++b) {
    if (!(M >> b & 1)) continue;
    const V w = V::Bcast(v[t++]);
    const float* p = xk + (b / 3) * rs + b % 3;
#pragma GCC unroll 16
    for (int c = 0; c < NV; ++c) acc[c] = V::Fma(w, V::Load(p + c * kLanes), acc[c]);
  }
}

template <class V, int NV>
CT_INLINE void FlatGeneric(V* acc, const float* xk, const float* v, const TapList& tl) {
  for (int t = 0; t < tl.n; ++t) {
    const V w = V::Bcast(v[tl.vi[t]]);
    const float* p = xk + tl.off[t];
    for (int c = 0; c < NV; ++c) acc[c] = V::Fma(w, V::Load(p + c * kLanes), acc[c]);
  }
}

template <class V, int NV, bool kSpecialise>
void FlatTile(const FwdTileArgs& a) {
  const int64_t rs = a.rs;
  for (int tt = 0; tt < a.nt; ++tt) {
    const float* x = a.xs[tt];
    for (int64_t f = 0; f < a.nf; ++f) {
      const int32_t k0 = a.kbeg[f], k1 = a.kend[f];
      if (a.accumulate && k0 == k1) continue;
      float* out = a.out + tt * a.tstride + a.fout[f];
      V acc[NV];
      if (a.accumulate) {
        for (int i = 0; i < NV; ++i) acc[i] = V::Load(out + i * kLanes);
      } else {
        for (int i = 0; i < NV; ++i) acc[i] = V::Zero();
      }
      for (int32_t kk = k0; kk < k1; ++kk) {
        const int32_t k = a.korder[kk];
        const float* xk = x + a.kic[k] * a.plane;
        const TapList& tl = a.taps[a.kpat[k]];
        const float* v = a.values + a.kvb[k];
        if constexpr (kSpecialise) {
          switch (tl.sid) {
#define CT_CASE(i) \
  case i: FlatPat<V, NV, kMask4.mask[i]>(acc, xk, rs, v); break;
            CT_P126(CT_CASE)
#undef CT_CASE
            default: FlatGeneric<V, NV>(acc, xk, v, tl);
          }
        } else {
          FlatGeneric<V, NV>(acc, xk, v, tl);
        }
      }
      for (int i = 0; i < NV; ++i) V::Store(out + i * kLanes, acc[i]);
    }
  }
}

// ---- backward-filter ---------------------------------------------------------------------------

// dy of the tile is held in registers (d); each kept tap is a dot product over the tile's pixels,
// split in two partial sums to halve the FMA dependency chain, added into g[t*8 .. +8].
template <class V, int RT, int WT, int S>
CT_INLINE void GradTap(const V* d, const float* p, int64_t rstep, float* gt) {
  V s0 = V::Zero(), s1 = V::Zero();
  for (int i = 0; i < RT * WT; i += 2) {
    const int r0 = i / WT, c0 = i % WT;
    s0 = V::Fma(d[i], V::Load(p + r0 * rstep + c0 * S * kLanes), s0);
    if (i + 1 < RT * WT) {
      const int r1 = (i + 1) / WT, c1 = (i + 1) % WT;
      s1 = V::Fma(d[i + 1], V::Load(p + r1 * rstep + c1 * S * kLanes), s1);
    }
  }
  V::Store(gt, V::Add(V::Load(gt), V::Add(s0, s1)));
}

template <class V, int RT, int WT, int S, int M>
CT_INLINE void GradPat(const V* d, const float* xk, int64_t rs, float* g) {
  int t = 0;
#pragma GCC unroll 9
  for (int b = 0; b < 9; ++b) {
    if (!(M >> b & 1)) continue;
    GradTap<V, RT, WT, S>(d, xk + (b / 3) * rs + (b % 3) * kLanes, S * rs, g + t * kLanes);
    ++t;
  }
}

template <class V, int RT, int WT, int S, bool kSpecialise>
void GradTile(const GradTileArgs& a) {
  const int64_t rs = a.rs;
  for (int tt = 0; tt < a.nt; ++tt) {
    const float* x = a.xs[tt];
    const float* dy = a.dys[tt] + a.dyoff;
    V d[RT * WT];
    for (int r = 0; r < RT; ++r)
      for (int c = 0; c < WT; ++c) d[r * WT + c] = V::Load(dy + r * a.dyrs + c * kLanes);
    for (int64_t kk = 0; kk < a.nk; ++kk) {
      const int32_t k = a.korder[kk];
      const float* xk = x + a.kic[k] * a.plane;
      const TapList& tl = a.taps[a.kpat[k]];
      float* g = a.gacc + (a.kvb[k] - a.vbase) * kLanes;
      if constexpr (kSpecialise) {
        switch (tl.sid) {
#define CT_CASE(i) \
  case i: GradPat<V, RT, WT, S, kMask4.mask[i]>(d, xk, rs, g); continue;
          CT_P126(CT_CASE)
#undef CT_CASE
          default: break;
        }
      }
      for (int t = 0; t < tl.n; ++t)
        GradTap<V, RT, WT, S>(d, xk + tl.off[t], S * rs, g + tl.vi[t] * kLanes);
    }
  }
}

// Register-tile shapes 0, 1 and 4 (every CIFAR shape) get the specialised bodies; the narrow
// shapes 2 and 3 (out_w <= 2) only the runtime loop, to bound code size.
template <class V, bool kSpec>
void FillKernelTable(IsaKernels& k) {
  k.fwd[0][0] = &FwdTile<V, 1, 8, 1, kSpec>;
  k.fwd[0][1] = &FwdTile<V, 1, 8, 2, kSpec>;
  k.fwd[1][0] = &FwdTile<V, 2, 4, 1, kSpec>;
  k.fwd[1][1] = &FwdTile<V, 2, 4, 2, kSpec>;
  k.fwd[2][0] = &FwdTile<V, 4, 2, 1, false>;
  k.fwd[2][1] = &FwdTile<V, 4, 2, 2, false>;
  k.fwd[3][0] = &FwdTile<V, 8, 1, 1, false>;
  k.fwd[3][1] = &FwdTile<V, 8, 1, 2, false>;
  k.fwd_flat[0] = &FlatTile<V, kFlatVecs, kSpec>;
  k.fwd_flat[1] = &FlatTile<V, kFlatVecsSmall, kSpec>;
  k.grad[0][0] = &GradTile<V, 1, 8, 1, kSpec>;
  k.grad[0][1] = &GradTile<V, 1, 8, 2, kSpec>;
  k.grad[1][0] = &GradTile<V, 2, 4, 1, kSpec>;
  k.grad[1][1] = &GradTile<V, 2, 4, 2, kSpec>;
  k.grad[2][0] = &GradTile<V, 4, 2, 1, false>;
  k.grad[2][1] = &GradTile<V, 4, 2, 2, false>;
  k.grad[3][0] = &GradTile<V, 8, 1, 1, false>;
  k.grad[3][1] = &GradTile<V, 8, 1, 2, false>;
  k.fwd[4][0] = &FwdTile<V, 3, 4, 1, kSpec>;
  k.fwd[4][1] = &FwdTile<V, 3, 4, 2, kSpec>;
  k.grad[4][0] = &GradTile<V, 3, 4, 1, kSpec>;
  k.grad[4][1] = &GradTile<V, 3, 4, 2, kSpec>;
}

// Portable lane-image builder (scalar), used by the generic path.
static inline void ToLanesScalar(const float* src, int64_t H, int64_t W, int64_t C, int64_t b0, int nl,
                          int64_t pad_h, int64_t pad_w, int64_t Hp, int64_t Wp, int64_t hp_begin,
                          int64_t hp_end, float* dst) {
  const int64_t plane = Hp * Wp * kLanes;
  for (int64_t hp = hp_begin; hp < hp_end; ++hp) {
    const int64_t h = hp - pad_h;
    for (int64_t wp = 0; wp < Wp; ++wp) {
      const int64_t w = wp - pad_w;
      float* d = dst + (hp * Wp + wp) * kLanes;
      if (h < 0 || h >= H || w < 0 || w >= W) {
        for (int64_t c = 0; c < C; ++c) std::memset(d + c * plane, 0, kLanes * sizeof(float));
        continue;
      }
      for (int l = 0; l < kLanes; ++l) {
        if (l < nl) {
          const float* s = src + (((b0 + l) * H + h) * W + w) * C;
          for (int64_t c = 0; c < C; ++c) d[c * plane + l] = s[c];
        } else {
          for (int64_t c = 0; c < C; ++c) d[c * plane + l] = 0.f;
        }
      }
    }
  }
}

static inline void Pack8Scalar(const float* const* s, int64_t C, float* d, int64_t cs) {
  for (int64_t c = 0; c < C; ++c)
    for (int l = 0; l < kLanes; ++l) d[c * cs + l] = s[l] ? s[l][c] : 0.f;
}

static inline void Unpack8Scalar(const float* s, int64_t C, int64_t cs, float* const* d) {
  for (int l = 0; l < kLanes; ++l)
    if (d[l])
      for (int64_t c = 0; c < C; ++c) d[l][c] = s[c * cs + l];
}

}  // namespace sparse_internal
}  // namespace clicktrain
