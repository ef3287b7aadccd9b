/*  waf.h — deep analysis of one HTTP request with libmodsecurity3 and the
    OWASP CRS (Debian's modsecurity-crs 3.3.4).

    A waf_t is one RulesSet, loaded once from buffer.modsecurity_conf (the
    project ships deploy/buffer/modsecurity.conf) with the paranoia level
    and the inbound anomaly threshold set before the CRS rules: rules the
    module adds itself set tx.paranoia_level and
    tx.inbound_anomaly_score_threshold (CRS's id 900000/900110 knobs), and a
    last phase-2 rule logs tx.anomaly_score, so the result holds the final
    inbound anomaly score — the log callback alone does not carry it
    (949110 comes back only in the intervention).

    Rule ids 99001..99099 are reserved for the module (99001 sets the
    paranoia level and threshold in phase 1, 99010 logs the score at the
    end of phase 2; its message carries a random token so a request cannot
    fake it). rules[] holds every other logged match, 949110 included.

    Severity (1..10): score >= 5x threshold 10, >= 3x 9, >= 2x 8,
    >= threshold 7; below the threshold, from the worst CRS severity
    matched: CRITICAL 6, ERROR 5, WARNING 4, NOTICE 3, else 2. The category
    is that of the worst-severity attack rule (ties: the first matched),
    from its attack-* tag, or from its CRS file (942xxx: sqli) when 3.0.9
    logged it without tags (it does so for 942100 and 941100).

    Thread safety: the RulesSet is shared; waf_analyse may be called from
    any number of threads at once (one ModSecurity Transaction per call).
    In 3.0.9 the persistent collections' reads are not locked: the shipped
    configuration writes none (see waf.c).
    The engine runs in DetectionOnly: every rule runs, nothing is blocked
    here (the bridge gives the live verdicts).                               */
#ifndef DPI_BUFFER_WAF_H
#define DPI_BUFFER_WAF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dpidual.pb-c.h"

#define WAF_MAX_RULES     32        /* matched rules kept per request        */
#define WAF_MSG_MAX       128       /* bytes of a rule's message kept        */
#define WAF_DATA_MAX      160       /* bytes of a rule's matched data kept   */
#define WAF_TAGS_MAX      8         /* tags kept per rule                    */
#define WAF_TAG_MAX       48

typedef struct {
    uint32_t id;                    /* CRS rule id, 942100                   */
    uint32_t severity;              /* CRS severity 0 (EMERGENCY) .. 7, as logged */
    char msg[WAF_MSG_MAX];
    char data[WAF_DATA_MAX];        /* "Matched Data: ... found within ..."  */
    size_t tag_count;
    char tags[WAF_TAGS_MAX][WAF_TAG_MAX];
} waf_rule_t;

typedef struct {
    uint32_t score;                 /* final tx.anomaly_score (inbound)      */
    size_t rule_count;              /* rules kept in RULES                   */
    size_t rules_dropped;           /* matched beyond WAF_MAX_RULES          */
    waf_rule_t rules[WAF_MAX_RULES];/* in the order they matched; the
                                       module's own score rule excluded      */
    char category[24];              /* from the tags: "sqli", "xss", "lfi",
                                       "rfi", "rce", "php", "java",
                                       "protocol", "scanner", "session-fixation",
                                       "generic", "" when no rule matched;
                                       the category of the highest-severity
                                       attack rule                           */
    uint32_t severity;              /* 1..10 (the bridge's scale) from the
                                       score and the rules' CRS severity;
                                       0 when nothing matched                */
    bool score_seen;                /* the score rule ran (false: the
                                       request was cut short — an error)    */
} waf_result_t;

typedef struct waf_t waf_t;

/*  Load CONF (a modsecurity.conf that Includes the CRS) at PARANOIA (1..4)
    with THRESHOLD as CRS's inbound anomaly threshold. NULL on error, with
    the reason, FILE:LINE when ModSecurity gives one, in ERRORS.             */
waf_t *waf_new (const char *conf, int paranoia, int threshold, config_errors_t *errors);
void waf_destroy (waf_t **self_p);

/*  Analyse REQ (its client/frontend tuple, method, path + query, version,
    headers, body window) into OUT. Thread safe. 0, or -1 when ModSecurity
    failed on it (OUT then holds what was found before).                    */
int waf_analyse (waf_t *self, const Dpidual__V1__HttpRequest *req, waf_result_t *out);

/*  The paranoia level it was loaded with.                                   */
int waf_paranoia (const waf_t *self);

/*  Number of rules loaded (for the log and the heartbeat).                  */
size_t waf_rule_count (const waf_t *self);

#endif
