#include "elementwise/broadcast.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "elementwise/broadcast_kernels.h"

namespace clicktrain {
namespace {

using elementwise::AccumulateRowFn;
using elementwise::BinaryRowFn;
using elementwise::BinaryRowsFn;
using elementwise::ReduceRunFn;

constexpr int kMaxRank = 8;
constexpr int64_t kGrainElements = 1 << 15;  // per chunk, so small tensors stay on one thread

bool UseAvx2() { return ActiveIsa() != Isa::kGeneric; }

int64_t Product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t d : v) p *= d;
  return p;
}

std::vector<int64_t> Strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

// Decomposes a row index over `dims` (row-major) into an offset with the given strides.
inline int64_t RowOffset(int64_t row, const int64_t* dims, const int64_t* strides, int n) {
  int64_t off = 0;
  for (int d = n - 1; d >= 0; --d) {
    off += (row % dims[d]) * strides[d];
    row /= dims[d];
  }
  return off;
}

}  // namespace

void BinaryBroadcast(BinaryOp op, const std::vector<int64_t>& a_shape, const float* a,
                     const std::vector<int64_t>& b_shape, const float* b,
                     const std::vector<int64_t>& out_shape, float* out) {
  const int rank = static_cast<int>(out_shape.size());
  if (rank > kMaxRank || a_shape.size() > out_shape.size() || b_shape.size() > out_shape.size())
    throw std::invalid_argument("binary op: rank above 8 or operand rank above the output's");
  // Strides of a and b in the output's dims: 0 where the operand broadcasts.
  int64_t sa[kMaxRank], sb[kMaxRank];
  auto operand_strides = [&](const std::vector<int64_t>& shape, int64_t* s) {
    const int off = rank - static_cast<int>(shape.size());
    std::vector<int64_t> own = Strides(shape);
    for (int d = 0; d < rank; ++d) {
      int64_t n = d < off ? 1 : shape[d - off];
      if (n != 1 && n != out_shape[d])
        throw std::invalid_argument("binary op: shapes do not broadcast");
      s[d] = (n == 1) ? 0 : own[d - off];
    }
  };
  operand_strides(a_shape, sa);
  operand_strides(b_shape, sb);
  // Collapse dims that are contiguous for both operands; drop size-1 dims.
  int n = 0;
  int64_t cd[kMaxRank], ca[kMaxRank], cb[kMaxRank];
  for (int d = 0; d < rank; ++d) {
    if (out_shape[d] == 1) continue;
    if (n > 0 && ca[n - 1] == sa[d] * out_shape[d] && cb[n - 1] == sb[d] * out_shape[d]) {
      cd[n - 1] *= out_shape[d];
      ca[n - 1] = sa[d];
      cb[n - 1] = sb[d];
    } else {
      cd[n] = out_shape[d];
      ca[n] = sa[d];
      cb[n] = sb[d];
      ++n;
    }
  }
  const int64_t total = Product(out_shape);
  if (total == 0) return;
  BinaryRowFn row_fn = UseAvx2() ? elementwise::BinaryRowAvx2 : elementwise::BinaryRowGeneric;
  if (n == 0) {  // scalar result
    row_fn(op, 1, a, 0, b, 0, out);
    return;
  }
  const int64_t inner = cd[n - 1];
  const int64_t ia = ca[n - 1], ib = cb[n - 1];  // each 0 or 1 after collapsing
  if (n == 1) {
    // One flat run (same shapes, or a scalar operand): split it across threads.
    ParallelFor(inner, kGrainElements, [&](int64_t i0, int64_t i1) {
      row_fn(op, i1 - i0, a + i0 * ia, ia, b + i0 * ib, ib, out + i0);
    });
    return;
  }
  const int64_t rows = total / inner;
  if (n == 2) {
    // Rows with constant strides (e.g. NHWC against a [C] vector): whole blocks per call.
    BinaryRowsFn rows_fn = UseAvx2() ? elementwise::BinaryRowsAvx2 : elementwise::BinaryRowsGeneric;
    ParallelFor(rows, std::max<int64_t>(1, kGrainElements / inner), [&](int64_t r0, int64_t r1) {
      rows_fn(op, r1 - r0, inner, a + r0 * ca[0], ca[0], ia, b + r0 * cb[0], cb[0], ib, out + r0 * inner);
    });
    return;
  }
  ParallelFor(rows, std::max<int64_t>(1, kGrainElements / inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t oa = RowOffset(r, cd, ca, n - 1), ob = RowOffset(r, cd, cb, n - 1);
      row_fn(op, inner, a + oa, ia, b + ob, ib, out + r * inner);
    }
  });
}

