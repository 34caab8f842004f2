// One engine step off the JS thread: feed the batch to llama_decode in micro-batch slices (the hook edits and
// captures residual rows as the graph runs), then sample each requested row with its sequence's sampler
// chain and compute log-probabilities from the raw logits.
#include "context.h"
#include <algorithm>
#include <cmath>
#include <vector>

namespace {

template <typename T, typename A>
std::vector<T> copyArray(const A & a) {
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

struct SampleResult {
  llama_token token = -1;
  bool eog = false;
  float logprob = 0;
  std::vector<llama_token> topTokens;
  std::vector<float> topLogprobs;
};

class DecodeWorker : public Napi::AsyncWorker {
 public:
  DecodeWorker(Napi::Env env, ContextWrap * context, Napi::Object batch)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), context_(context) {
    contextRef_ = Napi::Persistent(context->Value());
    tokens_ = copyArray<int32_t>(batch.Get("tokens").As<Napi::Int32Array>());
    positions_ = copyArray<int32_t>(batch.Get("positions").As<Napi::Int32Array>());
    seqIds_ = copyArray<int32_t>(batch.Get("seqIds").As<Napi::Int32Array>());
    generated_ = copyArray<uint8_t>(batch.Get("generated").As<Napi::Uint8Array>());
    sampleRows_ = copyArray<int32_t>(batch.Get("sampleRows").As<Napi::Int32Array>());
    topN_ = copyArray<int32_t>(batch.Get("topLogprobs").As<Napi::Int32Array>());
    logitRows_ = copyArray<int32_t>(batch.Get("logitRows").As<Napi::Int32Array>());
    Napi::Array samplers = batch.Get("samplers").As<Napi::Array>();
    for (uint32_t i = 0; i < samplers.Length(); i++) {
      Napi::Object s = samplers.Get(i).As<Napi::Object>();
      samplerRefs_.push_back(Napi::Persistent(s));
      samplers_.push_back(Napi::ObjectWrap<SamplerWrap>::Unwrap(s)->chain());
    }
    Napi::Array captures = batch.Get("captures").As<Napi::Array>();
    for (uint32_t i = 0; i < captures.Length(); i++) {
      Napi::Object c = captures.Get(i).As<Napi::Object>();
      captures_.push_back({c.Get("layer").As<Napi::Number>().Int32Value(),
                           copyArray<int32_t>(c.Get("rows").As<Napi::Int32Array>()), {}});
    }
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const int32_t n = (int32_t) tokens_.size();
    std::vector<int8_t> wantsOutput(n, 0);
    std::vector<int32_t> sampleIndexOfRow(n, -1), logitIndexOfRow(n, -1);
    for (size_t i = 0; i < sampleRows_.size(); i++) { wantsOutput[sampleRows_[i]] = 1; sampleIndexOfRow[sampleRows_[i]] = (int32_t) i; }
    for (size_t i = 0; i < logitRows_.size(); i++) { wantsOutput[logitRows_[i]] = 1; logitIndexOfRow[logitRows_[i]] = (int32_t) i; }
    // the last block keeps only rows that produce logits (inp_out_ids): rows captured there must be outputs
    const int32_t lastLayer = llama_model_n_layer(context_->model()) - 1;
    for (const CaptureRequest & c : captures_) {
      if (c.layer == lastLayer) for (int32_t row : c.rows) wantsOutput[row] = 1;
    }
    results_.resize(sampleRows_.size());
    logits_.resize(logitRows_.size());

    SteeringHook * hook = context_->hook();
    hook->beginDecode(seqIds_.data(), positions_.data(), generated_.data(), n, &captures_);
    llama_batch & b = context_->batch();
    const int32_t step = context_->nBatch();
    for (int32_t start = 0; start < n; start += step) {
      const int32_t count = std::min(step, n - start);
      std::vector<int32_t> outputs;
      b.n_tokens = count;
      for (int32_t i = 0; i < count; i++) {
        const int32_t row = start + i;
        b.token[i] = tokens_[row];
        b.pos[i] = positions_[row];
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = seqIds_[row];
        b.logits[i] = wantsOutput[row];
        if (wantsOutput[row]) outputs.push_back(row);
      }
      hook->beginSlice(start, count, outputs);
      const int32_t rc = llama_decode(context_->ctx(), b);
      if (rc != 0) {
        hook->endDecode();
        SetError(rc == 1 ? "llama_decode: no KV cache slot for the batch (context full)"
                         : "llama_decode failed with code " + std::to_string(rc));
        return;
      }
      for (int32_t row : outputs) {
        const int32_t i = row - start;
        if (logitIndexOfRow[row] >= 0) {
          const float * l = llama_get_logits_ith(context_->ctx(), i);
          logits_[logitIndexOfRow[row]].assign(l, l + context_->nVocab());
        }
        const int32_t s = sampleIndexOfRow[row];
        if (s >= 0) sample(s, i);
      }
    }
    hook->endDecode();
  }

  void OnOK() override {
    Napi::Env env = Env();
    const size_t ns = results_.size();
    Napi::Object out = Napi::Object::New(env);
    Napi::Int32Array tokens = Napi::Int32Array::New(env, ns);
    Napi::Uint8Array eog = Napi::Uint8Array::New(env, ns);
    Napi::Float32Array logprobs = Napi::Float32Array::New(env, ns);
    Napi::Array topTokens = Napi::Array::New(env, ns), topLogprobs = Napi::Array::New(env, ns);
    for (size_t i = 0; i < ns; i++) {
      const SampleResult & r = results_[i];
      tokens[i] = r.token;
      eog[i] = r.eog;
      logprobs[i] = r.logprob;
      Napi::Int32Array tt = Napi::Int32Array::New(env, r.topTokens.size());
      Napi::Float32Array tl = Napi::Float32Array::New(env, r.topLogprobs.size());
      for (size_t j = 0; j < r.topTokens.size(); j++) { tt[j] = r.topTokens[j]; tl[j] = r.topLogprobs[j]; }
      topTokens.Set(i, tt);
      topLogprobs.Set(i, tl);
    }
    Napi::Array logits = Napi::Array::New(env, logits_.size());
    for (size_t i = 0; i < logits_.size(); i++) logits.Set(i, toFloat32Array(env, logits_[i]));
    Napi::Array captures = Napi::Array::New(env, captures_.size());
    for (size_t i = 0; i < captures_.size(); i++) captures.Set(i, toFloat32Array(env, captures_[i].out));
    out.Set("tokens", tokens);
    out.Set("isEog", eog);
    out.Set("logprobs", logprobs);
    out.Set("topTokens", topTokens);
    out.Set("topLogprobs", topLogprobs);
    out.Set("logits", logits);
    out.Set("captures", captures);
    context_->busy = false;
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error & e) override {
    context_->busy = false;
    deferred_.Reject(e.Value());
  }

 private:
  static Napi::Float32Array toFloat32Array(Napi::Env env, const std::vector<float> & v) {
    Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
    if (!v.empty()) memcpy(a.Data(), v.data(), v.size() * sizeof(float));
    return a;
  }

  void sample(int32_t s, int32_t batchIndex) {
    llama_context * ctx = context_->ctx();
    const int32_t nVocab = context_->nVocab();
    // the raw distribution, read before the chain edits the candidates
    const float * logits = llama_get_logits_ith(ctx, batchIndex);
    float maxLogit = -INFINITY;
    for (int32_t t = 0; t < nVocab; t++) maxLogit = std::max(maxLogit, logits[t]);
    double sum = 0;
    for (int32_t t = 0; t < nVocab; t++) sum += std::exp((double) logits[t] - maxLogit);
    const double logZ = maxLogit + std::log(sum);

    SampleResult & r = results_[s];
    r.token = llama_sampler_sample(samplers_[s], ctx, batchIndex);
    r.eog = llama_vocab_is_eog(llama_model_get_vocab(context_->model()), r.token);
    r.logprob = (float) (logits[r.token] - logZ);
    const int32_t topN = std::min(topN_[s], nVocab);
    if (topN > 0) {
      std::vector<int32_t> ids(nVocab);
      for (int32_t t = 0; t < nVocab; t++) ids[t] = t;
      std::partial_sort(ids.begin(), ids.begin() + topN, ids.end(),
                        [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
      for (int32_t j = 0; j < topN; j++) {
        r.topTokens.push_back(ids[j]);
        r.topLogprobs.push_back((float) (logits[ids[j]] - logZ));
      }
    }
  }

  Napi::Promise::Deferred deferred_;
  ContextWrap * context_;
  Napi::ObjectReference contextRef_;
  std::vector<Napi::ObjectReference> samplerRefs_;
  std::vector<llama_sampler *> samplers_;
  std::vector<int32_t> tokens_, positions_, seqIds_, sampleRows_, topN_, logitRows_;
  std::vector<uint8_t> generated_;
  std::vector<CaptureRequest> captures_;
  std::vector<SampleResult> results_;
  std::vector<std::vector<float>> logits_;
};

}  // namespace

Napi::Value StartDecode(Napi::Env env, ContextWrap * context, Napi::Object batch) {
  auto * worker = new DecodeWorker(env, context, batch);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}
