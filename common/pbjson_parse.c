/* pbjson_parse.c — not written yet */
#include "pbjson.h"
