/*  test_runlock.c — common/runlock.c (one instance of a worker per run
    directory) and common/ratelog.c.

    Catches: a lock that a second taker gets anyway (in this process or
    another), a holder's pid not named, a lock that outlives its process, a
    run directory not made; a rate-limited log that logs twice in a second
    or forgets how many lines it skipped.                                     */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errtext.h"
#include "ratelog.h"
#include "runlock.h"
#include "tally.h"

static void
test_in_process (tally_t *t, const char *dir)
{
    char run[600], err[1024], want[800];
    snprintf (run, sizeof run, "%s/a/run", dir);
    config_errors_t errors = { 0 };
    runlock_t *first = runlock_take (run, "collector", &errors);
    if (!check (t, first != NULL, "take (the run directory made): %s",
                errtext (&errors, err, sizeof err)))
        return;
    runlock_t *second = runlock_take (run, "collector", &errors);
    snprintf (want, sizeof want, "collector already running (pid %ld; lock %s/collector.lock)",
              (long) getpid (), run);
    check (t, !second && strcmp (errtext (&errors, err, sizeof err), want) == 0,
           "a second take: '%s'", err);
    runlock_t *other = runlock_take (run, "bridge-mitm", &errors);
    check (t, other != NULL, "another worker's lock is its own");
    runlock_release (&other);
    runlock_release (&first);
    first = runlock_take (run, "collector", &errors);
    check (t, first != NULL, "taken again once released");
    runlock_release (&first);
    check (t, !runlock_take ("/proc/no/run", "x", &errors)
                  && strstr (errtext (&errors, err, sizeof err), "cannot create the run directory"),
           "an impossible run directory: %s", err);
}

static void
test_across_processes (tally_t *t, const char *dir)
{
    int ready[2];
    if (!check (t, pipe (ready) == 0, "pipe"))
        return;
    pid_t child = fork ();
    if (child == 0) {                       /* holds the lock until killed */
        runlock_t *lock = runlock_take (dir, "bridge-mitm", NULL);
        char c = lock ? 'y' : 'n';
        if (write (ready[1], &c, 1) != 1)
            _exit (1);
        pause ();
        _exit (0);
    }
    char c = 0, err[1024], want[64];
    check (t, read (ready[0], &c, 1) == 1 && c == 'y', "the child holds the lock");
    config_errors_t errors = { 0 };
    snprintf (want, sizeof want, "(pid %ld;", (long) child);
    check (t, !runlock_take (dir, "bridge-mitm", &errors)
                  && strstr (errtext (&errors, err, sizeof err), want),
           "held by the child, named: %s", err);
    kill (child, SIGKILL);
    waitpid (child, NULL, 0);
    runlock_t *lock = runlock_take (dir, "bridge-mitm", &errors);
    check (t, lock != NULL, "free once the holder died (kill -9)");
    runlock_release (&lock);
    close (ready[0]);
    close (ready[1]);
}

static void
test_ratelog (tally_t *t)
{
    ratelog_t r = { 0 };
    uint64_t unlogged = 99;
    check (t, ratelog_due (&r, &unlogged) && unlogged == 0, "the first line is due");
    check (t, !ratelog_due (&r, &unlogged) && !ratelog_due (&r, &unlogged), "not twice a second");
    usleep (1100 * 1000);
    check (t, ratelog_due (&r, &unlogged) && unlogged == 2 && r.total == 4,
           "a second later: due, 2 not logged (%llu), 4 in all",
           (unsigned long long) unlogged);
}

int
main (void)
{
    tally_t t = { 0 };
    char dir[] = "/tmp/test_runlock.XXXXXX";
    if (!check (&t, mkdtemp (dir) != NULL, "mkdtemp"))
        return tally_report (&t);
    test_in_process (&t, dir);
    test_across_processes (&t, dir);
    test_ratelog (&t);
    check (&t, remove_tree (dir), "remove %s", dir);
    return tally_report (&t);
}
