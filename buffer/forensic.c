/* forensic.c — not written yet */
#include "forensic.h"
