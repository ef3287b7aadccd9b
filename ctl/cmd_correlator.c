/*  dpi-dualctl threats [N] [--json] [--timeout MS] [-c FILE]
    dpi-dualctl reputation IP | --top N [--json] [--timeout MS] [-c FILE]
    dpi-dualctl ban IP|CIDR [--duration SEC] [--reason TEXT] [--json] ...
    dpi-dualctl unban IP|CIDR [--json] [--timeout MS] [-c FILE]
    dpi-dualctl whitelist list|add CIDR|del CIDR [--json] ...

    Questions to dpi-correlator's query service (common/query.h) on
    correlation.query_endpoint: its N newest correlated threats (threats),
    the reputation of one address or the N worst (reputation), a manual ban
    or its lifting (ban, unban) and the ranges never banned (whitelist).
    Addresses and ranges are checked (inet_pton, IPv4 or IPv6, the prefix
    length within the family's) before anything is sent. --json prints the
    reply as one JSON line; without it, text. Same options, output and exit
    codes as the dpi-buffer commands (cmd_buffer.c).

    Exit status: 0 the reply says ok; 1 it refused (its error on stderr), no
    answer came in time, or the configuration could not be loaded; 2 usage. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "query.h"

#define DEFAULT_THREATS 20
#define MAX_THREATS 100000
#define MAX_TOP 100000
#define MIN_DURATION_S 60           /* correlation.ban_duration's range      */
#define MAX_DURATION_S 31536000
#define MAX_REASON 512
#define DEFAULT_REASON "manual (dpi-dualctl)"

#define HELP_COMMON CTL_HELP_QUERY ("dpi-correlator", "correlation.query_endpoint", "correlator.query")

const ctl_command_t ctl_threats_command = {
    .name = "threats",
    .usage = "usage: dpi-dualctl threats [N] [--json] [--timeout MS] [-c FILE]\n",
    .help =
        "The N newest threats dpi-correlator raised, newest first, one line each:\n"
        "time (UTC), client address, score/reputation, threat type, how the streams\n"
        "were joined (COMMUNITY_ID, CLIENT_PORT_TIME, CLIENT_IP, JOIN_NONE), the\n"
        "sources, then the request's host and path (else the flow's protocol and\n"
        "SNI); \"BANNED\" marks a threat that got its address banned.\n"
        "\n"
        "  N                  how many, 1 to 100000 (default: 20)\n"
        HELP_COMMON,
    .json = true,
    .args = true,
};

const ctl_command_t ctl_reputation_command = {
    .name = "reputation",
    .usage = "usage: dpi-dualctl reputation IP | --top N [--json] [--timeout MS] [-c FILE]\n",
    .help =
        "The reputation dpi-correlator holds for client IP (IPv4 or IPv6): its score,\n"
        "events, first and last seen (UTC), the last kind of event, whether it is\n"
        "banned (until when) or whitelisted. With --top N: the N addresses of\n"
        "highest score, one line each.\n"
        "\n"
        "  IP                 the client address\n"
        "  --top N            the N worst addresses instead, 1 to 100000\n"
        HELP_COMMON,
    .json = true,
    .args = true,
};

const ctl_command_t ctl_ban_command = {
    .name = "ban",
    .usage = "usage: dpi-dualctl ban IP|CIDR [--duration SEC] [--reason TEXT] [--json]\n"
             "                      [--timeout MS] [-c FILE]\n",
    .help =
        "Asks dpi-correlator to ban an address or a range (a.b.c.d/N, x::/N; not\n"
        "/0) for SEC seconds, as its own bans are enforced.\n"
        "\n"
        "  IP|CIDR            the address or range\n"
        "  --duration SEC     60 to 31536000 (default: correlation.ban_duration of\n"
        "                     the configuration, 14400 unless set)\n"
        "  --reason TEXT      why, at most 512 bytes (default: \"" DEFAULT_REASON "\")\n"
        HELP_COMMON,
    .json = true,
    .args = true,
};

