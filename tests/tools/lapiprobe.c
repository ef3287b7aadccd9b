/*  lapiprobe — runs correlator/lapi.c alone, for tests/it_lapi.sh.

    dpi-lapiprobe -c FILE [--push IP] [--unban IP] [--seconds N]

    Starts lapi with FILE's crowdsec.* keys, prints every decision handed
    over as one JSON line on stdout, and a {"stats":{...}} line each time
    the counters change. --push IP queues one ban (1 h, with meta) at start,
    --unban IP an unban (our decisions for IP deleted) after it.
    Runs N seconds (default: until SIGINT/SIGTERM); exits 0, or 1 when lapi
    could not start. Logs (lapi's warnings) go to stderr.                   */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "lapi.h"
#include "log.h"

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
    (void) sig;
    stop = 1;
}

static void
print_decision (const lapi_decision_t *d)
{
    printf ("{\"deleted\":%s,\"id\":%llu,\"value\":\"%s\",\"scope\":\"%s\",\"type\":\"%s\","
            "\"origin\":\"%s\",\"scenario\":\"%s\",\"duration_s\":%lld,\"startup\":%s}\n",
            d->deleted ? "true" : "false", (unsigned long long) d->id, d->value, d->scope, d->type,
            d->origin, d->scenario, (long long) d->duration_s, d->startup ? "true" : "false");
}

static void
print_stats (const lapi_stats_t *s)
{
    printf ("{\"stats\":{\"polls\":%llu,\"poll_errors\":%llu,\"decisions_new\":%llu,"
            "\"decisions_deleted\":%llu,\"decisions_repeated\":%llu,\"scopes_ignored\":%llu,"
            "\"logins\":%llu,\"login_errors\":%llu,\"pushed\":%llu,\"push_errors\":%llu,"
            "\"push_dropped\":%llu,\"push_refused\":%llu,\"push_retries\":%llu,\"decisions_dropped\":%llu,\"decisions_malformed\":%llu,"
            "\"unbans\":%llu,\"unban_deleted\":%llu,\"unban_errors\":%llu}}\n",
            (unsigned long long) s->polls, (unsigned long long) s->poll_errors,
            (unsigned long long) s->decisions_new, (unsigned long long) s->decisions_deleted,
            (unsigned long long) s->decisions_repeated, (unsigned long long) s->scopes_ignored,
            (unsigned long long) s->logins, (unsigned long long) s->login_errors,
            (unsigned long long) s->pushed, (unsigned long long) s->push_errors,
            (unsigned long long) s->push_dropped, (unsigned long long) s->push_refused,
            (unsigned long long) s->push_retries,
            (unsigned long long) s->decisions_dropped,
            (unsigned long long) s->decisions_malformed, (unsigned long long) s->unbans,
            (unsigned long long) s->unban_deleted, (unsigned long long) s->unban_errors);
}

static int
push_one (lapi_t *lapi, const char *ip)
{
    lapi_ban_t ban = { .duration_s = 3600, .score = 87 };
    snprintf (ban.ip, sizeof ban.ip, "%s", ip);
    snprintf (ban.scenario, sizeof ban.scenario, "dpi-dual/correlated-threat");
    snprintf (ban.message, sizeof ban.message, "dpi-dual: %s banned (correlated threat, score 87)", ip);
    snprintf (ban.meta, sizeof ban.meta,
              "community_id=1:LQU9qZlK+B5F3KDmev6m5PMibrg=\nrequest_ids=probe-1,probe-2\n"
              "evidence=waf_block+dpi_threat\n");
    return lapi_push (lapi, &ban);
}

/*  Until STOP or DEADLINE (0: none): decisions and changed stats out.   */
static void
run (lapi_t *lapi, time_t deadline)
{
    lapi_stats_t last;
    memset (&last, 0xff, sizeof last);
    lapi_decision_t batch[64];
    while (!stop && (!deadline || time (NULL) < deadline)) {
        struct pollfd pfd = { .fd = lapi_fd (lapi), .events = POLLIN };
        if (poll (&pfd, 1, 100) < 0 && errno != EINTR)
            break;
        size_t n;
        while ((n = lapi_take (lapi, batch, 64)) > 0)
            for (size_t i = 0; i < n; i++)
                print_decision (&batch[i]);
        lapi_stats_t s = lapi_stats (lapi);
        if (memcmp (&s, &last, sizeof s) != 0)
            print_stats (&s);
        last = s;
        fflush (stdout);
    }
}

int
main (int argc, char **argv)
{
    const char *cfg_path = NULL, *push = NULL, *unban = NULL;
    long seconds = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "-c") == 0 && i + 1 < argc)
            cfg_path = argv[++i];
        else if (strcmp (argv[i], "--push") == 0 && i + 1 < argc)
            push = argv[++i];
        else if (strcmp (argv[i], "--unban") == 0 && i + 1 < argc)
            unban = argv[++i];
        else if (strcmp (argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atol (argv[++i]);
        else {
            fprintf (stderr, "usage: dpi-lapiprobe -c FILE [--push IP] [--unban IP] [--seconds N]\n");
            return 2;
        }
    }
    log_init ("dpi-lapiprobe", "info");
    config_t *cfg = config_load_verbose (cfg_path);
    if (!cfg)
        return 1;
    config_errors_t errors = { 0 };
    lapi_t *lapi = lapi_new (cfg, &errors);
    config_destroy (&cfg);
    if (!lapi) {
        config_errors_print (&errors, stderr);
        config_errors_clear (&errors);
        return 1;
    }
    signal (SIGINT, on_signal);
    signal (SIGTERM, on_signal);
    if (push && push_one (lapi, push) < 0)
        fprintf (stderr, "dpi-lapiprobe: push of %s dropped\n", push);
    if (unban && lapi_unban (lapi, unban) < 0)        /* after the push, in order */
        fprintf (stderr, "dpi-lapiprobe: unban of %s dropped\n", unban);
    run (lapi, seconds > 0 ? time (NULL) + seconds : 0);
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    lapi_destroy (&lapi);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    printf ("{\"destroy_ms\":%ld}\n",
            (long) ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    return 0;
}
