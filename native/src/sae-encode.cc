// Dense SAE encoding off the JS thread. The one big product, pre = W·x for every input row, runs on ggml's CPU
// backend (llamafile's sgemm on x86: SIMD, register-tiled, threaded), straight on the JS typed arrays' memory;
// then each row gets its scale and bias, the architecture's nonlinearity, and its top-n features.
//
// A real Llama SAE's encoder is 65,536 × 4,096 floats (1 GiB): it is never copied. ggml wants 32-byte-aligned
// buffer bases, which JS allocations need not have, so each host buffer starts at the aligned address just
// below the array and the tensor is placed at the array itself (ggml never touches the bytes in between).
#include "common.h"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

// keep in sync with SAE_ACTIVATION in src/native/addon.ts
enum Activation : int32_t { IDENTITY = 0, RELU = 1, JUMPRELU = 2, TOPK = 3 };

constexpr uintptr_t kAlign = 32;

struct FloatArray {
  const float * data = nullptr;
  size_t length = 0;
};

// What one call computes; parsed and checked on the JS thread before any work is queued.
struct EncodeJob {
  int64_t rows = 0, dIn = 0, dSae = 0, k = 0, topN = 0;
  int32_t activation = IDENTITY;
  int threads = 1;
  FloatArray x, weights, scale, bias, floor, dense;
};

// A view of a Float32Array argument (empty for null/undefined); false when it is something else.
bool floatArray(Napi::Object args, const char * key, FloatArray & out) {
  Napi::Value v = args.Get(key);
  if (v.IsNull() || v.IsUndefined()) return true;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) return false;
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  out = {a.Data(), a.ElementLength()};
  return true;
}

// The TS side checks all of this; these guard the memory the worker will read and write. "" when valid.
std::string parseJob(Napi::Object args, EncodeJob & job) {
  auto integer = [&](const char * key) {
    Napi::Value v = args.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : -1;
  };
  job.rows = integer("rows");
  job.dIn = integer("dIn");
  job.dSae = integer("dSae");
  job.activation = (int32_t) integer("activation");
  job.k = integer("k");
  job.topN = integer("topN");
  job.threads = (int) std::max<int64_t>(1, integer("threads"));
  for (auto [key, field] : {std::pair{"x", &job.x}, {"weights", &job.weights}, {"scale", &job.scale},
                            {"bias", &job.bias}, {"floor", &job.floor}, {"dense", &job.dense}}) {
    if (!floatArray(args, key, *field)) return std::string(key) + " must be a Float32Array";
  }
  const size_t rows = (size_t) job.rows, dIn = (size_t) job.dIn, dSae = (size_t) job.dSae;
  if (job.rows <= 0 || job.dIn <= 0 || job.dSae <= 0) return "rows, dIn and dSae must be positive";
  if (job.x.length != rows * dIn) return "x must hold rows × dIn floats";
  if (job.weights.length != dSae * dIn) return "weights must hold dSae × dIn floats";
  if (job.scale.data && job.scale.length != dSae) return "scale must hold dSae floats";
  if (job.bias.data && job.bias.length != dSae) return "bias must hold dSae floats";
  if (job.activation < IDENTITY || job.activation > TOPK) return "unknown activation";
  if (job.activation == JUMPRELU && job.floor.length != dSae) return "a jumprelu needs dSae thresholds";
  if (job.activation == TOPK && (job.k < 1 || job.k > job.dSae)) return "topk needs k in 1..dSae";
  if (job.topN < 0 || job.topN > job.dSae) return "topN must be in 0..dSae";
  if (job.dense.data && job.dense.length != rows * dSae) return "dense must hold rows × dSae floats";
  return "";
}

ggml_backend_buffer_t hostBuffer(ggml_backend_dev_t dev, const void * ptr, size_t bytes) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  const uintptr_t base = p & ~(kAlign - 1);
  return ggml_backend_dev_buffer_from_host_ptr(dev, reinterpret_cast<void *>(base), bytes + (p - base), bytes + (p - base));
}

