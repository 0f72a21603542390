// A small persistent thread pool: ParallelFor splits [0, n) into contiguous chunks, one per
// thread, the calling thread included. Nested calls run serially on the calling thread.
#pragma once
#include <cstdint>
#include <functional>

namespace clicktrain {

// Number of threads kernels use. Default: CLICKTRAIN_NUM_THREADS if set, else all cores.
int NumThreads();
// Sets the thread count (>= 1, capped at 256); also sets OpenBLAS's count when it is linked.
void SetNumThreads(int n);

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks are at least `grain` long.
// Blocks until all chunks are done. Exceptions thrown by fn are rethrown on the caller.
void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Calls fn(task, thread_index) for task in [0, num_tasks), distributing tasks dynamically;
// thread_index < NumThreads() identifies per-thread scratch.
void ParallelTasks(int64_t num_tasks, const std::function<void(int64_t, int)>& fn);

}  // namespace clicktrain
