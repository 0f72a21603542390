#include "cuda/conv_plan.h"

#include <algorithm>
#include <stdexcept>

namespace clicktrain {
namespace cuda {
namespace {

int Pow2Ceil(int64_t v) {
  int p = 1;
  while (p < v && p < (1 << 20)) p <<= 1;
  return p;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

void Require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("cuda sparse schedule: ") + what);
}

// Kernels sorted by (filter, chunk, mask, channel) so each (filter, chunk) segment is contiguous and
// split into same-pattern groups.
std::vector<KernelRef> SortedKernels(int num_filters, int num_channels, int chunk,
                                     const std::vector<KernelRef>& kernels) {
  for (const KernelRef& k : kernels) {
    Require(k.filter >= 0 && k.filter < num_filters, "filter out of range");
    Require(k.channel >= 0 && k.channel < num_channels, "channel out of range");
    Require(k.mask != 0 && k.mask < 512, "pattern mask must be a non-empty 9-bit mask");
  }
  std::vector<KernelRef> sorted = kernels;
  std::stable_sort(sorted.begin(), sorted.end(), [chunk](const KernelRef& a, const KernelRef& b) {
    if (a.filter != b.filter) return a.filter < b.filter;
    const int ca = a.channel / chunk, cb = b.channel / chunk;
    if (ca != cb) return ca < cb;
    if (a.mask != b.mask) return a.mask < b.mask;
    return a.channel < b.channel;
  });
  return sorted;
}

void AppendValues(const KernelRef& k, std::vector<int64_t>* value_src) {
  const int n = MaskTaps(k.mask);
  for (int t = 0; t < n; ++t) value_src->push_back(k.value_src + (k.reversed ? n - 1 - t : t));
  while (value_src->size() % 4) value_src->push_back(-1);
}

}  // namespace

PixelTile PlanPixelTile(int64_t batch, int64_t out_h, int64_t out_w, int stride_h, int stride_w,
                        int dilation_h, int dilation_w, int filter_h, int filter_w) {
  PixelTile t;
  t.tw = std::min(8, Pow2Ceil(std::max<int64_t>(out_w, 1)));
  t.th = std::min(kTilePixels / t.tw, Pow2Ceil(std::max<int64_t>(out_h, 1)));
  t.tb = kTilePixels / (t.tw * t.th);
  t.in_rows = (t.th - 1) * stride_h + (filter_h - 1) * dilation_h + 1;
  t.in_cols = (t.tw - 1) * stride_w + (filter_w - 1) * dilation_w + 1;
  t.chan_stride = t.tb * t.in_rows * t.in_cols;
  if (t.chan_stride % 2 == 0) t.chan_stride += 1;  // odd stride: chunk-major staging has no bank conflicts
  t.tiles_b = int(CeilDiv(std::max<int64_t>(batch, 0), t.tb));
  t.tiles_h = int(CeilDiv(std::max<int64_t>(out_h, 0), t.th));
  t.tiles_w = int(CeilDiv(std::max<int64_t>(out_w, 0), t.tw));
  return t;
}

int WarpTileBankConflict(const WarpTile& t) {
  int worst = 1;
  for (int rr = 0; rr < 4; ++rr)
    for (int phase = 0; phase < 32; phase += 8) {
      int count[8] = {};
      for (int lane = phase; lane < phase + 8; ++lane) worst = std::max(worst, ++count[(t.LaneRow(lane, rr) / 4) % 8]);
    }
  return worst;
}

WarpTile PlanWarpTile(int64_t batch, int64_t out_h, int64_t out_w, int max_tw) {
  WarpTile t;
  const int64_t ow = std::max<int64_t>(out_w, 1), oh = std::max<int64_t>(out_h, 1);
  t.tw_t = ow >= 8 && max_tw >= 8 ? 8 : ow >= 4 && max_tw >= 4 ? 4 : 2;
  // Lanes side by side start tw_t columns apart, 16-byte aligned only for tw_t >= 4.
  t.lanes_w = t.tw_t == 2 ? 1 : std::min(4, Pow2Ceil(CeilDiv(ow, t.tw_t)));
  t.lanes_h = std::min(32 / t.lanes_w, Pow2Ceil(CeilDiv(oh, 2)));
  t.lanes_b = 32 / (t.lanes_w * t.lanes_h);
  t.th = 2 * t.lanes_h;
  t.tw = t.tw_t * t.lanes_w;
  t.tb = t.lanes_b;
  const int rows = t.th + 2;
  t.row_pitch = (t.tw + 2 + 3) / 4 * 4;
  // Smallest 16-byte-multiple image stride (within one bank cycle past the window) that spreads the
  // quarter warps over the most bank groups.
  const int min_stride = t.Offset(0, rows - 1, t.row_pitch);
  int best = min_stride, best_conflict = 33;
  for (int is = min_stride; is < min_stride + 32; is += 4) {
    t.image_stride = is;
    const int conflict = WarpTileBankConflict(t);
    if (conflict < best_conflict) best = is, best_conflict = conflict;
    if (t.lanes_b == 1) break;  // one image per tile: the stride does not matter
  }
  t.image_stride = best;
  t.chan_stride = t.tb * t.image_stride;
  t.tiles_b = int(CeilDiv(std::max<int64_t>(batch, 0), t.tb));
  t.tiles_h = int(CeilDiv(std::max<int64_t>(out_h, 0), t.th));
  t.tiles_w = int(CeilDiv(std::max<int64_t>(out_w, 0), t.tw));
  return t;
}

std::vector<float> GatherScheduleValues(const std::vector<float>& src, const std::vector<int64_t>& value_src) {
  std::vector<float> v(value_src.size());
  for (size_t i = 0; i < value_src.size(); ++i) v[i] = value_src[i] < 0 ? 0.f : src[size_t(value_src[i])];
  return v;
}

int TiledChannelChunk(const WarpTile& t, int channels, int budget_floats) {
  // At most 32 (the staging lanes copy one channel each); all channels when they fit, else 32 or 16
  // so that every chunk but the last fills the lanes.
  const int fit = std::min(32, std::max(1, budget_floats / std::max(t.chan_stride, 1)));
  channels = std::max(channels, 1);
  if (channels <= fit) return channels;
  return fit >= 16 ? fit / 16 * 16 : fit;
}

int PlanChannelChunk(int channels, int chan_stride, int reserved_floats, int cap) {
  const int room = kSmemFloats - reserved_floats;
  int chunk = chan_stride > 0 ? room / chan_stride : 1;
  chunk = std::min(chunk, std::min(channels, cap));
  return std::max(chunk, 1);
}

GroupedSchedule BuildGroupedSchedule(int num_filters, int num_channels, int chunk,
                                     const std::vector<int32_t>& filter_out,
                                     const std::vector<KernelRef>& kernels) {
  Require(num_filters >= 0 && num_channels >= 0 && chunk >= 1, "bad sizes");
  Require(int(filter_out.size()) == num_filters, "filter_out size");
  GroupedSchedule s;
  s.num_filters = num_filters;
  s.num_channels = num_channels;
  s.chunk = chunk;
  s.num_chunks = std::max<int>(1, int(CeilDiv(num_channels, chunk)));
  s.filter_out = filter_out;
  const std::vector<KernelRef> sorted = SortedKernels(num_filters, num_channels, chunk, kernels);
  s.seg_group.assign(size_t(num_filters) * s.num_chunks + 1, 0);
  s.kernel_channel.reserve(sorted.size());
  s.kernel_value.reserve(sorted.size());
  size_t i = 0;
  for (int f = 0; f < num_filters; ++f) {
    for (int c = 0; c < s.num_chunks; ++c) {
      s.seg_group[size_t(f) * s.num_chunks + c] = int32_t(s.group_mask.size());
      int prev_mask = -1;
      while (i < sorted.size() && sorted[i].filter == f && sorted[i].channel / chunk == c) {
        const KernelRef& k = sorted[i];
        if (k.mask != prev_mask) {
          s.group_mask.push_back(k.mask);
          s.group_kernel.push_back(int32_t(s.kernel_channel.size()));
          prev_mask = k.mask;
        }
        s.kernel_channel.push_back(k.channel);
        s.kernel_value.push_back(int32_t(s.value_src.size()));
        AppendValues(k, &s.value_src);
        ++i;
      }
    }
  }
  s.seg_group.back() = int32_t(s.group_mask.size());
  s.group_kernel.push_back(int32_t(s.kernel_channel.size()));
  return s;
}

BlockSchedule BuildBlockSchedule(int num_filters, int num_channels, int chunk, int filters_per_block,
                                 const std::vector<int32_t>& filter_out,
                                 const std::vector<KernelRef>& kernels, int64_t out_channels) {
  Require(num_filters >= 0 && num_channels >= 0 && chunk >= 1 && filters_per_block >= 1, "bad sizes");
  Require(int(filter_out.size()) == num_filters, "filter_out size");
  BlockSchedule s;
  s.num_filters = num_filters;
  s.num_channels = num_channels;
  s.chunk = chunk;
  s.num_chunks = std::max<int>(1, int(CeilDiv(num_channels, chunk)));
  s.filters_per_block = filters_per_block;
  s.num_blocks = int(CeilDiv(num_filters, filters_per_block));
  s.block_filter_out = filter_out;
  // Sort by (filter block, chunk, mask, filter, channel): same-pattern kernels of all the block's
  // filters form one group, cut into units of 32 (one per warp step).
  std::vector<KernelRef> sorted = SortedKernels(num_filters, num_channels, chunk, kernels);
  std::stable_sort(sorted.begin(), sorted.end(), [&](const KernelRef& a, const KernelRef& b) {
    const int ba = a.filter / filters_per_block, bb = b.filter / filters_per_block;
    if (ba != bb) return ba < bb;
    const int ca = a.channel / chunk, cb = b.channel / chunk;
    if (ca != cb) return ca < cb;
    if (a.mask != b.mask) return a.mask < b.mask;
    if (a.filter != b.filter) return a.filter < b.filter;
    return a.channel < b.channel;
  });
  const size_t segs = size_t(s.num_blocks) * s.num_chunks;
  s.seg_unit.assign(segs + 1, 0);
  s.seg_slot.assign(segs + 1, 0);
  size_t i = 0;
  int64_t slot_total = 0;
  for (int b = 0; b < s.num_blocks; ++b) {
    for (int c = 0; c < s.num_chunks; ++c) {
      const size_t seg = size_t(b) * s.num_chunks + c;
      s.seg_unit[seg] = int32_t(s.unit_mask.size());
      s.seg_slot[seg] = int32_t(slot_total);
      int seg_slots = 0;
      int prev_mask = -1, in_unit = 0;
      while (i < sorted.size() && sorted[i].filter / filters_per_block == b &&
             sorted[i].channel / chunk == c) {
        const KernelRef& k = sorted[i];
        if (k.mask != prev_mask || in_unit == 32) {
          s.unit_mask.push_back(k.mask);
          s.unit_kernel.push_back(int32_t(s.kernel_channel.size()));
          prev_mask = k.mask;
          in_unit = 0;
        }
        ++in_unit;
        s.kernel_channel.push_back(k.channel);
        s.kernel_filter.push_back(k.filter - b * filters_per_block);
        s.kernel_slot.push_back(seg_slots);
        const int64_t oc = filter_out[size_t(k.filter)];
        for (int tap = 0; tap < 9; ++tap) {
          if (!(k.mask & (1u << tap))) continue;
          s.slot_out.push_back((int64_t(tap) * num_channels + k.channel) * out_channels + oc);
          ++seg_slots;
        }
        ++i;
      }
      slot_total += seg_slots;
      s.max_slots = std::max(s.max_slots, seg_slots);
    }
  }
  s.seg_unit.back() = int32_t(s.unit_mask.size());
  s.seg_slot.back() = int32_t(slot_total);
  s.unit_kernel.push_back(int32_t(s.kernel_channel.size()));
  return s;
}

void ValidateLayoutForCuda(const PatternLayout& l) {
  Require(l.in_c >= 0 && l.out_c >= 0, "negative layout size");
  Require(l.filter_order.size() == size_t(l.out_c), "filter_order size");
  Require(l.filter_kernel_begin.size() == size_t(l.out_c) + 1, "filter_kernel_begin size");
  Require(l.patterns.size() == l.pattern_size.size(), "pattern_size size");
  const size_t nk = l.kernel_ic.size();
  Require(l.kernel_pattern.size() == nk, "kernel_pattern size");
  Require(l.kernel_value_begin.size() == nk + 1, "kernel_value_begin size");
  Require(l.filter_kernel_begin.front() == 0 && size_t(l.filter_kernel_begin.back()) == nk,
          "filter_kernel_begin bounds");
  for (int32_t s = 0; s < l.out_c; ++s) {
    Require(l.filter_kernel_begin[s] <= l.filter_kernel_begin[s + 1], "filter_kernel_begin order");
    Require(l.filter_order[s] >= 0 && l.filter_order[s] < l.out_c, "filter_order range");
  }
  for (size_t k = 0; k < nk; ++k) {
    Require(l.kernel_ic[k] >= 0 && l.kernel_ic[k] < l.in_c, "kernel_ic range");
    Require(l.kernel_pattern[k] >= 0 && size_t(l.kernel_pattern[k]) < l.patterns.size(),
            "kernel_pattern range");
    const uint16_t m = l.patterns[size_t(l.kernel_pattern[k])];
    Require(m != 0 && m < 512, "pattern mask");
    Require(l.kernel_value_begin[k + 1] - l.kernel_value_begin[k] == MaskTaps(m), "value count");
  }
  Require(size_t(l.kernel_value_begin[nk]) <= l.values.size(), "values size");
}

std::vector<KernelRef> ForwardKernelRefs(const PatternLayout& l) {
  std::vector<KernelRef> refs;
  refs.reserve(l.kernel_ic.size());
  for (int32_t s = 0; s < l.out_c; ++s) {
    for (int32_t k = l.filter_kernel_begin[s]; k < l.filter_kernel_begin[s + 1]; ++k) {
      KernelRef r;
      r.filter = s;
      r.channel = l.kernel_ic[k];
      r.mask = l.patterns[size_t(l.kernel_pattern[k])];
      r.value_src = l.kernel_value_begin[k];
      refs.push_back(r);
    }
  }
  return refs;
}

std::vector<KernelRef> BackwardDataKernelRefs(const PatternLayout& l, std::vector<int32_t>* filter_out) {
  std::vector<int64_t> count(size_t(l.in_c), 0);
  for (int32_t ic : l.kernel_ic) ++count[size_t(ic)];
  std::vector<int32_t> order(size_t(l.in_c));
  for (int32_t i = 0; i < l.in_c; ++i) order[size_t(i)] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return count[size_t(a)] > count[size_t(b)]; });
  std::vector<int32_t> position(size_t(l.in_c));
  for (int32_t p = 0; p < l.in_c; ++p) position[size_t(order[size_t(p)])] = p;
  *filter_out = order;
  std::vector<KernelRef> refs;
  refs.reserve(l.kernel_ic.size());
  for (int32_t s = 0; s < l.out_c; ++s) {
    for (int32_t k = l.filter_kernel_begin[s]; k < l.filter_kernel_begin[s + 1]; ++k) {
      KernelRef r;
      r.filter = position[size_t(l.kernel_ic[k])];
      r.channel = l.filter_order[s];
      r.mask = RotateMask180(l.patterns[size_t(l.kernel_pattern[k])]);
      r.value_src = l.kernel_value_begin[k];
      r.reversed = true;
      refs.push_back(r);
    }
  }
  return refs;
}