class SaeEncodeWorker : public Napi::AsyncWorker {
 public:
  SaeEncodeWorker(Napi::Env env, Napi::Object args, const EncodeJob & job)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {
    argsRef_ = Napi::Persistent(args);  // keeps every typed array alive until the work is done
    rows_ = job.rows;
    dIn_ = job.dIn;
    dSae_ = job.dSae;
    activation_ = job.activation;
    k_ = job.k;
    topN_ = job.topN;
    threads_ = job.threads;
    x_ = job.x;
    weights_ = job.weights;
    scale_ = job.scale;
    bias_ = job.bias;
    floor_ = job.floor;
    dense_ = const_cast<float *>(job.dense.data);
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    if (!dense_) {
      scratch_.resize((size_t) (rows_ * dSae_));
      dense_ = scratch_.data();
    }
    if (!multiply()) return;
    indices_.assign((size_t) (rows_ * topN_), -1);
    values_.assign((size_t) (rows_ * topN_), 0.0f);
    // rows are independent: split them over the threads (the product above already used them all)
    const int64_t workers = std::min<int64_t>(threads_, rows_);
    std::vector<std::thread> pool;
    for (int64_t w = 1; w < workers; w++) pool.emplace_back([this, w, workers] { finishRows(w, workers); });
    finishRows(0, workers);
    for (auto & t : pool) t.join();
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    Napi::Int32Array indices = Napi::Int32Array::New(env, indices_.size());
    std::copy(indices_.begin(), indices_.end(), indices.Data());
    Napi::Float32Array values = Napi::Float32Array::New(env, values_.size());
    std::copy(values_.begin(), values_.end(), values.Data());
    out.Set("indices", indices);
    out.Set("values", values);
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error & e) override { deferred_.Reject(e.Value()); }

 private:
  // pre[r, f] = weights[f]·x[r] into dense_, on ggml's CPU backend
  bool multiply() {
    ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!dev) return fail("no ggml CPU device is loaded");
    ggml_backend_t backend = ggml_backend_dev_init(dev, nullptr);
    if (!backend) return fail("could not start ggml's CPU backend");
    auto setThreads = (ggml_backend_set_n_threads_t) ggml_backend_reg_get_proc_address(
        ggml_backend_dev_backend_reg(dev), "ggml_backend_set_n_threads");
    if (setThreads) setThreads(backend, threads_);

