/* waf.c — not written yet */
#include "waf.h"
