#include "steering-hook.h"
#include <ggml-backend.h>
#include <cstdlib>
#include <cstring>

void SteeringHook::set(int32_t seq, InterventionList list) {
  auto shared = std::make_shared<const InterventionList>(std::move(list));
  std::lock_guard<std::mutex> lock(mutex_);
  if (shared->empty()) bySeq_.erase(seq);
  else bySeq_[seq] = std::move(shared);
}

void SteeringHook::clear(int32_t seq) {
  std::lock_guard<std::mutex> lock(mutex_);
  bySeq_.erase(seq);
}

void SteeringHook::beginDecode(const int32_t * seqIds, const int32_t * positions, const uint8_t * generated,
                               int32_t nTokens, std::vector<CaptureRequest> * captures) {
  seqIds_ = seqIds;
  positions_ = positions;
  generated_ = generated;
  captures_ = captures;
  layerWanted_.assign(nLayer_, 0);
  rowLists_.assign(nTokens, nullptr);
  active_ = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!bySeq_.empty()) {
      for (int32_t r = 0; r < nTokens; r++) {
        auto it = bySeq_.find(seqIds[r]);
        if (it == bySeq_.end()) continue;
        for (const Intervention & iv : *it->second) {
          const bool wanted = iv.applyTo == APPLY_ALL || (iv.applyTo == APPLY_GENERATION) == (generated[r] != 0);
          if (wanted && iv.layer >= 0 && iv.layer < nLayer_) {
            rowLists_[r] = it->second;
            layerWanted_[iv.layer] = 1;
          }
        }
      }
    }
  }
  captureIndex_.clear();
  if (captures) {
    for (CaptureRequest & c : *captures) {
      std::vector<int32_t> index(nTokens, -1);
      for (size_t i = 0; i < c.rows.size(); i++) index[c.rows[i]] = (int32_t) i;
      captureIndex_.push_back(std::move(index));
      c.out.assign(c.rows.size() * (size_t) nEmbd_, 0.0f);
      if (c.layer >= 0 && c.layer < nLayer_) layerWanted_[c.layer] = 1;
    }
  }
  for (uint8_t w : layerWanted_) active_ = active_ || w;
}

void SteeringHook::beginSlice(int32_t start, int32_t count, std::vector<int32_t> outputRows) {
  sliceStart_ = start;
  sliceCount_ = count;
  sliceOutputs_ = std::move(outputRows);
}

void SteeringHook::endDecode() {
  active_ = false;
  rowLists_.clear();
  captureIndex_.clear();
  captures_ = nullptr;
}

static int32_t layerOf(const struct ggml_tensor * t) {
  // "l_out-12" -> 12; anything else -> -1
  if (strncmp(t->name, "l_out-", 6) != 0) return -1;
  char * end = nullptr;
  long layer = strtol(t->name + 6, &end, 10);
  return (end && *end == '\0') ? (int32_t) layer : -1;
}

bool SteeringHook::callback(struct ggml_tensor * t, bool ask, void * userData) {
  auto * hook = static_cast<SteeringHook *>(userData);
  if (!hook->active_) return !ask;  // ask: observe nothing; observe: keep computing
  const int32_t layer = layerOf(t);
  const bool wanted = layer >= 0 && layer < hook->nLayer_ && hook->layerWanted_[layer];
  if (ask) return wanted;
  if (wanted) hook->apply(t, layer);
  return true;
}

void SteeringHook::apply(struct ggml_tensor * t, int32_t layer) {
  if (t->type != GGML_TYPE_F32 || t->ne[0] != nEmbd_) return;
  const int32_t nRows = (int32_t) t->ne[1];
  // the last block keeps only the rows that produce logits (llama.cpp's inp_out_ids)
  bool rowsAreOutputs = nRows != sliceCount_;
  if (rowsAreOutputs && nRows != (int32_t) sliceOutputs_.size()) return;
  const size_t stride = t->nb[1];
  if (t->buffer == nullptr || ggml_backend_buffer_is_host(t->buffer)) {
    editRows(static_cast<float *>(t->data), stride / sizeof(float), nRows, layer, rowsAreOutputs);
    return;
  }
  // GPU: copy out, edit, copy back
  scratch_.resize((size_t) nRows * (stride / sizeof(float)));
  ggml_backend_tensor_get(t, scratch_.data(), 0, (size_t) nRows * stride);
  editRows(scratch_.data(), stride / sizeof(float), nRows, layer, rowsAreOutputs);
  ggml_backend_tensor_set(t, scratch_.data(), 0, (size_t) nRows * stride);
}

void SteeringHook::editRows(float * data, size_t rowStride, int32_t nRows, int32_t layer, bool rowsAreOutputs) {
  for (int32_t i = 0; i < nRows; i++) {
    const int32_t row = rowsAreOutputs ? sliceOutputs_[i] : sliceStart_ + i;
    float * x = data + (size_t) i * rowStride;
    const auto & list = rowLists_[row];
    if (list) {
      const bool generated = generated_[row] != 0;
      for (const Intervention & iv : *list) {
        if (iv.layer != layer) continue;
        if (iv.applyTo != APPLY_ALL && (iv.applyTo == APPLY_GENERATION) != generated) continue;
        if (iv.kind == Intervention::ADD) {
          const float * v = iv.vector.data();
          for (int32_t j = 0; j < nEmbd_; j++) x[j] += v[j];
        } else if (iv.kind == Intervention::ADD_POSITIONS) {
          const int64_t at = (int64_t) positions_[row] - iv.firstPosition;
          if (at < 0 || (at + 1) * nEmbd_ > (int64_t) iv.vector.size()) continue;
          const float * v = iv.vector.data() + at * nEmbd_;
          for (int32_t j = 0; j < nEmbd_; j++) x[j] += v[j];
        } else {
          double pre = iv.bias;
          for (int32_t j = 0; j < nEmbd_; j++) pre += (double) iv.encoder[j] * x[j];
          const double act = pre > iv.threshold ? pre : 0.0;
          const float delta = (float) (iv.value - act);
          const float * d = iv.decoder.data();
          for (int32_t j = 0; j < nEmbd_; j++) x[j] += delta * d[j];
        }
      }
    }
    for (size_t c = 0; c < captureIndex_.size(); c++) {
      CaptureRequest & cap = (*captures_)[c];
      if (cap.layer != layer) continue;
      const int32_t idx = captureIndex_[c][row];
      if (idx >= 0) memcpy(cap.out.data() + (size_t) idx * nEmbd_, x, nEmbd_ * sizeof(float));
    }
  }
}