void Reduce(ReduceOp op, const std::vector<int64_t>& shape, const std::vector<bool>& reduce_axis,
            const float* x, float* out) {
  const int rank = static_cast<int>(shape.size());
  if (rank > kMaxRank || reduce_axis.size() != shape.size())
    throw std::invalid_argument("reduce: rank above 8 or axes of the wrong length");
  // Collapse runs of kept / reduced dims (each run is contiguous in x); drop size-1 dims.
  int n = 0;
  int64_t cd[kMaxRank];
  bool cr[kMaxRank];
  int64_t out_n = 1, window = 1;
  for (int d = 0; d < rank; ++d) {
    if (reduce_axis[d]) window *= shape[d];
    else out_n *= shape[d];
    if (shape[d] == 1) continue;
    if (n > 0 && cr[n - 1] == reduce_axis[d]) {
      cd[n - 1] *= shape[d];
    } else {
      cd[n] = shape[d];
      cr[n] = reduce_axis[d];
      ++n;
    }
  }
  const double init = op == ReduceOp::kMax   ? -std::numeric_limits<double>::infinity()
                      : op == ReduceOp::kMin ? std::numeric_limits<double>::infinity()
                                             : 0.0;
  auto finish = [&](const double* acc) {
    for (int64_t i = 0; i < out_n; ++i) {
      double v = acc[i];
      if (op == ReduceOp::kMean) v = window == 0 ? std::numeric_limits<double>::quiet_NaN() : v / window;
      out[i] = static_cast<float>(v);
    }
  };
  if (out_n == 0) return;
  std::vector<double> acc(out_n, init);
  if (window == 0 || n == 0) {  // nothing to reduce over, or a single element
    if (n == 0 && window == 1) acc[0] = x[0];
    else if (window == 1) for (int64_t i = 0; i < out_n; ++i) acc[i] = x[i];
    finish(acc.data());
    return;
  }
  // Strides of each collapsed dim in x and in out (0 for reduced dims in out).
  int64_t xs[kMaxRank], os[kMaxRank];
  {
    int64_t s = 1, o = 1;
    for (int d = n - 1; d >= 0; --d) {
      xs[d] = s;
      s *= cd[d];
      os[d] = cr[d] ? 0 : o;
      if (!cr[d]) o *= cd[d];
    }
  }
  const bool inner_reduced = cr[n - 1];
  const int64_t inner = cd[n - 1];
  const int64_t rows = window * out_n / inner;
  bool outer_reduced = false;
  for (int d = 0; d < n - 1; ++d) outer_reduced |= cr[d];
  AccumulateRowFn acc_fn = UseAvx2() ? elementwise::AccumulateRowAvx2 : elementwise::AccumulateRowGeneric;
  ReduceRunFn run_fn = UseAvx2() ? elementwise::ReduceRunAvx2 : elementwise::ReduceRunGeneric;
  auto combine = [&](double& dst, double v) {
    if (op == ReduceOp::kSum || op == ReduceOp::kMean) dst += v;
    else if (v != v || dst != dst) dst = std::numeric_limits<double>::quiet_NaN();
    else dst = op == ReduceOp::kMax ? std::max(dst, v) : std::min(dst, v);
  };
  auto do_rows = [&](int64_t r0, int64_t r1, double* a) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t xo = r * inner;
      const int64_t oo = RowOffset(r, cd, os, n - 1);
      if (inner_reduced) combine(a[oo], run_fn(op, inner, x + xo));
      else acc_fn(op, inner, x + xo, a + oo);
    }
  };
  const int64_t grain = std::max<int64_t>(1, kGrainElements / inner);
  if (!outer_reduced) {
    // Every row owns distinct outputs: threads write straight into acc.
    ParallelFor(rows, grain, [&](int64_t r0, int64_t r1) { do_rows(r0, r1, acc.data()); });
  } else {
    // Rows share outputs: one partial accumulator per chunk, combined in order (deterministic).
    const int64_t chunks = std::min<int64_t>(NumThreads(), std::max<int64_t>(1, rows / grain));
    std::vector<std::vector<double>> partial(chunks, std::vector<double>(out_n, init));
    const int64_t per = (rows + chunks - 1) / chunks;
    ParallelTasks(chunks, [&](int64_t c, int) {
      do_rows(c * per, std::min(rows, (c + 1) * per), partial[c].data());
    });
    for (const auto& p : partial)
      for (int64_t i = 0; i < out_n; ++i) combine(acc[i], p[i]);
  }
  finish(acc.data());
}

