// Element-wise binary ops with numpy/tfjs broadcasting, reductions over any set of axes, and the
// layout ops tfjs's gradients lean on (transpose, tile). All float32, NHWC-agnostic, threaded.
// In tfjs-backend-cpu these run as generic JS loops with per-element index arithmetic, which
// dominated a training step (batch-norm moments and gradients) before they were native.
#pragma once
#include <cstdint>
#include <vector>

namespace clicktrain {

// kReluGrad and kSquareGrad are tfjs's Relu and Square gradients with a = dy, b = x, fused:
// dy * step(x) (step: NaN for NaN, 1 for x > 0, else 0) and dy * (x * 2), bit for bit.
enum class BinaryOp { kAdd, kSub, kMul, kDiv, kMax, kMin, kSquaredDiff, kReluGrad, kSquareGrad };

// out[i] = op(a[ia], b[ib]) over out_shape (rank <= 8). a_shape/b_shape are right-aligned to
// out_shape (numpy broadcasting); each of their dims is 1 or equal to out's. Throws
// std::invalid_argument for shapes that do not broadcast.
void BinaryBroadcast(BinaryOp op, const std::vector<int64_t>& a_shape, const float* a,
                     const std::vector<int64_t>& b_shape, const float* b,
                     const std::vector<int64_t>& out_shape, float* out);

enum class ReduceOp { kSum, kMean, kMax, kMin };

// Reduces x (shape) over the axes with reduce_axis[d] true; out holds the kept dims in order.
// Sums accumulate in double. Max/Min propagate NaN (a NaN anywhere in a window gives NaN).
// A window of zero elements gives 0 (sum), NaN (mean), -inf (max), +inf (min).
void Reduce(ReduceOp op, const std::vector<int64_t>& shape, const std::vector<bool>& reduce_axis,
            const float* x, float* out);

// out = x transposed by perm (out dim d = x dim perm[d]).
void Transpose(const std::vector<int64_t>& shape, const std::vector<int64_t>& perm, const float* x,
               float* out);

// out = x repeated reps[d] times along each dim d.
void Tile(const std::vector<int64_t>& shape, const std::vector<int64_t>& reps, const float* x,
          float* out);

// out = x[begin[d] : begin[d] + size[d]] along every dim d (bounds checked).
void Slice(const std::vector<int64_t>& shape, const std::vector<int64_t>& begin,
           const std::vector<int64_t>& size, const float* x, float* out);

// out = x padded with `value`: pad_before[d] / pad_after[d] elements on each side of dim d.
void Pad(const std::vector<int64_t>& shape, const std::vector<int64_t>& pad_before,
         const std::vector<int64_t>& pad_after, float value, const float* x, float* out);

enum class UnaryOp {
  kRelu, kStep, kNeg, kSquare, kSqrt, kRsqrt, kExp, kLog, kAbs, kSigmoid, kTanh, kReciprocal,
  kRelu6, kElu
};

// out[i] = op(x[i]) with tfjs's formulas (kStep: x > 0 ? 1 : alpha, NaN stays NaN).
void Unary(UnaryOp op, int64_t n, const float* x, float alpha, float* out);

}  // namespace clicktrain
