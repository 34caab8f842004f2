// steerd's native addon: owns the llama.cpp model and context and hooks the residual stream.
#include "common.h"

static Napi::Value JsLoadBackends(const Napi::CallbackInfo & info) {
  // node-llama-cpp (getLlama) normally loaded them already into the shared ggml registry
  if (ggml_backend_reg_count() == 0) {
    std::string dir = info[0].As<Napi::String>().Utf8Value();
    ggml_backend_load_all_from_path(dir.c_str());
  }
  if (ggml_backend_reg_count() == 0) return throwError(info.Env(), "no ggml backend could be loaded");
  llama_backend_init();
  installLlamaLog();
  return info.Env().Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto * data = new AddonData();
  data->modelCtor = Napi::Persistent(ModelWrap::Define(env));
  data->contextCtor = Napi::Persistent(DefineContext(env));
  data->samplerCtor = Napi::Persistent(SamplerWrap::Define(env));
  data->trainerCtor = Napi::Persistent(DefineTrainer(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("loadBackends", Napi::Function::New(env, JsLoadBackends));
  exports.Set("setLogLevel", Napi::Function::New(env, JsSetLogLevel));
  exports.Set("lastLlamaError", Napi::Function::New(env, JsLastLlamaError));
  exports.Set("loadModel", Napi::Function::New(env, JsLoadModel));
  exports.Set("quantizeModel", Napi::Function::New(env, JsQuantizeModel));
  exports.Set("createContext", Napi::Function::New(env, JsCreateContext));
  exports.Set("createSampler", Napi::Function::New(env, JsCreateSampler));
  exports.Set("createTrainer", Napi::Function::New(env, JsCreateTrainer));
  exports.Set("setGgufStrings", Napi::Function::New(env, JsSetGgufStrings));
  exports.Set("saeEncode", Napi::Function::New(env, JsSaeEncode));
  return exports;
}

NODE_API_MODULE(steerd, Init)
