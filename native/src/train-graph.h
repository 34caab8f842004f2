// The forward graph of a Llama-architecture model for training, built with plain ggml ops over the model's own
// weight tensors. Attention is computed inside the graph from this window's K and V, not through llama.cpp's
// KV cache, so K, V and everything upstream of them get gradients (llama.cpp's training graph, in the version
// node-llama-cpp ships, writes K/V into the cache and the gradient stops there).
#pragma once
#include <llama.h>
#include <ggml.h>
#include <string>
#include <vector>

struct LlamaTrainShape {
  int64_t nEmbd = 0, nHead = 0, nHeadKv = 0, nLayer = 0, nVocab = 0, headDim = 0, nRot = 0;
  int32_t nCtxTrain = 0;
  float rmsEps = 1e-5f, ropeFreqBase = 10000.0f, ropeFreqScale = 1.0f;
};

struct LlamaTrainLayer {
  ggml_tensor *attnNorm, *wq, *wk, *wv, *wo, *ffnNorm, *ffnGate, *ffnUp, *ffnDown;
};

struct LlamaTrainWeights {
  ggml_tensor *tokEmbd, *outputNorm, *output;
  std::vector<LlamaTrainLayer> layers;
  // every weight above, for marking as trainable
  std::vector<ggml_tensor *> all;
};

// Reads the shape and finds the weights of a loaded Llama model; returns an error message, empty on success.
std::string describeLlamaForTraining(const llama_model * model, LlamaTrainShape & shape, LlamaTrainWeights & weights);

// tokens: I32 [nTokens]; positions: I32 [nTokens] (0..nTokens-1). Returns the logits, F32 [nVocab, nTokens].
ggml_tensor * buildLlamaTrainGraph(ggml_context * ctx, const LlamaTrainShape & shape, const LlamaTrainWeights & weights,
                                   ggml_tensor * tokens, ggml_tensor * positions);
