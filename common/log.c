/*  log.c — see log.h.                                                       */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *s_names[] = { "error", "warning", "info", "debug" };
static char s_program[64] = "dpi-dual";
static log_level_t s_level = LOG_LEVEL_INFO;

int
log_init (const char *name, const char *level)
{
    if (name)
        snprintf (s_program, sizeof s_program, "%s", name);
    for (int i = 0; i <= LOG_LEVEL_DEBUG; i++)
        if (level && strcmp (level, s_names[i]) == 0) {
            s_level = (log_level_t) i;
            return 0;
        }
    s_level = LOG_LEVEL_INFO;
    return level ? -1 : 0;
}

void
log_msg (log_level_t level, const char *fmt, ...)
{
    if (level > s_level)
        return;
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    char when[32];
    strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);

    char line[2048];
    int n = snprintf (line, sizeof line, "%s.%03dZ %s[%d] %s: ", when,
                      (int) (tv.tv_usec / 1000), s_program, (int) getpid (), s_names[level]);
    va_list args;
    va_start (args, fmt);
    if (n > 0 && (size_t) n < sizeof line)
        vsnprintf (line + n, sizeof line - (size_t) n, fmt, args);
    va_end (args);
    fprintf (stderr, "%s\n", line);
}

bool
log_enabled (log_level_t level)
{
    return level <= s_level;
}
