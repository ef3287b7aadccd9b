/*  dpi-dualctl context IP [--window SEC] [--json] [--timeout MS] [-c FILE]
    dpi-dualctl replay IP [--json] [--timeout MS] [-c FILE]
    dpi-dualctl buffer stats|dump N [--json] [--timeout MS] [-c FILE]

    Questions to dpi-buffer's query service (common/query.h) on
    buffer.query_endpoint: the buffered requests of one client address and
    its anomaly score (context), a new analysis of them at the replay
    paranoia level (replay), the buffer's counters (stats) and its N newest
    requests (dump). IP is checked (inet_pton, IPv4 or IPv6) before anything
    is sent. --json prints the reply as one JSON line; without it, text.

    Exit status: 0 the reply says ok; 1 it refused (its error on stderr), no
    answer came in time, or the configuration could not be loaded; 2 usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "query.h"

#define DEFAULT_WINDOW_S 300
#define MAX_WINDOW_S 604800
#define MAX_DUMP 1000000
#define TARGET_WIDTH 50

#define HELP_COMMON CTL_HELP_QUERY ("dpi-buffer", "buffer.query_endpoint", "buffer.query")

const ctl_command_t ctl_context_command = {
    .name = "context",
    .usage = "usage: dpi-dualctl context IP [--window SEC] [--json] [--timeout MS] [-c FILE]\n",
    .help =
        "The requests dpi-buffer holds from client IP (IPv4 or IPv6) in the last SEC\n"
        "seconds, newest first, with the address's anomaly score: per request its\n"
        "time (UTC), method, host and path, status, verdict, WAF score, category and\n"
        "rule ids; \"ALERT\" marks a request that raised an alert.\n"
        "\n"
        "  IP                 the client address\n"
        "  --window SEC       seconds back from now, 1 to 604800 (default: 300)\n"
        HELP_COMMON,
    .json = true,
    .args = true,
};

const ctl_command_t ctl_replay_command = {
    .name = "replay",
    .usage = "usage: dpi-dualctl replay IP [--json] [--timeout MS] [-c FILE]\n",
    .help =
        "Asks dpi-buffer to analyse again the requests it holds from client IP, at\n"
        "the replay paranoia level (buffer.replay_paranoia), toward\n"
        "buffer.replay_target; prints how many were queued.\n"
        "\n"
        "  IP                 the client address (IPv4 or IPv6)\n"
        HELP_COMMON,
    .json = true,
    .args = true,
};

const ctl_command_t ctl_buffer_command = {
    .name = "buffer",
    .usage = "usage: dpi-dualctl buffer stats|dump N [--json] [--timeout MS] [-c FILE]\n",
    .help =
        "stats: dpi-buffer's counters, one \"name value\" line each, sorted by name.\n"
        "dump N: its N newest requests (1 to 1000000), newest first, as context\n"
        "prints them.\n"
        "\n"
        HELP_COMMON,
    .json = true,
    .args = true,
};

typedef struct {
    ctl_query_opts_t q;
    long window;                    /* seconds, context only                 */
} opts_t;

/*  The option the buffer's commands add: --window (context only).         */
static int
parse_option (const ctl_command_t *cmd, int opt, const char *arg, void *extra)
{
    opts_t *o = extra;
    if (opt == 'w' && cmd != &ctl_context_command)
        return ctl_usage_error (cmd, "--window is an option of context only");
    if (opt == 'w' && !ctl_parse_count (arg, 1, MAX_WINDOW_S, &o->window))
        return ctl_usage_error (cmd, "bad value '%s' for --window: seconds from 1 to %d", arg,
                                MAX_WINDOW_S);
    if (opt != 'w')
        return ctl_usage_error (cmd, NULL);             /* getopt said why */
    return 0;
}

/*  ARGV's options into O: 0, or 2 on a usage error (said on stderr).        */
static int
parse_options (const ctl_command_t *cmd, int argc, char **argv, opts_t *o)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' }, { "window", required_argument, NULL, 'w' },
        { "timeout", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 }
    };
    o->window = DEFAULT_WINDOW_S;
    return ctl_query_options (cmd, argc, argv, options, &o->q, parse_option, o);
}

