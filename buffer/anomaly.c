/* anomaly.c — not written yet */
#include "anomaly.h"
