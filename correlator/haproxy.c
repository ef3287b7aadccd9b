/* haproxy.c — not written yet */
#include "haproxy.h"
