// Small C helpers for the Sett engine: CRC32C (Castagnoli) with a hardware path.
#ifndef SETT_SHIMS_H
#define SETT_SHIMS_H
#include <stddef.h>
#include <stdint.h>

/// Extends `crc` (start with 0) over `len` bytes at `data`; standard CRC32C
/// (reflected, init/xorout 0xFFFFFFFF), so crc32c("123456789") == 0xE3069283.
uint32_t sett_crc32c_extend(uint32_t crc, const void *data, size_t len);

/// Names the calling thread (first 15 bytes), for ps/top/perf.
void sett_set_thread_name(const char *name);

#endif
