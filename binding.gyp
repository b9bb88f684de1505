{
  "targets": [
    {
      "target_name": "slotfs_codec",
      "sources": ["native/codec.c"],
      "cflags": ["-O3", "-std=c11", "-Wall", "-Wextra"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-std=c11"] }
    }
  ]
}