/*  IP as an address (the usage error's exit code 2 if not, else 0).        */
static int
check_ip (const ctl_command_t *cmd, const char *ip)
{
    unsigned char addr[sizeof (struct in6_addr)];
    if (inet_pton (AF_INET, ip, addr) == 1 || inet_pton (AF_INET6, ip, addr) == 1)
        return 0;
    return ctl_usage_error (cmd, "'%s' is not an IPv4 or IPv6 address", ip);
}

/*  --------------------------------------------------------------------------
    Text output                                                              */

/*  host + path (+ "?" query), cut to TARGET_WIDTH with "...".               */
static void
format_target (char *out, size_t outlen, const json_t *r)
{
    const char *query = ctl_str (r, "query");
    snprintf (out, outlen, "%s%s%s%s", ctl_str (r, "host"), ctl_str (r, "path"), *query ? "?" : "",
              query);
    if (strlen (out) > TARGET_WIDTH && outlen > TARGET_WIDTH)
        strcpy (out + TARGET_WIDTH - 3, "...");
}

/*  "score S, CATEGORY, rules a,b" of the WAF's findings, or "not analysed". */
static void
format_findings (char *out, size_t outlen, const json_t *r)
{
    if (json_is_true (json_object_get (r, "not_analysed"))) {
        snprintf (out, outlen, "not analysed");
        return;
    }
    int len = snprintf (out, outlen, "score %lld", ctl_int (r, "score"));
    const char *category = ctl_str (r, "category");
    if (*category && len >= 0 && (size_t) len < outlen)
        len += snprintf (out + len, outlen - (size_t) len, ", %s", category);
    const json_t *rules = json_object_get (r, "rule_ids");
    for (size_t i = 0; i < json_array_size (rules) && len >= 0 && (size_t) len < outlen; i++) {
        const json_t *id = json_array_get (rules, i);
        char text[32];
        if (json_is_string (id))
            snprintf (text, sizeof text, "%s", json_string_value (id));
        else
            snprintf (text, sizeof text, "%lld", (long long) json_number_value (id));
        len += snprintf (out + len, outlen - (size_t) len, "%s%s", i ? "," : ", rules ", text);
    }
}

static void
print_request (const json_t *r)
{
    char when[48], target[512], findings[512], status[16] = "-";
    ctl_format_time (when, sizeof when, ctl_int (r, "ts_ns"));
    format_target (target, sizeof target, r);
    format_findings (findings, sizeof findings, r);
    if (ctl_int (r, "status") > 0)
        snprintf (status, sizeof status, "%lld", ctl_int (r, "status"));
    const char *verdict = ctl_str (r, "verdict");
    bool alerted = json_is_true (json_object_get (r, "alerted"));
    printf ("%-23s  %-7s %-*s %3s  %-5s  %s%s\n", when, *ctl_str (r, "method") ? ctl_str (r, "method")
            : "-", TARGET_WIDTH, target, status, *verdict ? verdict : "-", findings,
            alerted ? "  ALERT" : "");
}

static void
print_requests (const json_t *reply)
{
    const json_t *requests = json_object_get (reply, "requests");
    for (size_t i = 0; i < json_array_size (requests); i++)
        print_request (json_array_get (requests, i));
}

static void
print_context (const json_t *reply)
{
    const json_t *anomaly = json_object_get (reply, "anomaly");
    const char *label = ctl_str (anomaly, "label");
    size_t n = json_array_size (json_object_get (reply, "requests"));
    printf ("%s: %zu request%s in the last %lld s; anomaly score %lld%s%s", ctl_str (reply, "ip"),
            n, n == 1 ? "" : "s", ctl_int (reply, "window"), ctl_int (anomaly, "score"),
            *label ? " " : "", label);
    const json_t *reasons = json_object_get (anomaly, "reasons");
    for (size_t i = 0; i < json_array_size (reasons); i++)
        printf ("%s%s", i ? "; " : " (", json_string_value (json_array_get (reasons, i)) ?: "?");
    printf ("%s\n", json_array_size (reasons) ? ")" : "");
    print_requests (reply);
}

static void
print_dump (const json_t *reply)
{
    size_t n = json_array_size (json_object_get (reply, "requests"));
    printf ("%zu request%s, newest first\n", n, n == 1 ? "" : "s");
    print_requests (reply);
}

