/*  dpi-queryserve — a TEST DOUBLE of a query service's worker (dpi-buffer,
    not built yet): it serves canned replies through the real transport
    (common/query.h), so tests can check the client side (dpi-dualctl
    context, replay, buffer). It analyses nothing.

    dpi-queryserve [-c FILE] [--endpoint EP] DIR

    Serves on EP (default: buffer.query_endpoint of the config). A request
    {"cmd":CMD,...} is answered with the JSON object in DIR/CMD.json as it
    is (a file may hold {"ok":false,"error":...} to test refusals); a CMD
    without a file, or with a name that is not [a-z_]+, is refused. Each
    request is printed on stdout as one JSON line, so a test can check what
    the client sent. Runs until SIGINT or SIGTERM; at exit prints its
    counters on stderr ("requests N bad_requests N send_errors N").         */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "config.h"
#include "log.h"
#include "query.h"

static json_t *
canned_reply (void *arg, const char *cmd, json_t *request)
{
    const char *dir = arg;
    char *line = json_dumps (request, JSON_COMPACT | JSON_SORT_KEYS);
    if (line)
        printf ("%s\n", line);
    fflush (stdout);
    free (line);
    if (!*cmd || strspn (cmd, "abcdefghijklmnopqrstuvwxyz_") != strlen (cmd))
        return json_pack ("{s:b,s:s}", "ok", 0, "error", "bad command name");
    char path[4096];
    snprintf (path, sizeof path, "%s/%s.json", dir, cmd);
    json_error_t jerr;
    json_t *reply = json_load_file (path, 0, &jerr);
    if (json_is_object (reply))
        return reply;
    json_decref (reply);
    return json_pack ("{s:b,s:s+}", "ok", 0, "error", "no canned reply for ", cmd);
}

int
main (int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "endpoint", required_argument, NULL, 'e' },
        { NULL, 0, NULL, 0 }
    };
    const char *config_path = NULL, *endpoint = NULL;
    int opt;
    while ((opt = getopt_long (argc, argv, "c:e:", options, NULL)) != -1) {
        if (opt == 'c')
            config_path = optarg;
        else if (opt == 'e')
            endpoint = optarg;
        else
            return 2;
    }
    if (optind != argc - 1) {
        fprintf (stderr, "usage: dpi-queryserve [-c FILE] [--endpoint EP] DIR\n");
        return 2;
    }
    log_init ("dpi-queryserve", "warning");
    zsys_init ();
    config_t *cfg = config_load_verbose (config_path);
    if (!cfg)
        return 1;
    config_errors_t errors = { 0 };
    query_t *q = query_new (cfg, endpoint ? endpoint : cfg->buffer.query_endpoint, canned_reply,
                            argv[optind], &errors);
    if (!q) {
        config_errors_print (&errors, stderr);
        config_errors_clear (&errors);
        config_destroy (&cfg);
        return 1;
    }
    fprintf (stderr, "dpi-queryserve: serving on %s\n", query_endpoint (q));
    struct pollfd pfd = { .fd = query_fd (q), .events = POLLIN };
    while (!zsys_interrupted) {
        if (poll (&pfd, 1, 200) > 0)
            while (query_drain (q, 16) == 16 || query_pending (q))
                ;
    }
    query_stats_t st = query_stats (q);
    fprintf (stderr, "requests %llu bad_requests %llu send_errors %llu\n",
             (unsigned long long) st.requests, (unsigned long long) st.bad_requests,
             (unsigned long long) st.send_errors);
    query_destroy (&q);
    config_destroy (&cfg);
    return 0;
}
