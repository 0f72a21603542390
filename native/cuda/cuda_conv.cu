// Host side of the CUDA path: device discovery, buffer pool, schedule cache, copies and timing.
#include "cuda/cuda_conv.h"

#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "cuda/conv_plan.h"
#include "cuda/cuda_kernels.h"

namespace clicktrain {
namespace cuda {
namespace {

std::mutex g_mutex;

// Grow-only device buffers, one per role, reused across calls.
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  void* Get(size_t need) {
    if (need > bytes) {
      if (ptr) cudaFree(ptr);
      ptr = nullptr;
      bytes = 0;
      CheckCuda(cudaMalloc(&ptr, need), "cudaMalloc");
      bytes = need;
    }
    return ptr;
  }
};

template <class T>
T* Upload(const std::vector<T>& v, std::vector<void*>* owned) {
  void* p = nullptr;
  const size_t bytes = std::max<size_t>(1, v.size()) * sizeof(T);
  CheckCuda(cudaMalloc(&p, bytes), "cudaMalloc schedule");
  owned->push_back(p);
  if (!v.empty()) CheckCuda(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "schedule copy");
  return static_cast<T*>(p);
}

// A device-resident schedule (structure only); freed when evicted.
struct CachedSchedule {
  uint64_t key = 0;
  GroupedSchedule host_grouped;   // value_src kept on host for the per-call value gather
  BlockSchedule host_block;
  SlabSchedule host_slab;
  DeviceSlabSchedule slab;
  DeviceGroupedSchedule grouped;
  DeviceBlockSchedule block;
  // Tiled backward-filter only: where each value's gradient lands (device copies).
  int32_t* filter_value = nullptr;
  int64_t* value_dense = nullptr;
  int max_block_values = 0;
  std::vector<void*> owned;
  ~CachedSchedule() {
    for (void* p : owned) cudaFree(p);
  }
};

struct State {
  bool init = false;
  std::string why;
  int num_sms = 1;
  int smem_floats = 12288;     // opt-in shared memory per block (floats)
  int smem_sm_floats = 12288;  // shared memory per SM (floats)
  std::string name;
  cudaStream_t stream = nullptr;
  cudaEvent_t ev[4] = {};
  DeviceBuffer in0, in1, out, work;
  std::list<std::unique_ptr<CachedSchedule>> cache;  // most recent first
};

State& St() {
  static State s;
  return s;
}

bool InitLocked(std::string* why) {
  State& s = St();
  if (s.init) {
    if (why) *why = s.why;
    return s.why.empty();
  }
  s.init = true;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    s.why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(err);
  } else if (count == 0) {
    s.why = "no CUDA device";
  } else {
    cudaDeviceProp prop;
    err = cudaGetDeviceProperties(&prop, 0);
    if (err == cudaSuccess) err = cudaSetDevice(0);
    if (err == cudaSuccess) err = cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking);
    for (int i = 0; i < 4 && err == cudaSuccess; ++i) err = cudaEventCreate(&s.ev[i]);
    if (err != cudaSuccess) {
      s.why = std::string("CUDA init failed: ") + cudaGetErrorString(err);
    } else if (prop.major < 8) {
      s.why = "device " + std::string(prop.name) + " is sm_" + std::to_string(prop.major * 10 + prop.minor) +
              "; this build targets sm_80 and newer";
    } else {
      s.num_sms = prop.multiProcessorCount;
      s.smem_floats = int(prop.sharedMemPerBlockOptin / sizeof(float));
      s.smem_sm_floats = int(prop.sharedMemPerMultiprocessor / sizeof(float));
      s.name = std::string(prop.name) + " (sm_" + std::to_string(prop.major * 10 + prop.minor) + ", " +
               std::to_string(prop.multiProcessorCount) + " SMs)";
    }
  }
  if (why) *why = s.why;
  return s.why.empty();
}

void RequireDevice() {
  std::string why;
  if (!InitLocked(&why)) throw std::runtime_error("CUDA unavailable: " + why);
}

