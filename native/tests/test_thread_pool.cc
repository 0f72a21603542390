// The thread pool under job hand-offs in quick succession (workers still spinning) and after
// pauses longer than the spin time (workers asleep): every task of every job runs exactly once,
// on a valid thread index; exceptions reach the caller and leave the pool usable; nested calls
// run serially; thread-count changes in between. ctest runs it with the default spin and with
// CLICKTRAIN_SPIN_US=0 (always asleep) and =20 (the spin running out mid-sequence).
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/thread_pool.h"
#include "test_util.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

// Runs `jobs` jobs of random task counts; a pause of pause_us before each job whose index is a
// multiple of `pause_every` (0 = never). True when every task of every job ran once.
bool RunJobs(int jobs, int pause_every, int pause_us) {
  bool ok = true;
  std::vector<std::atomic<int>> hits(64);
  for (int j = 0; j < jobs; ++j) {
    if (pause_every && j % pause_every == 0) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
    const int n = RandInt(1, 64);
    for (int i = 0; i < n; ++i) hits[i].store(0);
    std::atomic<bool> bad_index{false};
    const int threads = NumThreads();
    ParallelTasks(n, [&](int64_t t, int thread) {
      if (thread < 0 || thread >= threads) bad_index.store(true);
      hits[t].fetch_add(1);
    });
    for (int i = 0; i < n; ++i) ok &= hits[i].load() == 1;
    ok &= !bad_index.load();
  }
  return ok;
}

}  // namespace

int main() {
  Runner r;
  for (int threads : {2, 3, 1, 4}) {
    SetNumThreads(threads);
    const std::string t = " (" + std::to_string(threads) + " threads)";
    r.Check(RunJobs(20000, 0, 0), "back-to-back jobs" + t);
    r.Check(RunJobs(300, 3, 3000), "jobs after pauses longer than the spin" + t);
    r.Check(RunJobs(2000, 7, 30), "jobs after short pauses" + t);
    // ParallelFor covers [0, n) exactly once in disjoint chunks.
    bool cover = true;
    for (int64_t n : {1, 7, 1000, 100003}) {
      std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
      ParallelFor(n, 3, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) seen[i].fetch_add(1);
      });
      for (auto& s : seen) cover &= s.load() == 1;
    }
    r.Check(cover, "ParallelFor covers the range once" + t);
    // An exception in any task reaches the caller; the next job runs normally.
    for (int rep = 0; rep < 50; ++rep) {
      const int64_t bad = RandInt(0, 31);
      r.ExpectThrow([&] {
        ParallelTasks(32, [&](int64_t i, int) {
          if (i == bad) throw std::runtime_error("task failed");
        });
      }, "exception from a task" + t);
    }
    r.Check(RunJobs(200, 0, 0), "jobs after exceptions" + t);
    // Nested calls run on the calling thread, serially and completely.
    std::atomic<int64_t> sum{0};
    ParallelTasks(8, [&](int64_t, int) {
      ParallelFor(100, 1, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
    });
    r.Check(sum.load() == 800, "nested calls" + t);
  }
  return r.Finish();
}
