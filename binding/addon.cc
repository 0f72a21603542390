// Addon entry point: exports every function registered with CLICKTRAIN_EXPORT.
#include "binding/registry.h"

namespace clicktrain_binding {

std::vector<BindingEntry>& Registry() {
  static std::vector<BindingEntry> entries;
  return entries;
}

}  // namespace clicktrain_binding

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (const auto& e : clicktrain_binding::Registry())
    exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
  return exports;
}

NODE_API_MODULE(clicktrain, Init)
