/*  runlock.c — see runlock.h.                                               */
#include "runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "paths.h"

struct runlock_t {
    int fd;
    char path[1024];
};

/*  The pid written in the lock file FD, 0 when none.                       */
static long
holder_pid (int fd)
{
    char text[32] = "";
    ssize_t n = pread (fd, text, sizeof text - 1, 0);
    if (n <= 0)
        return 0;
    text[n] = 0;
    return strtol (text, NULL, 10);
}

runlock_t *
runlock_take (const char *run_dir, const char *name, config_errors_t *errors)
{
    runlock_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "%s: out of memory", name);
        return NULL;
    }
    snprintf (self->path, sizeof self->path, "%s/%s.lock", run_dir, name);
    self->fd = -1;
    if (paths_mkdir (run_dir, 0755) != 0)
        config_errors_add (errors, "%s: cannot create the run directory: %s", run_dir,
                           strerror (errno));
    else if ((self->fd = open (self->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
        config_errors_add (errors, "%s: cannot open: %s", self->path, strerror (errno));
    else if (flock (self->fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            config_errors_add (errors, "%s already running (pid %ld; lock %s)", name,
                               holder_pid (self->fd), self->path);
        else
            config_errors_add (errors, "%s: cannot lock: %s", self->path, strerror (errno));
    }
    else {
        char pid[32];
        int n = snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
        if (ftruncate (self->fd, 0) == 0 && pwrite (self->fd, pid, (size_t) n, 0) == n)
            return self;
        config_errors_add (errors, "%s: cannot write: %s", self->path, strerror (errno));
    }
    runlock_release (&self);
    return NULL;
}

void
runlock_release (runlock_t **self_p)
{
    runlock_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close (self->fd);
    free (self);
    *self_p = NULL;
}
