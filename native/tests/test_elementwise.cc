// Element-wise, reduction and layout kernels vs straightforward float64 loops on random shapes,
// both ISA paths and 1 and 2 threads, outputs poisoned with NaN.
#include <algorithm>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "elementwise/broadcast.h"
#include "test_util.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

std::vector<int64_t> RandomShape(int rank) {
  static const int64_t dims[] = {1, 1, 2, 3, 5, 8, 17};
  std::vector<int64_t> s(rank);
  for (auto& d : s) d = dims[RandInt(0, 6)];
  return s;
}

int64_t Size(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Index of the element at multi-index idx (of out's rank) in a right-aligned broadcast operand.
int64_t BroadcastIndex(const std::vector<int64_t>& shape, const std::vector<int64_t>& idx) {
  int64_t off = 0, stride = 1;
  const size_t shift = idx.size() - shape.size();
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] != 1) off += idx[d + shift] * stride;
    stride *= shape[d];
  }
  return off;
}

std::vector<int64_t> Unravel(int64_t i, const std::vector<int64_t>& shape) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

double BinaryRef(BinaryOp op, double x, double y) {
  switch (op) {
    case BinaryOp::kAdd: return x + y;
    case BinaryOp::kSub: return x - y;
    case BinaryOp::kMul: return x * y;
    case BinaryOp::kDiv: return x / y;
    case BinaryOp::kMax: return std::max(x, y);
    case BinaryOp::kMin: return std::min(x, y);
    case BinaryOp::kSquaredDiff: return (x - y) * (x - y);
    case BinaryOp::kReluGrad: return x * (y != y ? NAN : (y > 0 ? 1.0 : 0.0));
    case BinaryOp::kSquareGrad: return x * (y * 2.0);
  }
  return 0;
}

void CheckBinary(Runner& t, BinaryOp op, const std::vector<int64_t>& out_shape,
                 const std::vector<int64_t>& as, const std::vector<int64_t>& bs, const std::string& what) {
  auto a = RandomVector(Size(as)), b = RandomVector(Size(bs), 0.5f, 2.f);  // b away from 0 for kDiv
  const int64_t n = Size(out_shape);
  auto got = Poisoned(n);
  BinaryBroadcast(op, as, a.data(), bs, b.data(), out_shape, got.data());
  std::vector<double> ref(n);
  for (int64_t i = 0; i < n; ++i) {
    auto idx = Unravel(i, out_shape);
    ref[i] = BinaryRef(op, a[BroadcastIndex(as, idx)], b[BroadcastIndex(bs, idx)]);
  }
  t.CheckClose(MaxRelError(got, ref), 1e-6, what + " op " + std::to_string(static_cast<int>(op)));
}

void TestBinary(Runner& t) {
  const int rank = RandInt(0, 5);
  auto out_shape = RandomShape(rank);
  auto operand = [&]() {
    std::vector<int64_t> s(out_shape.begin() + RandInt(0, rank), out_shape.end());
    for (auto& d : s) if (RandInt(0, 3) == 0) d = 1;
    return s;
  };
  const BinaryOp op = static_cast<BinaryOp>(RandInt(0, 8));
  CheckBinary(t, op, out_shape, operand(), operand(), "broadcast rank " + std::to_string(rank));
}

// Shapes large enough to split across threads, in the layouts a training step produces: same
// shape (one flat run), NHWC against [C] and [1,1,1,C] (rows of C), a scalar, and a middle-axis
// broadcast (the general strided path). Channel counts are not multiples of the SIMD width.
void TestBinaryLarge(Runner& t) {
  const int64_t n = RandInt(1, 4), h = RandInt(5, 24), w = RandInt(5, 24), c = RandInt(1, 70);
  const std::vector<int64_t> x = {n, h, w, c};
  const BinaryOp op = static_cast<BinaryOp>(RandInt(0, 8));
  CheckBinary(t, op, x, x, x, "large same-shape");
  CheckBinary(t, op, x, x, {c}, "large NHWC op [C]");
  CheckBinary(t, op, x, {1, 1, 1, c}, x, "large [1,1,1,C] op NHWC");
  CheckBinary(t, op, x, {}, x, "large scalar op NHWC");
  CheckBinary(t, op, x, x, {n, 1, w, c}, "large NHWC op [N,1,W,C]");
}

void TestReduce(Runner& t) {
  const int rank = RandInt(1, 5);
  auto shape = RandomShape(rank);
  std::vector<bool> mask(rank);
  for (int d = 0; d < rank; ++d) mask[d] = RandInt(0, 1) == 1;
  auto x = RandomVector(Size(shape));
  int64_t out_n = 1;
  for (int d = 0; d < rank; ++d) if (!mask[d]) out_n *= shape[d];
  auto got = Poisoned(out_n);
  Reduce(ReduceOp::kSum, shape, mask, x.data(), got.data());
  std::vector<double> ref(out_n, 0.0), mag(out_n, 0.0);
  for (int64_t i = 0; i < Size(shape); ++i) {
    auto idx = Unravel(i, shape);
    int64_t o = 0;
    for (int d = 0; d < rank; ++d) if (!mask[d]) o = o * shape[d] + idx[d];
    ref[o] += x[i];
    mag[o] += std::fabs(x[i]);
  }
  t.CheckClose(MaxErrorVsMagnitude(got, ref, mag), 1e-6, "reduce sum rank " + std::to_string(rank));
}

