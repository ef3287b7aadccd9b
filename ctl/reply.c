/*  reply.c — what the commands that ask a worker's query service share:
    sending and printing a reply, and reading its fields (ctl.h).           */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ctl.h"
#include "query.h"

const char *
ctl_str (const json_t *obj, const char *key)
{
    const char *s = json_string_value (json_object_get (obj, key));
    return s ? s : "";
}

long long
ctl_int (const json_t *obj, const char *key)
{
    const json_t *v = json_object_get (obj, key);       /* ns need all 64 bits */
    return json_is_integer (v) ? (long long) json_integer_value (v)
                               : (long long) json_number_value (v);
}

void
ctl_format_time (char *out, size_t outlen, long long ts_ns)
{
    time_t s = (time_t) (ts_ns / 1000000000);
    struct tm tm;
    char date[32] = "-";
    if (ts_ns > 0 && gmtime_r (&s, &tm))
        strftime (date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf (out, outlen, ts_ns > 0 ? "%s.%03lld" : "%s", date, ts_ns / 1000000 % 1000);
}

int
ctl_ask (const ctl_command_t *cmd, const char *worker, const config_t *cfg,
         const char *endpoint, json_t *request, long timeout_ms, bool json,
         void (*print) (const json_t *reply))
{
    char error[1024];
    json_t *reply = query_call (cfg, endpoint, request, (int) timeout_ms, error, sizeof error);
    json_decref (request);
    if (!reply) {
        fprintf (stderr, "dpi-dualctl %s: %s: is %s running?\n", cmd->name, error, worker);
        return 1;
    }
    bool ok = json_is_true (json_object_get (reply, "ok"));
    char *line = json ? json_dumps (reply, JSON_COMPACT) : NULL;
    if (line)
        printf ("%s\n", line);
    else if (ok)
        print (reply);
    free (line);
    if (!ok) {
        const char *why = ctl_str (reply, "error");
        fprintf (stderr, "dpi-dualctl %s: %s refused: %s\n", cmd->name, worker,
                 *why ? why : "(no reason given)");
    }
    json_decref (reply);
    fflush (stdout);
    return ok ? 0 : 1;
}

int
ctl_query_options (const ctl_command_t *cmd, int argc, char **argv,
                   const struct option *longopts, ctl_query_opts_t *q,
                   ctl_query_option_fn *fn, void *extra)
{
    *q = (ctl_query_opts_t) { .timeout_ms = CTL_QUERY_DEFAULT_TIMEOUT_MS };
    char prog[64], *argv0 = argv[0];
    snprintf (prog, sizeof prog, "dpi-dualctl %s", cmd->name);
    argv[0] = prog;                     /* getopt's messages name the command */
    int opt, rc = 0;
    optind = 1;
    while (rc == 0 && !q->help && (opt = getopt_long (argc, argv, "c:h", longopts, NULL)) != -1) {
        if (opt == 'h')
            q->help = ctl_help (cmd) == 0;
        else if (opt == 'c')
            q->config_path = optarg;
        else if (opt == 'j')
            q->json = true;
        else if (opt == 't' && !ctl_parse_count (optarg, 1, CTL_QUERY_MAX_TIMEOUT_MS,
                                                 &q->timeout_ms))
            rc = ctl_usage_error (cmd, "bad value '%s' for --timeout: milliseconds from 1 to %d",
                                  optarg, CTL_QUERY_MAX_TIMEOUT_MS);
        else if (opt != 't')
            rc = fn (cmd, opt, optarg, extra);
    }
    argv[0] = argv0;
    q->first_arg = optind;
    return rc;
}