const ctl_command_t ctl_unban_command = {
    .name = "unban",
    .usage = "usage: dpi-dualctl unban IP|CIDR [--json] [--timeout MS] [-c FILE]\n",
    .help =
        "Asks dpi-correlator to lift the ban of an address or a range (as it was\n"
        "banned).\n"
        "\n"
        "  IP|CIDR            the address or range\n"
        HELP_COMMON,
    .json = true,
    .args = true,
};

const ctl_command_t ctl_whitelist_command = {
    .name = "whitelist",
    .usage = "usage: dpi-dualctl whitelist list|add CIDR|del CIDR [--json] [--timeout MS]\n"
             "                            [-c FILE]\n",
    .help =
        "The ranges dpi-correlator never bans, one a line: list prints them; add and\n"
        "del change them (in the running worker: correlation.whitelist of the\n"
        "configuration is what it starts with) and print the result.\n"
        "\n"
        "  CIDR               a range (a.b.c.d/N, x::/N) or one address\n"
        HELP_COMMON,
    .json = true,
    .args = true,
};

typedef struct {
    ctl_query_opts_t q;
    long top;                       /* reputation --top; 0: not given        */
    long duration;                  /* ban --duration; 0: not given          */
    const char *reason;             /* ban --reason; NULL: not given         */
} opts_t;

/*  One of the correlator commands' own options OPT with its ARG into EXTRA
    (opts_t): 0, or 2 on a usage error.                                      */
static int
parse_option (const ctl_command_t *cmd, int opt, const char *arg, void *extra)
{
    opts_t *o = extra;
    bool ban = cmd == &ctl_ban_command;
    if (opt == 'T' && cmd != &ctl_reputation_command)
        return ctl_usage_error (cmd, "--top is an option of reputation only");
    else if (opt == 'T' && !ctl_parse_count (arg, 1, MAX_TOP, &o->top))
        return ctl_usage_error (cmd, "bad value '%s' for --top: a whole number from 1 to %d",
                                arg, MAX_TOP);
    else if ((opt == 'd' || opt == 'r') && !ban)
        return ctl_usage_error (cmd, "--%s is an option of ban only",
                                opt == 'd' ? "duration" : "reason");
    else if (opt == 'd' && !ctl_parse_count (arg, MIN_DURATION_S, MAX_DURATION_S, &o->duration))
        return ctl_usage_error (cmd, "bad value '%s' for --duration: seconds from %d to %d", arg,
                                MIN_DURATION_S, MAX_DURATION_S);
    else if (opt == 'r' && (!*arg || strlen (arg) > MAX_REASON))
        return ctl_usage_error (cmd, "bad value for --reason: 1 to %d bytes", MAX_REASON);
    else if (opt == 'r')
        o->reason = arg;
    else if (opt != 'T' && opt != 'd')
        return ctl_usage_error (cmd, NULL);             /* getopt said why */
    return 0;
}

/*  ARGV's options into O: 0, or 2 on a usage error (said on stderr).        */
static int
parse_options (const ctl_command_t *cmd, int argc, char **argv, opts_t *o)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },  { "timeout", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },          { "top", required_argument, NULL, 'T' },
        { "duration", required_argument, NULL, 'd' }, { "reason", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 }
    };
    *o = (opts_t) { 0 };
    return ctl_query_options (cmd, argc, argv, options, &o->q, parse_option, o);
}

/*  TEXT as an address, or with WITH_PREFIX also as ADDRESS/N with N within
    the family's length (digits only). True if so.                          */
