// Packed pattern-sparse layout of a 3x3 convolution weight (FKW-like, after PatDNN): the shared
// format that the CPU kernels (native/sparse/sparse_conv.h) and the CUDA kernels both consume.
//
// Weight: HWIO [3, 3, in_c, out_c] (tfjs layout). Kernel (ic, oc) = the 9 taps w[kh, kw, ic, oc].
// Kernel mask: uint16_t, 9 bits, bit (kh*3 + kw) set = tap kept; 0 = kernel removed (connectivity
// pruning). Masks are given as an [in_c, out_c] array (ic major, the order of HWIO's inner dims):
// masks[ic * out_c + oc].
//
// Everything below is plain int32/uint16/float vectors so it can be copied to a GPU as is.
//
//   patterns[p]              the layer's pattern library: distinct non-zero masks present, sorted by
//                            (popcount, mask); pattern_size[p] = popcount.
//   filter_order[s]          filter REORDER: packed filter slot s -> original output channel oc.
//                            Policy: slots sorted by kept-kernel count (descending), then by the
//                            per-filter pattern histogram (lexicographic, so filters with the same
//                            pattern mix are adjacent), then by oc. Kernels never apply the
//                            permutation to data: a slot's results are written straight into output
//                            channel filter_order[s] (forward), and gradients are produced in packed
//                            order and scattered through value_dense_index, so the permutation is
//                            undone on output and never leaks into the next layer.
//   filter_slot[oc]          inverse permutation (oc -> slot).
//   filter_kernel_begin[s]   kept kernels of slot s are [filter_kernel_begin[s], filter_kernel_begin[s+1]);
//                            size out_c + 1.
//   kernel_ic[k]             input channel of kept kernel k.
//   kernel_pattern[k]        library index of kernel k.
//   kernel_value_begin[k]    its values are values[kernel_value_begin[k] .. + pattern_size[...]), in
//                            ascending tap-bit order (kh*3 + kw); size num_kernels + 1.
//   Inside a slot, kernels are grouped by pattern (sorted by (pattern, ic)), so each pattern's loop
//   is branch-free. Groups: filter_group_begin[s] .. filter_group_begin[s+1] index the group arrays
//   (size out_c + 1); group g has pattern group_pattern[g] and kernels
//   [group_kernel_begin[g], group_kernel_begin[g+1]) (size num_groups + 1).
//   values[i]                the non-zero weights only (count = sum of pattern sizes = kept weights).
//   value_dense_index[i]     flat HWIO index of values[i]: ((kh*3 + kw)*in_c + ic)*out_c + oc.
//                            RefreshValues / UnpackToDense / ScatterPackedToDense are O(nnz) through it.
//
// Backward data uses the same layer transposed (filters = input channels, kernels = output
// channels, each mask rotated 180 degrees: bit b -> bit 8-b, itself a pattern). BuildPatternLayout
// builds it once into `transposed` (its own transposed is null); transposed_value_src[i] is the
// index in `values` of transposed->values[i], and RefreshValues keeps both in sync.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace clicktrain {

// Per-layout cache of the CPU kernels' per-pass plans (sparse_conv.cc), derived from the layout's
// structure only (never from values): a frozen layer rebuilds nothing per call. A copy of a
// layout starts with an empty cache, so a copy whose structure is then edited cannot reuse plans
// of the original; editing a layout's structure in place after a sparse call is not supported.
struct LayoutPlanCache {
  LayoutPlanCache() = default;
  LayoutPlanCache(const LayoutPlanCache&) {}
  LayoutPlanCache& operator=(const LayoutPlanCache&) {
    Clear();
    return *this;
  }
  void Clear() {
    std::lock_guard<std::mutex> lk(mu_);
    plans_.clear();
  }
  // The cached plan of type T (one `kind` tag per type) that satisfies match(const T&), else
  // build() (a std::shared_ptr<const T>) is cached and returned; the oldest of kCapacity goes.
  template <class T, class Match, class Build>
  std::shared_ptr<const T> Get(int kind, Match match, Build build) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (const auto& e : plans_) {
        if (e.first != kind) continue;
        auto plan = std::static_pointer_cast<const T>(e.second);
        if (match(*plan)) return plan;
      }
    }
    std::shared_ptr<const T> plan = build();  // outside the lock: O(kernels)
    std::lock_guard<std::mutex> lk(mu_);
    if (plans_.size() >= kCapacity) plans_.erase(plans_.begin());
    plans_.emplace_back(kind, plan);
    return plan;
  }

 private:
  static constexpr size_t kCapacity = 8;
  std::mutex mu_;
  std::vector<std::pair<int, std::shared_ptr<const void>>> plans_;
};

// The dense fallback's HWIO copy of a layout's weights (sparse_conv.cc), kept with a copy of the
// packed values it was made from: reused while the values are bitwise equal (inference, and the
// second pass of a training step), remade when they differ, so no write to the values can make it
// stale. A copy of a layout starts without it.
struct DenseWeightCache {
  struct Copy {
    std::vector<float> values, dense;
  };
  DenseWeightCache() = default;
  DenseWeightCache(const DenseWeightCache&) {}
  DenseWeightCache& operator=(const DenseWeightCache&) {
    std::lock_guard<std::mutex> lk(mu);
    copy.reset();
    return *this;
  }
  std::mutex mu;
  std::shared_ptr<const Copy> copy;
};

struct PatternLayout {
  int32_t in_c = 0, out_c = 0;

