// The residual-stream hook: llama.cpp's cb_eval stops the graph at `l_out-L` (block L's output) for the
// layers that this decode needs, and we edit or copy the rows of the sequences that asked for it.
#pragma once
#include <ggml.h>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

enum ApplyTo : int32_t { APPLY_ALL = 0, APPLY_PROMPT = 1, APPLY_GENERATION = 2 };

struct Intervention {
  // ADD_POSITIONS adds a different vector at each position (e.g. an SAE's reconstruction error, for evaluation)
  enum Kind { ADD, CLAMP, ADD_POSITIONS } kind = ADD;
  int32_t layer = 0;
  ApplyTo applyTo = APPLY_ALL;
  std::vector<float> vector;   // ADD: added as is; ADD_POSITIONS: n × n_embd, row i at position firstPosition + i
  int32_t firstPosition = 0;
  std::vector<float> encoder;  // CLAMP: a = act(encoder·x + bias); x += (value - a)·decoder
  std::vector<float> decoder;
  float bias = 0, threshold = 0, value = 0;
};
using InterventionList = std::vector<Intervention>;

struct CaptureRequest {
  int32_t layer;
  std::vector<int32_t> rows;  // global batch rows
  std::vector<float> out;     // rows.size() × n_embd
};

class SteeringHook {
 public:
  explicit SteeringHook(int32_t nLayer, int32_t nEmbd) : nLayer_(nLayer), nEmbd_(nEmbd) {}

  // called from the JS thread at any time; a decode in flight keeps the list it started with
  void set(int32_t seq, InterventionList list);
  void clear(int32_t seq);

  // decode worker: describe the whole batch, then each llama_decode slice
  void beginDecode(const int32_t * seqIds, const int32_t * positions, const uint8_t * generated, int32_t nTokens,
                   std::vector<CaptureRequest> * captures);
  void beginSlice(int32_t start, int32_t count, std::vector<int32_t> outputRows);
  void endDecode();
  bool active() const { return active_; }

  static bool callback(struct ggml_tensor * t, bool ask, void * userData);

 private:
  void apply(struct ggml_tensor * t, int32_t layer);
  void editRows(float * data, size_t rowStride, int32_t nRows, int32_t layer, bool rowsAreOutputs);

  const int32_t nLayer_, nEmbd_;
  std::mutex mutex_;
  std::unordered_map<int32_t, std::shared_ptr<const InterventionList>> bySeq_;

  // state of the decode in flight (worker thread only)
  bool active_ = false;
  std::vector<uint8_t> layerWanted_;
  const int32_t * seqIds_ = nullptr;
  const int32_t * positions_ = nullptr;
  const uint8_t * generated_ = nullptr;
  std::vector<std::shared_ptr<const InterventionList>> rowLists_;  // per batch row, null when none
  std::vector<CaptureRequest> * captures_ = nullptr;
  std::vector<std::vector<int32_t>> captureIndex_;  // per capture: batch row -> index in rows, or -1
  int32_t sliceStart_ = 0, sliceCount_ = 0;
  std::vector<int32_t> sliceOutputs_;
  std::vector<float> scratch_;
};
