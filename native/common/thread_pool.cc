#include "common/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#ifdef CLICKTRAIN_HAVE_OPENBLAS
extern "C" void openblas_set_num_threads(int num_threads);
#endif

namespace clicktrain {
namespace {

thread_local bool tls_in_parallel = false;

int DefaultThreads() {
  if (const char* env = std::getenv("CLICKTRAIN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return std::min(n, 256);
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(std::min(hc, 256u));
}

// How long an idle thread keeps polling for the next job before it sleeps on a condition
// variable (CLICKTRAIN_SPIN_US, default 1000 us; 0 = sleep at once). A tfjs step or predict runs
// hundreds of parallel regions tens to hundreds of microseconds of JS apart: waking a sleeping
// worker (futex + scheduler) cost 15-20% of a batch-1 sparse conv, and the caller's own sleep
// until the last worker finished as much again. Measured in one process, VGG-16 predict at batch
// 1 (medians of 300): 75% pruned 9.8 ms asleep, 8.4 spinning 50 us, 7.0 at 200 us, 6.9 at 1000
// us; dense 27.7 / 20.7 (200 us) / 15.7 (1000 us).
int64_t SpinNanos() {
  static const int64_t ns = [] {
    const char* e = std::getenv("CLICKTRAIN_SPIN_US");
    const long us = e ? std::atol(e) : 1000;
    return static_cast<int64_t>(std::max(0L, std::min(us, 100000L))) * 1000;
  }();
  return ns;
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls done() for up to SpinNanos(); true if it became true. Yields the core between polls so a
// spinning thread on an oversubscribed machine (more runnable threads than cores) lets the
// others run.
template <class Done>
bool SpinUntil(Done done) {
  const int64_t limit = SpinNanos();
  if (limit <= 0) return done();
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    for (int j = 0; j < 64; ++j) {
      if (done()) return true;
      CpuRelax();
    }
    if (std::chrono::steady_clock::now() - t0 > std::chrono::nanoseconds(limit)) return done();
    std::this_thread::yield();
  }
}

// One job at a time. Workers wait (spinning, then asleep) for the generation to change, then
// pull tasks from a shared counter until it runs out; the caller works too. The caller waits only
// for workers that joined the job (running_), never for one that has not woken up yet: once the
// caller has run out of tasks it closes the job, and a worker arriving after that backs out
// without touching it. (Waiting for every worker made a job cost a whole spin period whenever a
// worker was not scheduled, e.g. more threads than free cores.) Sleepers are only signalled when
// one is asleep, so there is no syscall while they spin.
class Pool {
 public:
  explicit Pool(int threads) { Resize(threads); }
  ~Pool() { Stop(); }

  int threads() const { return threads_; }

  void Resize(int threads) {
    std::lock_guard<std::mutex> run_lock(run_mu_);
    Stop();
    threads_ = threads;
    stop_.store(false);
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
  }

  void Run(int64_t num_tasks, const std::function<void(int64_t, int)>& fn) {
    std::lock_guard<std::mutex> run_lock(run_mu_);
    bool wake;
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      num_tasks_ = num_tasks;
      next_.store(0);
      error_ = nullptr;
      closed_.store(false);
      generation_.fetch_add(1);
      wake = sleepers_ > 0;
    }
    if (wake) cv_.notify_all();
    Work(0);
    closed_.store(true);  // every task is claimed; late workers back out
    if (!SpinUntil([this] { return running_.load() == 0; })) {
      std::unique_lock<std::mutex> lk(mu_);
      caller_asleep_ = true;
      done_cv_.wait(lk, [this] { return running_.load() == 0; });
      caller_asleep_ = false;
    }
    std::lock_guard<std::mutex> lk(mu_);
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void Work(int thread_index) {
    tls_in_parallel = true;
    for (;;) {
      int64_t t = next_.fetch_add(1);
      if (t >= num_tasks_) break;
      try {
        (*fn_)(t, thread_index);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!error_) error_ = std::current_exception();
        next_.store(num_tasks_);
      }
    }
    tls_in_parallel = false;
  }

  void WorkerLoop(int index) {
    uint64_t seen = 0;
    for (;;) {
      const auto ready = [&] { return stop_.load() || generation_.load() != seen; };
      if (!SpinUntil(ready)) {
        std::unique_lock<std::mutex> lk(mu_);
        ++sleepers_;
        cv_.wait(lk, ready);
        --sleepers_;
      }
      if (stop_.load()) return;
      // Join the current job (seq_cst: either the caller's close comes after this increment and
      // it waits for us, or we see the job closed and leave it alone).
      running_.fetch_add(1);
      seen = generation_.load();
      if (!closed_.load()) Work(index);
      if (running_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lk(mu_);
        if (caller_asleep_) done_cv_.notify_one();
      }
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // serialises jobs from different JS/native threads
  std::mutex mu_;      // guards sleepers_, caller_asleep_, error_ and the job's fields
  std::condition_variable cv_, done_cv_;
  std::atomic<bool> stop_{false}, closed_{true};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> running_{0};
  int sleepers_ = 0;
  bool caller_asleep_ = false;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t num_tasks_ = 0;
  std::atomic<int64_t> next_{0};
  std::exception_ptr error_;
};

int OpenBlasThreadsFor(int n) { return OpenBlasOnPool() ? 1 : n; }

Pool& GetPool() {
  static Pool* pool = [] {
    int n = DefaultThreads();
#ifdef CLICKTRAIN_HAVE_OPENBLAS
    openblas_set_num_threads(OpenBlasThreadsFor(n));
#endif
    return new Pool(n);  // leaked on purpose: workers must outlive static destructors
  }();
  return *pool;
}

}  // namespace

int NumThreads() { return GetPool().threads(); }

bool OpenBlasOnPool() {
  static const bool on = [] {
    const char* e = std::getenv("CLICKTRAIN_OPENBLAS_THREADS");
    return !(e && std::string(e) == "openblas");
  }();
  return on;
}

void SetNumThreads(int n) {
  n = std::max(1, std::min(n, 256));
  if (n == GetPool().threads()) return;
  GetPool().Resize(n);
#ifdef CLICKTRAIN_HAVE_OPENBLAS
  openblas_set_num_threads(OpenBlasThreadsFor(n));
#endif
}

void ParallelTasks(int64_t num_tasks, const std::function<void(int64_t, int)>& fn) {
  if (num_tasks <= 0) return;
  Pool& pool = GetPool();
  if (tls_in_parallel || pool.threads() == 1 || num_tasks == 1) {
    for (int64_t t = 0; t < num_tasks; ++t) fn(t, 0);
    return;
  }
  pool.Run(num_tasks, fn);
}

void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t threads = NumThreads();
  int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
  if (chunks <= 1 || tls_in_parallel) {
    fn(0, n);
    return;
  }
  int64_t per = (n + chunks - 1) / chunks;
  ParallelTasks(chunks, [&](int64_t c, int) {
    int64_t b = c * per, e = std::min(n, b + per);
    if (b < e) fn(b, e);
  });
}

}  // namespace clicktrain
