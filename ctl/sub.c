/*  sub.c — what the listening commands of dpi-dualctl (tail, flows, status) share:
    their common options, the worker endpoints they connect to, and owned
    copies of received messages.

    A target is one publisher endpoint to connect to: by default the
    endpoints of the workers from the config (bus.endpoints.*), named after
    the worker; with --connect, the endpoints given, named after the worker
    whose configured endpoint they equal ("" when none). A worker whose own
    endpoint starts with ">" connects out to a subscriber: there is nothing
    to connect to, so the target is marked and not attached.                */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "endpoint.h"

bool
ctl_parse_count (const char *text, long min, long max, long *out)
{
    if (!*text || strspn (text, "0123456789") != strlen (text))
        return false;
    errno = 0;
    char *end;
    long value = strtol (text, &end, 10);
    if (errno || *end || value < min || value > max)
        return false;
    *out = value;
    return true;
}

/*  TEXT as seconds in [0, CTL_MAX_TIMEOUT]: digits with at most one ".".  */
bool
ctl_parse_seconds (const char *text, double *out)
{
    size_t len = strlen (text);
    if (strspn (text, "0123456789.") != len || strspn (text, ".") == len)
        return false;
    char *end;
    double value = strtod (text, &end);
    if (*end || !(value >= 0 && value <= CTL_MAX_TIMEOUT))
        return false;
    *out = value;
    return true;
}

/*  One option OPT (a getopt_long result) with its ARG into O: 0, or 2.    */
static int
take_option (const ctl_command_t *cmd, int opt, char *arg, ctl_listen_opts_t *o)
{
    if ((opt == 'n' && !cmd->max_count) || (opt == 'j' && !cmd->json)
        || (opt == 'q' && !cmd->count_only) || (opt == 'd' && !cmd->dot)
        || (opt == 'w' && !cmd->watch))
        return ctl_usage_error (cmd, "%s is not an option of %s",
                                opt == 'n'   ? "-n (--count)"
                                : opt == 'j' ? "--json"
                                : opt == 'd' ? "--dot"
                                : opt == 'w' ? "--watch"
                                             : "--count-only",
                                cmd->name);
    switch (opt) {
    case 'c': o->config_path = arg; return 0;
    case 'e': o->connects[o->nconnect++] = arg; return 0;
    case 'j': o->json = true; return 0;
    case 'q': o->count_only = true; return 0;
    case 'd': o->dot = true; return 0;
    case 'w':
        o->watch = 0;
        if (!arg || (ctl_parse_seconds (arg, &o->watch) && o->watch >= 0.1))
            return 0;
        return ctl_usage_error (cmd, "bad value '%s' for --watch: seconds from 0.1 to %.0f", arg,
                                CTL_MAX_TIMEOUT);
    case 'n':
        if (ctl_parse_count (arg, 1, cmd->max_count, &o->count))
            return 0;
        return ctl_usage_error (cmd, "bad value '%s' for -n: a whole number from 1 to %ld", arg,
                                cmd->max_count);
    case 't':
        if (ctl_parse_seconds (arg, &o->timeout))
            return 0;
        return ctl_usage_error (cmd, "bad value '%s' for --timeout: seconds from 0 to %.0f", arg,
                                CTL_MAX_TIMEOUT);
    default:  return ctl_usage_error (cmd, NULL);       /* getopt said why */
    }
}

