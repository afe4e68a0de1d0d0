// Intentionally empty: the target only exports sett_fuzz.h.
#include "sett_fuzz.h"