static int
compare_strings (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
print_stats (const json_t *reply)
{
    size_t n = json_object_size (reply), count = 0;
    const char **keys = calloc (n ? n : 1, sizeof *keys);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) reply, key, value)
        if (keys && strcmp (key, "ok") != 0)
            keys[count++] = key;
    qsort (keys, count, sizeof *keys, compare_strings);
    for (size_t i = 0; i < count; i++) {
        value = json_object_get (reply, keys[i]);
        if (json_is_integer (value))
            printf ("%s %lld\n", keys[i], (long long) json_integer_value (value));
        else if (json_is_real (value))
            printf ("%s %g\n", keys[i], json_real_value (value));
        else {
            char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
            printf ("%s %s\n", keys[i], text ? text : "?");
            free (text);
        }
    }
    free (keys);
}

static void
print_replay (const json_t *reply)
{
    const char *target = ctl_str (reply, "target");
    printf ("replay of %s: %lld request%s queued for analysis at paranoia level %lld, "
            "%lld not queued; target: %s\n", ctl_str (reply, "ip"), ctl_int (reply, "queued"),
            ctl_int (reply, "queued") == 1 ? "" : "s", ctl_int (reply, "paranoia"),
            ctl_int (reply, "not_queued"), *target ? target : "the configured one");
}

/*  --------------------------------------------------------------------------
    The call                                                                 */

/*  Send REQUEST (consumed) to the buffer's query service and print the
    reply with PRINT (or as JSON). The exit code.                            */
static int
ask (const ctl_command_t *cmd, const opts_t *o, json_t *request,
     void (*print) (const json_t *reply))
{
    config_t *cfg = request ? config_load_verbose (o->q.config_path) : NULL;
    if (!cfg) {
        json_decref (request);
        return 1;
    }
    int rc = ctl_ask (cmd, "dpi-buffer", cfg, cfg->buffer.query_endpoint, request,
                      o->q.timeout_ms, o->q.json, print);
    config_destroy (&cfg);
    return rc;
}

/*  context and replay: one IP argument.                                     */
static int
ip_command (const ctl_command_t *cmd, int argc, char **argv)
{
    opts_t o;
    int rc = parse_options (cmd, argc, argv, &o);
    if (rc != 0 || o.q.help)
        return rc;
    if (o.q.first_arg >= argc)
        return ctl_usage_error (cmd, "missing the IP address");
    if (o.q.first_arg + 1 < argc)
        return ctl_usage_error (cmd, "unexpected argument '%s'", argv[o.q.first_arg + 1]);
    const char *ip = argv[o.q.first_arg];
    if (check_ip (cmd, ip) != 0)
        return 2;
    if (cmd == &ctl_context_command)
        return ask (cmd, &o, json_pack ("{s:s,s:s,s:i}", "cmd", "context", "ip", ip, "window",
                                        (int) o.window), print_context);
    return ask (cmd, &o, json_pack ("{s:s,s:s}", "cmd", "replay", "ip", ip), print_replay);
}

int
cmd_context (int argc, char **argv)
{
    return ip_command (&ctl_context_command, argc, argv);
}

int
cmd_replay (int argc, char **argv)
{
    return ip_command (&ctl_replay_command, argc, argv);
}

int
cmd_buffer (int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_buffer_command;
    opts_t o;
    int rc = parse_options (cmd, argc, argv, &o);
    if (rc != 0 || o.q.help)
        return rc;
    int nargs = argc - o.q.first_arg;
    const char *sub = nargs > 0 ? argv[o.q.first_arg] : NULL;
    long n = 0;
    if (!sub)
        return ctl_usage_error (cmd, "missing the subcommand (stats or dump)");
    if (strcmp (sub, "stats") == 0 && nargs == 1)
        return ask (cmd, &o, json_pack ("{s:s}", "cmd", "stats"), print_stats);
    if (strcmp (sub, "stats") == 0)
        return ctl_usage_error (cmd, "stats takes no argument");
    if (strcmp (sub, "dump") != 0)
        return ctl_usage_error (cmd, "unknown subcommand '%s'", sub);
    if (nargs != 2)
        return ctl_usage_error (cmd, "dump takes N, the number of requests");
    if (!ctl_parse_count (argv[o.q.first_arg + 1], 1, MAX_DUMP, &n))
        return ctl_usage_error (cmd, "bad value '%s' for N: a whole number from 1 to %d",
                                argv[o.q.first_arg + 1], MAX_DUMP);
    return ask (cmd, &o, json_pack ("{s:s,s:I}", "cmd", "dump", "n", (json_int_t) n), print_dump);
}
