// llama.cpp logs go through one callback: errors are kept so that a failed load can say why, and printing
// to stderr is opt-in (STEERD_LLAMA_LOG=1 or setLogLevel) because llama.cpp is chatty at info level.
#include "common.h"
#include <cstdio>
#include <cstdlib>
#include <mutex>

static std::mutex g_log_mutex;
static std::string g_last_error;
static int g_print_level = GGML_LOG_LEVEL_NONE;  // print this level and more severe
static enum ggml_log_level g_prev_level = GGML_LOG_LEVEL_NONE;

static void onLlamaLog(enum ggml_log_level level, const char * text, void *) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  // CONT continues the previous message at its level
  enum ggml_log_level effective = level == GGML_LOG_LEVEL_CONT ? g_prev_level : level;
  g_prev_level = effective;
  if (effective == GGML_LOG_LEVEL_ERROR) {
    // keep every error line since the last clear: the first one usually says why, the last one only that it failed
    if (level != GGML_LOG_LEVEL_CONT && !g_last_error.empty()) g_last_error += "; ";
    g_last_error += text;
    while (!g_last_error.empty() && (g_last_error.back() == '\n' || g_last_error.back() == ' ')) g_last_error.pop_back();
  }
  if (g_print_level != GGML_LOG_LEVEL_NONE && effective >= g_print_level) fputs(text, stderr);
}

void installLlamaLog() {
  const char * env = getenv("STEERD_LLAMA_LOG");
  if (env && *env && *env != '0') g_print_level = GGML_LOG_LEVEL_INFO;
  llama_log_set(onLlamaLog, nullptr);
}

void setLlamaLogLevel(int level) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_print_level = level;
}

std::string lastLlamaError() {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  return g_last_error;
}

void clearLlamaError() {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_last_error.clear();
}

Napi::Value JsSetLogLevel(const Napi::CallbackInfo & info) {
  setLlamaLogLevel(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value JsLastLlamaError(const Napi::CallbackInfo & info) {
  return Napi::String::New(info.Env(), lastLlamaError());
}