static bool
is_address (const char *text, bool with_prefix, bool *has_prefix)
{
    char addr[INET6_ADDRSTRLEN + 8];
    unsigned char bin[sizeof (struct in6_addr)];
    const char *slash = strchr (text, '/');
    size_t len = slash ? (size_t) (slash - text) : strlen (text);
    *has_prefix = slash != NULL;
    if (len >= sizeof addr || (slash && !with_prefix))
        return false;
    memcpy (addr, text, len);
    addr[len] = '\0';
    int family = inet_pton (AF_INET, addr, bin) == 1    ? AF_INET
                 : inet_pton (AF_INET6, addr, bin) == 1 ? AF_INET6
                                                        : 0;
    long bits;
    if (!family)
        return false;
    return !slash || ctl_parse_count (slash + 1, 0, family == AF_INET ? 32 : 128, &bits);
}

/*  An IP (CIDR false) or an IP or CIDR: 0, else the usage error's 2.       */
static int
check_value (const ctl_command_t *cmd, const char *value, bool cidr)
{
    bool has_prefix;
    if (!is_address (value, cidr, &has_prefix))
        return ctl_usage_error (cmd, cidr ? "'%s' is not an IPv4 or IPv6 address or range "
                                            "(ADDRESS/N, N within the family's length)"
                                          : "'%s' is not an IPv4 or IPv6 address", value);
    const char *prefix = strrchr (value, '/');
    if (cmd == &ctl_ban_command && has_prefix && prefix && strspn (prefix + 1, "0") ==
        strlen (prefix + 1))
        return ctl_usage_error (cmd, "'%s' would ban every address", value);
    return 0;
}

/*  --------------------------------------------------------------------------
    Text output                                                              */

/*  An integer exactly (nanosecond times do not fit a double), a real cut.  */
/*  "2024-05-01 12:00:00.123" (UTC) of TS_NS, "-" for none.                 */
/*  The strings of array KEY joined with ",", or "-" when there are none.   */
static void
format_list (char *out, size_t outlen, const json_t *obj, const char *key)
{
    const json_t *array = json_object_get (obj, key);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size (array) && len < outlen; i++) {
        int n = snprintf (out + len, outlen - len, "%s%s", i ? "," : "",
                          json_string_value (json_array_get (array, i)) ?: "?");
        len += n > 0 ? (size_t) n : 0;
    }
    if (!out[0])
        snprintf (out, outlen, "-");
}

/*  What was asked: host+path of the request, else proto/sni of the flow.  */
static void
format_what (char *out, size_t outlen, const json_t *t)
{
    const char *host = ctl_str (t, "mitm_host"), *path = ctl_str (t, "mitm_path");
    const char *proto = ctl_str (t, "tap_proto"), *sni = ctl_str (t, "tap_sni");
    if (*host || *path)
        snprintf (out, outlen, "%s%s", host, path);
    else if (*proto || *sni)
        snprintf (out, outlen, "%s%s%s", *proto ? proto : "-", *sni ? "/" : "", sni);
    else
        snprintf (out, outlen, "-");
}

static void
print_threat (const json_t *t)
{
    char when[48], sources[256], what[512], score[48];
    ctl_format_time (when, sizeof when, ctl_int (t, "ts_ns"));
    format_list (sources, sizeof sources, t, "sources");
    format_what (what, sizeof what, t);
    snprintf (score, sizeof score, "%lld/%lld", ctl_int (t, "score"), ctl_int (t, "reputation"));
    const char *type = ctl_str (t, "threat_type"), *join = ctl_str (t, "join");
    printf ("%-23s  %-15s  %-7s  %-12s  %-16s  %-12s  %s%s\n", when, ctl_str (t, "ip"), score,
            *type ? type : "-", *join ? join : "-", sources, what,
            json_is_true (json_object_get (t, "banned")) ? "  BANNED" : "");
}

