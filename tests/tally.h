/*  tally.h — the pass/fail count of a unit test program, and the small
    helpers the unit tests share. Every tests/test_*.c uses it:

        tally_t t = { 0 };
        check (&t, x == 1, "x is %d", x);
        ...
        return tally_report (&t);       // "N passed, M failed"; exit status

    Failures and the report go to stdout, or to T.out when set (a program
    whose stdout is data, as test_schema --emit).                          */
#ifndef DPI_TESTS_TALLY_H
#define DPI_TESTS_TALLY_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    int passed;
    int failed;
    FILE *out;                          //  NULL: stdout
} tally_t;

/*  Count OK; when false print "FAIL: " and the message. Returns OK.        */
static inline bool check (tally_t *t, bool ok, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static inline bool
check (tally_t *t, bool ok, const char *fmt, ...)
{
    if (ok) {
        t->passed++;
        return true;
    }
    t->failed++;
    FILE *out = t->out ? t->out : stdout;
    va_list args;
    va_start (args, fmt);
    fprintf (out, "FAIL: ");
    vfprintf (out, fmt, args);
    fprintf (out, "\n");
    va_end (args);
    return false;
}

/*  The closing line every test program prints; its exit status.            */
static inline int
tally_report (const tally_t *t)
{
    fprintf (t->out ? t->out : stdout, "%d passed, %d failed\n", t->passed, t->failed);
    return t->failed ? 1 : 0;
}

/*  The next number of a fixed pseudo-random sequence (xorshift32) from
    *STATE, a non-zero seed: the same numbers on every run.                   */
static inline uint32_t
tally_random (uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/*  rm -rf DIR (a directory the test made with mkdtemp); false if it failed. */
static inline bool
remove_tree (const char *dir)
{
    char cmd[600];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system (cmd) == 0)
        return true;
    printf ("could not remove %s\n", dir);
    return false;
}

/*  Write TEXT to DIR/NAME (PATH receives the path, SIZE bytes); returns PATH. */
static inline const char *
write_file (const char *dir, const char *name, const char *text, char *path, size_t size)
{
    snprintf (path, size, "%s/%s", dir, name);
    FILE *f = fopen (path, "w");
    if (f) {
        fputs (text, f);
        fclose (f);
    }
    return path;
}

#endif
