/* query.c — not written yet */
#include "query.h"
