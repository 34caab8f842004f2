#include "context.h"
#include <ggml-cpu.h>
#include <algorithm>

using ThreadpoolNewFn = struct ggml_threadpool * (*)(struct ggml_threadpool_params *);
using ThreadpoolFreeFn = void (*)(struct ggml_threadpool *);

ContextWrap::ContextWrap(const Napi::CallbackInfo & info) : Napi::ObjectWrap<ContextWrap>(info) {
  Napi::Env env = info.Env();
  Napi::Object modelObj = info[0].As<Napi::Object>();
  ModelWrap * model = Napi::ObjectWrap<ModelWrap>::Unwrap(modelObj);
  if (model->disposed()) {
    Napi::Error::New(env, "the model is disposed").ThrowAsJavaScriptException();
    return;
  }
  modelRef_ = Napi::Persistent(modelObj);
  model_ = model->model();
  nEmbd_ = llama_model_n_embd(model_);
  nVocab_ = llama_vocab_n_tokens(model->vocab());
  Napi::Object p = info[1].As<Napi::Object>();
  const int32_t threads = p.Get("threads").As<Napi::Number>().Int32Value();
  nBatch_ = p.Get("nBatch").As<Napi::Number>().Int32Value();
  nSeqMax_ = p.Get("nSeqMax").As<Napi::Number>().Int32Value();
  const bool withHook = p.Get("hook").As<Napi::Boolean>().Value();

  hook_ = std::make_unique<SteeringHook>(llama_model_n_layer(model_), nEmbd_);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = p.Get("nCtx").As<Napi::Number>().Uint32Value();
  // one llama_decode = one micro-batch, so the hook's rows are the slice's rows in order; n_batch also
  // bounds the outputs llama.cpp reserves, which must cover one per sequence
  cp.n_batch = std::max(nBatch_, nSeqMax_);
  cp.n_ubatch = nBatch_;
  cp.n_seq_max = nSeqMax_;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  // without a unified KV buffer llama.cpp reorders tokens by sequence inside a micro-batch
  cp.kv_unified = true;
  cp.no_perf = true;
  if (withHook) {
    cp.cb_eval = SteeringHook::callback;
    cp.cb_eval_user_data = hook_.get();
  }
  clearLlamaError();
  ctx_ = llama_init_from_model(model_, cp);
  if (!ctx_) {
    std::string why = lastLlamaError();
    Napi::Error::New(env, "could not create the llama.cpp context" + (why.empty() ? "" : ": " + why))
        .ThrowAsJavaScriptException();
    return;
  }
  // a persistent threadpool: without one, each hooked graph split re-creates its threads
  ggml_backend_reg_t cpu = ggml_backend_reg_by_name("CPU");
  auto tpNew = cpu ? (ThreadpoolNewFn) ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_new") : nullptr;
  threadpoolFree_ = cpu ? (ThreadpoolFreeFn) ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_free") : nullptr;
  if (tpNew && threadpoolFree_) {
    struct ggml_threadpool_params tpp = ggml_threadpool_params_default(threads);
    threadpool_ = tpNew(&tpp);
    if (threadpool_) llama_attach_threadpool(ctx_, threadpool_, threadpool_);
  }
  batch_ = llama_batch_init(nBatch_, 0, 1);
}

ContextWrap::~ContextWrap() { release(); }

void ContextWrap::release() {
  if (ctx_) {
    llama_free(ctx_);
    ctx_ = nullptr;
    llama_batch_free(batch_);
    batch_ = {};
  }
  if (threadpool_) {
    threadpoolFree_(threadpool_);
    threadpool_ = nullptr;
  }
  if (!modelRef_.IsEmpty()) modelRef_.Reset();
}

Napi::Function ContextWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeContext", {
    InstanceMethod("decode", &ContextWrap::Decode),
    InstanceMethod("setInterventions", &ContextWrap::SetInterventions),
    InstanceMethod("clearInterventions", &ContextWrap::ClearInterventions),
    InstanceMethod("seqRemove", &ContextWrap::SeqRemove),
    InstanceMethod("seqPosMax", &ContextWrap::SeqPosMax),
    InstanceMethod("setControlVector", &ContextWrap::SetControlVector),
    InstanceMethod("dispose", &ContextWrap::Dispose),
  });
}

