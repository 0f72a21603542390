// A small persistent thread pool: ParallelFor splits [0, n) into contiguous chunks, one per
// thread, the calling thread included. Nested calls run serially on the calling thread.
#pragma once
#include <cstdint>
#include <functional>

namespace clicktrain {

// Number of threads kernels use. Default: CLICKTRAIN_NUM_THREADS if set, else all cores.
int NumThreads();
// Sets the thread count (>= 1, capped at 256); also sets OpenBLAS's count when it is linked and
// runs on its own threads (see OpenBlasOnPool).
void SetNumThreads(int n);

// True (the default): OpenBLAS, when linked, is single-threaded and Sgemm splits its products
// across this pool, so no other set of threads exists. OpenBLAS's own workers spin in sched_yield
// for ~0.1 s after every call and take a core from whatever kernel runs next.
// CLICKTRAIN_OPENBLAS_THREADS=openblas gives OpenBLAS its own threads again (for measurements).
bool OpenBlasOnPool();

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks are at least `grain` long.
// Blocks until all chunks are done. Exceptions thrown by fn are rethrown on the caller.
void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Calls fn(task, thread_index) for task in [0, num_tasks), distributing tasks dynamically;
// thread_index < NumThreads() identifies per-thread scratch.
void ParallelTasks(int64_t num_tasks, const std::function<void(int64_t, int)>& fn);

}  // namespace clicktrain