int
ctl_listen_options (int argc, char **argv, const ctl_command_t *cmd, ctl_listen_opts_t *o)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "connect", required_argument, NULL, 'e' },
        { "count", required_argument, NULL, 'n' },
        { "timeout", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { "count-only", no_argument, NULL, 'q' },
        { "dot", no_argument, NULL, 'd' },
        { "watch", optional_argument, NULL, 'w' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    memset (o, 0, sizeof *o);
    o->count = -1;
    o->timeout = -1;
    o->watch = -1;
    o->connects = calloc ((size_t) argc + 1, sizeof *o->connects);
    if (!o->connects)
        return 2;
    char prog[64], *argv0 = argv[0];
    snprintf (prog, sizeof prog, "dpi-dualctl %s", cmd->name);
    argv[0] = prog;                     /* getopt's messages name the command */
    int opt, rc = 0;
    optind = 1;
    while (rc == 0 && !o->help
           && (opt = getopt_long (argc, argv, "c:e:n:t:h", options, NULL)) != -1) {
        if (opt == 'h') {
            ctl_help (cmd);
            o->help = true;
        }
        else {
            char *arg = optarg;
            /* --watch SEC: the seconds may be the next argument */
            if (opt == 'w' && cmd->watch && !arg && optind < argc && *argv[optind]
                && strspn (argv[optind], "0123456789.") == strlen (argv[optind]))
                arg = argv[optind++];
            rc = take_option (cmd, opt, arg, o);
        }
    }
    argv[0] = argv0;
    o->first_arg = optind;
    if (rc == 0 && !o->help && optind < argc && !cmd->args)
        rc = ctl_usage_error (cmd, "unexpected argument '%s'", argv[optind]);
    return rc;
}

void
ctl_listen_options_free (ctl_listen_opts_t *o)
{
    free (o->connects);
    o->connects = NULL;
}

ctl_target_t *
ctl_targets (const config_t *cfg, char **connects, size_t nconnect, bool collector_only,
             size_t *count)
{
    if (!nconnect && !collector_only)
        return topo_config_targets (cfg, count);
    size_t n = nconnect ? nconnect : 1;
    ctl_target_t *t = calloc (n, sizeof *t);
    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (nconnect) {
            t[i].endpoint = connects[i];
            t[i].name = "";
            for (int w = 0; w < WORKER_COUNT; w++)
                if (strcmp (endpoint_address (cfg->bus.endpoints[w]), connects[i]) == 0)
                    t[i].name = worker_info ((worker_id_t) w)->name;
        }
        else {
            /* the collector's own endpoint binds: connect to it (endpoint.h) */
            endpoint_t ep;
            const char *reason;
            const char *own = cfg->bus.endpoints[WORKER_COLLECTOR];
            t[i].name = worker_info (WORKER_COLLECTOR)->name;
            t[i].endpoint = endpoint_address (own);
            t[i].connects_out = endpoint_parse (own, true, &ep, &reason) == 0 && !ep.bind;
        }
    }
    *count = n;
    return t;
}

bus_sub_t *
ctl_sub_open (const config_t *cfg, const ctl_target_t *targets, size_t count)
{
    bus_sub_t *sub = bus_sub_new (cfg);
    for (size_t i = 0; sub && i < count; i++)
        if (!targets[i].connects_out && bus_sub_attach (sub, targets[i].endpoint) != 0)
            bus_sub_destroy (&sub);
    return sub;
}

void
ctl_targets_join (const ctl_target_t *targets, size_t count, char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < count && len < outlen; i++) {
        if (targets[i].connects_out)
            continue;
        int n = snprintf (out + len, outlen - len, "%s%s", len ? ", " : "", targets[i].endpoint);
        if (n < 0)
            break;
        len += (size_t) n;
    }
}

void
ctl_sub_report_errors (bus_sub_t *sub, const char *cmd)
{
    if (!sub)
        return;
    if (bus_sub_decode_errors (sub))
        fprintf (stderr, "%s: %llu messages on the bus did not decode and were skipped\n", cmd,
                 (unsigned long long) bus_sub_decode_errors (sub));
    for (size_t i = 0; i < bus_sub_source_count (sub); i++) {
        bus_source_stats_t s = bus_sub_source_stats (sub, i);
        if (s.gaps || s.out_of_order)
            fprintf (stderr, "%s: %s: %llu messages lost (gaps), %llu out of order\n", cmd,
                     s.source, (unsigned long long) s.gaps, (unsigned long long) s.out_of_order);
    }
}

int
ctl_wait_ms (uint64_t deadline)
{
    uint64_t now = bus_mono_ns ();
    return now >= deadline ? -1 : (int) ((deadline - now) / 1000000ull) + 1;
}
