// Training a model from scratch with ggml's optimizer (ggml-opt, the AdamW that llama_opt_epoch wraps) over a
// graph of our own (train-graph.cc) that computes attention in-graph, so every weight gets its gradient.
// One trainer = one model's weights, trained in place; save() writes them with llama_model_save_to_file.
#include "common.h"
#include "train-graph.h"
#include <ggml-alloc.h>
#include <ggml-opt.h>
#include <atomic>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace {

struct Schedule {
  float lr = 1e-3f, lrMin = 1e-4f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weightDecay = 0.0f;
  int64_t warmupSteps = 100, totalSteps = 10000;
};

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

    const std::string problem = describeLlamaForTraining(model_, shape_, weights_);
    if (!problem.empty()) {
      Napi::Error::New(env, "cannot train this model: " + problem).ThrowAsJavaScriptException();
      return;
    }
    backend_ = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    if (!backend_) {
      Napi::Error::New(env, "could not start ggml's CPU backend").ThrowAsJavaScriptException();
      return;
    }
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_get_device(backend_));
    auto setThreads = (ggml_backend_set_n_threads_t) ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
    if (setThreads) setThreads(backend_, threads);

    // inputs live in a statically allocated context (ggml-opt requires it for static graphs)
    ggml_init_params ip = {2 * ggml_tensor_overhead(), nullptr, true};
    ctxInputs_ = ggml_init(ip);
    tokens_ = ggml_new_tensor_1d(ctxInputs_, GGML_TYPE_I32, nCtx_);
    positions_ = ggml_new_tensor_1d(ctxInputs_, GGML_TYPE_I32, nCtx_);
    ggml_set_input(positions_);
    bufInputs_ = ggml_backend_alloc_ctx_tensors(ctxInputs_, backend_);
    std::vector<int32_t> pos(nCtx_);
    for (int32_t i = 0; i < nCtx_; i++) pos[i] = i;
    ggml_backend_tensor_set(positions_, pos.data(), 0, pos.size() * sizeof(int32_t));

    // the forward graph, its backward pass and the optimizer step are built once (ggml-opt's static graphs)
    const size_t graphSize = 8192;
    ggml_init_params cp = {graphSize * ggml_tensor_overhead() + 4 * ggml_graph_overhead_custom(graphSize, true), nullptr, true};
    ctxCompute_ = ggml_init(cp);
    for (ggml_tensor * t : weights_.all) ggml_set_param(t);
    ggml_tensor * logits = buildLlamaTrainGraph(ctxCompute_, shape_, weights_, tokens_, positions_);

    sched_ = ggml_backend_sched_new(&backend_, nullptr, 1, graphSize, false, false);
    ggml_opt_params op = ggml_opt_default_params(sched_, GGML_OPT_LOSS_TYPE_CROSS_ENTROPY);
    op.ctx_compute = ctxCompute_;
    op.inputs = tokens_;
    op.outputs = logits;
    op.build_type = GGML_OPT_BUILD_TYPE_OPT;
    op.opt_period = 1;
    op.get_opt_pars = &TrainerWrap::OptimizerParams;
    op.get_opt_pars_ud = this;
    op.optimizer = GGML_OPT_OPTIMIZER_TYPE_ADAMW;
    opt_ = ggml_opt_init(op);
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

  // one window through the graph: a training step (forward, backward, AdamW) or a forward pass only
  void runWindow(const int32_t * window, bool train, ggml_opt_result_t result, std::vector<float> & onehot) {
    ggml_opt_alloc(opt_, train);
    ggml_backend_tensor_set(tokens_, window, 0, (size_t) nCtx_ * sizeof(int32_t));
    ggml_tensor * labels = ggml_opt_labels(opt_);
    const int64_t nVocab = labels->ne[0];
    onehot.assign((size_t) nVocab * nCtx_, 0.0f);
    for (int32_t j = 0; j < nCtx_; j++) onehot[(size_t) j * nVocab + window[j + 1]] = 1.0f;
    ggml_backend_tensor_set(labels, onehot.data(), 0, onehot.size() * sizeof(float));
    ggml_opt_eval(opt_, result);
  }

  LlamaTrainShape shape_;
  LlamaTrainWeights weights_;
  ggml_backend_t backend_ = nullptr;
  ggml_backend_sched_t sched_ = nullptr;
  ggml_context * ctxInputs_ = nullptr;
  ggml_context * ctxCompute_ = nullptr;
  ggml_backend_buffer_t bufInputs_ = nullptr;
  ggml_tensor * tokens_ = nullptr;
  ggml_tensor * positions_ = nullptr;
  ggml_opt_context_t opt_ = nullptr;
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
    if (opt_) { ggml_opt_free(opt_); opt_ = nullptr; }
    if (sched_) { ggml_backend_sched_free(sched_); sched_ = nullptr; }
    if (bufInputs_) { ggml_backend_buffer_free(bufInputs_); bufInputs_ = nullptr; }
    if (ctxCompute_) { ggml_free(ctxCompute_); ctxCompute_ = nullptr; }
    if (ctxInputs_) { ggml_free(ctxInputs_); ctxInputs_ = nullptr; }
    if (backend_) { ggml_backend_free(backend_); backend_ = nullptr; }
    if (!modelRef_.IsEmpty()) modelRef_.Reset();
  }

  Napi::ObjectReference modelRef_;
  llama_model * model_ = nullptr;
  Schedule schedule_;
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
    ggml_opt_result_t train = ggml_opt_result_init(), eval = ggml_opt_result_init();
    std::vector<float> onehot;
    trainer_->trainDone_ = trainer_->evalDone_ = 0;
    trainer_->trainTotal_ = nTrain_;
    trainer_->evalTotal_ = ndata - nTrain_;
    for (int64_t i = 0; i < ndata; i++) {
      const bool training = i < nTrain_;
      trainer_->runWindow(windows_.data() + i * (n + 1), training, training ? train : eval, onehot);
      if (training) trainer_->trainDone_ = i + 1;
      else trainer_->evalDone_ = i + 1 - nTrain_;
    }
    double unc;
    ggml_opt_result_loss(train, &trainLoss_, &unc);
    ggml_opt_result_accuracy(train, &trainAccuracy_, &unc);
    if (nTrain_ < ndata) ggml_opt_result_loss(eval, &evalLoss_, &unc);
    ggml_opt_result_free(train);
    ggml_opt_result_free(eval);
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
  if (!opt_) return throwError(info.Env(), "the trainer is disposed");
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
