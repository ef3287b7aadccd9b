/*  fuzz_write.h — for the harnesses of loaders that read a path: the input
    written to PATH, once per input (a tmpfs: /dev/shm). A write that fails
    (tmpfs full) aborts: it is no fault of the code under test, but a run
    that went on would test an empty or cut file.                          */
#ifndef DPI_FUZZ_WRITE_H
#define DPI_FUZZ_WRITE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
fuzz_write_file (const char *path, const void *data, size_t size)
{
    FILE *f = fopen (path, "wb");
    if (!f || fwrite (data, 1, size, f) != size || fclose (f) != 0)
        abort ();
}

static char fuzz_path_[96];

static inline void
fuzz_unlink_ (void)
{
    unlink (fuzz_path_);
}

/*  DATA written to /dev/shm/NAME.PID (made at the first call, removed at
    exit); returns that path.                                               */
static inline const char *
fuzz_input_file (const char *name, const void *data, size_t size)
{
    if (!fuzz_path_[0]) {
        snprintf (fuzz_path_, sizeof fuzz_path_, "/dev/shm/%s.%d", name, (int) getpid ());
        atexit (fuzz_unlink_);
    }
    fuzz_write_file (fuzz_path_, data, size);
    return fuzz_path_;
}

#endif
