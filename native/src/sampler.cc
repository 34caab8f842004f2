// One llama.cpp sampler chain per sequence: logit bias, grammar, penalties, then the truncations and the
// final draw (greedy at temperature 0). llama_sampler_sample accepts the drawn token into the chain, so
// penalties and grammar follow the generated text.
#include "common.h"
#include <cmath>
#include <vector>

SamplerWrap::SamplerWrap(const Napi::CallbackInfo & info) : Napi::ObjectWrap<SamplerWrap>(info) {
  ModelWrap * model = Napi::ObjectWrap<ModelWrap>::Unwrap(info[0].As<Napi::Object>());
  Napi::Object p = info[1].As<Napi::Object>();
  const llama_vocab * vocab = model->vocab();
  const int32_t nVocab = llama_vocab_n_tokens(vocab);
  auto num = [&](const char * key) { return p.Get(key).As<Napi::Number>().DoubleValue(); };

  chain_ = llama_sampler_chain_init(llama_sampler_chain_default_params());

  Napi::Int32Array biasTokens = p.Get("logitBiasTokens").As<Napi::Int32Array>();
  Napi::Float32Array biasValues = p.Get("logitBiasValues").As<Napi::Float32Array>();
  if (biasTokens.ElementLength() > 0) {
    std::vector<llama_logit_bias> biases(biasTokens.ElementLength());
    for (size_t i = 0; i < biases.size(); i++) biases[i] = {biasTokens[i], biasValues[i]};
    llama_sampler_chain_add(chain_, llama_sampler_init_logit_bias(nVocab, (int32_t) biases.size(), biases.data()));
  }

  Napi::Value grammar = p.Get("grammar");
  if (grammar.IsString()) {
    std::string gbnf = grammar.As<Napi::String>().Utf8Value();
    clearLlamaError();
    llama_sampler * g = llama_sampler_init_grammar(vocab, gbnf.c_str(), "root");
    if (!g) {
      llama_sampler_free(chain_);
      chain_ = nullptr;
      std::string why = lastLlamaError();
      Napi::Error::New(info.Env(), "invalid grammar" + (why.empty() ? std::string() : ": " + why))
          .ThrowAsJavaScriptException();
      return;
    }
    llama_sampler_chain_add(chain_, g);
  }

  const float repeat = (float) num("repeatPenalty"), freq = (float) num("frequencyPenalty"),
              presence = (float) num("presencePenalty");
  if (repeat != 1.0f || freq != 0.0f || presence != 0.0f) {
    llama_sampler_chain_add(chain_, llama_sampler_init_penalties(nVocab, (int32_t) num("penaltyLastN"), repeat, freq, presence));
  }

  const double temperature = num("temperature");
  if (temperature <= 0) {
    llama_sampler_chain_add(chain_, llama_sampler_init_greedy());
    return;
  }
  const int32_t topK = (int32_t) num("topK");
  const double topP = num("topP"), minP = num("minP");
  if (topK > 0) llama_sampler_chain_add(chain_, llama_sampler_init_top_k(topK));
  if (topP < 1) llama_sampler_chain_add(chain_, llama_sampler_init_top_p((float) topP, 1));
  if (minP > 0) llama_sampler_chain_add(chain_, llama_sampler_init_min_p((float) minP, 1));
  llama_sampler_chain_add(chain_, llama_sampler_init_temp((float) temperature));
  llama_sampler_chain_add(chain_, llama_sampler_init_dist((uint32_t) num("seed")));
}

SamplerWrap::~SamplerWrap() {
  if (chain_) llama_sampler_free(chain_);
}

Napi::Function SamplerWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeSampler", {InstanceMethod("dispose", &SamplerWrap::Dispose)});
}

Napi::Value SamplerWrap::Dispose(const Napi::CallbackInfo & info) {
  if (chain_) {
    llama_sampler_free(chain_);
    chain_ = nullptr;
  }
  return info.Env().Undefined();
}

Napi::Value JsCreateSampler(const Napi::CallbackInfo & info) {
  auto * data = info.Env().GetInstanceData<AddonData>();
  return data->samplerCtor.New({info[0], info[1]});
}
