// Slice, Pad and the unary ops: each a row-wise loop over precomputed strides.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common/thread_pool.h"
#include "elementwise/broadcast.h"

namespace clicktrain {
namespace {

constexpr int64_t kGrain = 1 << 15;

std::vector<int64_t> StridesOf(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

// Calls fn(row, offsets) for each row of `dims` (all dims but the last), where the row's index
// along each dim is decomposed; rows are split across threads.
template <typename Fn>
void ForEachRow(const std::vector<int64_t>& dims, Fn fn) {
  const int rank = static_cast<int>(dims.size());
  int64_t rows = 1;
  for (int d = 0; d + 1 < rank; ++d) rows *= dims[d];
  const int64_t inner = rank ? dims[rank - 1] : 1;
  if (rows == 0 || inner == 0) return;
  ParallelFor(rows, std::max<int64_t>(1, kGrain / inner), [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> idx(rank, 0);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r;
      for (int d = rank - 2; d >= 0; --d) {
        idx[d] = rem % dims[d];
        rem /= dims[d];
      }
      fn(r, idx);
    }
  });
}

}  // namespace

void Slice(const std::vector<int64_t>& shape, const std::vector<int64_t>& begin,
           const std::vector<int64_t>& size, const float* x, float* out) {
  const int rank = static_cast<int>(shape.size());
  if (begin.size() != shape.size() || size.size() != shape.size())
    throw std::invalid_argument("slice: begin/size must have the input's rank");
  for (int d = 0; d < rank; ++d)
    if (begin[d] < 0 || size[d] < 0 || begin[d] + size[d] > shape[d])
      throw std::invalid_argument("slice: window outside the input");
  if (rank == 0) {
    out[0] = x[0];
    return;
  }
  // Trailing dims taken whole join the one before them: each output row is then one contiguous
  // run (a batch slice of [N, H, W, 3] is N runs, not N*H*W copies of 3 floats).
  int k = rank - 1;
  while (k > 0 && begin[k] == 0 && size[k] == shape[k]) --k;
  std::vector<int64_t> sh(shape.begin(), shape.begin() + k + 1), b(begin.begin(), begin.begin() + k + 1),
      sz(size.begin(), size.begin() + k + 1);
  for (int d = k + 1; d < rank; ++d) {
    sh[k] *= shape[d];
    b[k] *= shape[d];
    sz[k] *= shape[d];
  }
  const int r = k + 1;
  const std::vector<int64_t> xs = StridesOf(sh);
  const int64_t inner = sz[r - 1];
  ForEachRow(sz, [&](int64_t row, const std::vector<int64_t>& idx) {
    int64_t off = b[r - 1];
    for (int d = 0; d + 1 < r; ++d) off += (b[d] + idx[d]) * xs[d];
    std::copy(x + off, x + off + inner, out + row * inner);
  });
}

void Pad(const std::vector<int64_t>& shape_in, const std::vector<int64_t>& before_in,
         const std::vector<int64_t>& after_in, float value, const float* x, float* out) {
  const int rank_in = static_cast<int>(shape_in.size());
  if (before_in.size() != shape_in.size() || after_in.size() != shape_in.size())
    throw std::invalid_argument("pad: paddings must have the input's rank");
  for (int d = 0; d < rank_in; ++d)
    if (before_in[d] < 0 || after_in[d] < 0) throw std::invalid_argument("pad: negative padding");
  // Trailing dims without padding join the one before them (its padding scales with them): a
  // channel pad of [N, H, W, C] stays row-wise, a batch or spatial pad copies whole runs.
  int k = rank_in - 1;
  while (k > 0 && before_in[k] == 0 && after_in[k] == 0) --k;
  std::vector<int64_t> shape(shape_in.begin(), shape_in.begin() + std::max(k + 1, 0)),
      pad_before(before_in.begin(), before_in.begin() + std::max(k + 1, 0)),
      pad_after(after_in.begin(), after_in.begin() + std::max(k + 1, 0));
  for (int d = k + 1; d < rank_in; ++d) {
    shape[k] *= shape_in[d];
    pad_before[k] *= shape_in[d];
    pad_after[k] *= shape_in[d];
  }
  const int rank = static_cast<int>(shape.size());
  std::vector<int64_t> od(rank);
  for (int d = 0; d < rank; ++d) od[d] = shape[d] + pad_before[d] + pad_after[d];
  if (rank == 0) {
    out[0] = x[0];
    return;
  }
  const std::vector<int64_t> xs = StridesOf(shape);
  const int64_t inner = od[rank - 1], in_inner = shape[rank - 1];
  ForEachRow(od, [&](int64_t r, const std::vector<int64_t>& idx) {
    float* dst = out + r * inner;
    bool inside = true;
    int64_t off = 0;
    for (int d = 0; d + 1 < rank; ++d) {
      int64_t i = idx[d] - pad_before[d];
      if (i < 0 || i >= shape[d]) {
        inside = false;
        break;
      }
      off += i * xs[d];
    }
    if (!inside) {
      std::fill(dst, dst + inner, value);
      return;
    }
    std::fill(dst, dst + pad_before[rank - 1], value);
    std::copy(x + off, x + off + in_inner, dst + pad_before[rank - 1]);
    std::fill(dst + pad_before[rank - 1] + in_inner, dst + inner, value);
  });
}

namespace {

template <UnaryOp kOp>
inline float UnaryValue(float v, float alpha) {
  if constexpr (kOp == UnaryOp::kRelu) return v != v ? v : (v > 0.f ? v : 0.f);
  if constexpr (kOp == UnaryOp::kStep) return v != v ? v : (v > 0.f ? 1.f : alpha);
  if constexpr (kOp == UnaryOp::kNeg) return -v;
  if constexpr (kOp == UnaryOp::kSquare) return v * v;
  if constexpr (kOp == UnaryOp::kSqrt) return std::sqrt(v);
  if constexpr (kOp == UnaryOp::kRsqrt) return 1.f / std::sqrt(v);
  if constexpr (kOp == UnaryOp::kExp) return std::exp(v);
  if constexpr (kOp == UnaryOp::kLog) return std::log(v);
  if constexpr (kOp == UnaryOp::kAbs) return std::fabs(v);
  if constexpr (kOp == UnaryOp::kSigmoid) return 1.f / (1.f + std::exp(-v));
  if constexpr (kOp == UnaryOp::kTanh) return std::tanh(v);
  if constexpr (kOp == UnaryOp::kReciprocal) return 1.f / v;
  if constexpr (kOp == UnaryOp::kRelu6) return v != v ? v : std::min(std::max(v, 0.f), 6.f);
  if constexpr (kOp == UnaryOp::kElu) return v >= 0.f ? v : std::expm1(v);
}

template <UnaryOp kOp>
void UnaryLoop(int64_t n, const float* x, float alpha, float* out) {
  ParallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = UnaryValue<kOp>(x[i], alpha);
  });
}

}  // namespace

