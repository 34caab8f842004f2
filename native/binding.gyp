{
  "variables": {
    "llama_src%": "",
    "bins_dir%": "",
    "llama_lib%": "llama",
    "ggml_lib%": "ggml"
  },
  "targets": [
    {
      "target_name": "steerd",
      "sources": [
        "src/addon.cc",
        "src/log.cc",
        "src/model.cc",
        "src/context.cc",
        "src/decode-worker.cc",
        "src/steering-hook.cc",
        "src/sampler.cc",
        "src/trainer.cc",
        "src/train-graph.cc",
        "src/gguf-edit.cc",
        "src/sae-encode.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(llama_src)/include",
        "<(llama_src)/ggml/include"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "libraries": [
        "-L<(bins_dir)",
        "-l:lib<(llama_lib).so",
        "-l:lib<(ggml_lib).so",
        "-l:libggml-base.so",
        "-Wl,-rpath,<(bins_dir)"
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_LDFLAGS": ["-Wl,-rpath,<(bins_dir)"]
      }
    }
  ]
}