// Copies and timing of one call: H2D copies, kernels, D2H copy, each bracketed by events.
class Call {
 public:
  explicit Call(CudaTiming* t) : t_(t) {
    if (t_) *t_ = CudaTiming();
    CheckCuda(cudaEventRecord(St().ev[0], St().stream), "event");
  }
  void H2D(void* dst, const void* src, size_t bytes) {
    if (bytes == 0) return;
    CheckCuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, St().stream), "H2D copy");
    if (t_) { ++t_->h2d_copies; t_->h2d_bytes += int64_t(bytes); }
  }
  void KernelsBegin() { CheckCuda(cudaEventRecord(St().ev[1], St().stream), "event"); }
  void KernelsEnd() { CheckCuda(cudaEventRecord(St().ev[2], St().stream), "event"); }
  void D2H(void* dst, const void* src, size_t bytes) {
    if (bytes > 0) {
      CheckCuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, St().stream), "D2H copy");
      if (t_) { ++t_->d2h_copies; t_->d2h_bytes += int64_t(bytes); }
    }
    CheckCuda(cudaEventRecord(St().ev[3], St().stream), "event");
    CheckCuda(cudaEventSynchronize(St().ev[3]), "synchronize");
    CheckCuda(cudaGetLastError(), "kernel execution");
    if (t_) {
      float ms = 0;
      cudaEventElapsedTime(&ms, St().ev[0], St().ev[3]); t_->total_ms = ms;
      cudaEventElapsedTime(&ms, St().ev[0], St().ev[1]); t_->h2d_ms = ms;
      cudaEventElapsedTime(&ms, St().ev[1], St().ev[2]); t_->kernel_ms = ms;
      cudaEventElapsedTime(&ms, St().ev[2], St().ev[3]); t_->d2h_ms = ms;
    }
  }

 private:
  CudaTiming* t_;
};

float* F(void* p) { return static_cast<float*>(p); }

enum class SchedKind : uint64_t {
  kForward = 1, kBackpropInput = 2, kBackpropFilter = 3, kBackpropFilterTiled = 4, kForwardSlab = 5, kBackpropInputSlab = 6
};

void BuildSlab(const PatternLayout& layout, SchedKind kind, CachedSchedule* c) {
  SlabSchedule& h = c->host_slab;
  if (kind == SchedKind::kForwardSlab) {
    h = BuildSlabSchedule(layout.out_c, layout.in_c, layout.filter_order, ForwardKernelRefs(layout));
  } else {
    std::vector<int32_t> order;
    const std::vector<KernelRef> refs = BackwardDataKernelRefs(layout, &order);
    h = BuildSlabSchedule(layout.in_c, layout.out_c, order, refs);
  }
  DeviceSlabSchedule& d = c->slab;
  d.num_filters = h.num_filters; d.num_channels = h.num_channels; d.num_slabs = h.num_slabs;
  d.bits = Upload(h.bits, &c->owned);
  d.rec_start = Upload(h.rec_start, &c->owned);
  // records are per call (values change every step); a buffer of the right size lives with the schedule
  const size_t floats = size_t(h.NumRecords() + 1) * kSlabRecordFloats;
  void* p = nullptr;
  CheckCuda(cudaMalloc(&p, floats * sizeof(float)), "cudaMalloc slab records");
  c->owned.push_back(p);
  d.records = static_cast<float*>(p);
}

