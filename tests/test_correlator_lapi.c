/*  test_correlator_lapi.c — the parsers of CrowdSec LAPI answers in
    correlator/lapi.c (lapi_parse_stream, lapi_parse_token,
    lapi_parse_deleted); the HTTP side is it_lapi.sh's, against a real
    CrowdSec.

    Catches: a decision of another scope handed over, a malformed one
    (no id, no value, a bad duration) taken, "new" and "deleted" mixed up
    or null lists refused, a Go duration read wrong (units, fractions,
    negative), one past int64 seconds or written with an exponent taken
    (it once overflowed the cast: tests/fuzz/regress/fuzz_lapi), a token
    with CR/LF or spaces taken into the Authorization header, nbDeleted
    misread.                                                                 */
#include <stdio.h>
#include <string.h>

#include "lapi.h"
#include "tally.h"

/*  The body with one "new" decision of DURATION: 1 with *SECONDS set, 0
    when the decision was counted malformed, -1 when the body was refused. */
static int
one_duration (const char *duration, int64_t *seconds)
{
    char body[1024];
    snprintf (body, sizeof body,
              "{\"new\":[{\"id\":1,\"scope\":\"Ip\",\"value\":\"192.0.2.1\",\"duration\":\"%s\"}],"
              "\"deleted\":null}", duration);
    lapi_stream_t st = { 0 };
    char err[128];
    if (lapi_parse_stream (body, strlen (body), &st, err, sizeof err))
        return -1;
    int rc = st.count == 1 ? 1 : 0;
    if (rc)
        *seconds = st.decisions[0].duration_s;
    lapi_stream_free (&st);
    return rc;
}

int
main (void)
{
    tally_t t = { 0 };
    lapi_stream_t st = { 0 };
    char err[128];

    const char *stream =
        "{\"new\":[{\"duration\":\"3h59m58.5s\",\"id\":1,\"origin\":\"cscli\",\"scenario\":\"manual\","
        "\"scope\":\"Ip\",\"type\":\"ban\",\"value\":\"192.0.2.7\"},"
        "{\"duration\":\"1h\",\"id\":2,\"origin\":\"crowdsec\",\"scenario\":\"ssh-bf\","
        "\"scope\":\"range\",\"type\":\"captcha\",\"value\":\"2001:db8::/32\"},"
        "{\"duration\":\"1h\",\"id\":3,\"scope\":\"Country\",\"value\":\"FR\"},"
        "{\"id\":4,\"scope\":\"Ip\",\"value\":\"\"},{\"scope\":\"Ip\",\"value\":\"192.0.2.9\"}],"
        "\"deleted\":[{\"duration\":\"-1m2s\",\"id\":1,\"scope\":\"Ip\",\"value\":\"192.0.2.7\"}]}";
    int rc = lapi_parse_stream (stream, strlen (stream), &st, err, sizeof err);
    check (&t, rc == 0 && st.count == 3 && st.ignored == 1 && st.malformed == 2,
           "stream: 3 decisions, 1 scope ignored, 2 malformed (got %zu, %zu, %zu)", st.count,
           st.ignored, st.malformed);
    if (st.count == 3) {
        const lapi_decision_t *d = st.decisions;
        check (&t, !d[0].deleted && d[0].id == 1 && strcmp (d[0].scope, "ip") == 0
                       && strcmp (d[0].value, "192.0.2.7") == 0 && d[0].duration_s == 14398
                       && strcmp (d[0].origin, "cscli") == 0 && strcmp (d[0].type, "ban") == 0,
               "stream: the first decision as given");
        check (&t, !d[1].deleted && strcmp (d[1].scope, "range") == 0 && d[1].duration_s == 3600,
               "stream: a Range");
        check (&t, d[2].deleted && d[2].id == 1 && d[2].duration_s == -62,
               "stream: the deletion last, negative duration");
    }
    lapi_stream_free (&st);
    const char *nulls = "{\"new\":null,\"deleted\":null}";
    check (&t, lapi_parse_stream (nulls, strlen (nulls), &st, err, sizeof err) == 0 && st.count == 0,
           "stream: null lists");
    const char *bad[] = { "", "[]", "{\"new\":{}}", "{\"deleted\":\"x\"}", "{\"new\":[" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check (&t, lapi_parse_stream (bad[i], strlen (bad[i]), &st, err, sizeof err) == -1
                       && strncmp (err, "bad JSON: ", 10) == 0 && st.count == 0,
               "stream: '%s' refused", bad[i]);

    struct { const char *text; int rc; int64_t seconds; } durations[] = {
        { "0", 1, 0 }, { "0s", 1, 0 }, { "250ms", 1, 0 }, { "90s", 1, 90 }, { "1.5h", 1, 5400 },
        { "2h3m4s", 1, 7384 }, { "-3m", 1, -180 }, { "1500000us", 1, 1 }, { "2\xc2\xb5s", 1, 0 },
        { "9223372036s", 1, 9223372036 }, { "", 0, 0 }, { "5", 0, 0 }, { "5x", 0, 0 },
        { "1e3s", 0, 0 }, { "0x10s", 0, 0 }, { "9999999999h", 0, 0 },
        { "1000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
          "000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
          "000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
          "000000000000000000000000000000000000000000000000000000000000000000000000000h", 0, 0 },
    };
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        int64_t s = -999;
        int rc = one_duration (durations[i].text, &s);
        check (&t, rc == durations[i].rc && (rc != 1 || s == durations[i].seconds),
               "duration '%.20s': %s %lld", durations[i].text, rc == 1 ? "read" : "malformed",
               (long long) s);
    }

    char token[64];
    const char *login = "{\"code\":200,\"expire\":\"2026-12-05T13:00:00Z\",\"token\":\"eyJ.abc-_\"}";
    check (&t, lapi_parse_token (login, strlen (login), token, sizeof token)
                   && strcmp (token, "eyJ.abc-_") == 0, "token read");
    const char *no_token[] = { "{\"code\":401,\"message\":\"incorrect Username or Password\"}",
                               "{\"token\":\"a\\r\\nX-Evil: 1\"}", "{\"token\":\"a b\"}",
                               "{\"token\":\"\"}", "{\"token\":7}", "not json" };
    for (size_t i = 0; i < sizeof no_token / sizeof no_token[0]; i++)
        check (&t, !lapi_parse_token (no_token[i], strlen (no_token[i]), token, sizeof token),
               "no token in %s", no_token[i]);
    char long_body[128];
    snprintf (long_body, sizeof long_body, "{\"token\":\"%070d\"}", 1);
    check (&t, !lapi_parse_token (long_body, strlen (long_body), token, sizeof token),
           "a token longer than the room refused");

    uint64_t n = 99;
    check (&t, lapi_parse_deleted ("{\"nbDeleted\":\"2\"}", 17, &n) && n == 2, "nbDeleted \"2\"");
    check (&t, lapi_parse_deleted ("{\"nbDeleted\":3}", 15, &n) && n == 3, "nbDeleted 3");
    n = 99;
    check (&t, !lapi_parse_deleted ("{\"nbDeleted\":\"2x\"}", 18, &n) && n == 99
                   && !lapi_parse_deleted ("{\"nbDeleted\":-1}", 16, &n) && n == 99
                   && !lapi_parse_deleted ("{}", 2, &n) && n == 99, "bad nbDeleted refused, N kept");
    return tally_report (&t);
}
