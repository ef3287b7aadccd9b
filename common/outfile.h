/*  outfile.h — the files a worker writes, with every failure seen.

    Two kinds, both checked at every step (write, flush, close, rename):

    A stream (outfile_t) — the collector's --jsonl: opened at start
    (truncated; "-" is stdout), written record by record, reopened for
    appending on SIGHUP (after logrotate moved it), closed at exit. Writes
    are gathered (32 KiB) and go to the file with outfile_write_whole: a
    write that fails part way (a full disk) is cut off again, so the file
    never holds half a line; the lines of a failed write are lost and
    counted (outfile_lines_lost), and the next write goes on after the last
    whole line once there is room. A failed write, flush or close is
    counted and logged with the path and errno, at most once a second
    (ratelog.h): a full disk never goes unnoticed and never stops the
    worker; the owner decides what the count means for its exit status.

    A snapshot (outfile_snapshot_t) — a SecuBox compat file replaced whole:
    written to a temporary file beside it (PATH.tmp.PID.N), flushed and
    renamed over PATH, so a reader sees the old file or the new one, never
    a part. On any failure the temporary file is removed and PATH is left
    as it was.

    Threads: an outfile_t belongs to one thread at a time (the collector's
    lanes hold their output lock around it).                                  */
#ifndef DPI_OUTFILE_H
#define DPI_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

typedef struct outfile_t outfile_t;

/*  Open PATH ("-": stdout) for writing, truncated. NULL with the reason in
    ERRORS ("PATH: cannot open: REASON").                                     */
outfile_t *outfile_open (const char *path, config_errors_t *errors);
/*  The same, appending when APPEND (a log kept across restarts).           */
outfile_t *outfile_open_mode (const char *path, bool append, config_errors_t *errors);

/*  Flush and close; 0, or -1 when the last data could not be written
    (counted and logged).                                                     */
int outfile_close (outfile_t **self_p);

/*  Write LEN bytes. 0, or -1 (counted, logged).                             */
int outfile_write (outfile_t *self, const void *data, size_t len);
int outfile_flush (outfile_t *self);

/*  Close and open the path again, appending (stdout: flush). 0 or -1.      */
int outfile_reopen (outfile_t *self);

const char *outfile_path (outfile_t *self);
uint64_t outfile_errors (outfile_t *self);      /* failed writes, flushes, closes */
uint64_t outfile_lines_lost (outfile_t *self);  /* newlines in the bytes that failed */

/*  Write LEN bytes to FD (a file, often O_APPEND) in one piece: when the
    write stops part way (ENOSPC, EFBIG, ...) the part written is cut off
    again (ftruncate to the size before), so a reader never sees half of
    it. 0, or -1 with errno (a short write without one: ENOSPC). On a pipe
    nothing can be cut.                                                      */
int outfile_write_whole (int fd, const void *data, size_t len);

/*  A file being replaced.                                                   */
typedef struct {
    FILE *file;                     /* write the new content here            */
    char path[1024];
    char temp[1100];
} outfile_snapshot_t;

/*  Start replacing PATH (its directory is created when missing); TAG tells
    apart writers of the same path in one process. The FILE to write, or
    NULL (errno set).                                                         */
FILE *outfile_snapshot_begin (outfile_snapshot_t *snap, const char *path, unsigned tag);

/*  Flush, close, rename over the path. 0, or -1 (errno set; the temporary
    file removed, the old file untouched).                                   */
int outfile_snapshot_commit (outfile_snapshot_t *snap);

#endif
