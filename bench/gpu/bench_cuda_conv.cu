// CUDA-event bench of the clicktrain CUDA kernels (device-resident data, no host copies in the timed
// region): VGG-16 CIFAR conv shapes, dense FP32 / TF32 and pattern-sparse (4-entry patterns from an
// 8-pattern library, 75% connectivity pruning = 9x fewer FLOPs). Warm-up, then the median of `reps`
// runs; each run uses the next of several input sets, sized together past the L2 cache.
// Usage: bench_cuda_conv [batch=128] [reps=20] [shape]. Prints one JSON object per line.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "cuda/conv_plan.h"
#include "cuda/cuda_kernels.h"
#include "../../native/cuda/tests/layout_fixture.h"

using namespace clicktrain;
using namespace clicktrain::cuda;

namespace {

template <class T>
T* Up(const std::vector<T>& v) {
  void* p = nullptr;
  CheckCuda(cudaMalloc(&p, std::max<size_t>(1, v.size()) * sizeof(T)), "malloc");
  if (!v.empty()) CheckCuda(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "copy");
  return static_cast<T*>(p);
}

float* DevRandom(size_t n) { return Up(clicktrain_test::RandomVector(n)); }

double MedianMs(int reps, int sets, const std::function<void(int)>& run) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 3; ++i) run(i % sets);  // warm-up
  CheckCuda(cudaDeviceSynchronize(), "warm-up");
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(a);
    run(i % sets);
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t);
  }
  CheckCuda(cudaGetLastError(), "bench run");
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int batch = argc > 1 ? std::atoi(argv[1]) : 128;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  const std::string only = argc > 3 ? argv[3] : "";  // e.g. "32x32x64->64": time that shape alone
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("{\"skipped\": \"no CUDA device\"}\n");
    return 0;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  std::printf("{\"device\": \"%s\", \"sm\": %d, \"sms\": %d, \"l2_mb\": %.1f, \"batch\": %d, \"reps\": %d}\n", prop.name,
              prop.major * 10 + prop.minor, prop.multiProcessorCount, prop.l2CacheSize / 1048576.0, batch, reps);
  struct Shape { int hw, c, oc; };
  const std::vector<Shape> shapes = {{32, 3, 64},   {32, 64, 64},   {16, 64, 128}, {16, 128, 128}, {8, 128, 256},
                                     {8, 256, 256}, {4, 256, 512}, {4, 512, 512}, {2, 512, 512}};
  for (const Shape& sh : shapes) {
    Conv2DParams p;
    p.batch = batch; p.in_h = p.in_w = p.out_h = p.out_w = sh.hw; p.in_c = sh.c; p.out_c = sh.oc;
    p.filter_h = p.filter_w = 3; p.pad_top = p.pad_left = 1;
    const ConvGeom g = ToGeom(p);
    const size_t set_bytes = sizeof(float) * size_t(2 * p.InputSize() + 2 * p.OutputSize() + 2 * p.FilterSize());
    const int sets = int(std::min<size_t>(8, std::max<size_t>(2, (size_t(2) * prop.l2CacheSize + set_bytes - 1) / set_bytes)));
    std::vector<float*> x(sets), dy(sets), w(sets), y(sets), dx(sets), dw(sets);
    for (int s = 0; s < sets; ++s) {
      x[s] = DevRandom(size_t(p.InputSize())); dy[s] = DevRandom(size_t(p.OutputSize()));
      w[s] = DevRandom(size_t(p.FilterSize()));
      CheckCuda(cudaMalloc(&y[s], sizeof(float) * p.OutputSize()), "malloc");
      CheckCuda(cudaMalloc(&dx[s], sizeof(float) * p.InputSize()), "malloc");
      CheckCuda(cudaMalloc(&dw[s], sizeof(float) * p.FilterSize()), "malloc");
    }
    float* wt = nullptr;
    CheckCuda(cudaMalloc(&wt, sizeof(float) * p.FilterSize()), "malloc");
    const double flops = p.Flops();
    const std::string name = std::to_string(sh.hw) + "x" + std::to_string(sh.hw) + "x" + std::to_string(sh.c) + "->" + std::to_string(sh.oc);
    if (!only.empty() && name != only) continue;
    auto report = [&](const char* pass, const char* path, double ms, double eff_flops) {
      std::printf("{\"shape\": \"%s\", \"batch\": %d, \"pass\": \"%s\", \"path\": \"%s\", \"median_ms\": %.4f, "
                  "\"dense_equiv_gflops\": %.1f, \"effective_gflops\": %.1f, \"input_sets\": %d}\n",
                  name.c_str(), batch, pass, path, ms, flops / ms * 1e-6, eff_flops / ms * 1e-6, sets);
      std::fflush(stdout);
    };
    for (int tf = 0; tf < 2; ++tf) {
      const char* path = tf ? "dense-tf32" : "dense-fp32";
      report("forward", path, MedianMs(reps, sets, [&](int s) { LaunchDenseForward(g, x[s], w[s], y[s], tf, prop.multiProcessorCount, 0); }), flops);
      report("backprop_input", path, MedianMs(reps, sets, [&](int s) { LaunchDenseBackpropInput(g, dy[s], w[s], wt, dx[s], tf, prop.multiProcessorCount, 0); }), flops);
      report("backprop_filter", path, MedianMs(reps, sets, [&](int s) {
        LaunchDenseBackpropFilter(g, x[s], dy[s], dw[s], tf, prop.multiProcessorCount, 0); }), flops);
    }
    if (sh.c >= 16) {
      const auto masks = clicktrain_test::RandomMasks(sh.c, sh.oc, 0.25, 8, 4);
      const PatternLayout l = clicktrain_test::HandLayout(masks, sh.c, sh.oc);
      const double sparse_flops = 2.0 * batch * sh.hw * sh.hw * double(l.NumValues());
      // forward and backward data (stride 1: forward of dy with the rotated transposed layout), on the
      // general kernel and on the tiled stride-1 kernel
      std::vector<int32_t> order;
      const auto brefs = BackwardDataKernelRefs(l, &order);
      ConvGeom t = g;
      t.c = g.oc; t.oc = g.c; t.pt = 2 - g.pt; t.pl = 2 - g.pl;
      for (int tiled = 0; tiled < 2; ++tiled) {
        const char* path = tiled ? "sparse-tiled" : "sparse";
        const SparseForwardPlan fplan = PlanSparseForward(g, tiled == 1);
        GroupedSchedule fs = BuildGroupedSchedule(l.out_c, l.in_c, fplan.chunk, l.filter_order, ForwardKernelRefs(l));
        DeviceGroupedSchedule fd{fs.num_filters, fs.chunk, fs.num_chunks, Up(fs.filter_out), Up(fs.seg_group),
                                 Up(fs.group_mask), Up(fs.group_kernel), Up(fs.kernel_channel), Up(fs.kernel_value)};
        float* fvals = Up(GatherScheduleValues(l.values, fs.value_src));
        report("forward", path, MedianMs(reps, sets, [&](int s) {
          LaunchSparseForwardPlanned(g, fplan, fd, x[s], fvals, y[s], prop.multiProcessorCount, 0); }), sparse_flops);
        const SparseForwardPlan bplan = PlanSparseForward(t, tiled == 1);
        GroupedSchedule bs = BuildGroupedSchedule(l.in_c, l.out_c, bplan.chunk, order, brefs);
        DeviceGroupedSchedule bd{bs.num_filters, bs.chunk, bs.num_chunks, Up(bs.filter_out), Up(bs.seg_group),
                                 Up(bs.group_mask), Up(bs.group_kernel), Up(bs.kernel_channel), Up(bs.kernel_value)};
        float* bvals = Up(GatherScheduleValues(l.values, bs.value_src));
        report("backprop_input", path, MedianMs(reps, sets, [&](int s) {
          LaunchSparseForwardPlanned(t, bplan, bd, dy[s], bvals, dx[s], prop.multiProcessorCount, 0); }), sparse_flops);
      }
      {  // filter-slab kernels (forward, and backward data on the transposed geometry): the default plan,
         // then tuning variants (splits up to 2 blocks per SM; 2 x 8 halo lanes on the wide maps)
        const SlabSchedule fs = BuildSlabSchedule(l.out_c, l.in_c, l.filter_order, ForwardKernelRefs(l));
        const SlabSchedule bs = BuildSlabSchedule(l.in_c, l.out_c, order, brefs);
        auto upload = [&](const SlabSchedule& ss) {
          return DeviceSlabSchedule{ss.num_filters, ss.num_channels, ss.num_slabs, Up(ss.bits), Up(ss.rec_start),
                                    Up(GatherSlabRecords(l.values, ss))};
        };
        const DeviceSlabSchedule fd = upload(fs), bd = upload(bs);
        const int sms = prop.multiProcessorCount, smem = int(prop.sharedMemPerBlockOptin / sizeof(float));
        const int smem_sm = int(prop.sharedMemPerMultiprocessor / sizeof(float));
        struct Variant { const char* path; int split_target; SlabKind force; };
        for (const Variant& v : {Variant{"sparse-slab", 1, SlabKind::kNone}, Variant{"sparse-slab-s2", 2, SlabKind::kNone},
                                 Variant{"sparse-slab-h8", 1, SlabKind::kHalo}}) {
          const SlabPlan fp = PlanSlab(g.n, g.h, g.w, g.c, g.oh, g.ow, g.oc, g.pt, g.pl, fs, sms, smem, smem_sm, 0, v.split_target, v.force);
          const SlabPlan bp = PlanSlab(t.n, t.h, t.w, t.c, t.oh, t.ow, t.oc, t.pt, t.pl, bs, sms, smem, smem_sm, 0, v.split_target, v.force);
          if (fp.kind != SlabKind::kNone) {
            report("forward", v.path, MedianMs(reps, sets, [&](int s) { LaunchSparseForwardSlab(g, fp, fd, x[s], y[s], 0); }),
                   sparse_flops);
            std::printf("{\"shape\": \"%s\", \"slab_plan\": {\"path\": \"%s\", \"kind\": %d, \"warps\": %d, \"blocks\": %lld, "
                        "\"splits\": %d, \"chunk\": %d, \"smem_kb\": %.1f}}\n",
                        name.c_str(), v.path, int(fp.kind), fp.warps, (long long)fp.Blocks(), fp.splits, fp.chunk,
                        fp.SmemFloats() * 4 / 1024.0);
          }
          if (bp.kind != SlabKind::kNone)
            report("backprop_input", v.path, MedianMs(reps, sets, [&](int s) { LaunchSparseForwardSlab(t, bp, bd, dy[s], dx[s], 0); }),
                   sparse_flops);
          if (fp.kind != SlabKind::kNone)
            report("backprop_filter", v.path, MedianMs(reps, sets, [&](int s) {
              LaunchSparseBackpropFilterSlab(g, fp, fd, x[s], dy[s], dw[s], 0); }), sparse_flops);
        }
      }
      const PixelTile tile = PlanPixelTile(batch, sh.hw, sh.hw, 1, 1, 1, 1, 3, 3);
      // backward filter
      const int fchunk = PlanChannelChunk(sh.c, tile.chan_stride + 9 * kSparseBwdFiltersPerBlock,
                                          kSparseBwdFiltersPerBlock * kTilePixels + kTilePixels);
      BlockSchedule ks = BuildBlockSchedule(l.out_c, l.in_c, fchunk, kSparseBwdFiltersPerBlock, l.filter_order, ForwardKernelRefs(l), l.out_c);
      DeviceBlockSchedule kd{ks.num_filters, ks.chunk, ks.num_chunks, ks.filters_per_block, ks.num_blocks, ks.max_slots,
                             Up(ks.block_filter_out), Up(ks.seg_unit), Up(ks.seg_slot), Up(ks.unit_mask), Up(ks.unit_kernel),
                             Up(ks.kernel_channel), Up(ks.kernel_filter), Up(ks.kernel_slot), Up(ks.slot_out)};
      report("backprop_filter", "sparse", MedianMs(reps, sets, [&](int s) {
        LaunchSparseBackpropFilter(g, tile, kd, x[s], dy[s], dw[s], prop.multiProcessorCount, 0); }), sparse_flops);
      {  // tiled backward filter (natural filter order, per-weight sums in shared memory)
        const WarpTile wt = PlanWarpTile(batch, sh.hw, sh.hw);
        const int tchunk = TiledBackpropFilterChunk(wt, sh.c, MaxBlockValues(l, kTiledBwdFiltersPerBlock));
        std::vector<int32_t> identity(size_t(l.out_c));
        for (int i = 0; i < l.out_c; ++i) identity[size_t(i)] = i;
        GroupedSchedule ts = BuildGroupedSchedule(l.out_c, l.in_c, tchunk, identity, BackwardFilterKernelRefs(l));
        const GradientTargets tg = BuildGradientTargets(ts, l.in_c, l.out_c);
        const int maxv = tg.MaxBlockValues(kTiledBwdFiltersPerBlock);
        if (SparseBackpropFilterTiledFits(wt, tchunk, maxv)) {
          DeviceGroupedSchedule td{ts.num_filters, ts.chunk, ts.num_chunks, Up(ts.filter_out), Up(ts.seg_group),
                                   Up(ts.group_mask), Up(ts.group_kernel), Up(ts.kernel_channel), Up(ts.kernel_value)};
          int32_t* fv = Up(tg.filter_value);
          int64_t* vd = Up(tg.value_dense);
          report("backprop_filter", "sparse-tiled", MedianMs(reps, sets, [&](int s) {
            LaunchSparseBackpropFilterTiled(g, wt, td, fv, vd, maxv, x[s], dy[s], dw[s], prop.multiProcessorCount, 0); }),
                 sparse_flops);
        }
      }
      std::printf("{\"shape\": \"%s\", \"sparse_layout\": {\"kept_weights\": %lld, \"dense_weights\": %lld, \"theoretical_ratio\": %.2f}}\n",
                  name.c_str(), (long long)l.NumValues(), (long long)(p.FilterSize()), double(p.FilterSize()) / std::max<int64_t>(1, l.NumValues()));
    }
    CheckCuda(cudaDeviceSynchronize(), "shape done");
    for (int s = 0; s < sets; ++s) { cudaFree(x[s]); cudaFree(dy[s]); cudaFree(w[s]); cudaFree(y[s]); cudaFree(dx[s]); cudaFree(dw[s]); }
    cudaFree(wt);
  }
  return 0;
}
