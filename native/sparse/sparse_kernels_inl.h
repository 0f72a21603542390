// Micro-kernel templates shared by the per-ISA translation units. Include only from a
// sparse_kernels_*.cc file, after defining the vector type VecT with:
//   static VecT Zero(); static VecT Bcast(float); static VecT Load(const float*);
//   static void Store(float*, VecT); static VecT Fma(VecT a, VecT b, VecT c) /* a*b + c */;
//   static VecT Add(VecT, VecT);
//
// Every tile kernel walks its kernels in one loop with the accumulators in registers.
// Lane-image tiles (forward, backward-data, backward-filter): a 4-entry pattern's taps come from
// its TapList at runtime offsets in a fixed 4-tap unrolled body (Fwd4), other sizes / phases
// take a runtime tap loop. Flat tiles: the body is picked by a switch on TapList::sid, one case
// per 4-entry pattern (126 cases, compile-time tap offsets), default = runtime tap loop;
// kSpecialise = false (the portable build) keeps only the runtime loop.
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

// 4 taps at runtime offsets (the pattern's TapList): no pattern switch. Measured on Zen 3 the
// 126-case switch inside the kernel loop made GCC spill and shuffle the 12 accumulators at every
// case boundary and cost an indirect-branch misprediction whenever the pattern changed; this
// body keeps 12 accumulators + 1 weight in registers and its only per-tap cost over a
// compile-time pattern is one offset load and add.
// Off: int64_t for a TapList's offsets relative to the kernel's input channel (xk), int32_t for a
// resolved KernelEntry's offsets relative to the tile (x).
template <class V, int RT, int WT, int S, class Off>
CT_INLINE void Fwd4(V* acc, const float* base, int64_t rs, const float* v, const Off* off) {
  const int64_t rstep = S * rs;
#pragma GCC unroll 4
  for (int t = 0; t < 4; ++t) {
    const V w = V::Bcast(v[t]);
    const float* p = base + off[t];
#pragma GCC unroll 4
    for (int r = 0; r < RT; ++r)
#pragma GCC unroll 8
      for (int c = 0; c < WT; ++c)
        acc[r * WT + c] = V::Fma(w, V::Load(p + r * rstep + c * S * kLanes), acc[r * WT + c]);
  }
}

template <class V, int RT, int WT, int S>
void FwdTileRt(const FwdTileArgs& a) {
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
        int32_t k;
        if (a.ents) {
          const KernelEntry& e = a.ents[kk];
          if (e.k < 0) {
            Fwd4<V, RT, WT, S>(acc, x, rs, a.values + e.vb, e.off);
            continue;
          }
          k = e.k;
        } else {
          k = a.korder[kk];
        }
        const float* xk = x + a.kic[k] * a.plane;
        const TapList& tl = a.taps[a.kpat[k]];
        const float* v = a.values + a.kvb[k];
        if (tl.sid >= 0)
          Fwd4<V, RT, WT, S>(acc, xk, rs, v, tl.off);
        else
          FwdGeneric<V, RT, WT, S>(acc, xk, rs, v, tl);
      }
      for (int i = 0; i < RT * WT; ++i) V::Store(out + i * kLanes, acc[i]);
    }
  }
}

// ---- forward fast path: every kernel a resolved 4-tap KernelEntry ----------------------------

// Output row r of the tile reads input rows through its own base pointer xr[r] (= tile origin +
// r * S * row stride), so every input load is one base + index*4 + constant addressing mode on a
// memory-operand FMA: no per-load address arithmetic (the row stride is a runtime value).
template <class V, int RT, int WT, int S>
CT_INLINE void Fwd4Rows(V* acc, const float* const* xr, const float* v, const int32_t* off) {
#pragma GCC unroll 4
  for (int t = 0; t < 4; ++t) {
    const V w = V::Bcast(v[t]);
    const int64_t o = off[t];
#pragma GCC unroll 8
    for (int r = 0; r < RT; ++r)
#pragma GCC unroll 8
      for (int c = 0; c < WT; ++c)
        acc[r * WT + c] = V::Fma(w, V::Load(xr[r] + o + c * S * kLanes), acc[r * WT + c]);
  }
}

