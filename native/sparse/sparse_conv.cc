#include "sparse/sparse_conv.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "dense/conv2d.h"
#include "dense/pooling.h"
#include "sparse/sparse_internal.h"
#include "sparse/sparse_small.h"
#include "sparse/sparse_tiny_image.h"

namespace clicktrain {
namespace {

using namespace sparse_internal;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Grows-only per-thread index scratch.
int32_t* ScratchInt(size_t n) {
  thread_local std::vector<int32_t> b;
  if (b.size() < n) b.resize(n);
  return b.data();
}
int64_t* ScratchInt64(size_t n) {
  thread_local std::vector<int64_t> b;
  if (b.size() < n) b.resize(n);
  return b.data();
}
int64_t FloorDivSigned(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t CeilDivSigned(int64_t a, int64_t b) { return -FloorDivSigned(-a, b); }

// Tile shape from the output width: wide rows use 1x8, narrow grids stack rows so every tile
// still has 8 independent accumulators (FMA latency x throughput on AVX2).
int ChooseShape(int64_t oh, int64_t ow) {
  // 3x4 (12 accumulators) when the extra row padding is small (<= 1/16 of the rows), else 2x4
  // when it tiles the grid exactly. (At 16x16, 3x4's two padding rows of 16 cost more than its
  // extra accumulators gain: 2x4 measured 2-10% faster in all three passes.)
  if (ow >= 4 && oh >= 8 && (CeilDiv(oh, 3) * 3 - oh) * 16 <= oh) return 4;
  if (oh % 2 == 0 && ow % 4 == 0) return 1;
  if (ow >= 6) return 0;
  if (ow >= 3) return 1;
  if (ow >= 2) return 2;
  return 3;
}

// Scratch, one per (thread, purpose).
float* Scratch(int which, size_t n) {
  thread_local std::vector<float> bufs[7];
  return AlignedScratch(bufs[which], n);
}

// Input channels per block: the RT x WT tile's input window of one channel is
// ((RT-1)*S + 3) x ((WT-1)*S + 3) lane vectors; keep a block's windows within ~20 KiB of L1.
int64_t ChannelBlock(int RT, int WT, int S) {
  const int64_t bytes = ((RT - 1) * S + 3) * ((WT - 1) * S + 3) * kLanes * 4;
  return std::max<int64_t>(4, 20480 / bytes);
}

constexpr int64_t kTileGroup = 8;
// Output-channel chunks per tile: enough independent units for every thread (small grids such as
// 4x4 at batch 8 have few tiles), in multiples of 8 channels for the 8x8 transposes.
int64_t ChannelChunk(int64_t TC, int64_t tiles) {
  const int64_t want = CeilDiv(4 * NumThreads(), std::max<int64_t>(1, tiles));
  if (want <= 1) return std::max<int64_t>(TC, 1);
  return std::max<int64_t>(8, CeilDiv(CeilDiv(TC, want), 8) * 8);
}

struct LaneImage {
  const float* data = nullptr;
  int64_t nb = 0, C = 0, Hp = 0, Wp = 0;
  int64_t Plane() const { return Hp * Wp * kLanes; }
  int64_t BStride() const { return C * Plane(); }
};

// NHWC [N,H,W,C] -> lane image with the given padding and padded extents (threaded).
LaneImage BuildLaneImage(const IsaKernels& K, const float* src, int64_t N, int64_t H, int64_t W,
                         int64_t C, int64_t pad_h, int64_t pad_w, int64_t Hp, int64_t Wp,
                         int scratch_id) {
  LaneImage im;
  im.nb = CeilDiv(N, kLanes);
  im.C = C;
  im.Hp = Hp;
  im.Wp = Wp;
  float* dst = Scratch(scratch_id, static_cast<size_t>(im.nb * im.BStride()));
  im.data = dst;
  const int64_t rows = im.nb * Hp;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, Wp * C));
  ParallelFor(rows, grain, [&](int64_t r0, int64_t r1) {
    while (r0 < r1) {
      const int64_t bb = r0 / Hp, hp0 = r0 % Hp;
      const int64_t hp1 = std::min(Hp, hp0 + (r1 - r0));
      const int nl = static_cast<int>(std::min<int64_t>(kLanes, N - bb * kLanes));
      K.to_lanes(src, H, W, C, bb * kLanes, nl, pad_h, pad_w, Hp, Wp, hp0, hp1,
                 dst + bb * im.BStride());
      r0 += hp1 - hp0;
    }
  });
  return im;
}

// K.to_lanes of bn's output when bn is given (else of src itself), the batch norm applied to each
// element as it is loaded (lanes_affine.h): bn's output is never written out.
void ToLanesThrough(const IsaKernels& K, const BatchNormRows* bn, const float* src, int64_t H, int64_t W, int64_t C,
                    int64_t b0, int nl, int64_t pad_h, int64_t pad_w, int64_t Hp, int64_t Wp, int64_t hp_begin,
                    int64_t hp_end, float* dst) {
  if (!bn) {
    K.to_lanes(src, H, W, C, b0, nl, pad_h, pad_w, Hp, Wp, hp_begin, hp_end, dst);
    return;
  }
  const LaneAffine f{bn->sub(), bn->mul(), bn->add(), bn->relu()};
  K.to_lanes_affine(src, H, W, C, b0, nl, pad_h, pad_w, Hp, Wp, hp_begin, hp_end, f, dst);
}

// x through bn (when given) written out whole into a per-thread buffer, for the paths that read
// x directly (rows of bn->channels() floats); x itself without bn.
const float* BatchNormed(const BatchNormRows* bn, const float* x, int64_t rows) {
  if (!bn) return x;
  thread_local std::vector<float> normed_buf;
  float* normed = AlignedScratch(normed_buf, static_cast<size_t>(rows * bn->channels()));
  ParallelFor(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, bn->channels())), [&](int64_t r0, int64_t r1) {
    bn->Apply(x + r0 * bn->channels(), r1 - r0, normed + r0 * bn->channels());
  });
  return normed;
}

float Activate(const Epilogue& ep, float v, int64_t c) {
  switch (ep.activation) {
    case Activation::kLinear: return v;
    case Activation::kRelu: return v > 0.f ? v : 0.f;
    case Activation::kRelu6: return std::min(std::max(v, 0.f), 6.f);
    case Activation::kElu: return v > 0.f ? v : std::expm1(v);
    case Activation::kSigmoid: return 1.f / (1.f + std::exp(-v));
    case Activation::kLeakyRelu: return v < 0.f ? ep.leaky_alpha * v : v;
    case Activation::kPrelu: {
      const float a = ep.prelu ? (ep.prelu_scalar ? ep.prelu[0] : ep.prelu[c]) : 0.f;
      return v < 0.f ? a * v : v;
    }
  }
  return v;
}

// Epilogue on channels [c0, c1) of one NHWC pixel row.
void EpilogueRow(const Epilogue& ep, float* row, int64_t c0, int64_t c1) {
  if (ep.bias) {
    if (ep.bias_scalar) {
      const float b = ep.bias[0];
      for (int64_t c = c0; c < c1; ++c) row[c] += b;
    } else {
      for (int64_t c = c0; c < c1; ++c) row[c] += ep.bias[c];
    }
  }
  switch (ep.activation) {
    case Activation::kLinear: break;
    case Activation::kRelu:
      for (int64_t c = c0; c < c1; ++c) row[c] = row[c] > 0.f ? row[c] : 0.f;
      break;
    default:
      for (int64_t c = c0; c < c1; ++c) row[c] = Activate(ep, row[c], c);
  }
  if (ep.batch_norm) ApplyEpilogueBatchNorm(*ep.batch_norm, 1, c1, c0, c1, row);
}

bool EpilogueIsIdentity(const Epilogue* ep) {
  return !ep || clicktrain::EpilogueIsIdentity(*ep);
}

// Tap table of each pattern of a layout for the forward-style pass (all taps, plain offsets).
std::vector<TapList> FullTaps(const PatternLayout& L, int64_t rs, int64_t col = kLanes) {
  std::vector<TapList> t(L.patterns.size());
  for (size_t p = 0; p < L.patterns.size(); ++p) {
    int n = 0;
    for (int b = 0; b < 9; ++b)
      if (L.patterns[p] >> b & 1) {
        t[p].vi[n] = n;
        t[p].off[n] = (b / 3) * rs + (b % 3) * col;
        ++n;
      }
    t[p].n = n;
    t[p].sid = kMask4.index[L.patterns[p] & 511];
  }
  return t;
}

