#include "sett_shims.h"
#include <string.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

void sett_set_thread_name(const char *name) {
#if defined(__linux__)
    char buf[16];
    strncpy(buf, name, 15);
    buf[15] = 0;
    prctl(PR_SET_NAME, buf, 0, 0, 0);
#else
    (void)name;
#endif
}
