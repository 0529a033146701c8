// driver.c — calls LLVMFuzzerRunDriver when libFuzzer is linked in; the weak declaration leaves its
// address null otherwise.
#include "CFuzzer.h"

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) __attribute__((weak));

int refclip_fuzz_driver(int *argc, char ***argv, refclip_fuzz_callback callback) {
    if (!LLVMFuzzerRunDriver) return -1;
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
