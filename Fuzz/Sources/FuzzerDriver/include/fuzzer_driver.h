// libFuzzer's driver entry (compiler-rt, FuzzerInterface.h). SwiftPM gives every executable its
// own `main`, so the fuzz target calls the driver from there instead of linking libFuzzer's main.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv,
                        int (*callback)(const uint8_t *data, size_t size));