static void
print_threats (const json_t *reply)
{
    const json_t *threats = json_object_get (reply, "threats");
    size_t n = json_array_size (threats);
    printf ("%zu threat%s, newest first (score/reputation)\n", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        print_threat (json_array_get (threats, i));
}

/*  "banned until T", "not banned".                                          */
static void
format_ban (char *out, size_t outlen, const json_t *e)
{
    char until[48];
    long long until_ns = ctl_int (e, "banned_until_ns");
    ctl_format_time (until, sizeof until, until_ns);
    snprintf (out, outlen, until_ns > 0 ? "banned until %s" : "not banned", until);
}

static void
print_reputation (const json_t *e)
{
    char first[48], last[48], ban[96];
    const char *kind = ctl_str (e, "last_kind");
    ctl_format_time (first, sizeof first, ctl_int (e, "first_seen_ns"));
    ctl_format_time (last, sizeof last, ctl_int (e, "last_seen_ns"));
    format_ban (ban, sizeof ban, e);
    long long events = ctl_int (e, "events");
    printf ("%s: score %.1f, %lld event%s; first seen %s, last seen %s (%s); %s%s\n",
            ctl_str (e, "ip"), json_number_value (json_object_get (e, "score")), events,
            events == 1 ? "" : "s", first, last, *kind ? kind : "-", ban,
            json_is_true (json_object_get (e, "whitelisted")) ? "; whitelisted" : "");
}

static void
print_top (const json_t *reply)
{
    const json_t *top = json_object_get (reply, "top");
    size_t n = json_array_size (top);
    printf ("%zu address%s, highest score first\n", n, n == 1 ? "" : "es");
    for (size_t i = 0; i < n; i++)
        print_reputation (json_array_get (top, i));
}

static void
print_ban (const json_t *reply)
{
    printf ("banned %s for %lld s\n", ctl_str (reply, "value"), ctl_int (reply, "duration"));
}

static void
print_unban (const json_t *reply)
{
    printf ("unbanned %s\n", ctl_str (reply, "value"));
}

static void
print_whitelist (const json_t *reply)
{
    const json_t *list = json_object_get (reply, "whitelist");
    size_t n = json_array_size (list);
    printf ("%zu whitelisted range%s\n", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        printf ("%s\n", json_string_value (json_array_get (list, i)) ?: "?");
}

/*  --------------------------------------------------------------------------
    The call                                                                 */

/*  Send REQUEST (consumed) to the correlator's query service with CFG and
    print the reply with PRINT (or as JSON). The exit code.                  */
static int
ask_with (const ctl_command_t *cmd, const opts_t *o, const config_t *cfg, json_t *request,
          void (*print) (const json_t *reply))
{
    return ctl_ask (cmd, "dpi-correlator", cfg, cfg->correlation.query_endpoint, request,
                    o->q.timeout_ms, o->q.json, print);
}

/*  ask_with, the configuration loaded from O.                               */
static int
ask (const ctl_command_t *cmd, const opts_t *o, json_t *request,
     void (*print) (const json_t *reply))
{
    config_t *cfg = request ? config_load_verbose (o->q.config_path) : NULL;
    if (!cfg) {
        json_decref (request);
        return 1;
    }
    int rc = ask_with (cmd, o, cfg, request, print);
    config_destroy (&cfg);
    return rc;
}

/*  The options of CMD and the number of arguments, between MIN and MAX.
    0 to go on, 2 on a usage error; with O->help printed: -1 (exit 0).      */
static int
start (const ctl_command_t *cmd, int argc, char **argv, opts_t *o, int min, int max)
{
    int rc = parse_options (cmd, argc, argv, o);
    if (rc != 0)
        return rc;
    if (o->q.help)
        return -1;
    int nargs = argc - o->q.first_arg;
    if (nargs > max)
        return ctl_usage_error (cmd, "unexpected argument '%s'", argv[o->q.first_arg + max]);
    if (nargs < min)
        return ctl_usage_error (cmd, "missing the %s", cmd == &ctl_reputation_command
                                ? "IP address" : cmd == &ctl_whitelist_command
                                ? "subcommand (list, add or del)" : "address or range");
    return 0;
}

int
cmd_threats (int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_threats_command;
    opts_t o;
    int rc = start (cmd, argc, argv, &o, 0, 1);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    const char *arg = argc > o.q.first_arg ? argv[o.q.first_arg] : NULL;
    long n = DEFAULT_THREATS;
    if (arg && !ctl_parse_count (arg, 1, MAX_THREATS, &n))
        return ctl_usage_error (cmd, "bad value '%s' for N: a whole number from 1 to %d", arg,
                                MAX_THREATS);
    return ask (cmd, &o, json_pack ("{s:s,s:I}", "cmd", "threats", "n", (json_int_t) n),
                print_threats);
}

int
cmd_reputation (int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_reputation_command;
    opts_t o;
    int rc = start (cmd, argc, argv, &o, 0, 1);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    const char *ip = argc > o.q.first_arg ? argv[o.q.first_arg] : NULL;
    if (o.top && ip)
        return ctl_usage_error (cmd, "either IP or --top N, not both");
    if (o.top)
        return ask (cmd, &o, json_pack ("{s:s,s:I}", "cmd", "reputation", "top",
                                        (json_int_t) o.top), print_top);
    if (!ip)
        return ctl_usage_error (cmd, "missing the IP address (or --top N)");
    if (check_value (cmd, ip, false) != 0)
        return 2;
    return ask (cmd, &o, json_pack ("{s:s,s:s}", "cmd", "reputation", "ip", ip),
                print_reputation);
}

int
cmd_ban (int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_ban_command;
    opts_t o;
    int rc = start (cmd, argc, argv, &o, 1, 1);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    const char *arg = argc > o.q.first_arg ? argv[o.q.first_arg] : NULL;
    if (check_value (cmd, arg, true) != 0)
        return 2;
    config_t *cfg = config_load_verbose (o.q.config_path);
    if (!cfg)
        return 1;
    long duration = o.duration ? o.duration : cfg->correlation.ban_duration;
    json_t *request = json_pack ("{s:s,s:s,s:I,s:s}", "cmd", "ban", "value", arg, "duration",
                                 (json_int_t) duration, "reason",
                                 o.reason ? o.reason : DEFAULT_REASON);
    rc = request ? ask_with (cmd, &o, cfg, request, print_ban) : 1;
    config_destroy (&cfg);
    return rc;
}

int
cmd_unban (int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_unban_command;
    opts_t o;
    int rc = start (cmd, argc, argv, &o, 1, 1);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    const char *arg = argc > o.q.first_arg ? argv[o.q.first_arg] : NULL;
    if (check_value (cmd, arg, true) != 0)
        return 2;
    return ask (cmd, &o, json_pack ("{s:s,s:s}", "cmd", "unban", "value", arg), print_unban);
}

int
cmd_whitelist (int argc, char **argv)
{
    const ctl_command_t *cmd = &ctl_whitelist_command;
    opts_t o;
    int rc = start (cmd, argc, argv, &o, 1, 2);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    const char *arg = argc > o.q.first_arg ? argv[o.q.first_arg] : NULL;
    const char *cidr = argc > o.q.first_arg + 1 ? argv[o.q.first_arg + 1] : NULL;
    bool list = strcmp (arg, "list") == 0;
    if (!list && strcmp (arg, "add") != 0 && strcmp (arg, "del") != 0)
        return ctl_usage_error (cmd, "unknown subcommand '%s'", arg);
    if (list && cidr)
        return ctl_usage_error (cmd, "list takes no argument");
    if (list)
        return ask (cmd, &o, json_pack ("{s:s,s:s}", "cmd", "whitelist", "op", "list"),
                    print_whitelist);
    if (!cidr)
        return ctl_usage_error (cmd, "%s takes CIDR, the range", arg);
    if (check_value (cmd, cidr, true) != 0)
        return 2;
    return ask (cmd, &o, json_pack ("{s:s,s:s,s:s}", "cmd", "whitelist", "op", arg, "cidr", cidr),
                print_whitelist);
}
