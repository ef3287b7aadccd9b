/* ring.c — not written yet */
#include "ring.h"
