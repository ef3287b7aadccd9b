/*  forensic.h — the encrypted forensic log of dpi-buffer.

    Records (one JSON object each: the request as `dpi-dualctl tail` prints
    it, plus the analysis — see docs/DESIGN.md) are appended to files in
    buffer.forensic.dir, each record one libsodium secretstream
    (XChaCha20-Poly1305) message, so a torn or tampered chunk is detected
    on read and nothing after it in that file is trusted.

    File: forensic-YYYYMMDDTHHMMSSZ-NNNNNN.log (UTC start time, a counter),
        "DPIFLOG1"                         8 bytes, magic
        secretstream header               24 bytes
        chunks: u32 big-endian length L, then L bytes of ciphertext
                (a record + 17 bytes of authentication)
    The last chunk of a file closed cleanly carries the FINAL tag; a file
    without one was cut short (crash, full disk) and reads as "truncated"
    after its last good record. Each record is written with one write(2),
    so a crash loses at most the record being written.

    Rotation: a new file once the current one passes buffer.forensic.rotate_mb
    or is older than rotate_s. Retention: after each rotation (and at
    start), the oldest files go until the total is under keep_mb and none
    is older than keep_days.

    Key: buffer.forensic.key_file, 64 hex digits (32 bytes) and a newline,
    mode 0600, made by forensic_key_new (`dpi-dualctl keys forensic`); a
    key file readable by group or others is refused.

    A write that fails (full disk, ...) is logged (rate limited) and
    counted; the record is lost, the worker goes on, and the next append
    starts a new file.                                                       */
#ifndef DPI_BUFFER_FORENSIC_H
#define DPI_BUFFER_FORENSIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

#define FORENSIC_KEY_BYTES 32

typedef struct forensic_t forensic_t;

typedef struct {
    uint64_t records;               /* appended                              */
    uint64_t bytes;                 /* written, all files                    */
    uint64_t write_errors;          /* records lost to a failed write        */
    uint64_t files_rotated;
    uint64_t files_deleted;         /* by retention                          */
} forensic_stats_t;

/*  Open the log of CFG (buffer.forensic.*): load the key, create the
    directory (0700), apply retention, start a new file. NULL with the
    reason in ERRORS.                                                        */
forensic_t *forensic_open (const config_t *cfg, config_errors_t *errors);
void forensic_close (forensic_t **self_p);  /* ends the file with FINAL  */

/*  Append one record (LEN bytes, a JSON object without newline). 0, or -1
    (counted, logged).                                                       */
int forensic_append (forensic_t *self, const char *record, size_t len);

/*  Rotation by age and retention by age, once a minute is plenty (the
    worker's tick).                                                          */
void forensic_tick (forensic_t *self);

forensic_stats_t forensic_stats (const forensic_t *self);

/*  Key files.                                                               */
/*  Write a new random key to PATH (mode 0600, refusing to overwrite). 0, or
    -1 with the reason in ERROR.                                              */
int forensic_key_new (const char *path, char *error, size_t errlen);
/*  Load PATH into KEY. 0, or -1 with the reason (unreadable, mode not
    0600, malformed) in ERROR.                                                */
int forensic_key_load (const char *path, uint8_t key[FORENSIC_KEY_BYTES], char *error,
                       size_t errlen);

/*  Reading (export). Called for each record of a file in order (RECORD is
    NUL-terminated at LEN); return 0 to go on, non-zero to stop.             */
typedef int (forensic_record_fn) (void *arg, const char *record, size_t len);

typedef struct {
    uint64_t records;               /* delivered                             */
    bool truncated;                 /* ended without FINAL                   */
    bool live;                      /* a writer holds the file: it is still
                                       being written, so an end without
                                       FINAL is where the writer is, not damage */
    bool tampered;                  /* a chunk failed authentication         */
    uint64_t bad_offset;            /* file offset of the bad chunk          */
} forensic_read_t;

/*  Read PATH (one log file) with KEY. 0 when the file read to its FINAL
    chunk (or FN stopped it); -1 otherwise, with what went wrong in OUT and
    ERROR, "PATH: offset N: what" (the records before it were delivered).   */
int forensic_read_file (const char *path, const uint8_t key[FORENSIC_KEY_BYTES],
                        forensic_record_fn *fn, void *arg, forensic_read_t *out,
                        char *error, size_t errlen);

#endif