// Input-channel blocking plan of a pass, computed in O(kernels) once per layout and pass geometry
// (CachedPlan): the kernels of
// slot s with input channel in block b are order[at(s, b) .. at(s, b + 1)), grouped by pattern
// (a stable bucket sort of the layout's (pattern, ic) order by block), so the pattern switch in
// the micro-kernels sees runs of one target and its indirect branch stays predicted. (Scanning
// for the block ranges inside every tile used to cost as much as the arithmetic.)
struct BlockPlan {
  // Cache key: block, the channel plane and the tap table the entries were resolved with.
  int64_t block = 1, nblk = 1, plane = 0;
  std::vector<TapList> taps;
  std::vector<int32_t> bounds;  // [out_c][nblk + 1], indices into order
  std::vector<int32_t> order;   // kernel indices (those with a tap in `taps`)
  std::vector<KernelEntry> ents;  // parallel to order (see ResolveEntries); empty = not used
  bool all4 = false;              // every entry resolved to the fixed 4-tap body (e.k < 0)
  const KernelEntry* Ents() const { return ents.empty() ? nullptr : ents.data(); }
  int32_t at(int64_t s, int64_t b) const { return bounds[s * (nblk + 1) + b]; }
};

// Kernels whose pattern has no tap in `taps` (a stride-2 backward-data phase: ~1 in 4 kernels
// over the four phases, 56% in the centre phase) are left out: they add nothing, and their
// per-kernel index loads cost more than the 1-2 taps of a kernel that does.
BlockPlan MakeBlockPlan(const PatternLayout& L, int64_t block, const TapList* taps) {
  BlockPlan P;
  P.block = std::max<int64_t>(1, block);
  P.nblk = std::max<int64_t>(1, CeilDiv(L.in_c, P.block));
  P.bounds.assign(static_cast<size_t>(L.out_c * (P.nblk + 1)), 0);
  P.order.reserve(static_cast<size_t>(L.NumKernels()));
  auto used = [&](int32_t k) { return taps[L.kernel_pattern[k]].n > 0; };
  std::vector<int32_t> pos(static_cast<size_t>(P.nblk));
  for (int64_t s = 0; s < L.out_c; ++s) {
    const int32_t kb = L.filter_kernel_begin[s], ke = L.filter_kernel_begin[s + 1];
    int32_t* b = &P.bounds[s * (P.nblk + 1)];
    for (int32_t k = kb; k < ke; ++k) b[L.kernel_ic[k] / P.block + 1] += used(k);
    b[0] = static_cast<int32_t>(P.order.size());
    for (int64_t bi = 0; bi < P.nblk; ++bi) {
      b[bi + 1] += b[bi];
      pos[bi] = b[bi];
    }
    P.order.resize(static_cast<size_t>(b[P.nblk]));
    for (int32_t k = kb; k < ke; ++k)
      if (used(k)) P.order[pos[L.kernel_ic[k] / P.block]++] = k;
  }
  return P;
}

// Resolves every kernel of the plan for one pass (channel planes of `plane` floats, tap table
// `taps`): absolute int32 tap offsets for the fixed 4-tap body. Skipped (ents stays empty, the
// kernels take the index path) when an offset could overflow int32.
void ResolveEntries(const PatternLayout& L, const TapList* taps, int64_t plane, BlockPlan& P) {
  int64_t max_off = 0;
  for (size_t q = 0; q < L.patterns.size(); ++q)
    for (int t = 0; t < taps[q].n; ++t) max_off = std::max(max_off, taps[q].off[t]);
  if ((static_cast<int64_t>(L.in_c) + 1) * plane + max_off >= (int64_t{1} << 31)) return;
  P.ents.resize(P.order.size());
  P.all4 = true;
  for (size_t i = 0; i < P.order.size(); ++i) {
    const int32_t k = P.order[i];
    const TapList& tl = taps[L.kernel_pattern[k]];
    KernelEntry& e = P.ents[i];
    e.vb = L.kernel_value_begin[k];
    if (tl.sid >= 0 && tl.n == 4) {
      const int64_t base = static_cast<int64_t>(L.kernel_ic[k]) * plane;
      for (int t = 0; t < 4; ++t) e.off[t] = static_cast<int32_t>(base + tl.off[t]);
      e.k = -1;
    } else {
      for (int t = 0; t < 4; ++t) e.off[t] = 0;
      e.k = k;
      P.all4 = false;
    }
  }
}

bool SameTaps(const std::vector<TapList>& a, const TapList* b) {
  for (size_t q = 0; q < a.size(); ++q) {
    if (a[q].n != b[q].n || a[q].sid != b[q].sid) return false;
    for (int t = 0; t < a[q].n; ++t)
      if (a[q].vi[t] != b[q].vi[t] || a[q].off[t] != b[q].off[t]) return false;
  }
  return true;
}

// The plan of (block, plane, taps) for L, built on first use and kept in L's plan cache (a layer
// sees a few geometries: its batch sizes' lane or flat passes). At batch 1 building it was ~17% of
// a 8x8x256 forward.
constexpr int kBlockPlanKind = 0;
std::shared_ptr<const BlockPlan> CachedPlan(const PatternLayout& L, int64_t block, const TapList* taps,
                                            int64_t plane) {
  block = std::max<int64_t>(1, block);
  return L.plan_cache.Get<BlockPlan>(
      kBlockPlanKind,
      [&](const BlockPlan& P) { return P.block == block && P.plane == plane && SameTaps(P.taps, taps); },
      [&] {
        auto P = std::make_shared<BlockPlan>(MakeBlockPlan(L, block, taps));
        P->plane = plane;
        P->taps.assign(taps, taps + L.patterns.size());
        ResolveEntries(L, taps, plane, *P);
        return std::shared_ptr<const BlockPlan>(std::move(P));
      });
}

// Runs output channels [c0, c1) of nt tiles (tile t reads xs[t], accumulates into
// stage + t * tstride): for each input-channel block (the tiles' input windows stay in L1 while
// every filter of the chunk reads them), one micro-kernel call that runs, tile by tile, every
// filter's kept kernels of that block (see FwdTileArgs). Per unit, the layout is walked block
// slice by block slice, each slice reused from cache by the nt tiles: deep layers (4x4x512: 8 MB
// of layout) would otherwise stream the whole layout from memory once per tile. Partial sums live in stage[oc][npix][8]
// (contiguous per filter: no cache-set aliasing however many channels). Filters run in
// original-channel order, so the reorder permutation never reaches the output.
void RunTileFilters(const PatternLayout& L, const BlockPlan& P, FwdTileFn fn, FwdTileArgs a,
                    const float* const* xs, int nt, int64_t c0, int64_t c1, float* stage,
                    int64_t tstride, int64_t npix) {
  const int64_t nf = c1 - c0;
  int32_t* kb = ScratchInt(2 * static_cast<size_t>(nf));
  int32_t* ke = kb + nf;
  int64_t* fout = ScratchInt64(static_cast<size_t>(nf));
  for (int64_t oc = c0; oc < c1; ++oc) fout[oc - c0] = oc * npix * kLanes;
  a.korder = P.order.data();
  a.ents = P.Ents();
  a.kbeg = kb;
  a.kend = ke;
  a.fout = fout;
  a.nf = nf;
  a.xs = xs;
  a.nt = nt;
  a.tstride = tstride;
  a.out = stage;
  for (int64_t bi = 0; bi < P.nblk; ++bi) {
    for (int64_t oc = c0; oc < c1; ++oc) {
      const int64_t s = L.filter_slot[oc];
      kb[oc - c0] = P.at(s, bi);
      ke[oc - c0] = P.at(s, bi + 1);
    }
    a.accumulate = bi > 0;
    fn(a);
  }
}

// Where a pass's input comes from when it has no lane image (X == nullptr): NHWC src, converted
// strip by strip inside the pass (RunConvPassStrips).
struct LaneSource {
  const float* src = nullptr;
  int64_t H = 0, W = 0, C = 0, pad_h = 0, pad_w = 0;
  int64_t Hp = 0, Wp = 0;  // padded extents of the whole (virtual) lane image
  const BatchNormRows* bn = nullptr;  // src is this batch norm's input (the pass reads its output)
};

// One forward-style pass: output grid OH x OW of the "filters" of L over lane image X; output
// (o_r, o_c) reads padded input rows o_r*S + row0 + kh; results go to target NHWC pixel
// (o_r*os + oy0, o_c*os + ox0).
struct ConvPass {
  const LaneImage* X = nullptr;
  const LaneSource* src = nullptr;  // used when X is null
  int S = 1;
  int shape = 0;
  int64_t OH = 0, OW = 0;
  int64_t row0 = 0, col0 = 0;
  float* y = nullptr;
  int64_t N = 0, TH = 0, TW = 0;
  int64_t os = 1, oy0 = 0, ox0 = 0;
  const PatternLayout* L = nullptr;
  const TapList* taps = nullptr;
  const Epilogue* ep = nullptr;
  // A max pool fused into the unpacking (SparseConv2DForwardMaxPool): windows fh x fw tiling the
  // output, pooled into pool_y [N, OH / fh, OW / fw, out_c]; y is then not written.
  int64_t pool_fh = 0, pool_fw = 0;
  float* pool_y = nullptr;
};

