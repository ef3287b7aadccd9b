/*  outfile.c — see outfile.h.                                               */
#include "outfile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"
#include "ratelog.h"

struct outfile_t {
    FILE *file;
    bool is_stdout;
    char path[1024];
    uint64_t errors;
    ratelog_t log;
};

/*  A failure of WHAT on the file: counted, logged at most once a second.   */
static int
failed (outfile_t *self, const char *what, int error)
{
    self->errors++;
    uint64_t unlogged;
    if (ratelog_due (&self->log, &unlogged))
        log_error ("%s: cannot %s: %s (%llu failures, %llu not logged since the last line)",
                   self->path, what, strerror (error), (unsigned long long) self->errors,
                   (unsigned long long) unlogged);
    return -1;
}

outfile_t *
outfile_open (const char *path, config_errors_t *errors)
{
    return outfile_open_mode (path, false, errors);
}

outfile_t *
outfile_open_mode (const char *path, bool append, config_errors_t *errors)
{
    outfile_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "%s: out of memory", path);
        return NULL;
    }
    self->is_stdout = strcmp (path, "-") == 0;
    snprintf (self->path, sizeof self->path, "%s", self->is_stdout ? "stdout" : path);
    self->file = self->is_stdout ? stdout : fopen (path, append ? "a" : "w");
    if (!self->file) {
        config_errors_add (errors, "%s: cannot open: %s", path, strerror (errno));
        free (self);
        return NULL;
    }
    return self;
}

int
outfile_close (outfile_t **self_p)
{
    outfile_t *self = *self_p;
    if (!self)
        return 0;
    int rc = outfile_flush (self);
    if (!self->is_stdout && self->file && fclose (self->file) != 0)
        rc = failed (self, "close", errno);
    free (self);
    *self_p = NULL;
    return rc;
}

int
outfile_write (outfile_t *self, const void *data, size_t len)
{
    if (!self->file)
        return failed (self, "write (not open)", EBADF);
    if (len && fwrite (data, 1, len, self->file) != len) {
        int error = errno;
        clearerr (self->file);
        return failed (self, "write", error);
    }
    return 0;
}

int
outfile_flush (outfile_t *self)
{
    if (!self->file)
        return 0;
    if (fflush (self->file) != 0) {
        int error = errno;
        clearerr (self->file);
        return failed (self, "write", error);
    }
    return 0;
}

int
outfile_reopen (outfile_t *self)
{
    int rc = outfile_flush (self);
    if (self->is_stdout)
        return rc;
    if (self->file && fclose (self->file) != 0)
        rc = failed (self, "close", errno);
    self->file = fopen (self->path, "a");
    if (!self->file)
        return failed (self, "reopen", errno);
    return rc;
}

const char *
outfile_path (outfile_t *self)
{
    return self->path;
}

uint64_t
outfile_errors (outfile_t *self)
{
    return self->errors;
}

FILE *
outfile_snapshot_begin (outfile_snapshot_t *snap, const char *path, unsigned tag)
{
    snprintf (snap->path, sizeof snap->path, "%s", path);
    snprintf (snap->temp, sizeof snap->temp, "%s.tmp.%d.%u", path, (int) getpid (), tag);
    paths_mkdir_parent (path, 0755);        /* a failure shows at the open */
    snap->file = fopen (snap->temp, "w");
    return snap->file;
}

int
outfile_snapshot_commit (outfile_snapshot_t *snap)
{
    int error = 0;
    errno = 0;
    if (fflush (snap->file) != 0 || ferror (snap->file))
        error = errno ? errno : EIO;
    if (fclose (snap->file) != 0 && !error)
        error = errno;
    snap->file = NULL;
    if (!error && rename (snap->temp, snap->path) != 0)
        error = errno;
    if (error) {
        unlink (snap->temp);
        errno = error;
        return -1;
    }
    return 0;
}
