/* lapi.c — not written yet */
#include "lapi.h"