// The micro-kernel arguments every call of a pass shares (RunTileFilters fills in the rest).
FwdTileArgs PassArgs(const ConvPass& cp, int64_t plane, int64_t rs) {
  const PatternLayout& L = *cp.L;
  FwdTileArgs a;
  a.plane = plane;
  a.rs = rs;
  a.taps = cp.taps;
  a.values = L.values.data();
  a.kic = L.kernel_ic.data();
  a.kpat = L.kernel_pattern.data();
  a.kvb = L.kernel_value_begin.data();
  return a;
}

// Where UnpackTile writes a tile's lane group: NHWC rows [row0, row0 + rows) of 8 images, image l
// at base + l * rows * TW * TC (cp.y itself, or a band of rows a fused pool reads next).
struct UnpackTarget {
  float* base;
  int64_t row0, rows;
};

// The partial sums of tile `tile` (stage_t: [out channel][pixel][8], channels [c0, c1)) to NHWC
// with the epilogue fused (8 images at a time); into `band` when given, else into cp.y.
void UnpackTile(const IsaKernels& K, const ConvPass& cp, const float* stage_t, int64_t tile,
                int64_t th, int64_t tw, int64_t c0, int64_t c1, bool ident,
                const UnpackTarget* band = nullptr) {
  const int RT = kShapeRT[cp.shape], WT = kShapeWT[cp.shape];
  const int64_t npix = RT * WT, TC = cp.L->out_c;
  const int64_t bb = tile / (th * tw);
  const int64_t o_r0 = (tile / tw) % th * RT, o_c0 = tile % tw * WT;
  const int nl = static_cast<int>(std::min<int64_t>(kLanes, cp.N - bb * kLanes));
  const UnpackTarget to = band ? *band : UnpackTarget{cp.y + bb * kLanes * cp.TH * cp.TW * TC, 0, cp.TH};
  const int64_t ld = to.rows * cp.TW * TC;
  for (int r = 0; r < RT; ++r) {
    const int64_t o_r = o_r0 + r;
    if (o_r >= cp.OH) break;
    for (int c = 0; c < WT; ++c) {
      const int64_t o_c = o_c0 + c;
      if (o_c >= cp.OW) break;
      const int64_t ty = o_r * cp.os + cp.oy0, tx = o_c * cp.os + cp.ox0;
      float* dst = to.base + ((ty - to.row0) * cp.TW + tx) * TC;
      float* d[kLanes];
      for (int l = 0; l < kLanes; ++l) d[l] = l < nl ? dst + l * ld + c0 : nullptr;
      K.unpack8(stage_t + (c0 * npix + r * WT + c) * kLanes, c1 - c0, npix * kLanes, d);
      if (!ident)
        for (int l = 0; l < nl; ++l) EpilogueRow(*cp.ep, dst + l * ld, c0, c1);
    }
  }
}

// Tile rows per strip unit of RunConvPassStrips: about kTileGroup tiles; with a fused pool of
// window height fh, a multiple of the tile rows that make whole windows.
int64_t StripTileRows(int64_t tw, int RT, int64_t fh) {
  const int64_t trs = std::max<int64_t>(1, kTileGroup / std::max<int64_t>(1, tw));
  const int64_t whole = fh > 1 ? fh / std::gcd<int64_t>(RT, fh) : 1;
  return CeilDiv(trs, whole) * whole;
}

// Whether RunConvPass runs this lane pass strip by strip (see there): each unit must own every
// output channel.
bool PassRunsStrips(const ConvPass& cp, int64_t nb, int64_t th, int64_t tw) {
  const int64_t fh = cp.pool_y ? cp.pool_fh : 1;
  return ChannelChunk(cp.L->out_c, nb * CeilDiv(th, StripTileRows(tw, kShapeRT[cp.shape], fh))) >= cp.L->out_c;
}

// The pass with its lane image built strip by strip: a unit is a band of tile rows of one lane group
// (about 8 tiles, every output channel); it converts the padded input rows its tiles read into a
// thread-local strip (an L2-sized buffer: 5 rows x 34 x 64 channels x 8 lanes = 348 KiB for a
// 32x32x64 layer) and runs them from there. The whole lane image (9.5 MiB at batch 32) is never
// written out and read back from memory: at 75% connectivity pruning that round trip was a third
// of a 32x32 forward. Rows shared by neighbouring bands are converted twice (5 rows per 3).
// With a fused pool (cp.pool_y), a unit's output rows go to a thread-local band (L2-sized: 8
// images x 6 rows x 32 x 64 channels = 384 KiB) and are pooled from there: the full-size conv
// output is never written out and read back.
void RunConvPassStrips(const IsaKernels& K, const ConvPass& cp, int64_t nb, int64_t th, int64_t tw) {
  const PatternLayout& L = *cp.L;
  const LaneSource& src = *cp.src;
  const int64_t TC = L.out_c;
  const int RT = kShapeRT[cp.shape], WT = kShapeWT[cp.shape], S = cp.S;
  const int64_t npix = RT * WT;
  const bool pooled = cp.pool_y != nullptr;
  const int64_t trs = StripTileRows(tw, RT, pooled ? cp.pool_fh : 1), bands = CeilDiv(th, trs);
  const int64_t rows_max = (trs * RT - 1) * S + 3;
  const int64_t rs = src.Wp * kLanes, plane = rows_max * rs;
  const bool ident = EpilogueIsIdentity(cp.ep);
  const std::shared_ptr<const BlockPlan> plan = CachedPlan(L, ChannelBlock(RT, WT, S), cp.taps, plane);
  const BlockPlan& P = *plan;
  const FwdTileFn fn = P.all4 ? K.fwd4[cp.shape][S - 1] : K.fwd[cp.shape][S - 1];
  ParallelTasks(nb * bands, [&](int64_t u, int) {
    const int64_t bb = u / bands, tr0 = u % bands * trs, tr1 = std::min(th, tr0 + trs);
    const int64_t hs0 = tr0 * RT * S + cp.row0;
    const int64_t nrows = std::min(src.Hp, ((tr1 * RT - 1) * S + cp.row0 + 3)) - hs0;
    float* strip = Scratch(4, static_cast<size_t>(src.C * plane));
    const int nl = static_cast<int>(std::min<int64_t>(kLanes, cp.N - bb * kLanes));
    // Padded row hs0 + i of the image is row i of the strip (the input row hp - pad_h).
    ToLanesThrough(K, src.bn, src.src, src.H, src.W, src.C, bb * kLanes, nl, src.pad_h - hs0, src.pad_w,
                   rows_max, src.Wp, 0, nrows, strip);
    const int64_t tstride = npix * TC * kLanes;
    const int64_t first = (bb * th + tr0) * tw, count = (tr1 - tr0) * tw;
    const int64_t r0 = tr0 * RT, band_rows = trs * RT;
    const UnpackTarget band{pooled ? Scratch(6, static_cast<size_t>(kLanes * band_rows * cp.OW * TC)) : nullptr,
                            r0, band_rows};
    for (int64_t t0 = 0; t0 < count; t0 += kTileGroup) {
      const int64_t nt = std::min<int64_t>(kTileGroup, count - t0);
      float* stage = Scratch(0, static_cast<size_t>(nt * tstride));
      const float* xs[kTileGroup];
      for (int64_t t = 0; t < nt; ++t) {
        const int64_t tile = first + t0 + t, tr = (tile / tw) % th, tc = tile % tw;
        xs[t] = strip + ((tr - tr0) * RT * S) * rs + (tc * WT * S + cp.col0) * kLanes;
      }
      RunTileFilters(L, P, fn, PassArgs(cp, plane, rs), xs, static_cast<int>(nt), 0, TC, stage, tstride, npix);
      for (int64_t t = 0; t < nt; ++t)
        UnpackTile(K, cp, stage + t * tstride, first + t0 + t, th, tw, 0, TC, ident, pooled ? &band : nullptr);
    }
    if (pooled) {
      // The band's valid rows are whole windows: r0 and OH are multiples of fh.
      const int64_t rows = std::min(cp.OH, tr1 * RT) - r0, PH = cp.OH / cp.pool_fh, PW = cp.OW / cp.pool_fw;
      for (int l = 0; l < nl; ++l)
        MaxPoolTiledBlock(cp.pool_fh, cp.pool_fw, rows, cp.OW, TC, band.base + l * band_rows * cp.OW * TC,
                          cp.pool_y + ((bb * kLanes + l) * PH + r0 / cp.pool_fh) * PW * TC);
    }
  });
}

