/*  errtext.h — config_errors_t as one text, for the unit tests' checks:
    the messages joined by newlines into BUF ("" when there are none). The
    errors are cleared.                                                      */
#ifndef DPI_TESTS_ERRTEXT_H
#define DPI_TESTS_ERRTEXT_H

#include <stdio.h>

#include "config.h"

static inline const char *
errtext (config_errors_t *errors, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < errors->count && used < size; i++)
        used += (size_t) snprintf (buf + used, size - used, "%s%s", i ? "\n" : "",
                                   errors->messages[i]);
    config_errors_clear (errors);
    return buf;
}

#endif
