// The llama_context wrapper: one context serves every sequence (kv_unified), with the steering hook attached.
#pragma once
#include "common.h"
#include "steering-hook.h"
#include <atomic>
#include <memory>

class ContextWrap : public Napi::ObjectWrap<ContextWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ContextWrap(const Napi::CallbackInfo & info);
  ~ContextWrap();

  llama_context * ctx() const { return ctx_; }
  llama_model * model() const { return model_; }
  SteeringHook * hook() const { return hook_.get(); }
  llama_batch & batch() { return batch_; }
  int32_t nBatch() const { return nBatch_; }
  int32_t nEmbd() const { return nEmbd_; }
  int32_t nVocab() const { return nVocab_; }
  std::atomic<bool> busy{false};

 private:
  Napi::Value Decode(const Napi::CallbackInfo & info);
  Napi::Value SetInterventions(const Napi::CallbackInfo & info);
  Napi::Value ClearInterventions(const Napi::CallbackInfo & info);
  Napi::Value SeqRemove(const Napi::CallbackInfo & info);
  Napi::Value SeqPosMax(const Napi::CallbackInfo & info);
  Napi::Value SetControlVector(const Napi::CallbackInfo & info);
  Napi::Value Dispose(const Napi::CallbackInfo & info);
  void release();

  Napi::ObjectReference modelRef_;
  llama_model * model_ = nullptr;
  llama_context * ctx_ = nullptr;
  struct ggml_threadpool * threadpool_ = nullptr;
  void (*threadpoolFree_)(struct ggml_threadpool *) = nullptr;
  std::unique_ptr<SteeringHook> hook_;
  llama_batch batch_{};
  int32_t nBatch_ = 0, nEmbd_ = 0, nVocab_ = 0, nSeqMax_ = 0;
};

Napi::Value StartDecode(Napi::Env env, ContextWrap * context, Napi::Object batch);
