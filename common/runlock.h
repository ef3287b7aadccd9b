/*  runlock.h — one instance of a worker per run directory.

    Before it binds anything, a worker takes an exclusive lock (flock) on
    RUN_DIR/NAME.lock, without waiting. When another process holds it, the
    worker stops there — "collector already running (pid N)" — having
    touched nothing of the running one (its bus socket, its unix socket).
    The lock file holds the pid of the instance that holds it, for that
    message and for the operator.

    The kernel drops the lock when its process ends, however it ends, so a
    crashed instance never blocks the next one. The file itself stays:
    removing it at exit would let a starting instance lock a file that a
    third one has just replaced.                                              */
#ifndef DPI_RUNLOCK_H
#define DPI_RUNLOCK_H

#include "config.h"

typedef struct runlock_t runlock_t;

/*  Lock RUN_DIR/NAME.lock (RUN_DIR created when missing). NULL when held
    elsewhere or on error, with the reason in ERRORS.                         */
runlock_t *runlock_take (const char *run_dir, const char *name, config_errors_t *errors);

/*  Release (the file stays).                                                */
void runlock_release (runlock_t **self_p);

#endif