std::vector<KernelRef> BackwardFilterKernelRefs(const PatternLayout& l) {
  std::vector<KernelRef> refs = ForwardKernelRefs(l);
  for (KernelRef& r : refs) r.filter = l.filter_order[size_t(r.filter)];
  return refs;
}

GradientTargets BuildGradientTargets(const GroupedSchedule& s, int64_t in_channels, int64_t out_channels) {
  GradientTargets t;
  t.value_dense.assign(s.value_src.size(), -1);
  t.filter_value.assign(size_t(s.num_filters) + 1, 0);
  for (int f = 0; f < s.num_filters; ++f) {
    const int g0 = s.seg_group[size_t(f) * s.num_chunks], g1 = s.seg_group[size_t(f + 1) * s.num_chunks];
    t.filter_value[size_t(f)] = g0 < g1 ? s.kernel_value[size_t(s.group_kernel[size_t(g0)])]
                                        : (f > 0 ? t.filter_value[size_t(f - 1)] : 0);
    for (int gi = g0; gi < g1; ++gi)
      for (int k = s.group_kernel[size_t(gi)]; k < s.group_kernel[size_t(gi) + 1]; ++k) {
        int tap = 0;
        for (int bit = 0; bit < 9; ++bit) {
          if (!(s.group_mask[size_t(gi)] & (1u << bit))) continue;
          t.value_dense[size_t(s.kernel_value[size_t(k)] + tap++)] =
              (int64_t(bit) * in_channels + s.kernel_channel[size_t(k)]) * out_channels + s.filter_out[size_t(f)];
        }
      }
  }
  // Filters with no kernels carry the next filter's start so ranges stay monotone.
  t.filter_value.back() = int32_t(s.value_src.size());
  for (int f = s.num_filters - 1; f >= 0; --f) {
    const int g0 = s.seg_group[size_t(f) * s.num_chunks], g1 = s.seg_group[size_t(f + 1) * s.num_chunks];
    if (g0 == g1) t.filter_value[size_t(f)] = t.filter_value[size_t(f) + 1];
  }
  return t;
}