// FwdTileRt for a call whose kernels are all resolved 4-tap entries (every 4-entry pattern
// library, the ClickTrain case): no per-kernel branch and no index-path code in the loop, so the
// accumulators and row bases stay in registers. Measured in L1 on Zen 3: 1.2-1.3x FwdTileRt.
template <class V, int RT, int WT, int S>
void FwdTile4(const FwdTileArgs& a) {
  const int64_t rs = a.rs;
  for (int tt = 0; tt < a.nt; ++tt) {
    const float* xr[RT];
#pragma GCC unroll 8
    for (int r = 0; r < RT; ++r) xr[r] = a.xs[tt] + r * S * rs;
    for (int64_t f = 0; f < a.nf; ++f) {
      const int32_t k0 = a.kbeg[f], k1 = a.kend[f];
      if (a.accumulate && k0 == k1) continue;
      float* out = a.out + tt * a.tstride + a.fout[f];
      V acc[RT * WT];
      if (a.accumulate) {
#pragma GCC unroll 16
        for (int i = 0; i < RT * WT; ++i) acc[i] = V::Load(out + i * kLanes);
      } else {
#pragma GCC unroll 16
        for (int i = 0; i < RT * WT; ++i) acc[i] = V::Zero();
      }
      for (const KernelEntry *e = a.ents + k0, *ee = a.ents + k1; e < ee; ++e)
        Fwd4Rows<V, RT, WT, S>(acc, xr, a.values + e->vb, e->off);
#pragma GCC unroll 16
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

// FlatTile for a call whose kernels are all resolved 4-tap entries: the tap offsets come from the
// KernelEntry (channel plane + kh * Wp + kw), so there is no per-kernel pattern switch (each
// switch was an indirect jump whose target changed with the pattern, and a misprediction cost
// more than the kernel's 4 x NV FMAs).
template <class V, int NV>
void FlatTile4(const FwdTileArgs& a) {
  for (int tt = 0; tt < a.nt; ++tt) {
    const float* x = a.xs[tt];
    for (int64_t f = 0; f < a.nf; ++f) {
      const int32_t k0 = a.kbeg[f], k1 = a.kend[f];
      if (a.accumulate && k0 == k1) continue;
      float* out = a.out + tt * a.tstride + a.fout[f];
      V acc[NV];
      if (a.accumulate) {
#pragma GCC unroll 16
        for (int i = 0; i < NV; ++i) acc[i] = V::Load(out + i * kLanes);
      } else {
#pragma GCC unroll 16
        for (int i = 0; i < NV; ++i) acc[i] = V::Zero();
      }
      for (const KernelEntry *e = a.ents + k0, *ee = a.ents + k1; e < ee; ++e) {
        const float* v = a.values + e->vb;
#pragma GCC unroll 4
        for (int t = 0; t < 4; ++t) {
          const V w = V::Bcast(v[t]);
          const float* p = x + e->off[t];
#pragma GCC unroll 16
          for (int c = 0; c < NV; ++c) acc[c] = V::Fma(w, V::Load(p + c * kLanes), acc[c]);
        }
      }
#pragma GCC unroll 16
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

// Backward-filter tile, taps at runtime offsets (see Fwd4): no pattern switch in the loop.
template <class V, int RT, int WT, int S>
void GradTileRt(const GradTileArgs& a) {
  const int64_t rs = a.rs;
  for (int tt = 0; tt < a.nt; ++tt) {
    const float* x = a.xs[tt];
    const float* dy = a.dys[tt] + a.dyoff;
    V d[RT * WT];
    for (int r = 0; r < RT; ++r)
      for (int c = 0; c < WT; ++c) d[r * WT + c] = V::Load(dy + r * a.dyrs + c * kLanes);
    for (int64_t kk = 0; kk < a.nk; ++kk) {
      int32_t k;
      if (a.ents) {
        const KernelEntry& e = a.ents[kk];
        if (e.k < 0) {
          float* g = a.gacc + (e.vb - a.vbase) * kLanes;
#pragma GCC unroll 4
          for (int t = 0; t < 4; ++t) GradTap<V, RT, WT, S>(d, x + e.off[t], S * rs, g + t * kLanes);
          continue;
        }
        k = e.k;
      } else {
        k = a.korder[kk];
      }
      const float* xk = x + a.kic[k] * a.plane;
      const TapList& tl = a.taps[a.kpat[k]];
      float* g = a.gacc + (a.kvb[k] - a.vbase) * kLanes;
      if (tl.sid >= 0) {
#pragma GCC unroll 4
        for (int t = 0; t < 4; ++t) GradTap<V, RT, WT, S>(d, xk + tl.off[t], S * rs, g + t * kLanes);
      } else {
        for (int t = 0; t < tl.n; ++t)
          GradTap<V, RT, WT, S>(d, xk + tl.off[t], S * rs, g + tl.vi[t] * kLanes);
      }
    }
  }
}

// GradTileRt for a call whose kernels are all resolved 4-tap entries, taps read through per-row
// base pointers as in FwdTile4.
template <class V, int RT, int WT, int S>
void GradTile4(const GradTileArgs& a) {
  const int64_t rs = a.rs;
  for (int tt = 0; tt < a.nt; ++tt) {
    const float* xr[RT];
#pragma GCC unroll 8
    for (int r = 0; r < RT; ++r) xr[r] = a.xs[tt] + r * S * rs;
    const float* dy = a.dys[tt] + a.dyoff;
    V d[RT * WT];
#pragma GCC unroll 8
    for (int r = 0; r < RT; ++r)
#pragma GCC unroll 8
      for (int c = 0; c < WT; ++c) d[r * WT + c] = V::Load(dy + r * a.dyrs + c * kLanes);
    for (const KernelEntry *e = a.ents, *ee = a.ents + a.nk; e < ee; ++e) {
      float* g = a.gacc + (e->vb - a.vbase) * kLanes;
#pragma GCC unroll 4
      for (int t = 0; t < 4; ++t) {
        const int64_t o = e->off[t];
        V s0 = V::Zero(), s1 = V::Zero();
#pragma GCC unroll 16
        for (int i = 0; i < RT * WT; ++i) {
          const V p = V::Load(xr[i / WT] + o + (i % WT) * S * kLanes);
          if (i % 2 == 0) s0 = V::Fma(d[i], p, s0);
          else s1 = V::Fma(d[i], p, s1);
        }
        V::Store(g + t * kLanes, V::Add(V::Load(g + t * kLanes), V::Add(s0, s1)));
      }
    }
  }
}

// Lane-image tiles take their taps at runtime offsets (Fwd4: every shape, both strides);
// the flat tiles keep the compile-time-specialised pattern bodies (kSpec).
template <class V, bool kSpec>
void FillKernelTable(IsaKernels& k) {
  k.fwd[0][0] = &FwdTileRt<V, 1, 8, 1>;
  k.fwd[0][1] = &FwdTileRt<V, 1, 8, 2>;
  k.fwd[1][0] = &FwdTileRt<V, 2, 4, 1>;
  k.fwd[1][1] = &FwdTileRt<V, 2, 4, 2>;
  k.fwd[2][0] = &FwdTileRt<V, 4, 2, 1>;
  k.fwd[2][1] = &FwdTileRt<V, 4, 2, 2>;
  k.fwd[3][0] = &FwdTileRt<V, 8, 1, 1>;
  k.fwd[3][1] = &FwdTileRt<V, 8, 1, 2>;
  k.fwd[4][0] = &FwdTileRt<V, 3, 4, 1>;
  k.fwd[4][1] = &FwdTileRt<V, 3, 4, 2>;
  k.fwd4[0][0] = &FwdTile4<V, 1, 8, 1>;
  k.fwd4[0][1] = &FwdTile4<V, 1, 8, 2>;
  k.fwd4[1][0] = &FwdTile4<V, 2, 4, 1>;
  k.fwd4[1][1] = &FwdTile4<V, 2, 4, 2>;
  k.fwd4[2][0] = &FwdTile4<V, 4, 2, 1>;
  k.fwd4[2][1] = &FwdTile4<V, 4, 2, 2>;
  k.fwd4[3][0] = &FwdTile4<V, 8, 1, 1>;
  k.fwd4[3][1] = &FwdTile4<V, 8, 1, 2>;
  k.fwd4[4][0] = &FwdTile4<V, 3, 4, 1>;
  k.fwd4[4][1] = &FwdTile4<V, 3, 4, 2>;
  k.grad4[0][0] = &GradTile4<V, 1, 8, 1>;
  k.grad4[0][1] = &GradTile4<V, 1, 8, 2>;
  k.grad4[1][0] = &GradTile4<V, 2, 4, 1>;
  k.grad4[1][1] = &GradTile4<V, 2, 4, 2>;
  k.grad4[2][0] = &GradTile4<V, 4, 2, 1>;
  k.grad4[2][1] = &GradTile4<V, 4, 2, 2>;
  k.grad4[3][0] = &GradTile4<V, 8, 1, 1>;
  k.grad4[3][1] = &GradTile4<V, 8, 1, 2>;
  k.grad4[4][0] = &GradTile4<V, 3, 4, 1>;
  k.grad4[4][1] = &GradTile4<V, 3, 4, 2>;
  k.fwd_flat[0] = &FlatTile<V, kFlatVecs, kSpec>;
  k.fwd_flat[1] = &FlatTile<V, kFlatVecsSmall, kSpec>;
  k.fwd_flat4[0] = &FlatTile4<V, kFlatVecs>;
  k.fwd_flat4[1] = &FlatTile4<V, kFlatVecsSmall>;
  k.grad[0][0] = &GradTileRt<V, 1, 8, 1>;
  k.grad[0][1] = &GradTileRt<V, 1, 8, 2>;
  k.grad[1][0] = &GradTileRt<V, 2, 4, 1>;
  k.grad[1][1] = &GradTileRt<V, 2, 4, 2>;
  k.grad[2][0] = &GradTileRt<V, 4, 2, 1>;
  k.grad[2][1] = &GradTileRt<V, 4, 2, 2>;
  k.grad[3][0] = &GradTileRt<V, 8, 1, 1>;
  k.grad[3][1] = &GradTileRt<V, 8, 1, 2>;
  k.grad[4][0] = &GradTileRt<V, 3, 4, 1>;
  k.grad[4][1] = &GradTileRt<V, 3, 4, 2>;
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