CachedSchedule* GetSchedule(const PatternLayout& layout, SchedKind kind, int chunk) {
  State& s = St();
  const uint64_t key = LayoutStructureHash(layout) ^ (uint64_t(kind) << 56) ^ (uint64_t(chunk) * 0x9E3779B97F4A7C15ull);
  for (auto it = s.cache.begin(); it != s.cache.end(); ++it) {
    if ((*it)->key == key) {
      s.cache.splice(s.cache.begin(), s.cache, it);
      return s.cache.front().get();
    }
  }
  auto c = std::make_unique<CachedSchedule>();
  c->key = key;
  if (kind == SchedKind::kForwardSlab || kind == SchedKind::kBackpropInputSlab) {
    BuildSlab(layout, kind, c.get());
  } else if (kind == SchedKind::kBackpropFilter) {
    BlockSchedule& h = c->host_block;
    h = BuildBlockSchedule(layout.out_c, layout.in_c, chunk, kSparseBwdFiltersPerBlock, layout.filter_order,
                           ForwardKernelRefs(layout), layout.out_c);
    DeviceBlockSchedule& d = c->block;
    d.num_filters = h.num_filters; d.chunk = h.chunk; d.num_chunks = h.num_chunks;
    d.filters_per_block = h.filters_per_block; d.num_blocks = h.num_blocks; d.max_slots = h.max_slots;
    d.filter_out = Upload(h.block_filter_out, &c->owned);
    d.seg_unit = Upload(h.seg_unit, &c->owned);
    d.seg_slot = Upload(h.seg_slot, &c->owned);
    d.unit_mask = Upload(h.unit_mask, &c->owned);
    d.unit_kernel = Upload(h.unit_kernel, &c->owned);
    d.kernel_channel = Upload(h.kernel_channel, &c->owned);
    d.kernel_filter = Upload(h.kernel_filter, &c->owned);
    d.kernel_slot = Upload(h.kernel_slot, &c->owned);
    d.slot_out = Upload(h.slot_out, &c->owned);
  } else {
    GroupedSchedule& h = c->host_grouped;
    if (kind == SchedKind::kForward) {
      h = BuildGroupedSchedule(layout.out_c, layout.in_c, chunk, layout.filter_order, ForwardKernelRefs(layout));
    } else if (kind == SchedKind::kBackpropFilterTiled) {
      std::vector<int32_t> identity(size_t(layout.out_c));
      for (int32_t i = 0; i < layout.out_c; ++i) identity[size_t(i)] = i;
      h = BuildGroupedSchedule(layout.out_c, layout.in_c, chunk, identity, BackwardFilterKernelRefs(layout));
      const GradientTargets targets = BuildGradientTargets(h, layout.in_c, layout.out_c);
      c->filter_value = Upload(targets.filter_value, &c->owned);
      c->value_dense = Upload(targets.value_dense, &c->owned);
      c->max_block_values = targets.MaxBlockValues(kTiledBwdFiltersPerBlock);
    } else {
      std::vector<int32_t> order;
      std::vector<KernelRef> refs = BackwardDataKernelRefs(layout, &order);
      h = BuildGroupedSchedule(layout.in_c, layout.out_c, chunk, order, refs);
    }
    DeviceGroupedSchedule& d = c->grouped;
    d.num_filters = h.num_filters; d.chunk = h.chunk; d.num_chunks = h.num_chunks;
    d.filter_out = Upload(h.filter_out, &c->owned);
    d.seg_group = Upload(h.seg_group, &c->owned);
    d.group_mask = Upload(h.group_mask, &c->owned);
    d.group_kernel = Upload(h.group_kernel, &c->owned);
    d.kernel_channel = Upload(h.kernel_channel, &c->owned);
    d.kernel_value = Upload(h.kernel_value, &c->owned);
  }
  s.cache.push_front(std::move(c));
  while (s.cache.size() > 64) s.cache.pop_back();
  return s.cache.front().get();
}

void CheckSparse(const Conv2DParams& p, const PatternLayout& layout) {
  std::string why;
  if (!CudaSparseSupported(p, layout, &why)) throw std::invalid_argument("cuda sparse conv: " + why);
}

}  // namespace

bool CudaAvailable(std::string* why) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return InitLocked(why);
}

std::string CudaDeviceName() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return InitLocked(nullptr) ? St().name : std::string();
}

void CudaConv2DForward(const Conv2DParams& p, const float* x, const float* filter, float* y,
                       const CudaConvOptions& opt, CudaTiming* timing) {
  ValidateConv2DParams(p);
  std::lock_guard<std::mutex> lock(g_mutex);
  RequireDevice();
  const ConvGeom g = ToGeom(p);
  State& s = St();
  const size_t xb = sizeof(float) * p.InputSize(), wb = sizeof(float) * p.FilterSize(), yb = sizeof(float) * p.OutputSize();
  float* dx = F(s.in0.Get(xb + 4)); float* dw = F(s.in1.Get(wb + 4)); float* dyp = F(s.out.Get(yb + 4));
  Call call(timing);
  call.H2D(dx, x, xb);
  call.H2D(dw, filter, wb);
  call.KernelsBegin();
  LaunchDenseForward(g, dx, dw, dyp, opt.tf32, s.num_sms, s.stream);
  call.KernelsEnd();
  call.D2H(y, dyp, yb);
  if (timing) timing->path = opt.tf32 ? "dense-tf32" : "dense-fp32";
}

void CudaConv2DBackpropInput(const Conv2DParams& p, const float* dy, const float* filter, float* dx,
                             const CudaConvOptions& opt, CudaTiming* timing) {
  ValidateConv2DParams(p);
  std::lock_guard<std::mutex> lock(g_mutex);
  RequireDevice();
  const ConvGeom g = ToGeom(p);
  State& s = St();
  const size_t xb = sizeof(float) * p.InputSize(), wb = sizeof(float) * p.FilterSize(), yb = sizeof(float) * p.OutputSize();
  float* ddy = F(s.in0.Get(yb + 4)); float* dw = F(s.in1.Get(wb + 4));
  float* ddx = F(s.out.Get(xb + 4)); float* wt = F(s.work.Get(wb + 4));
  Call call(timing);
  call.H2D(ddy, dy, yb);
  call.H2D(dw, filter, wb);
  call.KernelsBegin();
  LaunchDenseBackpropInput(g, ddy, dw, wt, ddx, opt.tf32, s.num_sms, s.stream);
  call.KernelsEnd();
  call.D2H(dx, ddx, xb);
  if (timing) timing->path = opt.tf32 ? "dense-tf32" : "dense-fp32";
}