int GradientTargets::MaxBlockValues(int filters_per_block) const {
  int most = 0;
  const int nf = int(filter_value.size()) - 1;
  for (int f0 = 0; f0 < nf; f0 += filters_per_block)
    most = std::max(most, filter_value[size_t(std::min(nf, f0 + filters_per_block))] - filter_value[size_t(f0)]);
  return most;
}

int MaxBlockValues(const PatternLayout& l, int filters_per_block) {
  std::vector<int64_t> per_oc(size_t(std::max(l.out_c, 0)), 0);
  for (int32_t s = 0; s < l.out_c; ++s)
    for (int32_t k = l.filter_kernel_begin[size_t(s)]; k < l.filter_kernel_begin[size_t(s) + 1]; ++k)
      per_oc[size_t(l.filter_order[size_t(s)])] += (MaskTaps(l.patterns[size_t(l.kernel_pattern[size_t(k)])]) + 3) / 4 * 4;
  int64_t most = 0;
  for (int32_t f0 = 0; f0 < l.out_c; f0 += filters_per_block) {
    int64_t sum = 0;
    for (int32_t f = f0; f < std::min(l.out_c, f0 + filters_per_block); ++f) sum += per_oc[size_t(f)];
    most = std::max(most, sum);
  }
  return int(std::min<int64_t>(most, 1 << 30));
}