void RunConvPass(const IsaKernels& K, const ConvPass& cp) {
  if (cp.OH <= 0 || cp.OW <= 0 || cp.N <= 0) return;
  const PatternLayout& L = *cp.L;
  const int64_t TC = L.out_c;
  const int RT = kShapeRT[cp.shape], WT = kShapeWT[cp.shape];
  const int64_t npix = RT * WT;
  const int64_t th = CeilDiv(cp.OH, RT), tw = CeilDiv(cp.OW, WT);
  const int64_t nb = cp.X ? cp.X->nb : CeilDiv(cp.N, kLanes);
  if (!cp.X) {
    // Strips need every unit to own all output channels (else units would convert a strip each):
    // enough bands for the threads. Otherwise the whole lane image first.
    const LaneSource& ls = *cp.src;
    if (PassRunsStrips(cp, nb, th, tw)) {
      RunConvPassStrips(K, cp, nb, th, tw);
    } else {
      if (cp.pool_y) throw std::logic_error("RunConvPass: a fused pool needs the strip pass");
      const float* in = BatchNormed(ls.bn, ls.src, cp.N * ls.H * ls.W);
      const LaneImage X = BuildLaneImage(K, in, cp.N, ls.H, ls.W, ls.C, ls.pad_h, ls.pad_w, ls.Hp, ls.Wp, 1);
      ConvPass with_image = cp;
      with_image.X = &X;
      RunConvPass(K, with_image);
    }
    return;
  }
  const int64_t tiles = nb * th * tw;
  // Tiles per unit: 8 neighbouring tiles share every micro-kernel call's indices, values and
  // branch history (the pattern sequence repeats 8 times), and deep layers do not stream their
  // layout once per tile. Threads that would lack groups split the output channels instead.
  const int64_t group = std::max<int64_t>(1, std::min<int64_t>(kTileGroup, tiles));
  const int64_t ngroups = CeilDiv(tiles, group);
  const int64_t chunk = ChannelChunk(TC, ngroups);
  const int64_t nch = CeilDiv(std::max<int64_t>(TC, 1), chunk);
  const int64_t plane = cp.X->Plane(), rs = cp.X->Wp * kLanes;
  const bool ident = EpilogueIsIdentity(cp.ep);
  // The group's input windows of one channel block share the ~20 KiB of L1.
  // Blocks sized for ONE tile's windows: the 8 tiles' windows of a block then mostly come from
  // L2, which measured faster than 8x smaller blocks (too few kernels per call).
  const std::shared_ptr<const BlockPlan> plan = CachedPlan(L, ChannelBlock(RT, WT, cp.S), cp.taps, plane);
  const BlockPlan& P = *plan;
  const FwdTileFn fn = P.all4 ? K.fwd4[cp.shape][cp.S - 1] : K.fwd[cp.shape][cp.S - 1];
  ParallelTasks(ngroups * nch, [&](int64_t u, int) {
    const int64_t ch = u % nch, g = u / nch;
    const int64_t c0 = ch * chunk, c1 = std::min(TC, c0 + chunk);
    const int64_t t0 = g * group, nt = std::min(group, tiles - t0);
    const int64_t tstride = npix * TC * kLanes;
    float* stage = Scratch(0, static_cast<size_t>(nt * tstride));
    const float* xs[kTileGroup];
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t tile = t0 + t, bb = tile / (th * tw);
      const int64_t tr = (tile / tw) % th, tc = tile % tw;
      xs[t] = cp.X->data + bb * cp.X->BStride() +
              ((tr * RT * cp.S + cp.row0) * cp.X->Wp + tc * WT * cp.S + cp.col0) * kLanes;
    }
    RunTileFilters(L, P, fn, PassArgs(cp, plane, rs), xs, static_cast<int>(nt), c0, c1, stage, tstride, npix);
    for (int64_t t = 0; t < nt; ++t) UnpackTile(K, cp, stage + t * tstride, t0 + t, th, tw, c0, c1, ident);
  });
}

// Small batches (< 8 images: lanes would idle): stride-1 forward-style pass on flat images,
// one image at a time. src NHWC [N, H, W, C] with padding (pad_h, pad_w); output grid OH x OW
// into y NHWC [N, OH, OW, L.out_c].
void RunFlatPass(const IsaKernels& K, const float* src, int64_t N, int64_t H, int64_t W, int64_t C,
                 int64_t pad_h, int64_t pad_w, int64_t OH, int64_t OW, const PatternLayout& L,
                 const Epilogue* ep, float* y) {
  if (OH <= 0 || OW <= 0 || N <= 0) return;
  const int64_t TC = L.out_c;
  const int64_t Wp = OW + 2, Hp = OH + 2;
  const int64_t F = OH * Wp;
  const bool small = F <= 16 * kLanes;
  const int nv = small ? kFlatVecsSmall : kFlatVecs;
  const int64_t tv = nv * kLanes;  // flat positions per tile
  const int64_t tiles = CeilDiv(F, tv);
  // The last tile reads up to 2 rows + 2 beyond its end: the plane is zero-padded that far.
  const int64_t plane = CeilDiv(std::max(Hp * Wp, tiles * tv + 2 * Wp + 2), 8) * 8;
  float* img = Scratch(1, static_cast<size_t>(C * plane));
  std::vector<TapList> taps = FullTaps(L, Wp, 1);
  const int64_t chunk = ChannelChunk(TC, tiles);
  const int64_t nch = CeilDiv(std::max<int64_t>(TC, 1), chunk);
  const bool ident = EpilogueIsIdentity(ep);
  const std::shared_ptr<const BlockPlan> plan =
      CachedPlan(L, std::max<int64_t>(4, 20480 / ((tv + 2 * Wp + 2) * 4)), taps.data(), plane);
  const BlockPlan& P = *plan;
  const FwdTileFn fn = P.all4 ? K.fwd_flat4[small ? 1 : 0] : K.fwd_flat[small ? 1 : 0];
  for (int64_t n = 0; n < N; ++n) {
    ParallelFor(C, 64, [&](int64_t c0, int64_t c1) {
      std::memset(img + c0 * plane, 0, static_cast<size_t>((c1 - c0) * plane) * sizeof(float));
    });
    // Interior: 8 consecutive pixels x 8 channels per transpose.
    ParallelFor(H, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) {
        const int64_t hp = h + pad_h;
        if (hp < 0 || hp >= Hp) continue;
        for (int64_t w0 = 0; w0 < W; w0 += kLanes) {
          const float* s[kLanes];
          int64_t first = -1;
          for (int l = 0; l < kLanes; ++l) {
            const int64_t w = w0 + l, wp = w + pad_w;
            const bool ok = w < W && wp >= 0 && wp < Wp;
            s[l] = ok ? src + ((n * H + h) * W + w) * C : nullptr;
            if (ok && first < 0) first = l;
          }
          if (first < 0) continue;
          // pack8 writes 8 consecutive flat slots from w0 + pad_w; shift the window so that it
          // starts inside the plane row (pad_w may be 0, so w0 + pad_w >= 0 always holds).
          float* d = img + hp * Wp + w0 + pad_w;
          if (w0 + pad_w + kLanes <= Wp) {
            K.pack8(s, C, d, plane);
          } else {
            for (int l = 0; l < kLanes; ++l)
              if (s[l])
                for (int64_t c = 0; c < C; ++c) d[c * plane + l] = s[l][c];
          }
        }
      }
    });
    ParallelTasks(tiles * nch, [&](int64_t u, int) {
      const int64_t ch = u % nch, t = u / nch;
      const int64_t c0 = ch * chunk, c1 = std::min(TC, c0 + chunk);
      float* stage = Scratch(0, static_cast<size_t>(tv * TC));
      FwdTileArgs a;
      const float* xs[1] = {img + t * tv};
      a.plane = plane;
      a.rs = Wp;
      a.taps = taps.data();
      a.values = L.values.data();
      a.kic = L.kernel_ic.data();
      a.kpat = L.kernel_pattern.data();
      a.kvb = L.kernel_value_begin.data();
      RunTileFilters(L, P, fn, a, xs, 1, c0, c1, stage, 0, nv);
      for (int64_t j0 = 0; j0 < tv; j0 += kLanes) {
        float* d[kLanes];
        bool any = false;
        for (int l = 0; l < kLanes; ++l) {
          const int64_t f = t * tv + j0 + l, r = f / Wp, c = f % Wp;
          d[l] = (r < OH && c < OW) ? y + ((n * OH + r) * OW + c) * TC + c0 : nullptr;
          any |= d[l] != nullptr;
        }
        if (!any) continue;
        K.unpack8(stage + c0 * tv + j0, c1 - c0, tv, d);
        if (!ident)
          for (int l = 0; l < kLanes; ++l)
            if (d[l]) EpilogueRow(*ep, d[l] - c0, c0, c1);
      }
    });
  }
}

