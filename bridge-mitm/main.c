/*  dpi-bridge-mitm — the C sidecar of the MITM stream.

    dpi-bridge-mitm [-c FILE] [-q]

    Receives the mitmproxy addon's records on the unix datagram socket
    mitm.socket (PROTOCOL.md), answers live verdicts (ban list, then the
    fast rules), and publishes mitm.request, mitm.response, mitm.verdict
    and sys.heartbeat on bus.endpoints.bridge_mitm. Ban decisions come
    from the decision topic (mitm.decision_endpoints, default
    bus.endpoints.correlator). SIGHUP reloads mitm.ban_file and reopens
    threats.log; SIGINT/SIGTERM stop it cleanly (the socket file is
    removed). -q logs warnings and errors only. Exit status: 0, 1 when
    the start failed (the reason names what), 2 on bad usage.               */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "bridge.h"
#include "bus.h"
#include "heartbeat.h"
#include "log.h"
#include "topics.h"

#define DRAIN_BATCH 256                 /* datagrams between two polls       */
#define MAX_COUNTERS 64

static void
usage (FILE *out)
{
    fprintf (out, "usage: dpi-bridge-mitm [-c FILE] [-q]\n");
}

static void
heartbeat (heartbeat_t *hb, bridge_t *bridge, bool force)
{
    heartbeat_counter_t counters[MAX_COUNTERS];
    if (!force && heartbeat_wait_ms (hb) > 0)
        return;
    bridge_tick (bridge);
    size_t n = bridge_counters (bridge, counters, MAX_COUNTERS);
    heartbeat_tick (hb, counters, n, force);
}

/*  The decision subscriber: mitm.decision_endpoints, else the correlator. */
static bus_sub_t *
decision_subscriber (const config_t *cfg)
{
    bus_sub_t *sub = bus_sub_new (cfg);
    if (!sub)
        return NULL;
    const config_strlist_t *eps = &cfg->mitm.decision_endpoints;
    int rc = 0;
    if (eps->count == 0) {
        /* the correlator's own endpoint binds; we connect to it */
        const char *ep = cfg->bus.endpoints.correlator;
        ep += *ep == '@';
        rc = bus_sub_attach (sub, ep);
    }
    for (size_t i = 0; i < eps->count && rc == 0; i++)
        rc = bus_sub_attach (sub, eps->items[i]);
    if (rc != 0) {
        bus_sub_destroy (&sub);
        return NULL;
    }
    bus_sub_subscribe (sub, TOPIC_DECISION);
    return sub;
}

static void
take_decisions (bus_sub_t *sub, bridge_t *bridge)
{
    bus_msg_t msg;
    while (bus_sub_recv (sub, 0, &msg) == 1)
        if (strcmp (msg.topic, TOPIC_DECISION) == 0)
            bridge_decision (bridge, (const Dpidual__V1__Decision *) msg.body);
}

static int
run (bridge_t *bridge, bus_sub_t *sub, heartbeat_t *hb, int sigfd)
{
    zmq_pollitem_t items[3] = {
        { NULL, bridge_fd (bridge), ZMQ_POLLIN, 0 },
        { zsock_resolve (bus_sub_sock (sub)), 0, ZMQ_POLLIN, 0 },
        { NULL, sigfd, ZMQ_POLLIN, 0 },
    };
    heartbeat (hb, bridge, true);
    while (!zsys_interrupted) {
        int timeout = heartbeat_wait_ms (hb);
        if (timeout > 500)
            timeout = 500;              /* notice a signal taken by another thread */
        if (zmq_poll (items, 3, timeout) < 0) {
            if (zmq_errno () == EINTR)
                continue;
            log_error ("poll: %s", zmq_strerror (zmq_errno ()));
            return 1;
        }
        if (items[0].revents & ZMQ_POLLIN)
            bridge_drain (bridge, DRAIN_BATCH);
        if (items[1].revents & ZMQ_POLLIN)
            take_decisions (sub, bridge);
        if (items[2].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo info;
            while (read (sigfd, &info, sizeof info) == (ssize_t) sizeof info)
                if (info.ssi_signo == SIGHUP) {
                    log_info ("SIGHUP: reloading the ban file");
                    bridge_reload (bridge);
                }
        }
        heartbeat (hb, bridge, false);
    }
    heartbeat (hb, bridge, true);
    return 0;
}

int
main (int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *config_path = NULL;
    bool quiet = false;
    int opt;
    while ((opt = getopt_long (argc, argv, "c:qh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'q': quiet = true; break;
        case 'h': usage (stdout); return 0;
        default: usage (stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "dpi-bridge-mitm: unexpected argument '%s'\n", argv[optind]);
        usage (stderr);
        return 2;
    }
    /* SIGHUP is read from a signalfd: blocked before any thread starts */
    sigset_t hup;
    sigemptyset (&hup);
    sigaddset (&hup, SIGHUP);
    sigprocmask (SIG_BLOCK, &hup, NULL);
    int sigfd = signalfd (-1, &hup, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0) {
        fprintf (stderr, "dpi-bridge-mitm: signalfd: %s\n", strerror (errno));
        return 1;
    }
    zsys_init ();
    config_t *cfg = config_load_verbose (config_path);
    if (!cfg) {
        close (sigfd);
        return 1;
    }
    const char *level = cfg->global.log_level;
    if (quiet && strcmp (level, "error") != 0)
        level = "warning";              /* -q: warnings and errors only */
    log_init ("dpi-bridge-mitm", level);

    int rc = 0;
    char err[8192] = "";
    bridge_t *bridge = NULL;
    bus_sub_t *sub = NULL;
    heartbeat_t *hb = NULL;
    bus_pub_t *pub = bus_pub_new (cfg, "bridge-mitm", cfg->bus.endpoints.bridge_mitm);
    if (!pub)
        rc = 1;
    if (rc == 0) {
        bridge = bridge_new (cfg, pub, err, sizeof err);
        if (!bridge) {
            for (char *line = err, *next; line && *line; line = next) {
                next = strchr (line, '\n');
                if (next)
                    *next++ = 0;
                log_error ("%s", line);
            }
            rc = 1;
        }
    }
    if (rc == 0 && !(sub = decision_subscriber (cfg)))
        rc = 1;
    if (rc == 0 && !(hb = heartbeat_new (cfg, pub, sub))) {
        log_error ("out of memory");
        rc = 1;
    }
    if (rc == 0) {
        rc = run (bridge, sub, hb, sigfd);
        bridge_summary (bridge);
    }
    heartbeat_destroy (&hb);
    bridge_destroy (&bridge);               /* removes the socket file */
    bus_sub_destroy (&sub);
    bus_pub_destroy (&pub);
    config_destroy (&cfg);
    close (sigfd);
    return rc;
}
