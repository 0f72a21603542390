// The JS-side handle of a pattern-sparse layout (an External owning the native object), shared
// by the sparse binding files.
#pragma once
#include <napi.h>

#include <cstdint>

#include "sparse/pattern_layout.h"

namespace clicktrain_binding {

struct SparseHandle {
  clicktrain::PatternLayout layout;
  int64_t bytes = 0;
};

inline int64_t LayoutBytes(const clicktrain::PatternLayout& l) {
  int64_t n = static_cast<int64_t>(l.values.size()) * 8 + l.NumKernels() * 16 + l.out_c * 16;
  if (l.transposed) n *= 2;
  return n;
}

inline SparseHandle& ArgHandle(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsExternal())
    throw Napi::TypeError::New(info.Env(), "clicktrain: argument 'layout' must be a sparse layout handle");
  return *info[i].As<Napi::External<SparseHandle>>().Data();
}

}  // namespace clicktrain_binding
