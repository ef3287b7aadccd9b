/*  outfile.c — see outfile.h.                                               */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"
#include "ratelog.h"

enum { BUFFER_BYTES = 32768 };

struct outfile_t {
    FILE *file;                     /* stdout only                           */
    int fd;                         /* a file: -1 when not open              */
    bool is_stdout;
    char path[1024];
    uint64_t errors;
    uint64_t lines_lost;
    ratelog_t log;
    char *buf;                      /* whole writes waiting for the file     */
    size_t len;
};

/*  A failure of WHAT on the file: counted, logged at most once a second.   */
static int
failed (outfile_t *self, const char *what, int error)
{
    self->errors++;
    uint64_t unlogged;
    if (ratelog_due (&self->log, &unlogged))
        log_error ("%s: cannot %s: %s (%llu failures, %llu lines lost, %llu not logged since "
                   "the last line)",
                   self->path, what, strerror (error), (unsigned long long) self->errors,
                   (unsigned long long) self->lines_lost, (unsigned long long) unlogged);
    return -1;
}

static uint64_t
count_lines (const char *data, size_t len)
{
    uint64_t n = 0;
    for (const char *p = data, *end = data + len; (p = memchr (p, '\n', (size_t) (end - p)));
         p++)
        n++;
    return n;
}

int
outfile_write_whole (int fd, const void *data, size_t len)
{
    off_t start = lseek (fd, 0, SEEK_END);      /* -1 on a pipe: nothing to cut */
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write (fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int error = n < 0 ? errno : ENOSPC;
            if (start >= 0 && left < len && ftruncate (fd, start) != 0) {
                /* the part stays: nothing more can be done */
            }
            errno = error;
            return -1;
        }
        p += n;
        left -= (size_t) n;
    }
    return 0;
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
    if (!self || !(self->buf = malloc (BUFFER_BYTES))) {
        config_errors_add (errors, "%s: out of memory", path);
        free (self);
        return NULL;
    }
    self->is_stdout = strcmp (path, "-") == 0;
    snprintf (self->path, sizeof self->path, "%s", self->is_stdout ? "stdout" : path);
    self->file = self->is_stdout ? stdout : NULL;
    self->fd = self->is_stdout ? -1
             : open (path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
    if (!self->is_stdout && self->fd < 0) {
        config_errors_add (errors, "%s: cannot open: %s", path, strerror (errno));
        free (self->buf);
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
    if (self->fd >= 0 && close (self->fd) != 0)
        rc = failed (self, "close", errno);
    free (self->buf);
    free (self);
    *self_p = NULL;
    return rc;
}

/*  Write LEN bytes of DATA to the file in one piece; on a failure the lines
    in them are lost (counted) and the file is cut back to where it was.    */
static int
put (outfile_t *self, const char *data, size_t len)
{
    if (self->fd < 0) {
        self->lines_lost += count_lines (data, len);
        return failed (self, "write (not open)", EBADF);
    }
    if (outfile_write_whole (self->fd, data, len) != 0) {
        int error = errno;
        self->lines_lost += count_lines (data, len);
        return failed (self, "write", error);
    }
    return 0;
}

int
outfile_write (outfile_t *self, const void *data, size_t len)
{
    if (self->is_stdout) {
        if (len && fwrite (data, 1, len, self->file) != len) {
            int error = errno;
            clearerr (self->file);
            self->lines_lost += count_lines (data, len);
            return failed (self, "write", error);
        }
        return 0;
    }
    int rc = self->len + len > BUFFER_BYTES ? outfile_flush (self) : 0;
    if (len > BUFFER_BYTES)
        return put (self, data, len) != 0 ? -1 : rc;
    memcpy (self->buf + self->len, data, len);
    self->len += len;
    return rc;
}

int
outfile_flush (outfile_t *self)
{
    if (self->is_stdout) {
        if (fflush (self->file) != 0) {
            int error = errno;
            clearerr (self->file);
            return failed (self, "write", error);
        }
        return 0;
    }
    if (!self->len)
        return 0;
    size_t len = self->len;
    self->len = 0;
    return put (self, self->buf, len);
}

int
outfile_reopen (outfile_t *self)
{
    int rc = outfile_flush (self);
    if (self->is_stdout)
        return rc;
    if (self->fd >= 0 && close (self->fd) != 0)
        rc = failed (self, "close", errno);
    self->fd = open (self->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (self->fd < 0)
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

uint64_t
outfile_lines_lost (outfile_t *self)
{
    return self->lines_lost;
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
    int error = 0, earlier = errno;     /* a failed write before (json_dumpf) set it */
    errno = 0;
    if (fflush (snap->file) != 0 || ferror (snap->file))
        error = errno ? errno : earlier ? earlier : EIO;
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
