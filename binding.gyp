{
  "targets": [
    {
      "target_name": "tapvs",
      "sources": [
        "native/addon.cc",
        "native/batch_io.cc",
        "native/checksum.cc",
        "native/peercred.cc",
        "native/steer.cc",
        "native/tap.cc",
        "native/uring.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-O3"],
      "cflags_cc!": ["-O3", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-O2", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-O2", "-fvisibility=hidden"]
    }
  ]
}
