/* join.c — not written yet */
#include "join.h"