void Transpose(const std::vector<int64_t>& shape, const std::vector<int64_t>& perm, const float* x,
               float* out) {
  const int rank = static_cast<int>(shape.size());
  if (rank > kMaxRank || perm.size() != shape.size())
    throw std::invalid_argument("transpose: rank above 8 or a permutation of the wrong length");
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p]) throw std::invalid_argument("transpose: not a permutation");
    seen[p] = true;
  }
  const int64_t total = Product(shape);
  if (total == 0) return;
  if (rank == 0) {
    out[0] = x[0];
    return;
  }
  std::vector<int64_t> xs = Strides(shape);
  int64_t od[kMaxRank], is[kMaxRank];
  for (int d = 0; d < rank; ++d) {
    od[d] = shape[perm[d]];
    is[d] = xs[perm[d]];
  }
  const int64_t inner = od[rank - 1], inner_stride = is[rank - 1];
  const int64_t rows = total / inner;
  ParallelFor(rows, std::max<int64_t>(1, kGrainElements / inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* src = x + RowOffset(r, od, is, rank - 1);
      float* dst = out + r * inner;
      if (inner_stride == 1) std::copy(src, src + inner, dst);
      else for (int64_t i = 0; i < inner; ++i) dst[i] = src[i * inner_stride];
    }
  });
}

void Tile(const std::vector<int64_t>& shape, const std::vector<int64_t>& reps, const float* x,
          float* out) {
  const int rank = static_cast<int>(shape.size());
  if (rank > kMaxRank || reps.size() != shape.size())
    throw std::invalid_argument("tile: rank above 8 or reps of the wrong length");
  int64_t od[kMaxRank];
  std::vector<int64_t> xs = Strides(shape);
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) {
    if (reps[d] < 0) throw std::invalid_argument("tile: negative repetition");
    od[d] = shape[d] * reps[d];
    total *= od[d];
  }
  if (total == 0) return;
  if (rank == 0) {
    out[0] = x[0];
    return;
  }
  const int64_t inner_in = shape[rank - 1], inner = od[rank - 1];
  const int64_t rows = total / inner;
  ParallelFor(rows, std::max<int64_t>(1, kGrainElements / inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      // Source row: each outer index modulo the input's extent.
      int64_t rem = r, off = 0;
      for (int d = rank - 2; d >= 0; --d) {
        off += ((rem % od[d]) % shape[d]) * xs[d];
        rem /= od[d];
      }
      float* dst = out + r * inner;
      for (int64_t k = 0; k < reps[rank - 1]; ++k) std::copy(x + off, x + off + inner_in, dst + k * inner_in);
    }
  });
}

}  // namespace clicktrain
