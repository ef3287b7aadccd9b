/*  crs.h — the CRS rule sets of dpi-buffer's analysis threads.

    One waf_t per analysis thread (and one more per thread at
    buffer.replay_paranoia when it differs from buffer.paranoia): threads
    that share one ModSecurity RulesSet contend on it — measured with
    bench/waf-bench, two threads on one shared set did 1.3-1.5x one thread,
    on a set each 1.9x, as two processes do. The price is memory: ~15 MB
    per extra set.

    A crs_t is read-only once loaded; a reload (SIGHUP) loads a new one and
    the old one is freed when its last job is back (buffer.c).             */
#ifndef DPI_BUFFER_CRS_H
#define DPI_BUFFER_CRS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "waf.h"

typedef struct {
    size_t count;                   /* sets per paranoia: one per thread      */
    waf_t **waf;                    /* [count], at buffer.paranoia            */
    waf_t **replay;                 /* [count], at buffer.replay_paranoia (the
                                       same objects when the levels are equal) */
} crs_t;

/*  Load COUNT sets of CFG's buffer.modsecurity_conf. NULL with the reasons
    (FILE:LINE from ModSecurity) in ERRORS.                                 */
crs_t *crs_load (const config_t *cfg, size_t count, config_errors_t *errors);
void crs_free (crs_t **self_p);

/*  The set thread THREAD (0..count-1) analyses with.                       */
waf_t *crs_for (const crs_t *self, bool replay, size_t thread);

#endif
