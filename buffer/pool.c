/* pool.c — not written yet */
#include "pool.h"
