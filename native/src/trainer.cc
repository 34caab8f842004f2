// Training a model from scratch with llama.cpp's own optimizer (llama_opt_init / llama_opt_epoch): the forge
// uses it to make the project's demo model. One trainer = one context = one llama_opt_init.
#include "common.h"
#include <ggml-opt.h>
#include <atomic>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

// exported by libllama (C++ linkage, declared in its internal llama-model.h): the model's tensors by name
const std::vector<std::pair<std::string, ggml_tensor *>> & llama_internal_get_tensor_map(const llama_model * model);

namespace {

struct Schedule {
  float lr = 1e-3f, lrMin = 1e-4f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weightDecay = 0.0f;
  int64_t warmupSteps = 100, totalSteps = 10000;
};

class TrainerWrap;
// ggml's epoch callback carries no user data; one epoch runs at a time per process
std::atomic<TrainerWrap *> g_running{nullptr};

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeTrainer", {
      InstanceMethod("epoch", &TrainerWrap::Epoch),
      InstanceMethod("progress", &TrainerWrap::Progress),
      InstanceMethod("save", &TrainerWrap::Save),
      InstanceMethod("dispose", &TrainerWrap::Dispose),
    });
  }

  explicit TrainerWrap(const Napi::CallbackInfo & info) : Napi::ObjectWrap<TrainerWrap>(info) {
    Napi::Env env = info.Env();
    Napi::Object modelObj = info[0].As<Napi::Object>();
    ModelWrap * model = Napi::ObjectWrap<ModelWrap>::Unwrap(modelObj);
    modelRef_ = Napi::Persistent(modelObj);
    model_ = model->model();
    Napi::Object p = info[1].As<Napi::Object>();
    auto num = [&](const char * k) { return p.Get(k).As<Napi::Number>().DoubleValue(); };
    nCtx_ = (int32_t) num("nCtx");
    const int32_t threads = (int32_t) num("threads");
    schedule_.lr = (float) num("lr");
    schedule_.lrMin = (float) num("lrMin");
    schedule_.warmupSteps = (int64_t) num("warmupSteps");
    schedule_.totalSteps = (int64_t) num("totalSteps");
    schedule_.weightDecay = (float) num("weightDecay");

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = nCtx_;
    cp.n_batch = nCtx_;
    cp.n_ubatch = nCtx_;
    cp.n_seq_max = 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    // OUT_PROD has no F16 backward: the KV cache must be F32 for training
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.no_perf = true;
    clearLlamaError();
    ctx_ = llama_init_from_model(model_, cp);
    if (!ctx_) {
      Napi::Error::New(env, "could not create the training context: " + lastLlamaError()).ThrowAsJavaScriptException();
      return;
    }
    if ((int32_t) llama_n_ctx(ctx_) != nCtx_) {
      // llama.cpp rounds the context up (to 256 cells); a window must fill it exactly
      Napi::Error::New(env, "the training window must be a multiple of 256 tokens; llama.cpp made the context " +
                                std::to_string(llama_n_ctx(ctx_)) + " for " + std::to_string(nCtx_))
          .ThrowAsJavaScriptException();
      release();
      return;
    }
    // llama_opt_epoch uses the CPU backend's thread count as the last llama_decode set it (default 4, which on
    // 2 cores is ~80x slower): one throwaway decode sets it
    llama_batch b = llama_batch_get_one(&warmToken_, 1);
    llama_decode(ctx_, b);
    llama_memory_clear(llama_get_memory(ctx_), true);

    // llama_opt_init leaves token_embd frozen (a FIXME upstream): mark it trainable ourselves
    for (const auto & [name, tensor] : llama_internal_get_tensor_map(model_)) {
      if (name == "token_embd.weight") ggml_set_param(tensor);
    }
    llama_opt_params op{};
    op.n_ctx_train = 0;
    op.param_filter = llama_opt_param_filter_all;
    op.param_filter_ud = nullptr;
    op.get_opt_pars = &TrainerWrap::OptimizerParams;
    op.get_opt_pars_ud = this;
    op.optimizer_type = GGML_OPT_OPTIMIZER_TYPE_ADAMW;
    llama_opt_init(ctx_, model_, op);
  }

  ~TrainerWrap() { release(); }

  // called before every optimizer step; ggml passes no step number, so we count
  static ggml_opt_optimizer_params OptimizerParams(void * ud) {
    auto * self = static_cast<TrainerWrap *>(ud);
    const Schedule & s = self->schedule_;
    const int64_t step = self->step_++;
    float lr;
    if (step < s.warmupSteps) {
      lr = s.lr * (float) (step + 1) / (float) s.warmupSteps;
    } else {
      const double t = std::min(1.0, (double) (step - s.warmupSteps) / std::max<int64_t>(1, s.totalSteps - s.warmupSteps));
      lr = (float) (s.lrMin + 0.5 * (s.lr - s.lrMin) * (1 + std::cos(M_PI * t)));
    }
    self->currentLr_ = lr;
    ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(nullptr);
    p.adamw.alpha = lr;
    p.adamw.beta1 = s.beta1;
    p.adamw.beta2 = s.beta2;
    p.adamw.eps = s.eps;
    p.adamw.wd = s.weightDecay;
    return p;
  }

  static void OnBatch(bool train, ggml_opt_context_t, ggml_opt_dataset_t, ggml_opt_result_t, int64_t ibatch,
                      int64_t ibatchMax, int64_t) {
    TrainerWrap * self = g_running.load();
    if (!self) return;
    if (train) { self->trainDone_ = ibatch; self->trainTotal_ = ibatchMax; }
    else { self->evalDone_ = ibatch; self->evalTotal_ = ibatchMax; }
  }

  llama_context * ctx_ = nullptr;
  int32_t nCtx_ = 0;
  std::atomic<bool> busy_{false};
  std::atomic<int64_t> trainDone_{0}, trainTotal_{0}, evalDone_{0}, evalTotal_{0};
  std::atomic<int64_t> step_{0};
  std::atomic<float> currentLr_{0};

 private:
  Napi::Value Epoch(const Napi::CallbackInfo & info);
  Napi::Value Progress(const Napi::CallbackInfo & info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("trainBatches", (double) trainDone_);
    o.Set("trainTotal", (double) trainTotal_);
    o.Set("evalBatches", (double) evalDone_);
    o.Set("evalTotal", (double) evalTotal_);
    o.Set("step", (double) step_);
    o.Set("lr", (double) currentLr_);
    return o;
  }
  Napi::Value Save(const Napi::CallbackInfo & info) {
    if (busy_) return throwError(info.Env(), "cannot save while an epoch runs");
    llama_model_save_to_file(model_, info[0].As<Napi::String>().Utf8Value().c_str());
    return info.Env().Undefined();
  }
  Napi::Value Dispose(const Napi::CallbackInfo & info) {
    if (busy_) return throwError(info.Env(), "cannot dispose while an epoch runs");
    release();
    return info.Env().Undefined();
  }
  void release() {
    if (ctx_) { llama_free(ctx_); ctx_ = nullptr; }
    if (!modelRef_.IsEmpty()) modelRef_.Reset();
  }

  Napi::ObjectReference modelRef_;
  llama_model * model_ = nullptr;
  Schedule schedule_;
  llama_token warmToken_ = 0;
};

