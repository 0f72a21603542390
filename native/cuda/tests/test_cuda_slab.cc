// Host-side test of the filter-slab sparse path (runs without nvcc or a GPU): plan, schedule and
// records are checked by emulating the CUDA kernel block by block on the CPU - the same staging
// offsets (WarpTile / SlabWholeOffset), the same per-lane patch, the same SlabChannel arithmetic from
// sparse_slab_lane.h, the same channel splits and output mapping - against a float64 convolution of
// the masked weights, for forward and for backward-data (the transposed, rotated layout). Staged
// memory is NaN before each chunk, so a lane reading a position staging did not write fails.
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "cuda/slab_schedule.h"
#include "cuda/sparse_slab_lane.h"
#include "layout_fixture.h"

using namespace clicktrain;
using namespace clicktrain::cuda;
using namespace clicktrain_test;

namespace {

struct Geo {
  int n, h, w, c, oh, ow, oc, pt, pl;
};

// Reads the warp's records of the chunk from its staged copy (k0: the chunk's first record).
struct HostRecordLoader {
  const std::vector<float>* rec;
  int k0;
  SlabRecord operator()(int k) const {
    const float* r = rec->data() + size_t(k - k0) * kSlabRecordFloats;
    SlabRecord out;
    std::memcpy(&out.mask, r + 3, sizeof(out.mask));
    for (int pos = 0; pos < 9; ++pos) out.w[pos] = r[(pos / 3) * 4 + pos % 3];
    return out;
  }
};

float At(const Geo& g, const std::vector<float>& x, int b, int ih, int iw, int ch) {
  if (b >= g.n || ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) return 0.f;
  return x[((size_t(b) * g.h + ih) * g.w + iw) * g.c + ch];
}

// One block of the kernel: stage each chunk, run every lane of every warp over it, write the outputs.
// With dy (backward filter): the lanes hold dy of their pixels and add their weight-gradient shares
// into dw instead.
template <class Sh, bool kHalo>
void EmulateBlock(const Geo& g, const SlabPlan& P, const SlabSchedule& s, const std::vector<float>& rec,
                  const std::vector<float>& x, int64_t tile, int sblock, int split, std::vector<float>* y,
                  const std::vector<float>* dy = nullptr) {
  const WarpTile& T = P.wtile;
  int b0 = 0, oh0 = 0, ow0 = 0;
  if (kHalo) {
    const int tw_i = int(tile % T.tiles_w), t2 = int(tile / T.tiles_w);
    b0 = (t2 / T.tiles_h) * T.tb;
    oh0 = (t2 % T.tiles_h) * T.th;
    ow0 = tw_i * T.tw;
  } else {
    b0 = int(tile) * 32 * Sh::LB;
  }
  const int c_begin = split * P.split_channels, c_end = std::min(g.c, c_begin + P.split_channels);
  std::vector<float> xs(size_t(P.chunk) * P.chan_stride);
  constexpr size_t kAcc = sizeof(typename Sh::Acc) / sizeof(float);  // outputs of one slot of one lane
  std::vector<float> acc(size_t(P.warps) * 32 * kSlabFilters * kAcc, 0.f);
  auto lane_acc = [&](int wp, int lane) {
    return reinterpret_cast<typename Sh::Acc(*)[kSlabFilters]>(acc.data() + (size_t(wp) * 32 + lane) * kSlabFilters * kAcc);
  };
  // The output pixel of a lane's element (b, i, j); false outside the output.
  auto pixel = [&](int lane, int b, int i, int j, int* bb, int* oh, int* ow) {
    *bb = kHalo ? b0 + T.LaneB(lane) : b0 + lane * Sh::LB + b;
    *oh = kHalo ? oh0 + 2 * T.LaneH(lane) + i : i;
    *ow = kHalo ? ow0 + T.LaneW(lane) * Sh::OW + j : j;
    return *bb < g.n && *oh < g.oh && *ow < g.ow;
  };
  if (dy) {  // backward filter: acc holds the lanes' dy
    for (int wp = 0; wp < P.warps; ++wp)
      for (int lane = 0; lane < 32; ++lane)
        for (int sl = 0; sl < kSlabFilters; ++sl)
          for (int b = 0; b < Sh::LB; ++b)
            for (int i = 0; i < Sh::OH; ++i)
              for (int j = 0; j < Sh::OW; ++j) {
                int bb, oh, ow;
                const int oc = (sblock * P.warps + wp) * kSlabFilters + sl;
                (*lane_acc(wp, lane))[sl][b][i][j] =
                    pixel(lane, b, i, j, &bb, &oh, &ow) && oc < g.oc ? (*dy)[((size_t(bb) * g.oh + oh) * g.ow + ow) * g.oc + oc] : 0.f;
              }
  }
  std::vector<int> k(size_t(P.warps));
  for (int wp = 0; wp < P.warps; ++wp) {
    const int slab = sblock * P.warps + wp;
    k[size_t(wp)] = slab < s.num_slabs ? s.rec_start[size_t(slab) * g.c + c_begin] : 0;
  }
  std::vector<float> staged(size_t(P.rec_floats_per_warp));
  for (int cbase = c_begin; cbase < c_end; cbase += P.chunk) {
    const int cn = std::min(P.chunk, c_end - cbase);
    std::fill(xs.begin(), xs.end(), std::numeric_limits<float>::quiet_NaN());
    for (int cl = 0; cl < cn; ++cl) {
      float* xc = xs.data() + size_t(cl) * P.chan_stride;
      if (kHalo) {
        for (int bb = 0; bb < T.tb; ++bb)
          for (int r = 0; r < T.th + 2; ++r)
            for (int col = 0; col < T.tw + 2; ++col)
              xc[T.Offset(bb, r, col)] = At(g, x, b0 + bb, oh0 - g.pt + r, ow0 - g.pl + col, cbase + cl);
      } else {
        const int pix = g.h * g.w;
        for (int bi = 0; bi < 32 * Sh::LB; ++bi)
          for (int p = 0; p < pix; ++p)
            xc[SlabWholeOffset(bi / Sh::LB, bi % Sh::LB, p, pix)] = At(g, x, b0 + bi, p / g.w, p % g.w, cbase + cl);
      }
    }
    for (int wp = 0; wp < P.warps; ++wp) {
      const int slab = sblock * P.warps + wp;
      if (slab >= s.num_slabs) continue;
      // the warp's records of this chunk, staged into its NaN-poisoned region
      const int k0 = k[size_t(wp)], kend = s.rec_start[size_t(slab) * g.c + cbase + cn];
      if ((kend - k0 + 1) * kSlabRecordFloats > P.rec_floats_per_warp) throw std::runtime_error("records exceed the plan");
      std::fill(staged.begin(), staged.end(), std::numeric_limits<float>::quiet_NaN());
      std::copy(rec.begin() + int64_t(k0) * kSlabRecordFloats, rec.begin() + int64_t(kend) * kSlabRecordFloats, staged.begin());
      const HostRecordLoader load{&staged, k0};
      for (int cl = 0; cl < cn; ++cl) {
        const uint32_t bits = s.bits[size_t(slab) * g.c + cbase + cl];
        if (!bits) continue;
        int kw = 0;
        for (int lane = 0; lane < 32; ++lane) {
          typename Sh::Patch xp;
          const float* xc = xs.data() + size_t(cl) * P.chan_stride;
          for (int b = 0; b < Sh::LB; ++b)
            for (int r = 0; r < Sh::PR; ++r)
              for (int col = 0; col < Sh::PC; ++col)
                xp[b][r][col] = kHalo ? xc[T.LaneRow(lane, r) + col]
                                      : xc[lane * kSlabWholeLaneStride + (b * Sh::PR + r) * Sh::PC + col];
          kw = k[size_t(wp)];  // every lane walks the same records
          SlabRecord next = load(kw);
          if (dy) {
            const int c = cbase + cl;
            SlabGradChannel<Sh>(bits, xp, *lane_acc(wp, lane), kw, next, load, [&](int slot, int pos, float v) {
              (*y)[(size_t(pos) * g.c + c) * g.oc + slab * kSlabFilters + slot] += v;
            });
          } else {
            SlabChannel<Sh>(bits, xp, kw, next, load, *lane_acc(wp, lane));
          }
        }
        k[size_t(wp)] = kw;
      }
    }
  }
  if (dy) return;
  for (int wp = 0; wp < P.warps; ++wp) {
    const int slab = sblock * P.warps + wp;
    if (slab >= s.num_slabs) continue;
    for (int lane = 0; lane < 32; ++lane)
      for (int b = 0; b < Sh::LB; ++b)
        for (int i = 0; i < Sh::OH; ++i)
          for (int j = 0; j < Sh::OW; ++j) {
            int bb, oh, ow;
            if (!pixel(lane, b, i, j, &bb, &oh, &ow)) continue;
            for (int sl = 0; sl < kSlabFilters; ++sl) {
              const int oc = slab * kSlabFilters + sl;
              if (oc >= g.oc) break;
              float& out = (*y)[((size_t(bb) * g.oh + oh) * g.ow + ow) * g.oc + oc];
              const float v = (*lane_acc(wp, lane))[sl][b][i][j];
              out = P.splits > 1 ? out + v : v;
            }
          }
  }
}

// The whole grid; with dy, the backward filter (dense HWIO gradient, zeros where nothing is kept).
std::vector<float> EmulateSlab(const Geo& g, const SlabPlan& P, const SlabSchedule& s, const std::vector<float>& rec,
                               const std::vector<float>& x, const std::vector<float>* dy = nullptr) {
  std::vector<float> y(dy ? size_t(9) * g.c * g.oc : size_t(g.n) * g.oh * g.ow * g.oc,
                       dy || P.splits > 1 ? 0.f : std::numeric_limits<float>::quiet_NaN());
  for (int64_t t = 0; t < P.tiles; ++t)
    for (int sb = 0; sb < P.slab_blocks; ++sb)
      for (int z = 0; z < P.splits; ++z) {
        if (P.kind == SlabKind::kHalo) EmulateBlock<SlabHaloShape, true>(g, P, s, rec, x, t, sb, z, &y, dy);
        else if (P.kind == SlabKind::kHalo4) EmulateBlock<SlabHalo4Shape, true>(g, P, s, rec, x, t, sb, z, &y, dy);
        else if (P.kind == SlabKind::kWhole4) EmulateBlock<SlabWhole4Shape, false>(g, P, s, rec, x, t, sb, z, &y, dy);
        else EmulateBlock<SlabWhole2Shape, false>(g, P, s, rec, x, t, sb, z, &y, dy);
      }
  return y;
}

// A stride-1 3x3 conv of the requested kind with random extents around it.
Conv2DParams RandomSlabParams(SlabKind kind) {
  Conv2DParams p;
  p.filter_h = p.filter_w = 3;
  p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
  p.in_c = RandInt(0, 2) == 0 ? RandInt(1, 9) : RandInt(10, 75);
  p.out_c = RandInt(0, 2) == 0 ? RandInt(1, 12) : RandInt(13, 70);
  if (kind == SlabKind::kHalo4) {
    p.batch = RandInt(1, 3);
    p.pad_top = RandInt(0, 1); p.pad_left = RandInt(0, 1);
    const int pb = RandInt(0, 2), pr = RandInt(0, 2);
    p.in_h = RandInt(std::max(1, int(3 - p.pad_top - pb)), 19);
    p.in_w = RandInt(std::max(1, int(10 - p.pad_left - pr)), 40);
    p.out_h = p.in_h + p.pad_top + pb - 2;
    p.out_w = p.in_w + p.pad_left + pr - 2;
  } else {
    const int hw = kind == SlabKind::kWhole4 ? 4 : 2;
    p.batch = kind == SlabKind::kWhole4 ? RandInt(1, 40) : RandInt(1, 140);
    p.in_h = p.in_w = p.out_h = p.out_w = hw;
    p.pad_top = p.pad_left = 1;
  }
  return p;
}

}  // namespace

