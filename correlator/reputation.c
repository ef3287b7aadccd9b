/* reputation.c — not written yet */
#include "reputation.h"