void TestLayout(Runner& t) {
  const int rank = RandInt(1, 5);
  auto shape = RandomShape(rank);
  auto x = RandomVector(Size(shape));
  // Transpose by a random permutation.
  std::vector<int64_t> perm(rank);
  for (int d = 0; d < rank; ++d) perm[d] = d;
  std::shuffle(perm.begin(), perm.end(), Rng());
  std::vector<int64_t> tshape(rank);
  for (int d = 0; d < rank; ++d) tshape[d] = shape[perm[d]];
  auto got = Poisoned(x.size());
  Transpose(shape, perm, x.data(), got.data());
  std::vector<double> ref(x.size());
  for (int64_t i = 0; i < Size(tshape); ++i) {
    auto oi = Unravel(i, tshape);
    std::vector<int64_t> xi(rank);
    for (int d = 0; d < rank; ++d) xi[perm[d]] = oi[d];
    ref[i] = x[BroadcastIndex(shape, xi)];
  }
  t.CheckClose(MaxRelError(got, ref), 1e-30, "transpose");
  // Pad then slice back gives x.
  std::vector<int64_t> before(rank), after(rank), pshape(rank);
  for (int d = 0; d < rank; ++d) {
    before[d] = RandInt(0, 2);
    after[d] = RandInt(0, 2);
    pshape[d] = shape[d] + before[d] + after[d];
  }
  auto padded = Poisoned(Size(pshape));
  Pad(shape, before, after, 0.25f, x.data(), padded.data());
  auto back = Poisoned(x.size());
  Slice(pshape, before, shape, padded.data(), back.data());
  std::vector<double> xd(x.begin(), x.end());
  t.CheckClose(MaxRelError(back, xd), 1e-30, "pad then slice");
  int64_t border = 0;
  for (float v : padded) border += v == 0.25f;
  t.Check(border >= Size(pshape) - Size(shape), "pad fills the border with the constant");
  t.ExpectThrow([&] { Slice(shape, std::vector<int64_t>(rank, 1), shape, x.data(), back.data()); },
                "slice past the end");
  // A window with its last `whole` dims taken whole (they join into one run per row) and the
  // others cut anywhere, against index arithmetic.
  const int whole = RandInt(0, rank);
  std::vector<int64_t> wb(rank), ws(rank);
  for (int d = 0; d < rank; ++d) {
    if (d >= rank - whole) {
      wb[d] = 0;
      ws[d] = shape[d];
    } else {
      wb[d] = RandInt(0, static_cast<int>(shape[d]));
      ws[d] = RandInt(0, static_cast<int>(shape[d] - wb[d]));
    }
  }
  auto win = Poisoned(static_cast<size_t>(Size(ws)));
  Slice(shape, wb, ws, x.data(), win.data());
  std::vector<double> wref(win.size());
  for (int64_t i = 0; i < Size(ws); ++i) {
    auto oi = Unravel(i, ws);
    for (int d = 0; d < rank; ++d) oi[d] += wb[d];
    wref[i] = x[BroadcastIndex(shape, oi)];
  }
  t.CheckClose(MaxRelError(win, wref), 1e-30, "slice with " + std::to_string(whole) + " whole trailing dims");
  // A pad of the leading dims only (the unpadded trailing dims join into runs), against index
  // arithmetic.
  std::vector<int64_t> pb(rank, 0), pa(rank, 0), pos(rank);
  for (int d = 0; d < rank - whole; ++d) {
    pb[d] = RandInt(0, 2);
    pa[d] = RandInt(0, 2);
  }
  for (int d = 0; d < rank; ++d) pos[d] = shape[d] + pb[d] + pa[d];
  auto pout = Poisoned(static_cast<size_t>(Size(pos)));
  Pad(shape, pb, pa, -0.5f, x.data(), pout.data());
  std::vector<double> pref(pout.size());
  for (int64_t i = 0; i < Size(pos); ++i) {
    auto oi = Unravel(i, pos);
    bool in = true;
    for (int d = 0; d < rank; ++d) {
      oi[d] -= pb[d];
      in = in && oi[d] >= 0 && oi[d] < shape[d];
    }
    pref[i] = in ? x[BroadcastIndex(shape, oi)] : -0.5;
  }
  t.CheckClose(MaxRelError(pout, pref), 1e-30, "pad of the leading " + std::to_string(rank - whole) + " dims");
}

}  // namespace

int main() {
  Runner t;
  for (Isa isa : {Isa::kGeneric, Isa::kAvx2}) {
    if (SetActiveIsa(isa) != isa) continue;
    for (int threads : {1, 2}) {
      SetNumThreads(threads);
      for (int i = 0; i < 40; ++i) {
        TestBinary(t);
        if (i % 4 == 0) TestBinaryLarge(t);
        TestReduce(t);
        TestLayout(t);
      }
    }
  }
  return t.Finish();
}