void Unary(UnaryOp op, int64_t n, const float* x, float alpha, float* out) {
  switch (op) {
    case UnaryOp::kRelu: return UnaryLoop<UnaryOp::kRelu>(n, x, alpha, out);
    case UnaryOp::kStep: return UnaryLoop<UnaryOp::kStep>(n, x, alpha, out);
    case UnaryOp::kNeg: return UnaryLoop<UnaryOp::kNeg>(n, x, alpha, out);
    case UnaryOp::kSquare: return UnaryLoop<UnaryOp::kSquare>(n, x, alpha, out);
    case UnaryOp::kSqrt: return UnaryLoop<UnaryOp::kSqrt>(n, x, alpha, out);
    case UnaryOp::kRsqrt: return UnaryLoop<UnaryOp::kRsqrt>(n, x, alpha, out);
    case UnaryOp::kExp: return UnaryLoop<UnaryOp::kExp>(n, x, alpha, out);
    case UnaryOp::kLog: return UnaryLoop<UnaryOp::kLog>(n, x, alpha, out);
    case UnaryOp::kAbs: return UnaryLoop<UnaryOp::kAbs>(n, x, alpha, out);
    case UnaryOp::kSigmoid: return UnaryLoop<UnaryOp::kSigmoid>(n, x, alpha, out);
    case UnaryOp::kTanh: return UnaryLoop<UnaryOp::kTanh>(n, x, alpha, out);
    case UnaryOp::kReciprocal: return UnaryLoop<UnaryOp::kReciprocal>(n, x, alpha, out);
    case UnaryOp::kRelu6: return UnaryLoop<UnaryOp::kRelu6>(n, x, alpha, out);
    case UnaryOp::kElu: return UnaryLoop<UnaryOp::kElu>(n, x, alpha, out);
  }
  throw std::invalid_argument("unary: unknown op");
}

}  // namespace clicktrain
