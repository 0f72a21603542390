// One registry for every exported addon function: each binding file registers its functions with
// CLICKTRAIN_EXPORT and addon.cc exports them all. Native exceptions become JS errors here, once.
#pragma once
#include <napi.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace clicktrain_binding {

using BindingFn = Napi::Value (*)(const Napi::CallbackInfo&);

struct BindingEntry {
  const char* name;
  BindingFn fn;
};

std::vector<BindingEntry>& Registry();

struct Registrar {
  Registrar(const char* name, BindingFn fn) { Registry().push_back({name, fn}); }
};

// Runs fn, turning std::invalid_argument/std::out_of_range into RangeError-like JS errors and any
// other std::exception into a JS Error, so bad input never aborts the process.
template <BindingFn fn>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::invalid_argument& e) {
    throw Napi::RangeError::New(info.Env(), std::string("clicktrain: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "clicktrain: out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("clicktrain: ") + e.what());
  }
}

}  // namespace clicktrain_binding

#define CLICKTRAIN_EXPORT(js_name, fn)                                               \
  static ::clicktrain_binding::Registrar clicktrain_registrar_##fn(                  \
      js_name, &::clicktrain_binding::Guarded<fn>)