class EpochWorker : public Napi::AsyncWorker {
 public:
  EpochWorker(Napi::Env env, TrainerWrap * trainer, Napi::Int32Array windows, int64_t nTrain)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), trainer_(trainer), nTrain_(nTrain) {
    ref_ = Napi::Persistent(trainer->Value());
    windows_.assign(windows.Data(), windows.Data() + windows.ElementLength());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const int64_t n = trainer_->nCtx_;
    const int64_t ndata = (int64_t) windows_.size() / (n + 1);
    ggml_opt_dataset_t dataset = ggml_opt_dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, n, n, ndata, 1);
    auto * data = (int32_t *) ggml_opt_dataset_data(dataset)->data;
    auto * labels = (int32_t *) ggml_opt_dataset_labels(dataset)->data;
    for (int64_t i = 0; i < ndata; i++) {
      const int32_t * w = windows_.data() + i * (n + 1);
      for (int64_t j = 0; j < n; j++) {
        data[i * n + j] = w[j];
        labels[i * n + j] = w[j + 1];
      }
    }
    ggml_opt_result_t train = ggml_opt_result_init(), eval = ggml_opt_result_init();
    trainer_->trainDone_ = trainer_->evalDone_ = 0;
    g_running = trainer_;
    llama_opt_epoch(trainer_->ctx_, dataset, train, eval, nTrain_, &TrainerWrap::OnBatch, &TrainerWrap::OnBatch);
    g_running = nullptr;
    double unc;
    ggml_opt_result_loss(train, &trainLoss_, &unc);
    ggml_opt_result_accuracy(train, &trainAccuracy_, &unc);
    if (nTrain_ < ndata) ggml_opt_result_loss(eval, &evalLoss_, &unc);
    ggml_opt_result_free(train);
    ggml_opt_result_free(eval);
    ggml_opt_dataset_free(dataset);
  }
  void OnOK() override {
    trainer_->busy_ = false;
    Napi::Object o = Napi::Object::New(Env());
    o.Set("trainLoss", trainLoss_);
    o.Set("trainAccuracy", trainAccuracy_);
    o.Set("evalLoss", std::isnan(evalLoss_) ? Env().Null() : Napi::Value(Napi::Number::New(Env(), evalLoss_)));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error & e) override {
    trainer_->busy_ = false;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  TrainerWrap * trainer_;
  Napi::ObjectReference ref_;
  std::vector<int32_t> windows_;
  int64_t nTrain_;
  double trainLoss_ = NAN, trainAccuracy_ = NAN, evalLoss_ = NAN;
};

Napi::Value TrainerWrap::Epoch(const Napi::CallbackInfo & info) {
  if (!ctx_) return throwError(info.Env(), "the trainer is disposed");
  if (busy_.exchange(true)) return throwError(info.Env(), "an epoch is already running");
  auto * worker = new EpochWorker(info.Env(), this, info[0].As<Napi::Int32Array>(),
                                  (int64_t) info[1].As<Napi::Number>().DoubleValue());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

Napi::Function DefineTrainer(Napi::Env env) { return TrainerWrap::Define(env); }

Napi::Value JsCreateTrainer(const Napi::CallbackInfo & info) {
  auto * data = info.Env().GetInstanceData<AddonData>();
  return data->trainerCtor.New({info[0], info[1]});
}
