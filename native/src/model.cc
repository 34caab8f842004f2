// The llama_model wrapper: loaded once (off the JS thread), owned by the addon, freed by dispose().
#include "common.h"
#include <vector>

ModelWrap::ModelWrap(const Napi::CallbackInfo & info) : Napi::ObjectWrap<ModelWrap>(info) {
  // constructed only by LoadModelWorker, which passes the loaded model as an External
  model_ = info[0].As<Napi::External<llama_model>>().Data();
  Napi::Env env = info.Env();
  const llama_vocab * v = vocab();
  Napi::Object meta = Napi::Object::New(env);
  char desc[256] = {0};
  llama_model_desc(model_, desc, sizeof(desc));
  meta.Set("nLayer", llama_model_n_layer(model_));
  meta.Set("nEmbd", llama_model_n_embd(model_));
  meta.Set("nVocab", llama_vocab_n_tokens(v));
  meta.Set("nCtxTrain", llama_model_n_ctx_train(model_));
  meta.Set("nParams", (double) llama_model_n_params(model_));
  meta.Set("sizeBytes", (double) llama_model_size(model_));
  meta.Set("description", desc);
  meta.Set("bos", llama_vocab_bos(v));
  meta.Set("eos", llama_vocab_eos(v));
  meta.Set("addBos", llama_vocab_get_add_bos(v));
  const char * tmpl = llama_model_chat_template(model_, nullptr);
  meta.Set("chatTemplate", tmpl ? Napi::Value(Napi::String::New(env, tmpl)) : env.Null());
  info.This().As<Napi::Object>().Set("info", meta);
}

ModelWrap::~ModelWrap() {
  if (model_) llama_model_free(model_);
}

Napi::Function ModelWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeModel", {
    InstanceMethod("tokenize", &ModelWrap::Tokenize),
    InstanceMethod("tokenBytes", &ModelWrap::TokenBytes),
    InstanceMethod("dispose", &ModelWrap::Dispose),
  });
}

Napi::Value ModelWrap::Tokenize(const Napi::CallbackInfo & info) {
  Napi::Env env = info.Env();
  if (!model_) return throwError(env, "the model is disposed");
  std::string text = info[0].As<Napi::String>().Utf8Value();
  bool addSpecial = info[1].As<Napi::Boolean>().Value();
  bool parseSpecial = info[2].As<Napi::Boolean>().Value();
  std::vector<llama_token> tokens(text.size() + 8);
  int32_t n = llama_tokenize(vocab(), text.data(), (int32_t) text.size(), tokens.data(), (int32_t) tokens.size(),
                             addSpecial, parseSpecial);
  if (n < 0) {
    tokens.resize(-n);
    n = llama_tokenize(vocab(), text.data(), (int32_t) text.size(), tokens.data(), (int32_t) tokens.size(),
                       addSpecial, parseSpecial);
  }
  if (n < 0) return throwError(env, "tokenization failed");
  Napi::Int32Array out = Napi::Int32Array::New(env, n);
  for (int32_t i = 0; i < n; i++) out[i] = tokens[i];
  return out;
}

Napi::Value ModelWrap::TokenBytes(const Napi::CallbackInfo & info) {
  Napi::Env env = info.Env();
  if (!model_) return throwError(env, "the model is disposed");
  llama_token token = info[0].As<Napi::Number>().Int32Value();
  char buf[256];
  int32_t n = llama_token_to_piece(vocab(), token, buf, sizeof(buf), 0, true);
  std::vector<char> big;
  const char * src = buf;
  if (n < 0) {
    big.resize(-n);
    n = llama_token_to_piece(vocab(), token, big.data(), (int32_t) big.size(), 0, true);
    src = big.data();
  }
  if (n < 0) n = 0;
  Napi::Uint8Array out = Napi::Uint8Array::New(env, n);
  if (n) memcpy(out.Data(), src, n);
  return out;
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo & info) {
  if (model_) {
    llama_model_free(model_);
    model_ = nullptr;
  }
  return info.Env().Undefined();
}

class LoadModelWorker : public Napi::AsyncWorker {
 public:
  LoadModelWorker(Napi::Env env, std::string path, llama_model_params params)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)), params_(params) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    clearLlamaError();
    model_ = llama_model_load_from_file(path_.c_str(), params_);
    if (!model_) {
      std::string why = lastLlamaError();
      SetError(why.empty() ? "llama.cpp could not load it" : why);
    }
  }
  void OnOK() override {
    auto * data = Env().GetInstanceData<AddonData>();
    deferred_.Resolve(data->modelCtor.New({Napi::External<llama_model>::New(Env(), model_)}));
  }
  void OnError(const Napi::Error & e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  llama_model_params params_;
  llama_model * model_ = nullptr;
};

Napi::Value JsLoadModel(const Napi::CallbackInfo & info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Object opts = info[1].As<Napi::Object>();
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = opts.Get("gpuLayers").As<Napi::Number>().Int32Value();
  if (!opts.Get("useMmap").As<Napi::Boolean>().Value()) params.load_mode = LLAMA_LOAD_MODE_NONE;
  params.progress_callback = [](float, void *) { return true; };  // silence llama.cpp's progress dots
  auto * worker = new LoadModelWorker(env, path, params);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

class QuantizeWorker : public Napi::AsyncWorker {
 public:
  QuantizeWorker(Napi::Env env, std::string in, std::string out, llama_model_quantize_params params)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), in_(std::move(in)), out_(std::move(out)),
        params_(params) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    clearLlamaError();
    if (llama_model_quantize(in_.c_str(), out_.c_str(), &params_) != 0) {
      std::string why = lastLlamaError();
      SetError("quantizing " + in_ + " failed" + (why.empty() ? "" : ": " + why));
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error & e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string in_, out_;
  llama_model_quantize_params params_;
};

Napi::Value JsQuantizeModel(const Napi::CallbackInfo & info) {
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.ftype = (llama_ftype) info[2].As<Napi::Number>().Int32Value();
  params.nthread = info[3].As<Napi::Number>().Int32Value();
  auto * worker = new QuantizeWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(),
                                     info[1].As<Napi::String>().Utf8Value(), params);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}