uint64_t LayoutStructureHash(const PatternLayout& l) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* data, size_t bytes) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) {
      h ^= p[i];
      h *= 1099511628211ull;
    }
  };
  mix(&l.in_c, sizeof l.in_c);
  mix(&l.out_c, sizeof l.out_c);
  auto mixv = [&mix](const auto& v) {
    const uint64_t n = v.size();
    mix(&n, sizeof n);
    if (!v.empty()) mix(v.data(), v.size() * sizeof(v[0]));
  };
  mixv(l.patterns);
  mixv(l.filter_order);
  mixv(l.filter_kernel_begin);
  mixv(l.kernel_ic);
  mixv(l.kernel_pattern);
  mixv(l.kernel_value_begin);
  return h;
}

std::string CheckGroupedSchedule(const GroupedSchedule& s) {
  const size_t segs = size_t(s.num_filters) * s.num_chunks;
  if (s.seg_group.size() != segs + 1) return "seg_group size";
  if (s.group_kernel.size() != s.group_mask.size() + 1) return "group_kernel size";
  if (s.kernel_value.size() != s.kernel_channel.size()) return "kernel_value size";
  for (size_t seg = 0; seg < segs; ++seg) {
    if (s.seg_group[seg] > s.seg_group[seg + 1]) return "seg_group not monotone";
    const int c = int(seg % s.num_chunks);
    for (int g = s.seg_group[seg]; g < s.seg_group[seg + 1]; ++g) {
      if (s.group_kernel[g] >= s.group_kernel[g + 1]) return "empty group";
      if (g > s.seg_group[seg] && s.group_mask[g] <= s.group_mask[g - 1]) return "groups not sorted";
      for (int k = s.group_kernel[g]; k < s.group_kernel[g + 1]; ++k) {
        if (s.kernel_channel[k] / s.chunk != c) return "kernel outside its chunk";
        const int64_t next = k + 1 < int(s.kernel_value.size()) ? s.kernel_value[k + 1] : s.NumValues();
        const int taps = MaskTaps(s.group_mask[g]);
        if (s.kernel_value[k] % 4 != 0) return "kernel values not 16-byte aligned";
        if (next - s.kernel_value[k] != (taps + 3) / 4 * 4) return "value count != pattern size (padded to 4)";
        for (int t = 0; t < 4 * ((taps + 3) / 4); ++t)
          if ((s.value_src[size_t(s.kernel_value[k] + t)] < 0) != (t >= taps)) return "padding misplaced";
      }
    }
  }
  if (s.group_kernel.back() != int32_t(s.kernel_channel.size())) return "kernels not all grouped";
  return "";
}

}  // namespace cuda
}  // namespace clicktrain
