/*  threatlog.h — the WAF threats.log that CrowdSec reads (global.compat).

    With global.compat the bridge appends one JSON object per line to
    COMPAT_DIR/threats.log for every blocked request; the exact fields are
    listed in PROTOCOL.md ("threats.log"). Each line goes out in a single
    write(2) on an O_APPEND descriptor, so readers never see half a line
    and other appenders do not interleave inside one. threatlog_reopen
    (on SIGHUP) follows a log rotation.

    Severity words from the numeric 1..10 severity:
        1-3 low, 4-6 medium, 7-8 high, 9-10 critical.                        */
#ifndef DPI_BRIDGE_THREATLOG_H
#define DPI_BRIDGE_THREATLOG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct threatlog_t threatlog_t;

/*  One block. NULL strings are written as "".                               */
typedef struct {
    uint64_t ts_ns;                     /* wall clock of the block           */
    const char *source_ip;
    const char *method, *path, *query;
    const char *host, *user_agent;
    const char *category;
    const char *pattern;                /* the rule id, or "ban-list"        */
    const char *reason;                 /* "rule" or "ban-list"              */
    unsigned severity;                  /* 1..10                             */
    const char *matched;
    const char *request_id, *community_id, *flow_id;
} threatlog_entry_t;

/*  Open (create) DIR/threats.log for appending, creating DIR. NULL on
    error, with the reason added to ERRORS.                                  */
threatlog_t *threatlog_new (const char *dir, config_errors_t *errors);
void threatlog_destroy (threatlog_t **self_p);

/*  Append ENTRY as one line. 0, or -1 (counted by the caller).             */
int threatlog_write (threatlog_t *self, const threatlog_entry_t *entry);

/*  Close and reopen the file. 0 or -1.                                     */
int threatlog_reopen (threatlog_t *self);

const char *threatlog_path (threatlog_t *self);

/*  The line for ENTRY (malloc'ed, with its '\n'), or NULL.                 */
char *threatlog_format (const threatlog_entry_t *entry);

/*  "low", "medium", "high" or "critical".                                   */
const char *threatlog_severity_word (unsigned severity);

#endif