void CudaConv2DBackpropFilter(const Conv2DParams& p, const float* x, const float* dy, float* dfilter,
                              const CudaConvOptions& opt, CudaTiming* timing) {
  ValidateConv2DParams(p);
  std::lock_guard<std::mutex> lock(g_mutex);
  RequireDevice();
  const ConvGeom g = ToGeom(p);
  State& s = St();
  const size_t xb = sizeof(float) * p.InputSize(), wb = sizeof(float) * p.FilterSize(), yb = sizeof(float) * p.OutputSize();
  float* dxp = F(s.in0.Get(xb + 4)); float* ddy = F(s.in1.Get(yb + 4)); float* dw = F(s.out.Get(wb + 4));
  Call call(timing);
  call.H2D(dxp, x, xb);
  call.H2D(ddy, dy, yb);
  call.KernelsBegin();
  LaunchDenseBackpropFilter(g, dxp, ddy, dw, opt.tf32, s.num_sms, s.stream);
  call.KernelsEnd();
  call.D2H(dfilter, dw, wb);
  if (timing) timing->path = opt.tf32 ? "dense-tf32" : "dense-fp32";
}

bool CudaSparseSupported(const Conv2DParams& p, const PatternLayout& layout, std::string* why) {
  std::string w;
  if (p.filter_h != 3 || p.filter_w != 3) w = "pattern kernels need 3x3 filters";
  else if (p.in_c != layout.in_c || p.out_c != layout.out_c) w = "layout channels differ from the conv's";
  else {
    try {
      ValidateConv2DParams(p);
      ValidateLayoutForCuda(layout);
    } catch (const std::exception& e) {
      w = e.what();
    }
  }
  if (why) *why = w;
  return w.empty();
}

// CLICKTRAIN_CUDA_SPARSE_TILED=0 keeps every sparse forward on the general kernel (A/B checks);
// CLICKTRAIN_CUDA_SPARSE_SLAB=0 keeps stride-1 forward / backward-data on the per-filter tiled kernel.
static bool TiledAllowed() {
  const char* v = std::getenv("CLICKTRAIN_CUDA_SPARSE_TILED");
  return !(v && std::string(v) == "0");
}
static bool SlabAllowed() {
  const char* v = std::getenv("CLICKTRAIN_CUDA_SPARSE_SLAB");
  return TiledAllowed() && !(v && std::string(v) == "0");
}

