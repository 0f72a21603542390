// Host-side tests of the CUDA planning code (runs without nvcc or a GPU): pixel tiles, channel chunks,
// and the sparse device schedules, checked by emulating on the CPU exactly what the CUDA kernels do
// with them (same loops over segments/groups/units, same tap offsets in the staged window) against a
// float64 convolution of the masked weights.
#include <cstdio>
#include <set>

#include "cuda/conv_plan.h"
#include "layout_fixture.h"

using namespace clicktrain;
using namespace clicktrain::cuda;
using namespace clicktrain_test;

namespace {

// Staged-window value the kernels would read: x at the window position of a tile, zero outside.
struct Geo {
  int64_t n, h, w, c, oh, ow, sh, sw, dh, dw, pt, pl;
};

// Forward kernel emulation: for every tile pixel and filter, walk seg -> groups -> kernels -> taps.
std::vector<float> EmulateForward(const Geo& g, int out_c, const GroupedSchedule& s,
                                  const std::vector<float>& dev_values, const std::vector<float>& x) {
  std::vector<float> y(size_t(g.n * g.oh * g.ow * out_c), std::nanf(""));
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t oh = 0; oh < g.oh; ++oh)
      for (int64_t ow = 0; ow < g.ow; ++ow)
        for (int f = 0; f < s.num_filters; ++f) {
          float acc = 0.f;
          for (int c = 0; c < s.num_chunks; ++c) {
            const int seg = f * s.num_chunks + c;
            for (int gi = s.seg_group[seg]; gi < s.seg_group[seg + 1]; ++gi) {
              const uint16_t mask = s.group_mask[gi];
              for (int k = s.group_kernel[gi]; k < s.group_kernel[gi + 1]; ++k) {
                int t = 0;
                for (int bit = 0; bit < 9; ++bit) {
                  if (!(mask & (1u << bit))) continue;
                  const int64_t ih = oh * g.sh - g.pt + (bit / 3) * g.dh, iw = ow * g.sw - g.pl + (bit % 3) * g.dw;
                  const float v = dev_values[size_t(s.kernel_value[k] + t++)];
                  if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
                    acc += v * x[size_t(((b * g.h + ih) * g.w + iw) * g.c + s.kernel_channel[k])];
                }
              }
            }
          }
          y[size_t(((b * g.oh + oh) * g.ow + ow) * out_c + s.filter_out[f])] = acc;
        }
  return y;
}

// Gradient of one tap (bit = kh * 3 + kw) of kernel (channel, oc): sum over output pixels of x * dy.
double TapGradient(const Conv2DParams& p, const std::vector<float>& x, const std::vector<float>& dy, int bit,
                   int64_t channel, int64_t oc) {
  double sum = 0;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        const int64_t ih = oh * p.stride_h - p.pad_top + (bit / 3) * p.dilation_h;
        const int64_t iw = ow * p.stride_w - p.pad_left + (bit % 3) * p.dilation_w;
        if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) continue;
        sum += double(x[size_t(((b * p.in_h + ih) * p.in_w + iw) * p.in_c + channel)]) *
               dy[size_t(((b * p.out_h + oh) * p.out_w + ow) * p.out_c + oc)];
      }
  return sum;
}

std::vector<float> EmulateBackpropFilter(const Conv2DParams& p, const BlockSchedule& s, const std::vector<float>& x,
                                         const std::vector<float>& dy) {
  std::vector<float> dw(size_t(p.FilterSize()), 0.f);
  for (int blk = 0; blk < s.num_blocks; ++blk)
    for (int c = 0; c < s.num_chunks; ++c) {
      const int seg = blk * s.num_chunks + c;
      std::vector<float> acc(size_t(s.seg_slot[seg + 1] - s.seg_slot[seg]), 0.f);
      for (int u = s.seg_unit[seg]; u < s.seg_unit[seg + 1]; ++u) {
        const uint16_t mask = s.unit_mask[u];
        for (int k = s.unit_kernel[u]; k < s.unit_kernel[u + 1]; ++k) {
          const int oc = s.block_filter_out[size_t(blk * s.filters_per_block + s.kernel_filter[k])];
          int t = 0;
          for (int bit = 0; bit < 9; ++bit) {
            if (!(mask & (1u << bit))) continue;
            const double sum = TapGradient(p, x, dy, bit, s.kernel_channel[k], oc);
            acc[size_t(s.kernel_slot[k] + t++)] += float(sum);
          }
        }
      }
      for (size_t i = 0; i < acc.size(); ++i) dw[size_t(s.slot_out[size_t(s.seg_slot[seg]) + i])] += acc[i];
    }
  return dw;
}

