// Per-lane arithmetic of the filter-slab sparse kernels (slab_schedule.h), written once for the CUDA
// kernel (sparse_forward_slab.cu) and the CPU emulation test (tests/test_cuda_slab.cc), so the test
// runs exactly this tap and record logic without a GPU.
#pragma once
#include <cmath>
#include <cstdint>

#include "cuda/conv_plan.h"
#include "cuda/slab_schedule.h"

#if defined(__CUDACC__)
#define CT_UNROLL _Pragma("unroll")
#else
#define CT_UNROLL
#endif

namespace clicktrain {
namespace cuda {

// A lane owns LB images x OH x OW outputs of every slot of its slab and reads a patch of LB x PR x PC
// input values per channel: tap (dr, dc) of output (i, j) reads patch[b][i + dr - OFF][j + dc - OFF].
// OFF = 0: the patch carries the halo (staged window). OFF = 1: the patch is the whole image and a
// position outside it is the zero of same padding, skipped at compile time.
template <int kLB, int kOH, int kOW, int kPR, int kPC, int kOff>
struct SlabLaneShape {
  static constexpr int LB = kLB, OH = kOH, OW = kOW, PR = kPR, PC = kPC, OFF = kOff;
  using Patch = float[kLB][kPR][kPC];
  using Acc = float[kLB][kOH][kOW];
};
using SlabHaloShape = SlabLaneShape<1, 2, 8, 4, 10, 0>;    // SlabKind::kHalo (WarpTile, tw_t = 8)
using SlabHalo4Shape = SlabLaneShape<1, 2, 4, 4, 6, 0>;    // SlabKind::kHalo4 (WarpTile, tw_t = 4)
using SlabWhole4Shape = SlabLaneShape<1, 4, 4, 4, 4, 1>;   // SlabKind::kWhole4
using SlabWhole2Shape = SlabLaneShape<4, 2, 2, 2, 2, 1>;   // SlabKind::kWhole2

// One kept kernel: 9 weights in position order (bit kh * 3 + kw), 0 where the pattern drops it.
struct SlabRecord {
  uint32_t mask;
  float w[9];
};

template <class Sh, int kPos>
CT_HOST_DEVICE inline void SlabTap(float w, const typename Sh::Patch& xp, typename Sh::Acc& acc) {
  constexpr int dr = kPos / 3 - Sh::OFF, dc = kPos % 3 - Sh::OFF;
CT_UNROLL
  for (int b = 0; b < Sh::LB; ++b)
CT_UNROLL
    for (int i = 0; i < Sh::OH; ++i) {
      if (i + dr < 0 || i + dr >= Sh::PR) continue;  // compile-time after unrolling
CT_UNROLL
      for (int j = 0; j < Sh::OW; ++j) {
        if (j + dc < 0 || j + dc >= Sh::PC) continue;
        acc[b][i][j] = fmaf(w, xp[b][i + dr][j + dc], acc[b][i][j]);
      }
    }
}

// The kept taps of one kernel: one warp-uniform bit test per position, constant offsets behind it.
// (A switch per filter row instead - 3 indirect jumps instead of 9 tests - ran 2.7x slower on an H200.)
template <class Sh>
CT_HOST_DEVICE inline void SlabKernel(const SlabRecord& r, const typename Sh::Patch& xp, typename Sh::Acc& acc) {
  if (r.mask & 1u) SlabTap<Sh, 0>(r.w[0], xp, acc);
  if (r.mask & 2u) SlabTap<Sh, 1>(r.w[1], xp, acc);
  if (r.mask & 4u) SlabTap<Sh, 2>(r.w[2], xp, acc);
  if (r.mask & 8u) SlabTap<Sh, 3>(r.w[3], xp, acc);
  if (r.mask & 16u) SlabTap<Sh, 4>(r.w[4], xp, acc);
  if (r.mask & 32u) SlabTap<Sh, 5>(r.w[5], xp, acc);
  if (r.mask & 64u) SlabTap<Sh, 6>(r.w[6], xp, acc);
  if (r.mask & 128u) SlabTap<Sh, 7>(r.w[7], xp, acc);
  if (r.mask & 256u) SlabTap<Sh, 8>(r.w[8], xp, acc);
}

// One input channel of a lane: every slot whose bit is set consumes the next record (records of a
// slab are stored in (channel, slot) order, so k just walks forward). `next` holds record k, loaded
// one kernel ahead so its latency hides behind the current kernel's FMAs; the look-ahead past the
// chunk's last record reads the spare record the staging area keeps for it (never used).
template <class Sh, class LoadRecord>
CT_HOST_DEVICE inline void SlabChannel(uint32_t bits, const typename Sh::Patch& xp, int& k, SlabRecord& next,
                                       const LoadRecord& load, typename Sh::Acc (&acc)[kSlabFilters]) {
  CT_UNROLL
  for (int slot = 0; slot < kSlabFilters; ++slot) {
    if (!((bits >> slot) & 1u)) continue;
    const SlabRecord r = next;
    next = load(++k);
    SlabKernel<Sh>(r, xp, acc[slot]);
  }
}

// Backward filter: the lane's share of sum over its pixels of x(at tap kPos) * dy for one kernel,
// summed in two chains (half the dependent-FMA latency).
template <class Sh, int kPos>
CT_HOST_DEVICE inline float SlabTapDot(const typename Sh::Patch& xp, const typename Sh::Acc& dy) {
  constexpr int dr = kPos / 3 - Sh::OFF, dc = kPos % 3 - Sh::OFF;
  float s[2] = {0.f, 0.f};
  CT_UNROLL
  for (int b = 0; b < Sh::LB; ++b)
    CT_UNROLL
    for (int i = 0; i < Sh::OH; ++i) {
      if (i + dr < 0 || i + dr >= Sh::PR) continue;
      CT_UNROLL
      for (int j = 0; j < Sh::OW; ++j) {
        if (j + dc < 0 || j + dc >= Sh::PC) continue;
        s[(i + j) & 1] = fmaf(xp[b][i + dr][j + dc], dy[b][i][j], s[(i + j) & 1]);
      }
    }
  return s[0] + s[1];
}

// The kept positions of one kernel: emit(position, lane share) for each.
template <class Sh, class Emit>
CT_HOST_DEVICE inline void SlabKernelGrad(uint32_t mask, const typename Sh::Patch& xp, const typename Sh::Acc& dy,
                                          const Emit& emit) {
  if (mask & 1u) emit(0, SlabTapDot<Sh, 0>(xp, dy));
  if (mask & 2u) emit(1, SlabTapDot<Sh, 1>(xp, dy));
  if (mask & 4u) emit(2, SlabTapDot<Sh, 2>(xp, dy));
  if (mask & 8u) emit(3, SlabTapDot<Sh, 3>(xp, dy));
  if (mask & 16u) emit(4, SlabTapDot<Sh, 4>(xp, dy));
  if (mask & 32u) emit(5, SlabTapDot<Sh, 5>(xp, dy));
  if (mask & 64u) emit(6, SlabTapDot<Sh, 6>(xp, dy));
  if (mask & 128u) emit(7, SlabTapDot<Sh, 7>(xp, dy));
  if (mask & 256u) emit(8, SlabTapDot<Sh, 8>(xp, dy));
}

// Backward filter over one input channel: the records walk as in SlabChannel; emit(slot, position,
// lane share) for every kept weight of the channel.
template <class Sh, class LoadRecord, class Emit>
CT_HOST_DEVICE inline void SlabGradChannel(uint32_t bits, const typename Sh::Patch& xp,
                                           const typename Sh::Acc (&dy)[kSlabFilters], int& k, SlabRecord& next,
                                           const LoadRecord& load, const Emit& emit) {
  CT_UNROLL
  for (int slot = 0; slot < kSlabFilters; ++slot) {
    if (!((bits >> slot) & 1u)) continue;
    const uint32_t mask = next.mask;
    next = load(++k);
    SlabKernelGrad<Sh>(mask, xp, dy[slot], [&](int pos, float v) { emit(slot, pos, v); });
  }
}

// Whole-image staging: image bi of a tile belongs to lane bi / LB (sub-image bi % LB); its pixels sit
// at lane * kSlabWholeLaneStride + sub * pixels + pixel within a channel.
CT_HOST_DEVICE inline int SlabWholeOffset(int lane, int sub, int pixel, int pixels_per_image) {
  return lane * kSlabWholeLaneStride + sub * pixels_per_image + pixel;
}

}  // namespace cuda
}  // namespace clicktrain