Napi::Value ContextWrap::Decode(const Napi::CallbackInfo & info) {
  if (!ctx_) return throwError(info.Env(), "the context is disposed");
  if (busy.exchange(true)) return throwError(info.Env(), "a decode is already running on this context");
  return StartDecode(info.Env(), this, info[0].As<Napi::Object>());
}

static std::vector<float> copyFloats(Napi::Value v) {
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Value ContextWrap::SetInterventions(const Napi::CallbackInfo & info) {
  const int32_t seq = info[0].As<Napi::Number>().Int32Value();
  Napi::Array list = info[1].As<Napi::Array>();
  InterventionList out;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Object o = list.Get(i).As<Napi::Object>();
    Intervention iv;
    iv.layer = o.Get("layer").As<Napi::Number>().Int32Value();
    iv.applyTo = (ApplyTo) o.Get("applyTo").As<Napi::Number>().Int32Value();
    const std::string kind = o.Get("kind").As<Napi::String>().Utf8Value();
    if (kind == "add") {
      iv.kind = Intervention::ADD;
      iv.vector = copyFloats(o.Get("vector"));
    } else if (kind == "add-positions") {
      iv.kind = Intervention::ADD_POSITIONS;
      iv.vector = copyFloats(o.Get("vectors"));
      iv.firstPosition = o.Get("firstPosition").As<Napi::Number>().Int32Value();
    } else {
      iv.kind = Intervention::CLAMP;
      iv.encoder = copyFloats(o.Get("encoder"));
      iv.decoder = copyFloats(o.Get("decoder"));
      iv.bias = o.Get("bias").As<Napi::Number>().FloatValue();
      iv.threshold = o.Get("threshold").As<Napi::Number>().FloatValue();
      iv.value = o.Get("value").As<Napi::Number>().FloatValue();
    }
    out.push_back(std::move(iv));
  }
  hook_->set(seq, std::move(out));
  return info.Env().Undefined();
}

Napi::Value ContextWrap::ClearInterventions(const Napi::CallbackInfo & info) {
  hook_->clear(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value ContextWrap::SeqRemove(const Napi::CallbackInfo & info) {
  if (!ctx_) return throwError(info.Env(), "the context is disposed");
  if (busy) return throwError(info.Env(), "cannot change the KV cache while a decode is running");
  bool ok = llama_memory_seq_rm(llama_get_memory(ctx_), info[0].As<Napi::Number>().Int32Value(),
                                info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value());
  return Napi::Boolean::New(info.Env(), ok);
}

Napi::Value ContextWrap::SeqPosMax(const Napi::CallbackInfo & info) {
  if (!ctx_) return throwError(info.Env(), "the context is disposed");
  return Napi::Number::New(info.Env(),
                           llama_memory_seq_pos_max(llama_get_memory(ctx_), info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value ContextWrap::SetControlVector(const Napi::CallbackInfo & info) {
  if (!ctx_) return throwError(info.Env(), "the context is disposed");
  if (busy) return throwError(info.Env(), "cannot change the control vector while a decode is running");
  int32_t rc;
  if (info[0].IsNull()) {
    rc = llama_set_adapter_cvec(ctx_, nullptr, 0, nEmbd_, -1, -1);
  } else {
    Napi::Float32Array data = info[0].As<Napi::Float32Array>();
    rc = llama_set_adapter_cvec(ctx_, data.Data(), data.ElementLength(), nEmbd_,
                                info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value());
  }
  if (rc != 0) return throwError(info.Env(), "llama_set_adapter_cvec failed: " + lastLlamaError());
  return info.Env().Undefined();
}

Napi::Value ContextWrap::Dispose(const Napi::CallbackInfo & info) {
  if (busy) return throwError(info.Env(), "cannot dispose the context while a decode is running");
  release();
  return info.Env().Undefined();
}

Napi::Value JsCreateContext(const Napi::CallbackInfo & info) {
  auto * data = info.Env().GetInstanceData<AddonData>();
  return data->contextCtor.New({info[0], info[1]});
}

Napi::Function DefineContext(Napi::Env env) { return ContextWrap::Define(env); }