namespace {
bool SlabApplies(const ConvGeom& g) {
  return SlabAllowed() && SparseForwardTiledApplies(g) && SlabKindFor(g.h, g.w, g.oh, g.ow, g.pt, g.pl) != SlabKind::kNone;
}

// The slab schedule (cached), plan and current records of a layout for geometry g; plan.kind is kNone
// when the slab kernels do not fit (then nothing is gathered).
struct SlabCall {
  CachedSchedule* c;
  SlabPlan plan;
  std::vector<float> records;
};
SlabCall PrepareSlab(const ConvGeom& g, const PatternLayout& layout, SchedKind kind) {
  State& s = St();
  SlabCall call{GetSchedule(layout, kind, 0), SlabPlan(), {}};
  call.plan = PlanSlab(g.n, g.h, g.w, g.c, g.oh, g.ow, g.oc, g.pt, g.pl, call.c->host_slab, s.num_sms, s.smem_floats,
                       s.smem_sm_floats);
  if (call.plan.kind != SlabKind::kNone) call.records = GatherSlabRecords(layout.values, call.c->host_slab);
  return call;
}

// Forward (or backward-data through the transposed geometry) on the slab kernel: records gathered on
// the host, uploaded with the input, one kernel. False (nothing run) when the plan does not fit.
bool RunSlab(const ConvGeom& g, const PatternLayout& layout, SchedKind kind, const float* in, size_t in_bytes,
             float* out, size_t out_bytes, CudaTiming* timing) {
  const SlabCall sc = PrepareSlab(g, layout, kind);
  if (sc.plan.kind == SlabKind::kNone) return false;
  State& s = St();
  float* din = F(s.in0.Get(in_bytes + 4)); float* dout = F(s.out.Get(out_bytes + 4));
  Call call(timing);
  call.H2D(din, in, in_bytes);
  call.H2D(sc.c->slab.records, sc.records.data(), sc.records.size() * sizeof(float));
  call.KernelsBegin();
  LaunchSparseForwardSlab(g, sc.plan, sc.c->slab, din, dout, s.stream);
  call.KernelsEnd();
  call.D2H(out, dout, out_bytes);
  if (timing) timing->path = "sparse-slab";
  return true;
}

// Backward-filter on the slab kernel with the forward's schedule and plan (records carry the masks).
bool RunSlabBackpropFilter(const ConvGeom& g, const PatternLayout& layout, const float* x, size_t x_bytes,
                           const float* dy, size_t dy_bytes, float* dfilter, size_t w_bytes, CudaTiming* timing) {
  const SlabCall sc = PrepareSlab(g, layout, SchedKind::kForwardSlab);
  if (sc.plan.kind == SlabKind::kNone) return false;
  State& s = St();
  float* dxp = F(s.in0.Get(x_bytes + 4)); float* ddy = F(s.in1.Get(dy_bytes + 4)); float* dw = F(s.out.Get(w_bytes + 4));
  Call call(timing);
  call.H2D(dxp, x, x_bytes);
  call.H2D(ddy, dy, dy_bytes);
  call.H2D(sc.c->slab.records, sc.records.data(), sc.records.size() * sizeof(float));
  call.KernelsBegin();
  LaunchSparseBackpropFilterSlab(g, sc.plan, sc.c->slab, dxp, ddy, dw, s.stream);
  call.KernelsEnd();
  call.D2H(dfilter, dw, w_bytes);
  if (timing) timing->path = "sparse-slab";
  return true;
}
}  // namespace

void CudaSparseConv2DForward(const Conv2DParams& p, const float* x, const PatternLayout& layout, float* y,
                             CudaTiming* timing) {
  CheckSparse(p, layout);
  std::lock_guard<std::mutex> lock(g_mutex);
  RequireDevice();
  const ConvGeom g = ToGeom(p);
  State& s = St();
  if (SlabApplies(g) && RunSlab(g, layout, SchedKind::kForwardSlab, x, sizeof(float) * p.InputSize(), y,
                                sizeof(float) * p.OutputSize(), timing))
    return;
  const SparseForwardPlan plan = PlanSparseForward(g, TiledAllowed());
  CachedSchedule* c = GetSchedule(layout, SchedKind::kForward, plan.chunk);
  const std::vector<float> vals = GatherScheduleValues(layout.values, c->host_grouped.value_src);
  const size_t xb = sizeof(float) * p.InputSize(), yb = sizeof(float) * p.OutputSize(), vb = sizeof(float) * vals.size();
  float* dxp = F(s.in0.Get(xb + 4)); float* dv = F(s.in1.Get(vb + 4)); float* dyp = F(s.out.Get(yb + 4));
  Call call(timing);
  call.H2D(dxp, x, xb);
  call.H2D(dv, vals.data(), vb);
  call.KernelsBegin();
  LaunchSparseForwardPlanned(g, plan, c->grouped, dxp, dv, dyp, s.num_sms, s.stream);
  call.KernelsEnd();
  call.D2H(y, dyp, yb);
  if (timing) timing->path = plan.tiled ? "sparse-tiled" : "sparse";
}

