// Internal interface between the sparse-conv drivers (sparse_conv.cc) and the per-ISA
// micro-kernels (sparse_kernels_generic.cc, sparse_kernels_avx2.cc). Not part of the public API.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/cpu_features.h"
#include "sparse/lanes_affine.h"

namespace clicktrain {
namespace sparse_internal {

constexpr int kLanes = 8;  // batch images per SIMD vector (lane image layout)

// n floats of a grows-only buffer (the caller's thread_local, so no page faults after the first
// call), 64-byte aligned: lane vectors are 32 bytes, so no load straddles a cache line (a
// line-crossing load costs two load slots, and the kernels are load-port heavy).
inline float* AlignedScratch(std::vector<float>& b, size_t n) {
  if (b.size() < n + 16) b.resize(n + 16);
  const uintptr_t p = reinterpret_cast<uintptr_t>(b.data());
  return b.data() + ((64 - p % 64) % 64) / sizeof(float);
}

// Taps of one pattern as used by one pass/phase: n taps, tap t reads the kernel's value vi[t]
// at input offset off[t] (floats, relative to the tile origin of the kernel's input channel).
struct TapList {
  int32_t n = 0;
  // Index of the mask in kMask4 when the taps are the plain 4 taps of a 3x3 pattern at their
  // natural offsets (forward-style passes, vi[t] = t): lane tiles then run the fixed 4-tap body
  // (Fwd4), flat tiles the compile-time specialised body of that pattern. -1: the runtime
  // tap loop (other pattern sizes, stride-2 phases).
  int32_t sid = -1;
  int32_t vi[9] = {0};
  int64_t off[9] = {0};
};

constexpr int PopCount9(int m) {
  int c = 0;
  for (; m; m &= m - 1) ++c;
  return c;
}
// The C(9,4) = 126 four-entry 3x3 patterns (ascending) and the inverse map mask -> index / -1.
struct Mask4Table {
  uint16_t mask[126] = {};
  int16_t index[512] = {};
};
constexpr Mask4Table MakeMask4Table() {
  Mask4Table t{};
  int n = 0;
  for (int m = 0; m < 512; ++m) {
    t.index[m] = -1;
    if (PopCount9(m) == 4) {
      t.mask[n] = static_cast<uint16_t>(m);
      t.index[m] = static_cast<int16_t>(n);
      ++n;
    }
  }
  return t;
}
inline constexpr Mask4Table kMask4 = MakeMask4Table();

// Register-tile shapes (rows x cols of output pixels, x 8 lanes): index -> (RT, WT).
// Shape 4 (3x4, 12 accumulators) is the fastest where the rows divide well (tall grids).
constexpr int kNumShapes = 5;
constexpr int kShapeRT[kNumShapes] = {1, 2, 4, 8, 3};
constexpr int kShapeWT[kNumShapes] = {8, 4, 2, 1, 4};

// A kept kernel resolved for one pass (built per call, O(kernels), in BlockPlan order): the
// absolute offsets (floats from the tile origin of channel 0) of its 4 taps and its first value.
// k < 0: the fixed 4-tap body applies; otherwise k is the kernel index for the runtime tap loop
// (other pattern sizes, stride-2 phases). One load level instead of the chain
// korder -> kic / kpat -> TapList -> offset at every kernel start.
struct KernelEntry {
  int32_t off[4];
  int32_t vb;
  int32_t k;
};

// nf filters x nt tiles per call: for tile t (reads xs[t]) and filter f, the kernels
// korder[kbeg[f] .. kend[f]) are summed into the RT x WT pixels at
// out + t * tstride + fout[f] + pix * 8. Tiles outer, filters inner: a tile's input windows of the
// current channel block stay in L1 while every filter reads them. One call per (block, group of
// tiles) amortises the call/setup cost (at 75% pruning a filter has ~4 kernels per block).
struct FwdTileArgs {
  const float* const* xs;  // per tile: lane image of the bblk, channel 0, at the tile origin
  int nt;
  int64_t tstride;
  int64_t plane;   // floats per channel plane
  int64_t rs;      // floats per padded row
  const int32_t* kic;    // per kernel, indexed by absolute kernel index
  const int32_t* kpat;
  const int32_t* kvb;
  const int32_t* korder;  // kernel indices (absolute), ranges below index into it
  const KernelEntry* ents = nullptr;  // parallel to korder when the offsets fit in int32
  const int32_t* kbeg;    // per filter
  const int32_t* kend;
  const int64_t* fout;    // per filter: offset of its partial sums in out
  int64_t nf;
  const TapList* taps;  // by pattern id
  const float* values;
  bool accumulate;      // start from the values already in out (input-channel blocking)
  float* out;
};
using FwdTileFn = void (*)(const FwdTileArgs&);

// One filter, one tile of dy: for every kept tap, gacc[(kvb[k] - vbase + vi[t]) * 8 + lane] +=
// sum over the tile's pixels of dy * x.
// Runs nt tiles per call (tile t: x at xs[t], dy at dys[t] + dyoff), like FwdTileArgs.
struct GradTileArgs {
  const float* const* xs;  // per tile: lane image of x (bblk, channel 0, at the tile's input origin)
  int64_t plane, rs;
  const float* const* dys;  // per tile: lane image of dy (bblk, channel 0, at the tile origin)
  int64_t dyoff;            // + this filter's channel plane
  int nt;
  int64_t dyrs;
  const int32_t* kic;
  const int32_t* kpat;
  const int32_t* kvb;
  const int32_t* korder;
  const KernelEntry* ents = nullptr;  // parallel to korder (same start) when available
  int64_t nk;
  const TapList* taps;
  float* gacc;
  int64_t vbase;
};
using GradTileFn = void (*)(const GradTileArgs&);

// Width-vectorised ("flat") tiles for small batches: one image, each channel a zero-padded
// plane [Hp][Wp] read as one long row; a vector is 8 consecutive flat output positions (the
// 2 junk columns per row are computed and dropped), tap (kh, kw) is offset kh*Wp + kw.
constexpr int kFlatVecs = 8;       // vectors per flat tile (64 flat positions)
constexpr int kFlatVecsSmall = 4;  // for small images (4x4: 24 positions), to waste fewer lanes

struct IsaKernels {
  FwdTileFn fwd[kNumShapes][2];    // [shape][stride - 1]
  // Fast paths for calls whose kernels are all resolved 4-tap entries (ents set, every e.k < 0).
  FwdTileFn fwd4[kNumShapes][2];
  GradTileFn grad4[kNumShapes][2];
  FwdTileFn fwd_flat[2];           // stride 1, kFlatVecs / kFlatVecsSmall vectors; a.rs = Wp
  FwdTileFn fwd_flat4[2];          // same, every kernel a resolved 4-tap entry
  GradTileFn grad[kNumShapes][2];  // [shape][stride - 1]
  // Lane image of rows [hp_begin, hp_end) of one bblk:
  // dst[((c*Hp + hp)*Wp + wp)*8 + l] = src[b0+l][hp - pad_h][wp - pad_w][c] (0 outside / l >= nl).
  void (*to_lanes)(const float* src, int64_t H, int64_t W, int64_t C, int64_t b0, int nl,
                   int64_t pad_h, int64_t pad_w, int64_t Hp, int64_t Wp, int64_t hp_begin,
                   int64_t hp_end, float* dst_bblk);
  // 8x8-blocked transposes between "8 rows of C floats" and "C vectors of 8":
  // pack8:   d[c * cs + l] = s[l] ? s[l][c] : 0        (l < 8, c < C)
  // unpack8: d[l][c] = s[c * cs + l] for every l with d[l] != nullptr
  void (*pack8)(const float* const* s, int64_t C, float* d, int64_t cs);
  void (*unpack8)(const float* s, int64_t C, int64_t cs, float* const* d);
  // to_lanes and pack8 of a batch norm's output from its input (lanes_affine.h).
  ToLanesAffineFn to_lanes_affine;
  Pack8AffineFn pack8_affine;
};

const IsaKernels& GenericKernels();
const IsaKernels& Avx2Kernels();
// The AVX2 table with the stride-1 forward lane tiles on 512-bit pixel pairs.
const IsaKernels& Avx512Kernels();

// Whether the AVX2 builds of the sparse kernels run (the active ISA, set after CPUID).
inline bool UseAvx2Kernels() { return ActiveIsa() >= Isa::kAvx2; }
inline const IsaKernels& ActiveKernels() {
  if (ActiveIsa() >= Isa::kAvx512) return Avx512Kernels();
  return UseAvx2Kernels() ? Avx2Kernels() : GenericKernels();
}

}  // namespace sparse_internal
}  // namespace clicktrain
