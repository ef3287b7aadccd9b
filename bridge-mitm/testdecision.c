/*  dpi-bridge-testdecision — publish one Decision on the bus, for tests.

    dpi-bridge-testdecision [-c FILE] [--bind EP] [--name NAME]
                            [--action ban|unban] [--value IP[/PREFIX]]
                            [--scope ip|range|...] [--duration S]
                            [--expires-ns NS] [--wait-subscriber MS]

    Publishes as NAME (default "correlator") on EP (default
    bus.endpoints.correlator) after waiting up to MS (default 10000) for
    a subscriber, so a test can send a short-lived ban the bridge acts on.  */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "log.h"
#include "topics.h"

int
main (int argc, char **argv)
{
    static const struct option options[] = {
        { "bind", required_argument, NULL, 'b' },
        { "name", required_argument, NULL, 'N' },
        { "action", required_argument, NULL, 'a' },
        { "value", required_argument, NULL, 'v' },
        { "scope", required_argument, NULL, 's' },
        { "duration", required_argument, NULL, 'd' },
        { "expires-ns", required_argument, NULL, 'e' },
        { "wait-subscriber", required_argument, NULL, 'w' },
        { NULL, 0, NULL, 0 }
    };
    const char *path = NULL, *endpoint = NULL, *name = "correlator", *action = "ban";
    const char *value = "203.0.113.1", *scope = "ip";
    unsigned long long duration = 0, expires = 0;
    long wait_ms = 10000;
    int opt;
    while ((opt = getopt_long (argc, argv, "c:", options, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'b': endpoint = optarg; break;
        case 'N': name = optarg; break;
        case 'a': action = optarg; break;
        case 'v': value = optarg; break;
        case 's': scope = optarg; break;
        case 'd': duration = strtoull (optarg, NULL, 10); break;
        case 'e': expires = strtoull (optarg, NULL, 10); break;
        case 'w': wait_ms = atol (optarg); break;
        default: return 2;
        }
    }
    if (strcmp (action, "ban") != 0 && strcmp (action, "unban") != 0) {
        fprintf (stderr, "dpi-bridge-testdecision: --action ban or unban\n");
        return 2;
    }
    log_init ("dpi-bridge-testdecision", "info");
    config_errors_t errors = { 0 };
    config_t *cfg = config_load (path, &errors);
    for (size_t i = 0; i < errors.count; i++)
        fprintf (stderr, "%s\n", errors.messages[i]);
    config_errors_clear (&errors);
    if (!cfg)
        return 1;
    bus_pub_t *pub = bus_pub_new (cfg, name, endpoint ? endpoint : cfg->bus.endpoints.correlator);
    if (!pub) {
        config_destroy (&cfg);
        return 1;
    }
    if (wait_ms > 0 && bus_pub_wait_subscriber (pub, (int) wait_ms) != 0)
        log_warning ("no subscriber after %ld ms; sending anyway", wait_ms);
    Dpidual__V1__Decision d = DPIDUAL__V1__DECISION__INIT;
    d.action = strcmp (action, "ban") == 0 ? DPIDUAL__V1__DECISION__ACTION__BAN
                                           : DPIDUAL__V1__DECISION__ACTION__UNBAN;
    d.value = (char *) value;
    d.scope = (char *) scope;
    d.duration_s = duration;
    d.expires_ns = expires;
    d.reason = "test";
    d.origin = "manual";
    int rc = bus_pub_send (pub, TOPIC_DECISION, &d.base);
    zclock_sleep (200);             /* let ZeroMQ hand the frame over */
    bus_pub_destroy (&pub);
    config_destroy (&cfg);
    return rc ? 1 : 0;
}
