// Batch-norm training kernels on the VGG-16 CIFAR shapes (not a ctest): the statistics pass, the
// relu'd apply and the whole gradient (relu folded in), medians, with the bandwidth each reaches
// counting every array it must read or write once (apply 2, gradient 5: its sums pass reads x and
// dy, its dx pass reads both again and writes dx). Compare with a streaming triad on the machine:
// these passes are memory-bound. Usage: bench_batch_norm [threads] [batch] [reps]
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "common/thread_pool.h"
#include "dense/batch_norm.h"
#include "bench_timing.h"

using namespace clicktrain;

using clicktrain_bench::TimeMs;

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : NumThreads();
  const int64_t batch = argc > 2 ? std::atoi(argv[2]) : 32;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 21;
  SetNumThreads(threads);
  std::printf("threads %d, batch %lld, median of %d\n", threads, static_cast<long long>(batch), reps);
  struct Shape { int hw, c; };
  for (Shape sh : {Shape{32, 64}, Shape{16, 128}, Shape{8, 256}, Shape{4, 512}, Shape{2, 512}}) {
    const int64_t rows = batch * sh.hw * sh.hw, C = sh.c, n = rows * C;
    std::vector<float> x(n), dy(n), y(n), dx(n), scale(C, 1.1f), offset(C, 0.1f), mean(C), var(C), dscale(C),
        doffset(C);
    std::mt19937 rng(1);
    std::normal_distribution<float> nd;
    for (auto& v : x) v = nd(rng);
    for (auto& v : dy) v = nd(rng);
    const double stats = TimeMs(reps, [&] {
      BatchNormTrainingForward(rows, C, x.data(), scale.data(), offset.data(), 1e-3f, nullptr, mean.data(), var.data());
    });
    const double apply = TimeMs(reps, [&] {
      BatchNormTrainingApply(rows, C, x.data(), mean.data(), var.data(), scale.data(), offset.data(), 1e-3f, true,
                             y.data());
    });
    BatchNormFollowingRelu relu;
    relu.offset = offset.data();
    const double grad = TimeMs(reps, [&] {
      BatchNormTrainingBackward(rows, C, x.data(), dy.data(), mean.data(), var.data(), scale.data(), 1e-3f,
                                dx.data(), dscale.data(), doffset.data(), &relu);
    });
    const double mb = static_cast<double>(n) * 4e-6;  // one array, MB
    std::printf("%2dx%2dx%3d: stats %.3f ms (%.1f GB/s)  apply+relu %.3f ms (%.1f GB/s)  gradient %.3f ms (%.1f GB/s)\n",
                sh.hw, sh.hw, sh.c, stats, mb / stats, apply, 2 * mb / apply, grad, 5 * mb / grad);
  }
  return 0;
}