void CheckLayout(const Conv2DParams& p, const PatternLayout& L, const char* what) {
  if (!SparseConvSupported(p))
    throw std::invalid_argument(std::string(what) + ": geometry not supported by the sparse kernels");
  ValidateConv2DParams(p);
  if (L.in_c != p.in_c || L.out_c != p.out_c)
    throw std::invalid_argument(std::string(what) + ": layout channels do not match the params");
}

// Dense fallback: where the sparse kernels would not beat the dense path on this layer, the entry
// points run the dense kernels on the unpacked weights (same results up to rounding). The rule is
// a cost model fitted to CIFAR shapes on Zen 3 (bench/RESULTS.md, session 12): a kept weight
// costs 1 dense weight when its kernel has a 4-entry pattern (the fixed 4-tap bodies reach
// 0.6-0.9 of the theoretical ratio) and 1.35 otherwise (runtime tap loop, ~0.45); passes that
// run far from that get a multiplier: stride-2 backward-data (four phases of 2x2 sub-patterns on
// the runtime loop, ~0.25), stride-2 backward-filter (~0.45), and lane passes on fewer than 8
// images (8 / batch: idle lanes). The layer runs sparse when its dense weights are at least
// kSparseMinGain x its weighted kept weights: 4-entry patterns with no connectivity pruning
// (2.25x theoretical) run sparse at batch >= 8, stride 1 (measured 1.0-2.9x faster than dense).
std::atomic<bool> g_dense_fallback{true};
constexpr double kSparseMinGain = 2.0;

}  // namespace

bool SparseRunsDense(const Conv2DParams& p, const PatternLayout& L, SparsePass pass) {
  if (!g_dense_fallback.load(std::memory_order_relaxed)) return false;
  double kept = 0;  // weighted by pattern size: a 4-entry group's values cost 1, others 1.35
  for (int64_t g = 0; g < L.NumGroups(); ++g) {
    const int32_t ps = L.pattern_size[L.group_pattern[g]];
    kept += (L.group_kernel_begin[g + 1] - L.group_kernel_begin[g]) * (ps == 4 ? 4.0 : 1.35 * ps);
  }
  if (kept == 0) return false;
  const bool lanes = pass == SparsePass::kBackwardFilter || p.stride_h != 1;  // else flat below 8 images
  if (lanes && p.batch < kLanes) kept *= static_cast<double>(kLanes) / std::max<int64_t>(1, p.batch);
  if (p.stride_h != 1 && pass == SparsePass::kBackwardInput) kept *= 2.5;
  if (p.stride_h != 1 && pass == SparsePass::kBackwardFilter) kept *= 1.5;
  return 9.0 * L.in_c * L.out_c < kSparseMinGain * kept;
}

namespace {

// Dense HWIO copy of the layout's weights, cached with the values it was made from (see
// DenseWeightCache): the fallback unpacked 9*in_c*out_c floats on every call, which cost more than
// the dense conv itself at batch 1. Written input channel by input channel through the transposed
// companion (its slots are input channels, its kernels output channels, values kept in sync by
// RefreshValues / SetPackedValues / the frozen steps), so every write of one slot lands in the 9
// rows w[tap][ic][:] that stay in L1. (UnpackToDense scatters in packed order, one cache miss per
// value: 10+ ms for 4x4x512.)
std::shared_ptr<const DenseWeightCache::Copy> DenseWeights(const PatternLayout& L) {
  DenseWeightCache& cache = L.dense_cache;
  const size_t nv = L.values.size();
  std::shared_ptr<const DenseWeightCache::Copy> stale;
  {
    std::lock_guard<std::mutex> lk(cache.mu);
    const auto& c = cache.copy;
    if (c && c->values.size() == nv && std::memcmp(c->values.data(), L.values.data(), nv * sizeof(float)) == 0)
      return c;
    stale = std::move(cache.copy);
  }
  // A stale copy no call still holds is rewritten in place (every element below is written):
  // in training the values change every step, and a fresh 9*in_c*out_c buffer per step would be
  // page-faulted in again each time.
  auto copy = stale && stale.use_count() == 1
                  ? std::const_pointer_cast<DenseWeightCache::Copy>(std::move(stale))
                  : std::make_shared<DenseWeightCache::Copy>();
  copy->values = L.values;
  const int64_t ci = L.in_c, co = L.out_c;
  copy->dense.resize(static_cast<size_t>(9 * ci * co));
  float* wd = copy->dense.data();
  if (!L.transposed) {
    UnpackToDense(L, wd);
  } else {
    const PatternLayout& T = *L.transposed;
    ParallelFor(ci, 8, [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) {
        const int64_t ic = T.filter_order[s];
        for (int b = 0; b < 9; ++b) std::memset(wd + (b * ci + ic) * co, 0, sizeof(float) * co);
        for (int32_t k = T.filter_kernel_begin[s]; k < T.filter_kernel_begin[s + 1]; ++k) {
          const int64_t oc = T.kernel_ic[k];
          const int m = T.patterns[T.kernel_pattern[k]];
          const float* v = T.values.data() + T.kernel_value_begin[k];
          int j = 0;
          for (int bt = 0; bt < 9; ++bt)
            if (m >> bt & 1) wd[((8 - bt) * ci + ic) * co + oc] = v[j++];
        }
      }
    });
  }
  std::shared_ptr<const DenseWeightCache::Copy> result = std::move(copy);
  std::lock_guard<std::mutex> lk(cache.mu);
  cache.copy = result;
  return result;
}

}  // namespace

void SetSparseDenseFallback(bool enabled) { g_dense_fallback.store(enabled); }

bool SparseConvSupported(const Conv2DParams& p) {
  return p.filter_h == 3 && p.filter_w == 3 && p.dilation_h == 1 && p.dilation_w == 1 &&
         p.stride_h == p.stride_w && (p.stride_h == 1 || p.stride_h == 2) && p.pad_top >= 0 &&
         p.pad_top <= 2 && p.pad_left >= 0 && p.pad_left <= 2 && p.batch >= 0 && p.in_h >= 0 &&
         p.in_w >= 0 && p.out_h >= 0 && p.out_w >= 0 && p.in_c >= 0 && p.out_c >= 0 &&
         p.in_c < (1 << 20) && p.out_c < (1 << 20);
}

namespace {

// The forward on lane tiles (batch >= 8 or stride 2): y = epilogue(conv), or with pool_fh > 0, that
// max-pooled by tiling windows pool_fh x pool_fw into pool_y (y unused). A pooled pass runs only
// when the strips take it (the pool is fused there); returns whether the pass ran (would run, when
// pool_y is null).
bool RunForwardLanes(const Conv2DParams& p, const float* x, const PatternLayout& L, const Epilogue& ep,
                     float* y, int64_t pool_fh, int64_t pool_fw, float* pool_y, const BatchNormRows* x_bn = nullptr) {
  const IsaKernels& K = ActiveKernels();
  const int S = static_cast<int>(p.stride_h);
  const int shape = ChooseShape(p.out_h, p.out_w);
  const int64_t OHt = CeilDiv(p.out_h, kShapeRT[shape]) * kShapeRT[shape];
  const int64_t OWt = CeilDiv(p.out_w, kShapeWT[shape]) * kShapeWT[shape];
  const int64_t Hp = (OHt - 1) * S + 3, Wp = (OWt - 1) * S + 3;
  const LaneSource src{x, p.in_h, p.in_w, p.in_c, p.pad_top, p.pad_left, Hp, Wp, x_bn};
  ConvPass cp;
  cp.src = &src;
  cp.S = S;
  cp.shape = shape;
  cp.OH = p.out_h;
  cp.OW = p.out_w;
  cp.y = y;
  cp.N = p.batch;
  cp.TH = p.out_h;
  cp.TW = p.out_w;
  cp.L = &L;
  cp.ep = &ep;
  cp.pool_fh = pool_fh;
  cp.pool_fw = pool_fw;
  cp.pool_y = pool_y;
  if (pool_fh > 0) {
    if (!PassRunsStrips(cp, CeilDiv(p.batch, kLanes), OHt / kShapeRT[shape], OWt / kShapeWT[shape])) return false;
    if (!pool_y) return true;  // (only asked whether it would run: SparseForwardPoolFused)
  }
  std::vector<TapList> taps = FullTaps(L, Wp * kLanes);
  cp.taps = taps.data();
  RunConvPass(K, cp);
  return true;
}

void CheckInputBatchNorm(const Conv2DParams& p, const BatchNormRows* x_bn, const char* what) {
  if (x_bn && x_bn->channels() != p.in_c)
    throw std::invalid_argument(std::string(what) + ": the input batch norm's channels differ from in_c");
}

}  // namespace

