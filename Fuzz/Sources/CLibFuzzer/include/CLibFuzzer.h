// libFuzzer's driver entry point (compiler-rt FuzzerInterface.h / FuzzerDriver.cpp), for a
// program that has its own `main`: SwiftPM links every executable with `main` aliased to the
// module's entry point, so the fuzz targets cannot use libFuzzer's `main` and call this instead.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
