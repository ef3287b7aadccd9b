/*  log.h — one-line log records on stderr.

    "2026-11-25T23:10:00.123Z dpi-collector[1234] warning: message"
    The level threshold is set once at start (log_init); messages below it
    are skipped. log_init is the only writer of the module state.            */
#ifndef DPI_LOG_H
#define DPI_LOG_H

#include <stdbool.h>

typedef enum { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARNING = 1, LOG_LEVEL_INFO = 2, LOG_LEVEL_DEBUG = 3 } log_level_t;

/*  NAME is the program name; LEVEL one of error|warning|info|debug
    (unknown names leave the level at info and return -1).                   */
int log_init (const char *name, const char *level);
void log_msg (log_level_t level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/*  Would a message of LEVEL be written? (For output that is not a log line,
    such as a progress line, which -q silences too.)                          */
bool log_enabled (log_level_t level);

#define log_error(...)   log_msg (LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg (LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...)    log_msg (LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg (LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