// Tiled stride-1 forward emulation (sparse_forward_tiled.cu): same tile origin, lane grid, skewed
// staging offsets and per-lane 2 x tw_t accumulators; unstaged shared memory is NaN so a read outside
// the staged window shows.
std::vector<float> EmulateTiledForward(const Geo& g, int out_c, const WarpTile& T, const GroupedSchedule& s,
                                       const std::vector<float>& vals, const std::vector<float>& x) {
  std::vector<float> y(size_t(g.n * g.oh * g.ow * out_c), std::nanf(""));
  std::vector<float> xs(size_t(s.chunk) * T.chan_stride);
  const int tw_t = T.tw_t;
  for (int64_t tile = 0; tile < T.NumTiles(); ++tile) {
    const int tw_i = int(tile % T.tiles_w), t2 = int(tile / T.tiles_w);
    const int b0 = (t2 / T.tiles_h) * T.tb, oh0 = (t2 % T.tiles_h) * T.th, ow0 = tw_i * T.tw;
    std::vector<float> acc(size_t(s.num_filters) * 32 * 2 * tw_t, 0.f);
    for (int c = 0; c < s.num_chunks; ++c) {
      const int cbase = c * s.chunk, cn = std::min<int>(s.chunk, int(g.c) - cbase);
      std::fill(xs.begin(), xs.end(), std::nanf(""));
      for (int ci = 0; ci < cn; ++ci)
        for (int bb = 0; bb < T.tb; ++bb)
          for (int r = 0; r < T.th + 2; ++r)
            for (int col = 0; col < T.tw + 2; ++col) {
              const int64_t b = b0 + bb, ih = oh0 - g.pt + r, iw = ow0 - g.pl + col;
              const bool in = b < g.n && ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
              xs[size_t(ci * T.chan_stride + T.Offset(bb, r, col))] =
                  in ? x[size_t(((b * g.h + ih) * g.w + iw) * g.c + cbase + ci)] : 0.f;
            }
      for (int f = 0; f < s.num_filters; ++f)
        for (int lane = 0; lane < 32; ++lane) {
          const int rowoff[4] = {T.LaneRow(lane, 0), T.LaneRow(lane, 1), T.LaneRow(lane, 2), T.LaneRow(lane, 3)};
          float* a = &acc[(size_t(f) * 32 + lane) * 2 * tw_t];
          const int seg = f * s.num_chunks + c;
          for (int gi = s.seg_group[seg]; gi < s.seg_group[seg + 1]; ++gi)
            for (int k = s.group_kernel[gi]; k < s.group_kernel[gi + 1]; ++k) {
              int t = 0;
              for (int bit = 0; bit < 9; ++bit) {
                if (!(s.group_mask[gi] & (1u << bit))) continue;
                const float w = vals[size_t(s.kernel_value[k] + t++)];
                for (int i = 0; i < 2; ++i)
                  for (int j = 0; j < tw_t; ++j)
                    a[i * tw_t + j] += w * xs[size_t((s.kernel_channel[k] - cbase) * T.chan_stride + rowoff[i + bit / 3] + bit % 3 + j)];
              }
            }
        }
    }
    for (int f = 0; f < s.num_filters; ++f)
      for (int lane = 0; lane < 32; ++lane) {
        const int lw = T.LaneW(lane), lh = T.LaneH(lane), lb = T.LaneB(lane);
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < tw_t; ++j) {
            const int64_t b = b0 + lb, oh = oh0 + 2 * lh + i, ow = ow0 + lw * tw_t + j;
            if (b < g.n && oh < g.oh && ow < g.ow)
              y[size_t(((b * g.oh + oh) * g.ow + ow) * out_c + s.filter_out[size_t(f)])] =
                  acc[(size_t(f) * 32 + lane) * 2 * tw_t + size_t(i * tw_t + j)];
          }
      }
  }
  return y;
}