int main() {
  Runner r;
  const SlabKind kinds[] = {SlabKind::kHalo4, SlabKind::kWhole4, SlabKind::kWhole2};
  int split_cases = 0, whole_cases = 0, small_chunks = 0, halo8_cases = 0;
  for (int it = 0; it < 60; ++it) {
    const SlabKind want = kinds[it % 3];
    const Conv2DParams p = RandomSlabParams(want);
    const int taps = RandInt(0, 3) == 0 ? 0 : 4;
    const double keep = std::vector<double>{0.0, 0.25, 0.5, 1.0}[size_t(RandInt(0, 3))];
    const PatternLayout l = HandLayout(RandomMasks(int(p.in_c), int(p.out_c), keep, RandInt(1, 12), taps),
                                       int(p.in_c), int(p.out_c));
    const std::vector<float> w = DenseFromLayout(l);
    const int num_sms = RandInt(0, 1) ? 1 : 132;  // 132: small grids split their channels
    std::string tag = " it=" + std::to_string(it) + " n=" + std::to_string(p.batch) + " h=" + std::to_string(p.in_h) +
                            " w=" + std::to_string(p.in_w) + " c=" + std::to_string(p.in_c) + " oc=" +
                            std::to_string(p.out_c) + " pad=" + std::to_string(p.pad_top) + "," + std::to_string(p.pad_left) +
                            " keep=" + std::to_string(keep) + " taps=" + std::to_string(taps) + " sms=" + std::to_string(num_sms);
    // forward
    const Geo g{int(p.batch), int(p.in_h), int(p.in_w), int(p.in_c), int(p.out_h), int(p.out_w), int(p.out_c),
                int(p.pad_top), int(p.pad_left)};
    const int warps = RandInt(0, 2) == 0 ? RandInt(1, kSlabWarps) : kSlabWarps;
    tag += " warps=" + std::to_string(warps);
    // 96 KiB, or a small budget so the chunk shrinks to make the records fit
    const int smem = RandInt(0, 3) == 0 ? 6000 : kTiledSmemFloats;
    tag += " smem=" + std::to_string(smem);
    const SlabSchedule fs = BuildSlabSchedule(l.out_c, l.in_c, l.filter_order, ForwardKernelRefs(l));
    // half the time a forced kind: kHalo (2 x 8 lanes) on wide maps, kHalo4 on 4x4 maps
    const SlabKind force = !RandInt(0, 1) ? SlabKind::kNone
                           : g.ow >= 8    ? SlabKind::kHalo
                           : g.ow >= 4    ? SlabKind::kHalo4
                                          : SlabKind::kNone;
    if (force != SlabKind::kNone) tag += " forced kind " + std::to_string(int(force));
    const SlabPlan fp = PlanSlab(g.n, g.h, g.w, g.c, g.oh, g.ow, g.oc, g.pt, g.pl, fs, num_sms, smem, 2 * smem, warps, 1, force);
    if (force != SlabKind::kNone) {
      r.Check(fp.kind == force || (fp.kind == SlabKind::kNone && smem < kTiledSmemFloats), "plan takes the forced kind" + tag);
      if (fp.kind != force) continue;
    } else
    r.Check(fp.kind == want || (fp.kind == SlabKind::kNone && smem < kTiledSmemFloats), "plan picks the expected slab kind" + tag);
    if (fp.kind != want && force == SlabKind::kNone) continue;
    halo8_cases += fp.kind == SlabKind::kHalo;
    r.Check(fp.chunk >= 1 && fp.chunk <= 32 && fp.SmemFloats() <= smem && fp.split_channels % fp.chunk == 0 &&
                int64_t(fp.splits - 1) * fp.split_channels < g.c,
            "plan within shared memory, splits cover the channels" + tag);
    split_cases += fp.splits > 1;
    whole_cases += fp.kind == SlabKind::kWhole4 || fp.kind == SlabKind::kWhole2;
    small_chunks += fp.chunk < std::min(g.c, 16);
    r.Check(fs.NumRecords() == int64_t(l.kernel_ic.size()), "one record per kept kernel" + tag);
    const auto x = RandomVector(size_t(p.InputSize()));
    const std::vector<float> frec = GatherSlabRecords(l.values, fs);
    const auto y = EmulateSlab(g, fp, fs, frec, x);
    r.CheckClose(MaxRelError(y, RefForward(p, x, w)), 1e-5, "slab forward emulation" + tag);
    // backward filter on the forward's schedule and plan: the kept positions' gradient, zeros elsewhere
    {
      const auto gy = RandomVector(size_t(p.OutputSize()));
      const auto ref = RefBackpropFilter(p, x, gy);
      std::vector<double> masked(ref.size(), 0.0);
      for (int32_t di : l.value_dense_index) masked[size_t(di)] = ref[size_t(di)];
      r.CheckClose(MaxRelError(EmulateSlab(g, fp, fs, frec, x, &gy), masked), 1e-5, "slab backprop-filter emulation" + tag);
    }
    // backward data: forward of dy over the transposed geometry with the rotated transposed layout
    const Geo t{g.n, g.oh, g.ow, g.oc, g.h, g.w, g.c, 2 - g.pt, 2 - g.pl};
    std::vector<int32_t> order;
    const std::vector<KernelRef> brefs = BackwardDataKernelRefs(l, &order);
    const SlabSchedule bs = BuildSlabSchedule(l.in_c, l.out_c, order, brefs);
    const SlabPlan bp = PlanSlab(t.n, t.h, t.w, t.c, t.oh, t.ow, t.oc, t.pt, t.pl, bs, num_sms, smem, 2 * smem, warps, 1,
                                 t.ow >= 4 ? force : SlabKind::kNone);
    if (bp.kind == SlabKind::kNone) continue;  // e.g. a valid-padded input narrower than 8
    const auto dy = RandomVector(size_t(p.OutputSize()));
    const auto dx = EmulateSlab(t, bp, bs, GatherSlabRecords(l.values, bs), dy);
    r.CheckClose(MaxRelError(dx, RefBackpropInput(p, dy, w)), 1e-5, "slab backprop-input emulation" + tag);
  }
  r.Check(split_cases > 0 && whole_cases > 0 && small_chunks > 0 && halo8_cases > 0,
          "split, whole-image, 2 x 8 halo and shrunk-chunk plans were exercised");
  // Bad schedules are refused.
  {
    const PatternLayout l = HandLayout(RandomMasks(5, 9, 1.0, 3, 4), 5, 9);
    std::vector<KernelRef> refs = ForwardKernelRefs(l);
    refs.push_back(refs.front());
    r.ExpectThrow([&] { BuildSlabSchedule(9, 5, l.filter_order, refs); }, "a duplicate (filter, channel) kernel");
    std::vector<int32_t> bad = l.filter_order;
    bad[0] = 9;
    r.ExpectThrow([&] { BuildSlabSchedule(9, 5, bad, ForwardKernelRefs(l)); }, "an output channel out of range");
    r.Check(SlabKindFor(5, 5, 5, 5, 1, 1) == SlabKind::kNone, "maps narrower than 8 use the tiled kernel");
    r.Check(PlanSlab(2, 8, 8, 9, 8, 8, 5, 1, 1, BuildSlabSchedule(9, 5, l.filter_order, ForwardKernelRefs(l)), 132,
                     kTiledSmemFloats, 2 * kTiledSmemFloats).kind == SlabKind::kNone, "a schedule of other channel counts gets no plan");
  }
  std::printf("slab cases with split channels: %d, whole-image: %d, 2 x 8 halo: %d, shrunk chunk: %d\n", split_cases,
              whole_cases, halo8_cases, small_chunks);
  return r.Finish();
}