    ggml_init_params params = {ggml_tensor_overhead() * 4 + ggml_graph_overhead_custom(4, false), nullptr, true};
    ggml_context * ctx = ggml_init(params);
    ggml_tensor * w = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, dIn_, dSae_);
    ggml_tensor * x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, dIn_, rows_);
    ggml_tensor * y = ggml_mul_mat(ctx, w, x);  // [dSae, rows]: row r of the result is input row r's pre-activations
    ggml_cgraph * graph = ggml_new_graph_custom(ctx, 4, false);
    ggml_build_forward_expand(graph, y);

    const size_t wBytes = ggml_nbytes(w), xBytes = ggml_nbytes(x), yBytes = ggml_nbytes(y);
    ggml_backend_buffer_t bufs[3] = {hostBuffer(dev, weights_.data, wBytes), hostBuffer(dev, x_.data, xBytes),
                                     hostBuffer(dev, dense_, yBytes)};
    bool ok = bufs[0] && bufs[1] && bufs[2];
    if (ok) {
      ok = ggml_backend_tensor_alloc(bufs[0], w, const_cast<float *>(weights_.data)) == GGML_STATUS_SUCCESS &&
           ggml_backend_tensor_alloc(bufs[1], x, const_cast<float *>(x_.data)) == GGML_STATUS_SUCCESS &&
           ggml_backend_tensor_alloc(bufs[2], y, dense_) == GGML_STATUS_SUCCESS &&
           ggml_backend_graph_compute(backend, graph) == GGML_STATUS_SUCCESS;
    }
    for (auto * b : bufs) if (b) ggml_backend_buffer_free(b);
    ggml_free(ctx);
    ggml_backend_free(backend);
    return ok || fail("ggml could not compute the SAE's encoder product");
  }

  bool fail(const char * message) {
    SetError(message);
    return false;
  }

  // scale, bias, nonlinearity and top-n for rows w, w + workers, ...
  void finishRows(int64_t first, int64_t stride) {
    std::vector<int32_t> order;
    for (int64_t r = first; r < rows_; r += stride) {
      float * row = dense_ + r * dSae_;
      for (int64_t f = 0; f < dSae_; f++) {
        float v = row[f];
        if (scale_.data) v *= scale_.data[f];
        if (bias_.data) v += bias_.data[f];
        row[f] = v;
      }
      activate(row, order);
      selectTop(row, r, order);
    }
  }

  // NaN ranks below every number, so it is never selected over one; equal values keep index order
  static bool above(float a, int32_t i, float b, int32_t j) {
    const float ka = std::isnan(a) ? -INFINITY : a, kb = std::isnan(b) ? -INFINITY : b;
    return ka > kb || (ka == kb && i < j);
  }

  void activate(float * row, std::vector<int32_t> & order) const {
    switch (activation_) {
      case IDENTITY:
        return;
      case RELU:
        for (int64_t f = 0; f < dSae_; f++) if (!(row[f] > 0.0f)) row[f] = 0.0f;
        return;
      case JUMPRELU:
        // SAELens: ReLU(pre)·[pre > θ]; the TS side passes max(θ, 0)
        for (int64_t f = 0; f < dSae_; f++) if (!(row[f] > floor_.data[f])) row[f] = 0.0f;
        return;
      case TOPK: {
        // the k largest pre-activations, then ReLU on those
        order.resize((size_t) dSae_);
        for (int64_t f = 0; f < dSae_; f++) order[(size_t) f] = (int32_t) f;
        std::nth_element(order.begin(), order.begin() + (k_ - 1), order.end(),
                         [row](int32_t a, int32_t b) { return above(row[a], a, row[b], b); });
        std::vector<float> kept((size_t) k_);
        for (int64_t j = 0; j < k_; j++) kept[(size_t) j] = row[order[(size_t) j]];
        std::fill(row, row + dSae_, 0.0f);
        for (int64_t j = 0; j < k_; j++) row[order[(size_t) j]] = kept[(size_t) j] > 0.0f ? kept[(size_t) j] : 0.0f;
        return;
      }
    }
  }

  // the topN largest values of the row, largest first: any value for identity, only positive ones otherwise
  void selectTop(const float * row, int64_t r, std::vector<int32_t> & order) {
    if (topN_ == 0) return;
    order.clear();
    for (int64_t f = 0; f < dSae_; f++) {
      const float v = row[f];
      if (activation_ == IDENTITY ? !std::isnan(v) : v > 0.0f) order.push_back((int32_t) f);
    }
    const size_t n = std::min<size_t>(order.size(), (size_t) topN_);
    const auto cmp = [row](int32_t a, int32_t b) { return above(row[a], a, row[b], b); };
    std::partial_sort(order.begin(), order.begin() + n, order.end(), cmp);
    for (size_t j = 0; j < n; j++) {
      indices_[(size_t) r * topN_ + j] = order[j];
      values_[(size_t) r * topN_ + j] = row[order[j]];
    }
  }

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference argsRef_;
  int64_t rows_ = 0, dIn_ = 0, dSae_ = 0, k_ = 0, topN_ = 0;
  int32_t activation_ = IDENTITY;
  int threads_ = 1;
  FloatArray x_, weights_, scale_, bias_, floor_;
  float * dense_ = nullptr;
  std::vector<float> scratch_;
  std::vector<int32_t> indices_;
  std::vector<float> values_;
};

}  // namespace

Napi::Value JsSaeEncode(const Napi::CallbackInfo & info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return throwError(env, "saeEncode expects an arguments object");
  EncodeJob job;
  const std::string problem = parseJob(info[0].As<Napi::Object>(), job);
  if (!problem.empty()) return throwError(env, "saeEncode: " + problem);
  auto * worker = new SaeEncodeWorker(env, info[0].As<Napi::Object>(), job);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}
