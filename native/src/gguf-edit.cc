// Rewrites a GGUF file with some string metadata set: llama_model_save_to_file drops keys llama.cpp does not
// model (the chat template among them), so the forge puts them back after training.
#include "common.h"
#include <gguf.h>

Napi::Value JsSetGgufStrings(const Napi::CallbackInfo & info) {
  Napi::Env env = info.Env();
  const std::string in = info[0].As<Napi::String>().Utf8Value();
  const std::string out = info[1].As<Napi::String>().Utf8Value();
  Napi::Object entries = info[2].As<Napi::Object>();
  struct ggml_context * data = nullptr;
  gguf_init_params params = {/*no_alloc =*/false, /*ctx =*/&data};
  gguf_context * gguf = gguf_init_from_file(in.c_str(), params);
  if (!gguf) return throwError(env, "cannot read GGUF file " + in);
  // a fresh context with the old keys and the loaded tensors (gguf_add_tensor keeps their data pointers)
  gguf_context * copy = gguf_init_empty();
  gguf_set_kv(copy, gguf);
  for (int64_t i = 0; i < gguf_get_n_tensors(gguf); i++) {
    gguf_add_tensor(copy, ggml_get_tensor(data, gguf_get_tensor_name(gguf, i)));
  }
  Napi::Array keys = entries.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    const std::string key = keys.Get(i).As<Napi::String>().Utf8Value();
    const std::string value = entries.Get(key).As<Napi::String>().Utf8Value();
    gguf_set_val_str(copy, key.c_str(), value.c_str());
  }
  const bool ok = gguf_write_to_file(copy, out.c_str(), false);
  gguf_free(copy);
  gguf_free(gguf);
  ggml_free(data);
  if (!ok) return throwError(env, "cannot write GGUF file " + out);
  return env.Undefined();
}
