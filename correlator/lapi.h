/*  lapi.h — CrowdSec's Local API, both ways, off the event loop.

    A thread of its own talks HTTP (libcurl, JSON with jansson) so a slow
    or dead LAPI never blocks the correlator:

    Decisions in (bouncer API): every crowdsec.poll_interval seconds,
    GET /v1/decisions/stream?startup=true (the first time), then without
    startup, with X-Api-Key from crowdsec.api_key_file. "new" and
    "deleted" may be null. Each decision is handed over once: a decision
    id already seen is not handed over again (deletions likewise: the LAPI
    has been seen to repeat one), scopes other than Ip and Range are
    ignored and counted. Durations are Go duration strings ("3h59m58.5s",
    negative for expired ones).

    Alerts out (watcher API, when crowdsec.machine_credentials_file is
    set — the file cscli machines add --auto -f writes: url, login,
    password): POST /v1/watchers/login for a JWT (renewed before its hour
    runs out, and on a 401), then POST /v1/alerts with one alert per ban
    the correlator made, carrying the decision (type ban, scope Ip, the
    duration, origin dpi-dual) and the evidence as meta. Always with a
    User-Agent: the LAPI refuses a login without one.

    Unbans out (watcher API, same JWT): an operator's unban of an address
    (lapi_unban) becomes DELETE /v1/decisions?ip=IP&origin=dpi-dual. The
    origin filter keeps it to the decisions we pushed: a decision for the
    same address from cscli, a scenario or the CAPI stays (checked against
    CrowdSec 1.4.6, tests/it_correlator_chain.sh (e)). A LAPI that does not
    know the filter answers 500 "'origin' doesn't exist": counted and
    logged, never retried without it. Bans and unbans leave in the order
    they were queued (a ban then its unban never arrive swapped).

    Failures (connection refused, timeout, HTTP error, bad JSON) are
    counted and logged rate-limited; the thread retries with a backoff
    doubling from the poll interval up to 5 minutes. Keys and passwords
    are never logged.

    The main loop polls lapi_fd and takes what arrived with lapi_take; it
    queues bans with lapi_push and unbans with lapi_unban (never block: a
    full queue drops and counts).
    lapi_new does not look at crowdsec.enabled (the caller does); an empty
    crowdsec.api_key_file means no decisions polled (pushing only).        */
#ifndef DPI_CORRELATOR_LAPI_H
#define DPI_CORRELATOR_LAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct {
    bool deleted;                   /* a deletion (UNBAN)                    */
    uint64_t id;
    char value[64];                 /* "192.0.2.7" or "2001:db8::/32"       */
    char scope[16];                 /* "ip" or "range" (lower case)          */
    char type[16];                  /* "ban", "captcha", ...                 */
    char origin[32];                /* "crowdsec", "cscli", ...              */
    char scenario[128];
    int64_t duration_s;             /* what is left; <= 0 when expired       */
    bool startup;                   /* from the first poll (startup=true)    */
} lapi_decision_t;

typedef struct {
    bool unban;                     /* delete our decisions for ip instead   */
    char ip[64];
    uint64_t duration_s;
    char scenario[64];              /* "dpi-dual/correlated-threat"          */
    char message[256];
    uint32_t score;
    /* evidence, as alert meta (key=value lines, each value <= 255 bytes)    */
    char meta[1024];                /* "community_id=...\nrequest_ids=...\n..." */
} lapi_ban_t;

typedef struct {
    uint64_t polls, poll_errors;
    uint64_t decisions_new, decisions_deleted, decisions_repeated, scopes_ignored;
    uint64_t logins, login_errors;
    uint64_t pushed, push_errors, push_dropped;
    uint64_t push_refused;          /* bans dropped: the LAPI answered an error
                                       (4xx, or 5xx/429 LAPI_PUSH_TRIES times) */
    uint64_t push_retries;          /* pushes answered 5xx/429, kept to retry */
    uint64_t unbans;                /* DELETE /v1/decisions answered 200     */
    uint64_t unban_deleted;         /* decisions those deleted (nbDeleted)   */
    uint64_t unban_errors;          /* refused, or not reached (each try)    */
    uint64_t decisions_dropped;     /* the hand-over queue was full          */
    uint64_t decisions_malformed;   /* no id, value or a bad duration        */
} lapi_stats_t;

typedef struct lapi_t lapi_t;

/*  The parsers of the LAPI's answers (the thread uses them; pure, for
    tests/fuzz/fuzz_lapi.c too). A body may be NULL (empty).

    GET /v1/decisions/stream: {"new": [...] or null, "deleted": [...] or
    null}. 0 with OUT holding the decisions of scope Ip or Range, "new"
    first then "deleted", in the order given (repeats kept: the thread drops
    an id seen before), and the counts of the others; free with
    lapi_stream_free. -1 with "bad JSON: REASON" in ERR, nothing in OUT.    */
typedef struct {
    lapi_decision_t *decisions;
    size_t count;
    size_t ignored;                 /* scopes other than Ip and Range        */
    size_t malformed;               /* no id or value, a bad duration        */
} lapi_stream_t;
int lapi_parse_stream (const char *body, size_t len, lapi_stream_t *out, char *err,
                       size_t errlen);
void lapi_stream_free (lapi_stream_t *s);

/*  POST /v1/watchers/login: {"token": "JWT", ...}. True with the token in
    TOKEN (MAX bytes) when there is one of at most MAX - 1 bytes, each
    printable and not a space (it goes into a header line).                 */
bool lapi_parse_token (const char *body, size_t len, char *token, size_t max);

/*  DELETE /v1/decisions: {"nbDeleted": "N"} (a decimal string, or a
    number). True with *N set; false (N untouched) when absent or not one.  */
bool lapi_parse_deleted (const char *body, size_t len, uint64_t *n);

/*  Start the thread. NULL with the reason in ERRORS (an unreadable key or
    credentials file, a bad lapi_url).                                      */
lapi_t *lapi_new (const config_t *cfg, config_errors_t *errors);
void lapi_destroy (lapi_t **self_p);

int lapi_fd (lapi_t *self);                         /* readable: decisions wait */
size_t lapi_take (lapi_t *self, lapi_decision_t *out, size_t max);
int lapi_push (lapi_t *self, const lapi_ban_t *ban);  /* 0, or -1 dropped      */
int lapi_unban (lapi_t *self, const char *ip);      /* 0, or -1 dropped      */
bool lapi_pushing (const lapi_t *self);             /* credentials given     */
lapi_stats_t lapi_stats (lapi_t *self);

#endif
