#include "common/thread_pool.h"

#include <algorithm>
#include <atomic>
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

// One job at a time: workers sleep until the generation changes, then pull tasks from a shared
// counter until it runs out. The caller works too and waits for the last worker to finish.
class Pool {
 public:
  explicit Pool(int threads) { Resize(threads); }
  ~Pool() { Stop(); }

  int threads() const { return threads_; }

  void Resize(int threads) {
    std::lock_guard<std::mutex> run_lock(run_mu_);
    Stop();
    threads_ = threads;
    stop_ = false;
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
  }

  void Run(int64_t num_tasks, const std::function<void(int64_t, int)>& fn) {
    std::lock_guard<std::mutex> run_lock(run_mu_);
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      num_tasks_ = num_tasks;
      next_.store(0);
      error_ = nullptr;
      active_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    cv_.notify_all();
    Work(0);
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return active_ == 0; });
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
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      Work(index);
      std::lock_guard<std::mutex> lk(mu_);
      if (--active_ == 0) done_cv_.notify_one();
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // serialises jobs from different JS/native threads
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  int active_ = 0;
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
