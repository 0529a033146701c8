// CFuzzer.h — libFuzzer's driver when the binary is built with -sanitize=fuzzer (make fuzz), and a
// clear refusal when it is not, so the fuzz executable links in every build.
#pragma once
#include <stddef.h>
#include <stdint.h>

/// The callback libFuzzer calls with each input.
typedef int (*refclip_fuzz_callback)(const uint8_t *data, size_t size);

/// Runs libFuzzer's driver over `argc`/`argv` (libFuzzer's own flags and corpus directories) with
/// `callback`; returns -1 when the binary was built without libFuzzer.
int refclip_fuzz_driver(int *argc, char ***argv, refclip_fuzz_callback callback);