void SparseConv2DForward(const Conv2DParams& p, const float* x, const PatternLayout& L,
                         const Epilogue& ep, float* y, const BatchNormRows* x_bn) {
  CheckLayout(p, L, "SparseConv2DForward");
  CheckInputBatchNorm(p, x_bn, "SparseConv2DForward");
  if (p.OutputSize() == 0) return;
  const int64_t in_rows = p.batch * p.in_h * p.in_w;
  if (SparseRunsDense(p, L, SparsePass::kForward)) {
    Conv2DForward(p, BatchNormed(x_bn, x, in_rows), DenseWeights(L)->dense.data(), ep, y);
    return;
  }
  if (p.batch * p.out_h * p.out_w <= kSmallImageMaxPixels) {
    SparseSmallImageForward(p, BatchNormed(x_bn, x, in_rows), L, ep, y);
    return;
  }
  if (TinyImageSupported(p, L)) {
    SparseTinyImageForward(p, x, L, ep, y, x_bn);
    return;
  }
  if (p.stride_h == 1 && p.batch < kLanes) {
    RunFlatPass(ActiveKernels(), BatchNormed(x_bn, x, in_rows), p.batch, p.in_h, p.in_w, p.in_c, p.pad_top,
                p.pad_left, p.out_h, p.out_w, L, &ep, y);
    return;
  }
  RunForwardLanes(p, x, L, ep, y, 0, 0, nullptr, x_bn);
}

namespace {

void CheckPoolOfConv(const Conv2DParams& p, const Conv2DParams& pool) {
  ValidateConv2DParams(pool);
  if (pool.batch != p.batch || pool.in_h != p.out_h || pool.in_w != p.out_w || pool.in_c != p.out_c ||
      pool.out_c != p.out_c)
    throw std::invalid_argument("SparseConv2DForwardMaxPool: the pool's input must be the conv's output");
}

// Windows that tile the conv output on a path that pools as it unpacks (1x1 is tfjs's identity:
// NaN passes): the tiny-image kernels, or the lane tiles (when the strips take the pass).
bool PoolFusable(const Conv2DParams& p, const PatternLayout& L, const Conv2DParams& pool) {
  return PoolWindowsTileInput(pool) && pool.filter_h * pool.filter_w > 1 &&
         !SparseRunsDense(p, L, SparsePass::kForward) && p.batch * p.out_h * p.out_w > kSmallImageMaxPixels &&
         !(p.stride_h == 1 && p.batch < kLanes);
}

}  // namespace

bool SparseForwardPoolFused(const Conv2DParams& p, const PatternLayout& L, const Conv2DParams& pool) {
  CheckLayout(p, L, "SparseForwardPoolFused");
  CheckPoolOfConv(p, pool);
  return pool.OutputSize() > 0 && PoolFusable(p, L, pool) &&
         (TinyImageSupported(p, L) ||
          RunForwardLanes(p, nullptr, L, Epilogue{}, nullptr, pool.filter_h, pool.filter_w, nullptr));
}

void SparseConv2DForwardMaxPool(const Conv2DParams& p, const float* x, const PatternLayout& L,
                                const Epilogue& ep, const Conv2DParams& pool, float* y) {
  CheckLayout(p, L, "SparseConv2DForwardMaxPool");
  CheckPoolOfConv(p, pool);
  if (pool.OutputSize() == 0) return;
  if (PoolFusable(p, L, pool)) {
    if (TinyImageSupported(p, L)) {
      SparseTinyImageForwardMaxPool(p, x, L, ep, pool, y);
      return;
    }
    if (RunForwardLanes(p, x, L, ep, nullptr, pool.filter_h, pool.filter_w, y)) return;
  }
  // Not fusable here: the conv into a per-thread buffer, then the pool.
  float* full = Scratch(6, static_cast<size_t>(p.OutputSize()));
  SparseConv2DForward(p, x, L, ep, full);
  MaxPoolForward(pool, full, y);
}

void SparseConv2DBackpropInput(const Conv2DParams& p, const float* dy, const PatternLayout& L,
                               float* dx) {
  CheckLayout(p, L, "SparseConv2DBackpropInput");
  if (p.InputSize() == 0) return;
  if (!L.transposed) throw std::invalid_argument("SparseConv2DBackpropInput: layout has no transposed companion");
  if (SparseRunsDense(p, L, SparsePass::kBackwardInput)) {
    Conv2DBackpropInput(p, dy, DenseWeights(L)->dense.data(), dx);
    return;
  }
  if (TinyImageSupported(p, L)) {
    SparseTinyImageBackpropInput(p, dy, L, dx);
    return;
  }
  const PatternLayout& T = *L.transposed;
  const IsaKernels& K = ActiveKernels();
  const int64_t pt = p.pad_top, pl = p.pad_left;
  if (p.stride_h == 1) {
    // Stride 1: a forward conv of dy with the rotated patterns, padding 2 - pad.
    if (p.batch < kLanes) {
      RunFlatPass(K, dy, p.batch, p.out_h, p.out_w, p.out_c, 2 - pt, 2 - pl, p.in_h, p.in_w, T, nullptr, dx);
      return;
    }
    const int shape = ChooseShape(p.in_h, p.in_w);
    const int64_t IHt = CeilDiv(p.in_h, kShapeRT[shape]) * kShapeRT[shape];
    const int64_t IWt = CeilDiv(p.in_w, kShapeWT[shape]) * kShapeWT[shape];
    const int64_t Hp = IHt + 2, Wp = IWt + 2;
    const LaneSource src{dy, p.out_h, p.out_w, p.out_c, 2 - pt, 2 - pl, Hp, Wp};
    std::vector<TapList> taps = FullTaps(T, Wp * kLanes);
    ConvPass cp;
    cp.src = &src;
    cp.S = 1;
    cp.shape = shape;
    cp.OH = p.in_h;
    cp.OW = p.in_w;
    cp.y = dx;
    cp.N = p.batch;
    cp.TH = p.in_h;
    cp.TW = p.in_w;
    cp.L = &T;
    cp.taps = taps.data();
    RunConvPass(K, cp);
    return;
  }
  // Stride 2: four phases by the parity of (dx row + pad_top, dx col + pad_left). In phase
  // (rh, rw) only taps with kh = rh (mod 2), kw = rw (mod 2) contribute, and dx row
  // 2a + rh - pad_top reads dy row a - (kh - rh)/2: a stride-1 conv with a 2x2 sub-pattern over
  // dy padded by 1 (sub-row 1 - (kh - rh)/2 reads padded row a + sub-row).
  struct Phase {
    int64_t lo, n;
  };
  auto phase_range = [](int64_t in, int64_t pad, int r) {
    Phase ph;
    ph.lo = CeilDivSigned(pad - r, 2);
    const int64_t hi = FloorDivSigned(in - 1 + pad - r, 2);
    ph.n = std::max<int64_t>(0, hi - ph.lo + 1);
    return ph;
  };
  Phase rows[2] = {phase_range(p.in_h, pt, 0), phase_range(p.in_h, pt, 1)};
  Phase cols[2] = {phase_range(p.in_w, pl, 0), phase_range(p.in_w, pl, 1)};
  const int shape = ChooseShape(std::max(rows[0].n, rows[1].n), std::max(cols[0].n, cols[1].n));
  const int RT = kShapeRT[shape], WT = kShapeWT[shape];
  int64_t Hp = 1, Wp = 1;
  for (int r = 0; r < 2; ++r) {
    Hp = std::max(Hp, CeilDiv(rows[r].n, RT) * RT + rows[r].lo + 1);
    Wp = std::max(Wp, CeilDiv(cols[r].n, WT) * WT + cols[r].lo + 1);
  }
  LaneImage D = BuildLaneImage(K, dy, p.batch, p.out_h, p.out_w, p.out_c, 1, 1, Hp, Wp, 1);
  const int64_t rs = Wp * kLanes;
  for (int rh = 0; rh < 2; ++rh)
    for (int rw = 0; rw < 2; ++rw) {
      if (rows[rh].n == 0 || cols[rw].n == 0) continue;
      std::vector<TapList> taps(T.patterns.size());
      for (size_t q = 0; q < T.patterns.size(); ++q) {
        int n = 0, rank = 0;
        for (int b = 0; b < 9; ++b) {
          if (!(T.patterns[q] >> b & 1)) continue;
          const int kh = 2 - b / 3, kw = 2 - b % 3;  // original (unrotated) tap
          if (kh % 2 == rh && kw % 2 == rw) {
            const int sh = 1 - (kh - rh) / 2, sw = 1 - (kw - rw) / 2;
            taps[q].vi[n] = rank;
            taps[q].off[n] = sh * rs + sw * kLanes;
            ++n;
          }
          ++rank;
        }
        taps[q].n = n;
      }
      ConvPass cp;
      cp.X = &D;
      cp.S = 1;
      cp.shape = shape;
      cp.OH = rows[rh].n;
      cp.OW = cols[rw].n;
      cp.row0 = rows[rh].lo;
      cp.col0 = cols[rw].lo;
      cp.y = dx;
      cp.N = p.batch;
      cp.TH = p.in_h;
      cp.TW = p.in_w;
      cp.os = 2;
      cp.oy0 = 2 * rows[rh].lo + rh - pt;
      cp.ox0 = 2 * cols[rw].lo + rw - pl;
      cp.L = &T;
      cp.taps = taps.data();
      RunConvPass(K, cp);
    }
}

