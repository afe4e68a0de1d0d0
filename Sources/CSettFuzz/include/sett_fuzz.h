// libFuzzer's driver entry (compiler-rt FuzzerInterface.h). Only the SettFuzz target,
// built by scripts/fuzz.sh with -sanitize=fuzzer, uses it.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
