#include "cuda/slab_schedule.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace clicktrain {
namespace cuda {
namespace {

void Require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("cuda slab schedule: ") + what);
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

SlabSchedule BuildSlabSchedule(int num_filters, int num_channels, const std::vector<int32_t>& filter_out,
                               const std::vector<KernelRef>& kernels) {
  Require(num_filters >= 0 && num_channels >= 0, "bad sizes");
  Require(int(filter_out.size()) == num_filters, "filter_out size");
  for (int32_t oc : filter_out) Require(oc >= 0 && oc < num_filters, "filter_out entry out of range");
  SlabSchedule s;
  s.num_filters = num_filters;
  s.num_channels = num_channels;
  s.num_slabs = int(CeilDiv(num_filters, kSlabFilters));
  // Kernel index per (output channel, channel): -1 where pruned.
  std::vector<int32_t> at(size_t(num_filters) * size_t(num_channels), -1);
  for (size_t i = 0; i < kernels.size(); ++i) {
    const KernelRef& k = kernels[i];
    Require(k.filter >= 0 && k.filter < num_filters, "filter out of range");
    Require(k.channel >= 0 && k.channel < num_channels, "channel out of range");
    Require(k.mask != 0 && k.mask < 512, "pattern mask must be a non-empty 9-bit mask");
    int32_t& slot = at[size_t(filter_out[size_t(k.filter)]) * num_channels + k.channel];
    Require(slot < 0, "two kernels for one (filter, channel)");
    slot = int32_t(i);
  }
  const size_t segs = size_t(s.num_slabs) * size_t(num_channels);
  s.bits.assign(segs, 0);
  s.rec_start.assign(segs + 1, 0);
  s.rec_mask.reserve(kernels.size());
  s.value_src.reserve(kernels.size() * 9);
  for (int g = 0; g < s.num_slabs; ++g)
    for (int c = 0; c < num_channels; ++c) {
      const size_t seg = size_t(g) * num_channels + c;
      s.rec_start[seg] = int32_t(s.rec_mask.size());
      for (int slot = 0; slot < kSlabFilters; ++slot) {
        const int oc = g * kSlabFilters + slot;
        if (oc >= num_filters) break;
        const int32_t ki = at[size_t(oc) * num_channels + c];
        if (ki < 0) continue;
        const KernelRef& k = kernels[size_t(ki)];
        s.bits[seg] |= 1u << slot;
        s.rec_mask.push_back(k.mask);
        const int n = MaskTaps(k.mask);
        int t = 0;
        for (int pos = 0; pos < 9; ++pos) {
          if (!(k.mask & (1u << pos))) {
            s.value_src.push_back(-1);
            continue;
          }
          s.value_src.push_back(k.value_src + (k.reversed ? n - 1 - t : t));
          ++t;
        }
      }
    }
  s.rec_start[segs] = int32_t(s.rec_mask.size());
  return s;
}

std::vector<float> GatherSlabRecords(const std::vector<float>& src, const SlabSchedule& s) {
  const int64_t n = s.NumRecords();
  std::vector<float> rec(size_t(n + 1) * kSlabRecordFloats, 0.f);
  for (int64_t r = 0; r < n; ++r) {
    float* out = rec.data() + r * kSlabRecordFloats;
    const int64_t* vs = s.value_src.data() + r * 9;
    for (int pos = 0; pos < 9; ++pos)
      if (vs[pos] >= 0) out[(pos / 3) * 4 + pos % 3] = src[size_t(vs[pos])];
    const uint32_t mask = s.rec_mask[size_t(r)];
    std::memcpy(out + 3, &mask, sizeof(mask));  // the mask rides in row 0's spare float
  }
  return rec;
}

SlabKind SlabKindFor(int64_t h, int64_t w, int64_t oh, int64_t ow, int pt, int pl) {
  const bool same = pt == 1 && pl == 1 && oh == h && ow == w;
  if (same && h == 4 && w == 4) return SlabKind::kWhole4;
  if (same && h == 2 && w == 2) return SlabKind::kWhole2;
  // 2 x 4 lanes beat 2 x 8 on an H200 (6-17%: twice the warps per SM hide the branch latencies)
  return ow >= 8 ? SlabKind::kHalo4 : SlabKind::kNone;
}

int MaxSlabChunkRecords(const SlabSchedule& s, int chunk) {
  int most = 0;
  for (int g = 0; g < s.num_slabs; ++g)
    for (int c0 = 0; c0 < s.num_channels; c0 += chunk) {
      const size_t seg = size_t(g) * s.num_channels;
      most = std::max(most, s.rec_start[seg + std::min(s.num_channels, c0 + chunk)] - s.rec_start[seg + c0]);
    }
  return most;
}

SlabPlan PlanSlab(int64_t n, int64_t h, int64_t w, int64_t c, int64_t oh, int64_t ow, int64_t oc, int pt, int pl,
                  const SlabSchedule& s, int num_sms, int smem_block_floats, int smem_sm_floats, int warps,
                  int split_target, SlabKind force) {
  SlabPlan p;
  if (n <= 0 || oh <= 0 || ow <= 0 || oc <= 0 || c <= 0) return p;
  if (s.num_channels != c || s.num_filters != oc) return p;
  p.kind = SlabKindFor(h, w, oh, ow, pt, pl);
  if ((force == SlabKind::kHalo4 && ow >= 4) || (force == SlabKind::kHalo && ow >= 8)) p.kind = force;
  else if (force != SlabKind::kNone && force != p.kind) p.kind = SlabKind::kNone;
  if (p.kind == SlabKind::kNone) return p;
  int chunk = 32;
  if (p.kind == SlabKind::kHalo || p.kind == SlabKind::kHalo4) {
    p.wtile = PlanWarpTile(n, oh, ow, p.kind == SlabKind::kHalo4 ? 4 : 8);
    p.chan_stride = p.wtile.chan_stride;
    p.tiles = p.wtile.NumTiles();
    chunk = TiledChannelChunk(p.wtile, int(std::min<int64_t>(c, 1 << 20)), smem_block_floats);
  } else {
    const int images_per_lane = p.kind == SlabKind::kWhole4 ? 1 : 4;  // the lane shapes' LB
    p.chan_stride = 32 * kSlabWholeLaneStride + 4;  // == 4 mod 32: staging stores (one channel per lane) 4-way, not 32-way
    p.tiles = CeilDiv(n, 32 * images_per_lane);
    chunk = int(std::min<int64_t>(c, 32));
  }
  // Warps (8, or 4 so that two blocks share an SM) and channel splits: the pair with the least
  // "waves x channels per split" (each SM runs 8 warps at a time either way, so a block's time scales
  // with its channels per split); ties go to fewer splits (fewer atomics), then to 8 warps.
  const int64_t slabs = CeilDiv(oc, kSlabFilters);
  SlabPlan best;
  int64_t best_cost = 0;
  const std::vector<int> warp_options =
      warps > 0 ? std::vector<int>{std::min(kSlabWarps, warps)} : std::vector<int>{kSlabWarps, kSlabWarps / 2};
  for (int wv : warp_options) {
    SlabPlan q = p;
    q.warps = wv;
    q.slab_blocks = int(CeilDiv(slabs, wv));
    // ~220 registers per thread allow one 8-warp block per SM; two 4-warp blocks fit if their shared
    // memory does too (an H200 run at 113.8 KB per 4-warp block: 0.14 ms; at 112.6 KB, two per SM: 0.10).
    const int per_sm = SlabBlocksPerSm(p.kind) * std::max(1, kSlabWarps / wv);
    const int smem_floats = per_sm > 1 ? std::min(smem_block_floats, smem_sm_floats / per_sm - 256) : smem_block_floats;
    int ch = chunk;  // the chunk's input and every warp's records of the chunk share the shared memory
    for (;;) {
      q.chunk = ch;
      q.rec_floats_per_warp = (MaxSlabChunkRecords(s, ch) + 1) * kSlabRecordFloats;
      if (q.SmemFloats() <= smem_floats || ch == 1) break;
      ch = (ch + 1) / 2;
    }
    if (q.SmemFloats() > smem_floats) continue;
    const int64_t chunks = CeilDiv(c, q.chunk), base = q.tiles * q.slab_blocks;
    const int64_t max_splits = std::min<int64_t>(chunks, std::max<int64_t>(1, CeilDiv(int64_t(std::max(1, split_target)) * 4 * num_sms, base)));
    for (int64_t sp = 1; sp <= max_splits; ++sp) {
      const int64_t split_channels = CeilDiv(chunks, sp) * q.chunk, splits = CeilDiv(c, split_channels);
      if (splits != sp) continue;  // the same split as a smaller count
      const int64_t waves = CeilDiv(base * splits, int64_t(std::max(1, num_sms)) * per_sm * std::max(1, split_target));
      const int64_t cost = waves * split_channels;
      if (best.kind == SlabKind::kNone || cost < best_cost) {
        best = q;
        best.splits = int(splits);
        best.split_channels = int(split_channels);
        best_cost = cost;
      }
    }
  }
  return best;
}

}  // namespace cuda
}  // namespace clicktrain