std::vector<float> Gather(const std::vector<float>& src, const std::vector<int64_t>& idx) {
  return GatherScheduleValues(src, idx);
}

}  // namespace

int main() {
  Runner r;
  // Pixel tiles: 64 pixels, windows cover the filter reach, odd channel stride, tiles cover the output.
  for (int it = 0; it < 200; ++it) {
    const int64_t b = RandInt(1, 130), oh = RandInt(1, 70), ow = RandInt(1, 70);
    const int sh = RandInt(1, 3), sw = RandInt(1, 3), dh = RandInt(1, 2), dw = RandInt(1, 2);
    const PixelTile t = PlanPixelTile(b, oh, ow, sh, sw, dh, dw, 3, 3);
    bool ok = t.tb * t.th * t.tw == kTilePixels && t.chan_stride % 2 == 1 &&
              t.chan_stride >= t.tb * t.in_rows * t.in_cols && t.in_rows == (t.th - 1) * sh + 2 * dh + 1 &&
              t.in_cols == (t.tw - 1) * sw + 2 * dw + 1 && int64_t(t.tiles_b) * t.tb >= b &&
              int64_t(t.tiles_h) * t.th >= oh && int64_t(t.tiles_w) * t.tw >= ow &&
              int64_t(t.tiles_h - 1) * t.th < oh && int64_t(t.tiles_w - 1) * t.tw < ow;
    const int chunk = PlanChannelChunk(512, t.chan_stride, kSparseFiltersPerBlock * kTilePixels);
    ok = ok && chunk >= 1 && (chunk == 1 || chunk * t.chan_stride + kSparseFiltersPerBlock * kTilePixels <= kSmemFloats);
    r.Check(ok, "pixel tile / chunk plan b=" + std::to_string(b) + " oh=" + std::to_string(oh) + " ow=" + std::to_string(ow));
  }
  {
    const PixelTile t = PlanPixelTile(128, 32, 32, 1, 1, 1, 1, 3, 3);
    r.Check(t.tb == 1 && t.th == 8 && t.tw == 8 && t.in_rows == 10 && t.chan_stride == 101, "VGG 32x32 tile is 8x8");
    const PixelTile s = PlanPixelTile(128, 4, 4, 1, 1, 1, 1, 3, 3);
    r.Check(s.tb == 4 && s.th == 4 && s.tw == 4 && s.NumTiles() == 32, "4x4 maps: 4 images per tile");
  }
  // Warp tiles of the tiled stride-1 kernel: 32 lanes, tiles cover the output, window fits its stride.
  for (int it = 0; it < 200; ++it) {
    const int64_t b = RandInt(1, 130), oh = RandInt(1, 70), ow = RandInt(1, 70);
    const WarpTile t = PlanWarpTile(b, oh, ow);
    const bool ok = t.lanes_w * t.lanes_h * t.lanes_b == 32 && t.th == 2 * t.lanes_h && t.tw == t.tw_t * t.lanes_w &&
                    t.tb == t.lanes_b && t.chan_stride % 4 == 0 && t.image_stride % 4 == 0 && t.row_pitch % 4 == 0 &&
                    (t.tw_t >= 4 || t.lanes_w == 1) &&
                    t.Offset(0, t.th + 1, t.row_pitch - 1) < t.image_stride && t.tb * t.image_stride <= t.chan_stride &&
                    int64_t(t.tiles_b) * t.tb >= b && int64_t(t.tiles_h) * t.th >= oh && int64_t(t.tiles_w) * t.tw >= ow &&
                    TiledChannelChunk(t, 512) * t.chan_stride <= kTiledSmemFloats;
    r.Check(ok, "warp tile plan b=" + std::to_string(b) + " oh=" + std::to_string(oh) + " ow=" + std::to_string(ow));
  }
  for (int hw : {32, 16, 8, 4, 2}) {
    const WarpTile t = PlanWarpTile(128, hw, hw);
    std::printf("warp tile %dx%d: lanes %dx%dx%d, tile %dx%dx%d, chunk(512) %d, bank conflict %d-way\n", hw, hw,
                t.lanes_b, t.lanes_h, t.lanes_w, t.tb, t.th, t.tw, TiledChannelChunk(t, 512), WarpTileBankConflict(t));
    r.Check(WarpTileBankConflict(t) == 1, "warp tile " + std::to_string(hw) + ": lanes spread over banks");
  }
  // Rotation.
  bool rot_ok = true;
  for (int m = 0; m < 512; ++m)
    rot_ok = rot_ok && RotateMask180(RotateMask180(uint16_t(m))) == m && MaskTaps(RotateMask180(uint16_t(m))) == MaskTaps(uint16_t(m));
  r.Check(rot_ok && RotateMask180(1) == 256 && RotateMask180(0x7) == 0x1C0, "180-degree rotation");

  // Schedules from random layouts, emulated vs float64 reference.
  for (int it = 0; it < 40; ++it) {
    Conv2DParams p = RandomParams();
    const int taps = RandInt(0, 2) == 0 ? 0 : 4;
    const double keep = std::vector<double>{0.0, 0.25, 0.5, 1.0}[size_t(RandInt(0, 3))];
    const auto masks = RandomMasks(int(p.in_c), int(p.out_c), keep, RandInt(1, 8), taps);
    PatternLayout l = HandLayout(masks, int(p.in_c), int(p.out_c));
    const std::string tag = " it=" + std::to_string(it) + " c=" + std::to_string(p.in_c) + " oc=" +
                            std::to_string(p.out_c) + " s=" + std::to_string(p.stride_h) + "," + std::to_string(p.stride_w);
    r.Expect([&] { ValidateLayoutForCuda(l); }, "layout validates" + tag);
    const std::vector<float> w = DenseFromLayout(l);
    const auto x = RandomVector(size_t(p.InputSize()));
    const auto dy = RandomVector(size_t(p.OutputSize()));
    const int chunk = RandInt(1, 8);
    // forward
    GroupedSchedule fs = BuildGroupedSchedule(l.out_c, l.in_c, chunk, l.filter_order, ForwardKernelRefs(l));
    r.Check(CheckGroupedSchedule(fs).empty(), "forward schedule invariants: " + CheckGroupedSchedule(fs) + tag);
    std::multiset<int64_t> srcs;
    for (int64_t v : fs.value_src)
      if (v >= 0) srcs.insert(v);
    r.Check(fs.NumKernels() == l.NumKernels() && int64_t(srcs.size()) == l.NumValues(), "forward schedule keeps every kernel" + tag);
    bool perm = int64_t(srcs.size()) == l.NumValues();
    for (int64_t i = 0; perm && i < l.NumValues(); ++i) perm = srcs.count(i) == 1;
    r.Check(perm, "forward value_src is a permutation" + tag);
    const Geo gf{p.batch, p.in_h, p.in_w, p.in_c, p.out_h, p.out_w, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w, p.pad_top, p.pad_left};
    // Errors relative to the magnitude summed into each output (the reference on absolute values):
    // a few outputs of one filter can cancel to near zero, and float rounding does not.
    r.CheckClose(MaxErrorVsMagnitude(EmulateForward(gf, int(p.out_c), fs, Gather(l.values, fs.value_src), x),
                                     RefForward(p, x, w), RefForward(p, Abs(x), Abs(w))),
                 1e-5, "forward schedule emulation" + tag);

    // backward data (stride 1 path: rotated transposed layout as a forward conv of dy)
    if (p.stride_h == 1 && p.stride_w == 1) {
      std::vector<int32_t> order;
      const auto refs = BackwardDataKernelRefs(l, &order);
      std::set<int32_t> oset(order.begin(), order.end());
      r.Check(int64_t(oset.size()) == p.in_c && int64_t(order.size()) == p.in_c, "backprop-input filter order is a permutation" + tag);
      GroupedSchedule bs = BuildGroupedSchedule(l.in_c, l.out_c, RandInt(1, 8), order, refs);
      r.Check(CheckGroupedSchedule(bs).empty(), "backprop-input schedule invariants" + tag);
      const Geo gb{p.batch, p.out_h, p.out_w, p.out_c, p.in_h, p.in_w, 1, 1, p.dilation_h, p.dilation_w,
                   2 * p.dilation_h - p.pad_top, 2 * p.dilation_w - p.pad_left};
      r.CheckClose(MaxErrorVsMagnitude(EmulateForward(gb, int(p.in_c), bs, Gather(l.values, bs.value_src), dy),
                                       RefBackpropInput(p, dy, w), RefBackpropInput(p, Abs(dy), Abs(w))),
                   1e-5, "backprop-input (rotated transposed) emulation" + tag);
    }
    // backward filter
    BlockSchedule bf = BuildBlockSchedule(l.out_c, l.in_c, chunk, RandInt(1, 16), l.filter_order, ForwardKernelRefs(l), l.out_c);
    bool units_ok = bf.unit_kernel.size() == bf.unit_mask.size() + 1 && int64_t(bf.slot_out.size()) == l.NumValues();
    for (size_t u = 0; units_ok && u < bf.unit_mask.size(); ++u)
      units_ok = bf.unit_kernel[u + 1] - bf.unit_kernel[u] >= 1 && bf.unit_kernel[u + 1] - bf.unit_kernel[u] <= 32;
    std::set<int64_t> outs(bf.slot_out.begin(), bf.slot_out.end());
    r.Check(units_ok && int64_t(outs.size()) == l.NumValues(), "backprop-filter units <= 32 and one slot per kept weight" + tag);
    const auto ref_dw = RefBackpropFilter(p, x, dy), mag_dw = RefBackpropFilter(p, Abs(x), Abs(dy));
    std::vector<double> masked(ref_dw.size(), 0.0), masked_mag(ref_dw.size(), 0.0);
    for (int32_t di : l.value_dense_index) {
      masked[size_t(di)] = ref_dw[size_t(di)];
      masked_mag[size_t(di)] = mag_dw[size_t(di)];
    }
    r.CheckClose(MaxErrorVsMagnitude(EmulateBackpropFilter(p, bf, x, dy), masked, masked_mag), 1e-5,
                 "backprop-filter schedule emulation" + tag);
    r.Check(LayoutStructureHash(l) == LayoutStructureHash(HandLayout(masks, int(p.in_c), int(p.out_c))) ||
                l.out_c > 1,  // the hand layout shuffles filters, so only single-filter layouts are equal
            "structure hash is deterministic" + tag);
  }
  // Tiled stride-1 forward (random sizes, stride and dilation forced to 1), emulated vs float64.
  for (int it = 0; it < 30; ++it) {
    Conv2DParams p = RandomParams();
    const int64_t pb = RandInt(0, 2), pr = RandInt(0, 2);
    p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
    p.in_h = std::max<int64_t>(p.in_h, 3 - p.pad_top - pb); p.in_w = std::max<int64_t>(p.in_w, 3 - p.pad_left - pr);
    p.out_h = p.in_h + p.pad_top + pb - 2; p.out_w = p.in_w + p.pad_left + pr - 2;
    if (it % 6 == 5) { p.batch = RandInt(1, 40); p.in_h = p.in_w = RandInt(1, 3) * 2; p.pad_top = p.pad_left = 1;
                       p.out_h = p.in_h; p.out_w = p.in_w; }  // several images per tile
    const int taps = RandInt(0, 2) == 0 ? 0 : 4;
    const PatternLayout l = HandLayout(RandomMasks(int(p.in_c), int(p.out_c), 0.5, RandInt(1, 8), taps), int(p.in_c), int(p.out_c));
    const auto x = RandomVector(size_t(p.InputSize()));
    const Geo gf{p.batch, p.in_h, p.in_w, p.in_c, p.out_h, p.out_w, 1, 1, 1, 1, p.pad_top, p.pad_left};
    const WarpTile wt = PlanWarpTile(p.batch, p.out_h, p.out_w);
    GroupedSchedule ts = BuildGroupedSchedule(l.out_c, l.in_c, RandInt(1, 5), l.filter_order, ForwardKernelRefs(l));
    const std::vector<float> wl = DenseFromLayout(l);
    r.CheckClose(MaxErrorVsMagnitude(EmulateTiledForward(gf, int(p.out_c), wt, ts, Gather(l.values, ts.value_src), x),
                                     RefForward(p, x, wl), RefForward(p, Abs(x), Abs(wl))),
                 1e-5, "tiled forward emulation it=" + std::to_string(it) + " n=" + std::to_string(p.batch) + " h=" +
                           std::to_string(p.in_h) + " w=" + std::to_string(p.in_w) + " taps=" + std::to_string(taps));
  }
  // Gradient targets of the tiled backward-filter: every kept weight once, at its dense HWIO index;
  // summing x * dy through them reproduces the masked float64 gradient.
  for (int it = 0; it < 20; ++it) {
    Conv2DParams p = RandomParams();
    const PatternLayout l = HandLayout(RandomMasks(int(p.in_c), int(p.out_c), 0.5, RandInt(1, 8), RandInt(0, 1) * 4),
                                       int(p.in_c), int(p.out_c));
    std::vector<int32_t> identity(size_t(l.out_c));
    for (int i = 0; i < l.out_c; ++i) identity[size_t(i)] = i;
    const GroupedSchedule ts = BuildGroupedSchedule(l.out_c, l.in_c, RandInt(1, 6), identity, BackwardFilterKernelRefs(l));
    const GradientTargets tg = BuildGradientTargets(ts, l.in_c, l.out_c);
    std::set<int64_t> dense;
    for (int64_t d : tg.value_dense)
      if (d >= 0) dense.insert(d);
    std::set<int64_t> kept(l.value_dense_index.begin(), l.value_dense_index.end());
    bool mono = tg.filter_value.front() == 0 && tg.filter_value.back() == int32_t(ts.NumValues());
    for (size_t f = 0; f + 1 < tg.filter_value.size(); ++f) mono = mono && tg.filter_value[f] <= tg.filter_value[f + 1];
    r.Check(dense == kept && mono && tg.MaxBlockValues(kTiledBwdFiltersPerBlock) == MaxBlockValues(l, kTiledBwdFiltersPerBlock),
            "gradient targets cover the kept weights once it=" + std::to_string(it));
    const auto x = RandomVector(size_t(p.InputSize())), dy = RandomVector(size_t(p.OutputSize()));
    std::vector<float> dw(size_t(p.FilterSize()), 0.f);
    for (int f = 0; f < ts.num_filters; ++f)
      for (int gi = ts.seg_group[size_t(f) * ts.num_chunks]; gi < ts.seg_group[size_t(f + 1) * ts.num_chunks]; ++gi)
        for (int k = ts.group_kernel[size_t(gi)]; k < ts.group_kernel[size_t(gi) + 1]; ++k) {
          int t = 0;
          for (int bit = 0; bit < 9; ++bit) {
            if (!(ts.group_mask[size_t(gi)] & (1u << bit))) continue;
            const double sum = TapGradient(p, x, dy, bit, ts.kernel_channel[size_t(k)], ts.filter_out[size_t(f)]);
            dw[size_t(tg.value_dense[size_t(ts.kernel_value[size_t(k)] + t++)])] = float(sum);
          }
        }
    auto ref = RefBackpropFilter(p, x, dy);
    std::vector<double> masked(ref.size(), 0.0);
    for (int32_t di : l.value_dense_index) masked[size_t(di)] = ref[size_t(di)];
    r.CheckClose(MaxRelError(dw, masked), 1e-5, "gradient targets place every tap's sum it=" + std::to_string(it));
  }
  // Value changes leave the structure hash alone; structure changes move it.
  {
    const auto masks = RandomMasks(8, 8, 0.5, 4, 4);
    PatternLayout l = HandLayout(masks, 8, 8);
    const uint64_t h0 = LayoutStructureHash(l);
    for (auto& v : l.values) v += 1.f;
    r.Check(LayoutStructureHash(l) == h0, "hash ignores values");
    if (!l.kernel_ic.empty()) {
      l.kernel_ic[0] = (l.kernel_ic[0] + 1) % 8;
      r.Check(LayoutStructureHash(l) != h0, "hash sees structure");
    }
  }
  // Bad layouts are refused.
  {
    PatternLayout l = HandLayout(RandomMasks(4, 4, 1.0, 2, 4), 4, 4);
    l.kernel_ic[0] = 7;
    r.ExpectThrow([&] { ValidateLayoutForCuda(l); }, "kernel_ic out of range");
    r.ExpectThrow([&] { BuildGroupedSchedule(2, 2, 1, {0, 1}, {KernelRef{0, 5, 15, 0, false}}); }, "channel out of range");
    r.ExpectThrow([&] { BuildGroupedSchedule(2, 2, 1, {0, 1}, {KernelRef{0, 0, 0, 0, false}}); }, "empty mask");
  }
  return r.Finish();
}
