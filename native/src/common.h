// Shared declarations of the steerd addon: the wrapped classes and the per-addon instance data.
#pragma once
#include <napi.h>
#include <llama.h>
#include <ggml.h>
#include <ggml-backend.h>
#include <string>

struct AddonData {
  Napi::FunctionReference modelCtor;
  Napi::FunctionReference contextCtor;
  Napi::FunctionReference samplerCtor;
  Napi::FunctionReference trainerCtor;
};

// log.cc
void installLlamaLog();
void setLlamaLogLevel(int level);
std::string lastLlamaError();
void clearLlamaError();
Napi::Value JsSetLogLevel(const Napi::CallbackInfo & info);
Napi::Value JsLastLlamaError(const Napi::CallbackInfo & info);

// model.cc
class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ModelWrap(const Napi::CallbackInfo & info);
  ~ModelWrap();
  llama_model * model() const { return model_; }
  const llama_vocab * vocab() const { return llama_model_get_vocab(model_); }
  bool disposed() const { return model_ == nullptr; }

 private:
  Napi::Value Tokenize(const Napi::CallbackInfo & info);
  Napi::Value TokenBytes(const Napi::CallbackInfo & info);
  Napi::Value Dispose(const Napi::CallbackInfo & info);
  llama_model * model_ = nullptr;
};
Napi::Value JsLoadModel(const Napi::CallbackInfo & info);
Napi::Value JsQuantizeModel(const Napi::CallbackInfo & info);

// context.cc
Napi::Function DefineContext(Napi::Env env);
Napi::Value JsCreateContext(const Napi::CallbackInfo & info);

// gguf-edit.cc
Napi::Value JsSetGgufStrings(const Napi::CallbackInfo & info);

// sae-encode.cc
Napi::Value JsSaeEncode(const Napi::CallbackInfo & info);

// trainer.cc
Napi::Function DefineTrainer(Napi::Env env);
Napi::Value JsCreateTrainer(const Napi::CallbackInfo & info);

// sampler.cc
class SamplerWrap : public Napi::ObjectWrap<SamplerWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SamplerWrap(const Napi::CallbackInfo & info);
  ~SamplerWrap();
  llama_sampler * chain() const { return chain_; }

 private:
  Napi::Value Dispose(const Napi::CallbackInfo & info);
  llama_sampler * chain_ = nullptr;
};
Napi::Value JsCreateSampler(const Napi::CallbackInfo & info);

inline Napi::Value throwError(Napi::Env env, const std::string & msg) {
  Napi::Error::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}
