// Mirrors llama.cpp's LLM_ARCH_LLAMA inference graph (llm_build_llama) op for op, so a model trained here
// computes the same function when llama.cpp serves it: RMSNorm with a gain, RoPE (normal mode, no scaling),
// causal softmax attention scaled by 1/sqrt(head_dim), SwiGLU feed-forward, untied output head.
#include "train-graph.h"
#include <cmath>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <utility>

// exported by libllama (C++ linkage, declared in its internal llama-model.h): the model's tensors by name
const std::vector<std::pair<std::string, ggml_tensor *>> & llama_internal_get_tensor_map(const llama_model * model);

namespace {

float metaFloat(const llama_model * model, const char * key, float fallback) {
  char buf[64];
  if (llama_model_meta_val_str(model, key, buf, sizeof(buf)) < 0) return fallback;
  return std::strtof(buf, nullptr);
}

ggml_tensor * norm(ggml_context * ctx, ggml_tensor * x, ggml_tensor * gain, float eps) {
  return ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), gain);
}

}  // namespace

std::string describeLlamaForTraining(const llama_model * model, LlamaTrainShape & s, LlamaTrainWeights & w) {
  char arch[32] = {0};
  llama_model_meta_val_str(model, "general.architecture", arch, sizeof(arch));
  if (std::string(arch) != "llama") return std::string("only the llama architecture can be trained, not ") + arch;
  s.nEmbd = llama_model_n_embd(model);
  s.nHead = llama_model_n_head(model);
  s.nHeadKv = llama_model_n_head_kv(model);
  s.nLayer = llama_model_n_layer(model);
  s.nVocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  s.nCtxTrain = llama_model_n_ctx_train(model);
  s.headDim = s.nEmbd / s.nHead;
  s.nRot = (int64_t) metaFloat(model, "llama.rope.dimension_count", (float) s.headDim);
  s.rmsEps = metaFloat(model, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  s.ropeFreqBase = metaFloat(model, "llama.rope.freq_base", 10000.0f);
  s.ropeFreqScale = llama_model_rope_freq_scale_train(model);
  if (s.nHeadKv != s.nHead) return "grouped-query attention (head_count_kv != head_count) is not supported by the trainer";
  if (s.headDim * s.nHead != s.nEmbd) return "embedding width is not a multiple of the head count";

  std::unordered_map<std::string, ggml_tensor *> byName;
  for (const auto & [name, tensor] : llama_internal_get_tensor_map(model)) byName[name] = tensor;
  std::string missing;
  auto get = [&](const std::string & name) -> ggml_tensor * {
    auto it = byName.find(name);
    if (it == byName.end()) {
      if (missing.empty()) missing = name;
      return nullptr;
    }
    if (it->second->type != GGML_TYPE_F32 && missing.empty()) missing = name + " (not F32: only F32 weights train)";
    w.all.push_back(it->second);
    return it->second;
  };
  w.tokEmbd = get("token_embd.weight");
  w.outputNorm = get("output_norm.weight");
  w.output = get("output.weight");
  for (int64_t il = 0; il < s.nLayer; il++) {
    const std::string p = "blk." + std::to_string(il) + ".";
    w.layers.push_back({get(p + "attn_norm.weight"), get(p + "attn_q.weight"), get(p + "attn_k.weight"),
                        get(p + "attn_v.weight"), get(p + "attn_output.weight"), get(p + "ffn_norm.weight"),
                        get(p + "ffn_gate.weight"), get(p + "ffn_up.weight"), get(p + "ffn_down.weight")});
  }
  if (!missing.empty()) return "the model has no trainable tensor " + missing;
  return "";
}

ggml_tensor * buildLlamaTrainGraph(ggml_context * ctx, const LlamaTrainShape & s, const LlamaTrainWeights & w,
                                   ggml_tensor * tokens, ggml_tensor * positions) {
  const int64_t n = tokens->ne[0];
  const float kqScale = 1.0f / std::sqrt((float) s.headDim);
  ggml_tensor * x = ggml_get_rows(ctx, w.tokEmbd, tokens);  // [nEmbd, n]
  for (const LlamaTrainLayer & L : w.layers) {
    ggml_tensor * cur = norm(ctx, x, L.attnNorm, s.rmsEps);
    ggml_tensor * q = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, L.wq, cur), s.headDim, s.nHead, n);
    ggml_tensor * k = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, L.wk, cur), s.headDim, s.nHeadKv, n);
    ggml_tensor * v = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, L.wv, cur), s.headDim, s.nHeadKv, n);
    q = ggml_rope_ext(ctx, q, positions, nullptr, (int) s.nRot, 0, s.nCtxTrain, s.ropeFreqBase, s.ropeFreqScale,
                      0.0f, 1.0f, 0.0f, 0.0f);
    k = ggml_rope_ext(ctx, k, positions, nullptr, (int) s.nRot, 0, s.nCtxTrain, s.ropeFreqBase, s.ropeFreqScale,
                      0.0f, 1.0f, 0.0f, 0.0f);
    q = ggml_cont(ctx, ggml_permute(ctx, q, 0, 2, 1, 3));        // [headDim, n, nHead]
    k = ggml_cont(ctx, ggml_permute(ctx, k, 0, 2, 1, 3));        // [headDim, n, nHead]
    ggml_tensor * kq = ggml_mul_mat(ctx, k, q);                  // [n keys, n queries, nHead]
    kq = ggml_diag_mask_inf(ctx, kq, 0);                         // a query sees keys at or before it
    kq = ggml_soft_max_ext(ctx, kq, nullptr, kqScale, 0.0f);
    ggml_tensor * vt = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3));  // [n keys, headDim, nHead]
    ggml_tensor * kqv = ggml_mul_mat(ctx, vt, kq);               // [headDim, n, nHead]
    ggml_tensor * attn = ggml_cont_2d(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3), s.nEmbd, n);
    x = ggml_add(ctx, x, ggml_mul_mat(ctx, L.wo, attn));

    cur = norm(ctx, x, L.ffnNorm, s.rmsEps);
    ggml_tensor * gate = ggml_silu(ctx, ggml_mul_mat(ctx, L.ffnGate, cur));
    ggml_tensor * up = ggml_mul_mat(ctx, L.ffnUp, cur);
    x = ggml_add(ctx, x, ggml_mul_mat(ctx, L.ffnDown, ggml_mul(ctx, gate, up)));
  }
  x = norm(ctx, x, w.outputNorm, s.rmsEps);
  return ggml_mul_mat(ctx, w.output, x);  // [nVocab, n]
}