// The gradient micro-kernel arguments every call of a backward-filter pass shares.
GradTileArgs GradArgs(const PatternLayout& L, const TapList* taps, int64_t plane, int64_t rs, int64_t dyrs,
                      float* gacc) {
  GradTileArgs a;
  a.plane = plane;
  a.rs = rs;
  a.dyrs = dyrs;
  a.taps = taps;
  a.gacc = gacc;
  a.vbase = 0;
  a.kic = L.kernel_ic.data();
  a.kpat = L.kernel_pattern.data();
  a.kvb = L.kernel_value_begin.data();
  return a;
}

// Runs slots s0, s0 + step, ... < s1 of every channel block over ng tiles (x at xs, dy at dys,
// dy channel planes of dyplane floats).
void GradBlocks(const PatternLayout& L, const BlockPlan& P, GradTileFn fn, GradTileArgs a, int64_t s0,
                int64_t s1, int64_t step, const float* const* xs, const float* const* dys, int ng,
                int64_t dyplane) {
  a.xs = xs;
  a.dys = dys;
  a.nt = ng;
  for (int64_t bi = 0; bi < P.nblk; ++bi)
    for (int64_t s = s0; s < s1; s += step) {
      const int32_t k0 = P.at(s, bi), k1 = P.at(s, bi + 1);
      if (k1 == k0) continue;
      a.korder = P.order.data() + k0;
      a.ents = P.Ents() ? P.Ents() + k0 : nullptr;
      a.nk = k1 - k0;
      a.dyoff = static_cast<int64_t>(L.filter_order[s]) * dyplane;
      fn(a);
    }
}

// The sum of one weight's 8 lane partial sums, in a fixed order.
inline float LaneSum(const float* g) { return ((g[0] + g[1]) + (g[2] + g[3])) + ((g[4] + g[5]) + (g[6] + g[7])); }

// Backward-filter with lane strips (as RunConvPassStrips): a unit is a band of tile rows of one
// lane group; it converts the x rows and the dy rows its tiles read into thread-local strips and
// runs every filter over them, adding into its part's own lane sums (8 per kept weight). The units
// are split into `parts` contiguous ranges (one per thread) whose sums are added in part order, so
// the result depends on the thread count only, never on scheduling. Neither lane image is written
// out whole, and each is read once instead of once per thread (each thread owned a share of the
// filters and swept all of both images).
void GradStrips(const IsaKernels& K, const Conv2DParams& p, const float* x, const BatchNormRows* x_bn,
                const float* dy, const PatternLayout& L, int shape, int64_t OHt, int64_t OWt, int64_t Wp,
                const TapList* taps, int64_t parts, float* out_values) {
  const int S = static_cast<int>(p.stride_h);
  const int RT = kShapeRT[shape], WT = kShapeWT[shape];
  const int64_t th = OHt / RT, tw = OWt / WT, nb = CeilDiv(p.batch, kLanes);
  const int64_t trs = StripTileRows(tw, RT, 1), bands = CeilDiv(th, trs), units = nb * bands;
  const int64_t Hp = (OHt - 1) * S + 3, rows_max = (trs * RT - 1) * S + 3;
  const int64_t rs = Wp * kLanes, plane = rows_max * rs;
  const int64_t dyrows = trs * RT, dyplane = dyrows * OWt * kLanes;
  const int64_t nv = L.NumValues(), TC = L.out_c;
  const std::shared_ptr<const BlockPlan> plan = CachedPlan(L, ChannelBlock(RT, WT, S), taps, plane);
  const BlockPlan& P = *plan;
  const GradTileFn fn = P.all4 ? K.grad4[shape][S - 1] : K.grad[shape][S - 1];
  float* sums = Scratch(3, static_cast<size_t>(parts * nv * kLanes));
  ParallelFor(parts, 1, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      float* gacc = sums + q * nv * kLanes;
      std::fill(gacc, gacc + nv * kLanes, 0.f);
      float* xstrip = Scratch(4, static_cast<size_t>(p.in_c * plane));
      float* dystrip = Scratch(5, static_cast<size_t>(TC * dyplane));
      const GradTileArgs a = GradArgs(L, taps, plane, rs, OWt * kLanes, gacc);
      for (int64_t u = units * q / parts, ue = units * (q + 1) / parts; u < ue; ++u) {
        const int64_t bb = u / bands, tr0 = u % bands * trs, tr1 = std::min(th, tr0 + trs);
        const int nl = static_cast<int>(std::min<int64_t>(kLanes, p.batch - bb * kLanes));
        const int64_t hs0 = tr0 * RT * S, nrows = std::min(Hp, (tr1 * RT - 1) * S + 3) - hs0;
        // Strip row i = padded x row hs0 + i; dy strip row i = dy row tr0 * RT + i (zeros past the
        // end, so tile overhang adds nothing).
        ToLanesThrough(K, x_bn, x, p.in_h, p.in_w, p.in_c, bb * kLanes, nl, p.pad_top - hs0, p.pad_left, rows_max,
                       Wp, 0, nrows, xstrip);
        K.to_lanes(dy, p.out_h, p.out_w, TC, bb * kLanes, nl, -tr0 * RT, 0, dyrows, OWt, 0, (tr1 - tr0) * RT,
                   dystrip);
        const int64_t count = (tr1 - tr0) * tw;
        for (int64_t c0 = 0; c0 < count; c0 += kTileGroup) {
          const int ng = static_cast<int>(std::min<int64_t>(kTileGroup, count - c0));
          const float* xs[kTileGroup];
          const float* dys[kTileGroup];
          for (int i = 0; i < ng; ++i) {
            const int64_t lr = (c0 + i) / tw, tc = (c0 + i) % tw;
            xs[i] = xstrip + (lr * RT * S * Wp + tc * WT * S) * kLanes;
            dys[i] = dystrip + (lr * RT * OWt + tc * WT) * kLanes;
          }
          GradBlocks(L, P, fn, a, 0, TC, 1, xs, dys, ng, dyplane);
        }
      }
    }
  });
  ParallelFor(nv, 4096, [&](int64_t v0, int64_t v1) {
    for (int64_t v = v0; v < v1; ++v) {
      float sum = 0.f;
      for (int64_t q = 0; q < parts; ++q) {
        const float part = LaneSum(sums + (q * nv + v) * kLanes);
        sum = q == 0 ? part : sum + part;
      }
      out_values[v] = sum;
    }
  });
}