void CudaSparseConv2DBackpropInput(const Conv2DParams& p, const float* dy, const PatternLayout& layout,
                                   float* dx, CudaTiming* timing) {
  CheckSparse(p, layout);
  if (p.stride_h != 1 || p.stride_w != 1) {
    std::vector<float> dense(size_t(p.FilterSize()));
    UnpackToDense(layout, dense.data());
    CudaConv2DBackpropInput(p, dy, dense.data(), dx, CudaConvOptions(), timing);
    if (timing) timing->path = "dense-fallback(stride>1)";
    return;
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  RequireDevice();
  State& s = St();
  // dx = stride-1 forward conv of dy with the rotated transposed layout, padding (3-1)*d - pad.
  ConvGeom g = ToGeom(p);
  ConvGeom t = g;
  t.h = g.oh; t.w = g.ow; t.c = g.oc;
  t.oh = g.h; t.ow = g.w; t.oc = g.c;
  t.pt = 2 * g.dh - g.pt; t.pl = 2 * g.dw - g.pl;
  t.sh = t.sw = 1;
  if (SlabApplies(t) && RunSlab(t, layout, SchedKind::kBackpropInputSlab, dy, sizeof(float) * p.OutputSize(), dx,
                                sizeof(float) * p.InputSize(), timing))
    return;
  const SparseForwardPlan plan = PlanSparseForward(t, TiledAllowed());
  CachedSchedule* c = GetSchedule(layout, SchedKind::kBackpropInput, plan.chunk);
  const std::vector<float> vals = GatherScheduleValues(layout.values, c->host_grouped.value_src);
  const size_t xb = sizeof(float) * p.InputSize(), yb = sizeof(float) * p.OutputSize(), vb = sizeof(float) * vals.size();
  float* ddy = F(s.in0.Get(yb + 4)); float* dv = F(s.in1.Get(vb + 4)); float* ddx = F(s.out.Get(xb + 4));
  Call call(timing);
  call.H2D(ddy, dy, yb);
  call.H2D(dv, vals.data(), vb);
  call.KernelsBegin();
  LaunchSparseForwardPlanned(t, plan, c->grouped, ddy, dv, ddx, s.num_sms, s.stream);
  call.KernelsEnd();
  call.D2H(dx, ddx, xb);
  if (timing) timing->path = plan.tiled ? "sparse-tiled" : "sparse";
}

void CudaSparseConv2DBackpropFilter(const Conv2DParams& p, const float* x, const float* dy,
                                    const PatternLayout& layout, float* dfilter, CudaTiming* timing) {
  CheckSparse(p, layout);
  std::lock_guard<std::mutex> lock(g_mutex);
  RequireDevice();
  const ConvGeom g = ToGeom(p);
  State& s = St();
  const size_t xb = sizeof(float) * p.InputSize(), yb = sizeof(float) * p.OutputSize(), wb = sizeof(float) * p.FilterSize();
  // Slab backward-filter on 4x4 / 2x2 maps only: on wider maps its per-weight shuffle reductions make it
  // slower than the tiled kernel (H200, bench/RESULTS.md).
  const SlabKind bwd_kind = SlabKindFor(g.h, g.w, g.oh, g.ow, g.pt, g.pl);
  if ((bwd_kind == SlabKind::kWhole4 || bwd_kind == SlabKind::kWhole2) && SlabApplies(g) &&
      RunSlabBackpropFilter(g, layout, x, xb, dy, yb, dfilter, wb, timing))
    return;
  // Tiled kernel when it applies and its per-weight sums fit next to the staged chunk.
  CachedSchedule* tiled = nullptr;
  WarpTile wtile;
  if (TiledAllowed() && SparseForwardTiledApplies(g)) {
    wtile = PlanWarpTile(p.batch, p.out_h, p.out_w);
    const int maxv = MaxBlockValues(layout, kTiledBwdFiltersPerBlock);
    const int chunk = TiledBackpropFilterChunk(wtile, g.c, maxv);
    if (SparseBackpropFilterTiledFits(wtile, chunk, maxv)) tiled = GetSchedule(layout, SchedKind::kBackpropFilterTiled, chunk);
  }
  const PixelTile tile = PlanPixelTile(p.batch, p.out_h, p.out_w, g.sh, g.sw, g.dh, g.dw, 3, 3);
  CachedSchedule* c = tiled;
  if (!c) {
    const int chunk = PlanChannelChunk(std::max(g.c, 1), tile.chan_stride + 9 * kSparseBwdFiltersPerBlock,
                                       kSparseBwdFiltersPerBlock * kTilePixels + kTilePixels);
    c = GetSchedule(layout, SchedKind::kBackpropFilter, chunk);
  }
  float* dxp = F(s.in0.Get(xb + 4)); float* ddy = F(s.in1.Get(yb + 4)); float* dw = F(s.out.Get(wb + 4));
  Call call(timing);
  call.H2D(dxp, x, xb);
  call.H2D(ddy, dy, yb);
  call.KernelsBegin();
  if (tiled)
    LaunchSparseBackpropFilterTiled(g, wtile, c->grouped, c->filter_value, c->value_dense, c->max_block_values, dxp,
                                    ddy, dw, s.num_sms, s.stream);
  else
    LaunchSparseBackpropFilter(g, tile, c->block, dxp, ddy, dw, s.num_sms, s.stream);
  call.KernelsEnd();
  call.D2H(dfilter, dw, wb);
  if (timing) timing->path = tiled ? "sparse-tiled" : "sparse";
}

}  // namespace cuda
}  // namespace clicktrain