  std::vector<uint16_t> patterns;
  std::vector<int32_t> pattern_size;

  std::vector<int32_t> filter_order;
  std::vector<int32_t> filter_slot;
  std::vector<int32_t> filter_kernel_begin;

  std::vector<int32_t> kernel_ic;
  std::vector<int32_t> kernel_pattern;
  std::vector<int32_t> kernel_value_begin;

  std::vector<int32_t> filter_group_begin;
  std::vector<int32_t> group_pattern;
  std::vector<int32_t> group_kernel_begin;

  std::vector<float> values;
  std::vector<int32_t> value_dense_index;

  // Optional view (a GPU copy may ignore it): kernel_by_ic[k] for k in a slot's kernel range is a
  // kernel index of the same slot, in increasing input-channel order, for consumers that walk a
  // filter by input channel. The CPU kernels build their own per-call channel-block plan from
  // kernel_ic instead (sparse_conv.cc).
  std::vector<int32_t> kernel_by_ic;

  std::shared_ptr<PatternLayout> transposed;
  std::vector<int32_t> transposed_value_src;

  // Refresh order (derived; CPU refresh only, a GPU copy may ignore it): the kept positions in
  // ascending dense order, so that a refresh streams the dense weight once instead of gathering
  // it at random: refresh_dense_index ascending, refresh_value[j] its index in values,
  // refresh_transposed_value[j] its index in transposed->values (empty without a transposed
  // companion). Built by BuildPatternLayout; a layout assembled by hand gets it on first refresh.
  std::vector<int32_t> refresh_dense_index, refresh_value, refresh_transposed_value;

  mutable LayoutPlanCache plan_cache;
  mutable DenseWeightCache dense_cache;

  int64_t NumKernels() const { return static_cast<int64_t>(kernel_ic.size()); }
  int64_t NumValues() const { return static_cast<int64_t>(values.size()); }
  int64_t NumGroups() const { return static_cast<int64_t>(group_pattern.size()); }
};

// 180-degree rotation of a 3x3 mask (tap (kh, kw) -> (2-kh, 2-kw)).
uint16_t RotatePattern180(uint16_t mask);

// Builds the layout (values all zero until RefreshValues) from masks[ic * out_c + oc].
// Throws std::invalid_argument when a mask has bits above bit 8 or sizes are out of range.
// build_transposed = false skips the backward-data companion (forward-only users, the GPU copy).
PatternLayout BuildPatternLayout(const uint16_t* masks, int64_t in_c, int64_t out_c,
                                 bool build_transposed = true);

// Kernel masks from the zero structure of a dense HWIO [3,3,in_c,out_c] weight (tap kept <=> != 0).
std::vector<uint16_t> MasksFromDense(const float* dense_hwio, int64_t in_c, int64_t out_c);

// Dense HWIO -> values (and transposed values), O(nnz). Positions outside the masks are ignored.
void RefreshValues(PatternLayout& layout, const float* dense_hwio);
// Same, and reports whether every pruned position of dense_hwio is zero (false: the weight no
// longer has this sparsity; the values are refreshed either way). The check counts the non-zeros
// of the whole dense weight (one streaming, threaded pass) against those of the kept values.
bool RefreshValuesChecked(PatternLayout& layout, const float* dense_hwio);
// Copies packed values (size NumValues, layout order) in, O(nnz), updating the transposed copy.
void SetPackedValues(PatternLayout& layout, const float* packed);

// Builds the refresh order when it is missing or stale (BuildPatternLayout builds it).
void EnsureRefreshOrder(PatternLayout& layout);
// Streams the dense index space in blocks of kRefreshBlock floats (threaded, blocks in order within
// a thread): fn(d0, d1, j0, j1) for dense range [d0, d1) and the refresh-order entries [j0, j1)
// that fall in it. The passes that read or write a whole dense weight go through this, so each
// touches the dense array once, in order, while the kept entries of a block are still in cache.
constexpr int64_t kRefreshBlock = 16384;  // floats: 64 KiB, stays in L2 for the second look
void ForEachRefreshBlock(PatternLayout& layout,
                         const std::function<void(int64_t, int64_t, int64_t, int64_t)>& fn);

// values -> dense HWIO, zeros at every pruned position. O(9*in_c*out_c) for the zero fill.
void UnpackToDense(const PatternLayout& layout, float* dense_hwio);
// Same for any packed array in layout order (e.g. a backward-filter gradient).
void ScatterPackedToDense(const PatternLayout& layout, const float* packed, float* dense_hwio);

struct LayoutStats {
  int64_t total_kernels = 0;     // in_c * out_c
  int64_t kept_kernels = 0;
  int64_t kept_weights = 0;      // = NumValues()
  int64_t dense_weights = 0;     // 9 * in_c * out_c
  int64_t empty_filters = 0;     // filters with no kept kernel
  std::vector<uint16_t> patterns;           // library
  std::vector<int64_t> pattern_histogram;   // kernels per library pattern
  double dense_flops = 0;        // 2 * out pixels * dense weights (for the given output size)
  double sparse_flops = 0;       // 2 * out pixels * kept weights
  double theoretical_ratio = 0;  // dense_weights / kept_weights (0 when nothing is kept)
};
// FLOPs count batch * out_h * out_w output pixels (pass 1,1,1 for per-pixel counts).
LayoutStats ComputeLayoutStats(const PatternLayout& layout, int64_t batch, int64_t out_h,
                               int64_t out_w);

}  // namespace clicktrain