void SparseConv2DBackpropFilter(const Conv2DParams& p, const float* x, const float* dy,
                                const PatternLayout& L, float* out_values, const BatchNormRows* x_bn) {
  CheckLayout(p, L, "SparseConv2DBackpropFilter");
  CheckInputBatchNorm(p, x_bn, "SparseConv2DBackpropFilter");
  const int64_t nv = L.NumValues();
  if (nv == 0) return;
  if (p.batch == 0 || p.out_h == 0 || p.out_w == 0) {
    std::fill(out_values, out_values + nv, 0.f);
    return;
  }
  if (SparseRunsDense(p, L, SparsePass::kBackwardFilter)) {
    thread_local std::vector<float> dw;
    dw.resize(static_cast<size_t>(9) * L.in_c * L.out_c);
    Conv2DBackpropFilter(p, BatchNormed(x_bn, x, p.batch * p.in_h * p.in_w), dy, dw.data());
    for (int64_t i = 0; i < nv; ++i) out_values[i] = dw[static_cast<size_t>(L.value_dense_index[i])];
    return;
  }
  if (TinyImageSupported(p, L)) {
    SparseTinyImageBackpropFilter(p, x, dy, L, out_values, x_bn);
    return;
  }
  const IsaKernels& K = ActiveKernels();
  const int S = static_cast<int>(p.stride_h);
  const int shape = ChooseShape(p.out_h, p.out_w);
  const int RT = kShapeRT[shape], WT = kShapeWT[shape];
  const int64_t OHt = CeilDiv(p.out_h, RT) * RT, OWt = CeilDiv(p.out_w, WT) * WT;
  const int64_t Hp = (OHt - 1) * S + 3, Wp = (OWt - 1) * S + 3;
  {
    // Strips when there are bands for every thread and a part's lane sums stay within 4 MiB. (A
    // unit touches a (filter, channel block)'s sums at a time, so they need not fit L2: at 1 MiB,
    // 16x16x128 with no connectivity pruning (2 MiB) took the whole-image path below, 1.3x slower
    // at batch 32 and 128.)
    const int64_t parts = std::max<int64_t>(1, NumThreads());
    const int64_t bands = CeilDiv(p.batch, kLanes) * CeilDiv(OHt / RT, StripTileRows(OWt / WT, RT, 1));
    if (bands >= 4 * parts && nv * kLanes * 4 <= (int64_t{4} << 20)) {
      const std::vector<TapList> taps = FullTaps(L, Wp * kLanes);
      GradStrips(K, p, x, x_bn, dy, L, shape, OHt, OWt, Wp, taps.data(), parts, out_values);
      return;
    }
  }
  LaneImage X = BuildLaneImage(K, BatchNormed(x_bn, x, p.batch * p.in_h * p.in_w), p.batch, p.in_h, p.in_w,
                               p.in_c, p.pad_top, p.pad_left, Hp, Wp, 1);
  // dy lane image padded with zeros up to whole tiles, so tile overhang adds nothing.
  LaneImage D = BuildLaneImage(K, dy, p.batch, p.out_h, p.out_w, p.out_c, 0, 0, OHt, OWt, 2);
  std::vector<TapList> taps = FullTaps(L, Wp * kLanes);
  float* gacc = Scratch(3, static_cast<size_t>(nv * kLanes));
  std::fill(gacc, gacc + nv * kLanes, 0.f);
  const int64_t TC = L.out_c;
  const int64_t nt = std::max<int64_t>(1, std::min<int64_t>(NumThreads(), TC));
  const int64_t th = OHt / RT, tw = OWt / WT;
  const std::shared_ptr<const BlockPlan> plan = CachedPlan(L, ChannelBlock(RT, WT, S), taps.data(), X.Plane());
  const BlockPlan& P = *plan;
  const GradTileFn fn = P.all4 ? K.grad4[shape][S - 1] : K.grad[shape][S - 1];
  const int64_t tiles = X.nb * th * tw;
  // Thread t owns slots t, t+nt, ...: slots are sorted by kept-kernel count (the reorder), so the
  // round-robin split is balanced and no two threads touch the same gradient.
  ParallelFor(nt, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const GradTileArgs a = GradArgs(L, taps.data(), X.Plane(), Wp * kLanes, OWt * kLanes, gacc);
      // This thread's slots in groups whose partial sums (8 lanes per kept weight) fit in
      // ~128 KiB of L2; each group sweeps the tiles once, 8 neighbouring tiles at a time: for
      // every (block, filter) the 8 tiles run back to back, so the filter's indices are reused
      // from L1 and the x windows of the block are shared by the group's filters.
      int64_t g0 = t;
      while (g0 < TC) {
        int64_t g1 = g0, bytes = 0;
        while (g1 < TC) {
          const int64_t nvs = L.kernel_value_begin[L.filter_kernel_begin[g1 + 1]] -
                              L.kernel_value_begin[L.filter_kernel_begin[g1]];
          if (g1 > g0 && bytes + nvs * kLanes * 4 > 131072) break;
          bytes += nvs * kLanes * 4;
          g1 += nt;
        }
        for (int64_t tg = 0; tg < tiles; tg += kTileGroup) {
          const int ng = static_cast<int>(std::min<int64_t>(kTileGroup, tiles - tg));
          const float* xs[kTileGroup];
          const float* dys[kTileGroup];
          for (int i = 0; i < ng; ++i) {
            const int64_t tile = tg + i, bb = tile / (th * tw);
            const int64_t o_r0 = (tile / tw) % th * RT, o_c0 = tile % tw * WT;
            xs[i] = X.data + bb * X.BStride() + ((o_r0 * S) * Wp + o_c0 * S) * kLanes;
            dys[i] = D.data + bb * D.BStride() + (o_r0 * OWt + o_c0) * kLanes;
          }
          GradBlocks(L, P, fn, a, g0, g1, nt, xs, dys, ng, D.Plane());
        }
        g0 = g1;
      }
      for (int64_t s = t; s < TC; s += nt) {
        const int64_t v0 = L.kernel_value_begin[L.filter_kernel_begin[s]];
        const int64_t v1 = L.kernel_value_begin[L.filter_kernel_begin[s + 1]];
        for (int64_t v = v0; v < v1; ++v) out_values[v] = LaneSum(gacc + v * kLanes);
      }
    }
  });
}

namespace {

// A batch norm's gradient as dy: the same channels as the conv's output.
void CheckGradDy(const Conv2DParams& p, const BatchNormGradDx& dy, const char* who) {
  if (dy.channels() != p.out_c)
    throw std::invalid_argument(std::string(who) + ": the batch norm gradient's channels must be out_c");
}

// The tiny-image kernels of `pass` run this call (they read dy's rows as they convert them).
bool TinyReadsDyRows(const Conv2DParams& p, const PatternLayout& L, SparsePass pass) {
  return TinyImageSupported(p, L) && (pass != SparsePass::kBackwardInput || L.transposed) &&
         !SparseRunsDense(p, L, pass);
}

// dy written whole, for the paths that read it in place.
std::vector<float> WholeDy(const Conv2DParams& p, const BatchNormGradDx& dy) {
  const int64_t rows = p.batch * p.out_h * p.out_w;
  std::vector<float> d(static_cast<size_t>(rows * p.out_c));
  dy.All(rows, d.data());
  return d;
}

}  // namespace

bool SparseReadsDyRows(const Conv2DParams& p, const PatternLayout& L) {
  return TinyReadsDyRows(p, L, SparsePass::kBackwardInput) && TinyReadsDyRows(p, L, SparsePass::kBackwardFilter);
}

void SparseConv2DBackpropInput(const Conv2DParams& p, const BatchNormGradDx& dy, const PatternLayout& L,
                               float* dx) {
  CheckLayout(p, L, "SparseConv2DBackpropInput");
  CheckGradDy(p, dy, "SparseConv2DBackpropInput");
  if (p.InputSize() == 0) return;
  if (TinyReadsDyRows(p, L, SparsePass::kBackwardInput)) {
    SparseTinyImageBackpropInput(p, nullptr, L, dx, &dy);
    return;
  }
  const std::vector<float> d = WholeDy(p, dy);
  SparseConv2DBackpropInput(p, d.data(), L, dx);
}

void SparseConv2DBackpropFilter(const Conv2DParams& p, const float* x, const BatchNormGradDx& dy,
                                const PatternLayout& L, float* out_values, const BatchNormRows* x_bn) {
  CheckLayout(p, L, "SparseConv2DBackpropFilter");
  CheckInputBatchNorm(p, x_bn, "SparseConv2DBackpropFilter");
  CheckGradDy(p, dy, "SparseConv2DBackpropFilter");
  if (L.NumValues() > 0 && p.batch > 0 && TinyReadsDyRows(p, L, SparsePass::kBackwardFilter)) {
    SparseTinyImageBackpropFilter(p, x, nullptr, L, out_values, x_bn, &dy);
    return;
  }
  const std::vector<float> d = WholeDy(p, dy);
  SparseConv2DBackpropFilter(p, x, d.data(), L, out_values, x_bn);
}

void SparseConv2DBackpropFilterDense(const Conv2DParams& p, const float* x, const float* dy,
                                     const PatternLayout& L, float* dfilter) {
  thread_local std::vector<float> g;  // grows only: no allocation per training step
  g.resize(static_cast<size_t>(L.NumValues()));
  SparseConv2DBackpropFilter(p, x, dy, L, g.data());
  ScatterPackedToDense(L, g.data(), dfilter);
}

}  // namespace clicktrain
