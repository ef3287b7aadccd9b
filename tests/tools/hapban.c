/*  hapban.c — dpi-hapban: correlator/haproxy.c from the command line, for
    tests/it_haproxy_ban.sh.

        dpi-hapban [-w SECONDS] [-e SECONDS] SOCKET ACL ban|unban VALUE...

    Bans (or unbans) each VALUE through HAProxy's stats socket SOCKET and the
    ACL file ACL; with -w, then calls haproxy_tick every 100 ms until nothing
    is pending or SECONDS have passed. With -e, the bans expire after that
    many seconds (haproxy_ban_until) and -w also waits for them to expire;
    a last line "expired=N" follows the counters. Prints each VALUE's result
    ("VALUE applied|queued|invalid") and the counters, one line:
    "added=N removed=N errors=N pending=N file_errors=N".
    Exit 0 when nothing is left pending and every VALUE was valid, 1 when
    something is still pending, 2 when a VALUE was refused, 64 usage.       */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "haproxy.h"
#include "log.h"

static int
usage (void)
{
    fprintf (stderr, "usage: dpi-hapban [-w SECONDS] [-e SECONDS] SOCKET ACL ban|unban VALUE...\n");
    return 64;
}

/*  haproxy_tick until nothing is pending (and EXPIRING bans expired), for
    at most SECONDS.                                                          */
static void
retry (haproxy_t *h, double seconds, uint64_t expiring)
{
    struct timespec pause = { 0, 100 * 1000 * 1000 };
    for (double waited = 0; (haproxy_stats (h).pending > 0 || haproxy_stats (h).expired < expiring)
                            && waited < seconds;
         waited += 0.1) {
        nanosleep (&pause, NULL);
        haproxy_tick (h);
    }
}

int
main (int argc, char **argv)
{
    double wait = 0;
    long expire = 0;
    int opt;
    while ((opt = getopt (argc, argv, "w:e:")) != -1) {
        if (opt == 'w')
            wait = atof (optarg);
        else if (opt == 'e' && (expire = atol (optarg)) > 0)
            ;
        else
            return usage ();
    }
    if (argc - optind < 4)
        return usage ();
    const char *socket = argv[optind], *acl = argv[optind + 1], *verb = argv[optind + 2];
    bool ban = strcmp (verb, "ban") == 0;
    if (!ban && strcmp (verb, "unban") != 0)
        return usage ();
    log_init ("dpi-hapban", "info");
    config_errors_t errors = { 0 };
    haproxy_t *h = haproxy_new (socket, acl, &errors);
    if (!h) {
        config_errors_print (&errors, stderr);
        config_errors_clear (&errors);
        return 2;
    }
    int refused = 0;
    uint64_t expiring = 0;
    for (int i = optind + 3; i < argc; i++) {
        int rc = !ban ? haproxy_unban (h, argv[i])
                 : expire ? haproxy_ban_until (h, argv[i], (int64_t) time (NULL) + expire)
                          : haproxy_ban (h, argv[i]);
        printf ("%s %s\n", argv[i], rc == 0 ? "applied" : rc == -1 ? "queued" : "invalid");
        fflush (stdout);
        refused += rc == -2;
        expiring += ban && expire && rc != -2;
    }
    retry (h, wait, expiring);
    haproxy_stats_t s = haproxy_stats (h);
    printf ("added=%llu removed=%llu errors=%llu pending=%llu file_errors=%llu\n",
            (unsigned long long) s.added, (unsigned long long) s.removed,
            (unsigned long long) s.errors, (unsigned long long) s.pending,
            (unsigned long long) s.file_errors);
    if (expire)
        printf ("expired=%llu\n", (unsigned long long) s.expired);
    haproxy_destroy (&h);
    return refused ? 2 : s.pending ? 1 : 0;
}
