/*  worker.c — see worker.h.                                                 */
#include "worker.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "endpoint.h"
#include "log.h"
#include "privdrop.h"
#include "runlock.h"

#define MAX_OPTIONS 32                  /* the worker's own                  */
#define MAX_FDS 16
#define MAX_COUNTERS 128
#define MESSAGES_PER_TURN 1024          /* bus messages between two polls    */
#define LONG_ONLY 256                   /* getopt value of own option I: +I  */

struct worker_t {
    const worker_def_t *def;
    void *opts;                         /* the worker's own options          */
    char program[64];                   /* "dpi-collector"                   */
    const char *config_path;
    int verbosity;                      /* -1 -q, 0, 1 -v                    */
    config_t *cfg;
    runlock_t *lock;
    bus_pub_t *pub;
    bus_sub_t *sub;
    heartbeat_t *hb;
    void *self;                         /* what ops.new returned             */
    int sigfd;
    bool stop;
    uint64_t next_tick_ns;
};

/*  --------------------------------------------------------------------------
    Options and help                                                         */

static void
usage (const worker_t *w, FILE *out)
{
    const char *synopsis = w->def->synopsis && *w->def->synopsis ? w->def->synopsis : NULL;
    fprintf (out, "usage: %s [-c FILE] [-q | -v]%s%s\n", w->program, synopsis ? " " : "",
             synopsis ? synopsis : "");
}

static void
help_row (const char *letter, const char *name, const char *arg, const char *text)
{
    char left[64];
    snprintf (left, sizeof left, "%s%s--%s%s%s", letter, *letter ? ", " : "    ", name,
              arg ? " " : "", arg ? arg : "");
    printf ("  %-26s ", left);
    /* a text of several lines: each further line under the first           */
    for (const char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr (line, '\n');
        int len = nl ? (int) (nl - line) : (int) strlen (line);
        printf ("%s%.*s\n", line == text ? "" : "                             ", len, line);
        if (!nl)
            break;
    }
}

static void
help (const worker_t *w)
{
    const worker_def_t *def = w->def;
    usage (w, stdout);
    printf ("%s\n\nOptions:\n", def->purpose);
    help_row ("-c", "config", "FILE", "the configuration file (default: $DPI_DUAL_CONFIG, else "
              CONFIG_DEFAULT_PATH " when it exists, else the built-in defaults)");
    help_row ("-q", "quiet", NULL, "log warnings and errors only: no progress, no summary");
    help_row ("-v", "verbose", NULL, "log debug messages too");
    help_row ("", "version", NULL, "print the version and exit");
    help_row ("-h", "help", NULL, "print this help and exit");
    for (const worker_option_t *o = def->options; o && o->name; o++) {
        char letter[3] = { o->letter ? '-' : 0, o->letter, 0 };
        help_row (letter, o->name, o->arg, o->help);
    }
    if (def->details)
        printf ("\n%s", def->details);
    printf ("\nSignals: %s; SIGINT and SIGTERM stop cleanly, with the\n"
            "summary line.\n"
            "\nExit status:\n"
            "  0  done (stopped by a signal, or all of the offline input was read)\n"
            "  1  failure: could not start (the reason is logged), or a fatal error\n"
            "  2  usage: a bad command line\n"
            "  3  data: some input could not be read or some output not written; what\n"
            "     could be was processed, and the log says what failed\n",
            def->ops->reload ? "SIGHUP reloads (see above)"
                             : "SIGHUP is logged and changes nothing (restart for a\n"
                               "new configuration)");
}

/*  getopt_long's tables from the common options and DEF's own.              */
static size_t
option_tables (const worker_def_t *def, struct option *longs, char *shorts, size_t max)
{
    static const struct option common[] = {
        { "config", required_argument, NULL, 'c' }, { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' }, { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
    };
    size_t n = sizeof common / sizeof common[0], own = 0;
    memcpy (longs, common, sizeof common);
    strcpy (shorts, "+c:qvh");
    for (const worker_option_t *o = def->options; o && o->name && n + 1 < max; o++, own++) {
        longs[n++] = (struct option) { o->name, o->arg ? required_argument : no_argument, NULL,
                                       o->letter ? o->letter : (int) (LONG_ONLY + own) };
        if (o->letter) {
            size_t len = strlen (shorts);
            shorts[len] = o->letter;
            strcpy (shorts + len + 1, o->arg ? ":" : "");
        }
    }
    longs[n] = (struct option) { NULL, 0, NULL, 0 };
    return own;
}

/*  The index of DEF's own option for getopt's value OPT, or -1.            */
static int
own_option (const worker_def_t *def, int opt, size_t own)
{
    if (opt >= LONG_ONLY && (size_t) (opt - LONG_ONLY) < own)
        return opt - LONG_ONLY;
    for (size_t i = 0; i < own; i++)
        if (def->options[i].letter && def->options[i].letter == opt)
            return (int) i;
    return -1;
}

/*  Parse the command line into W. -1 to go on, or the exit status to stop
    with (help and version: 0 at once; a usage error: 2).                   */
static int
parse_options (worker_t *w, int argc, char **argv)
{
    const worker_def_t *def = w->def;
    struct option longs[MAX_OPTIONS + 8];
    char shorts[3 * MAX_OPTIONS + 16];
    size_t own = option_tables (def, longs, shorts, MAX_OPTIONS + 8);
    int opt;
    while ((opt = getopt_long (argc, argv, shorts, longs, NULL)) != -1) {
        int index = own_option (def, opt, own);
        if (opt == 'c')
            w->config_path = optarg;
        else if (opt == 'q' || opt == 'v')
            w->verbosity = opt == 'q' ? -1 : 1;
        else if (opt == 'h' || opt == 'V') {
            if (opt == 'h')
                help (w);
            else
                printf ("%s %s\n", w->program, DPI_VERSION);
            return WORKER_EXIT_OK;
        }
        else if (index < 0 || def->option (w->opts, (size_t) index, optarg) != 0) {
            usage (w, stderr);
            return WORKER_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "%s: unexpected argument '%s'\n", w->program, argv[optind]);
        usage (w, stderr);
        return WORKER_EXIT_USAGE;
    }
    if (def->check && def->check (w->opts) != 0)
        return WORKER_EXIT_USAGE;
    return -1;
}

int
worker_parse_number (const char *text, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double value = strtod (text, &end);
    if (end == text || *end || errno || !isfinite (value) || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

/*  --------------------------------------------------------------------------
    Start-up and shutdown                                                    */

/*  SIGINT, SIGTERM and SIGHUP blocked here, before any thread exists (every
    thread inherits the mask), and read from a signalfd in the loop.        */
static int
signals_open (void)
{
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGHUP);
    if (sigprocmask (SIG_BLOCK, &set, NULL) != 0)
        return -1;
    return signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static const char *
log_level (const worker_t *w)
{
    const char *level = w->cfg->global.log_level;
    if (w->verbosity > 0)
        return "debug";
    if (w->verbosity < 0 && strcmp (level, "error") != 0)
        return "warning";
    return level;
}

/*  Steps 4 to 7 of worker.h. 0, or -1 with the reasons in ERRORS.          */
static int
start (worker_t *w, config_errors_t *errors)
{
    const worker_def_t *def = w->def;
    const char *name = worker_info (def->id)->name;
    bool bus = !def->uses_bus || def->uses_bus (w->opts);
    if (bus && !(w->lock = runlock_take (w->cfg->global.run_dir, name, errors)))
        return -1;
    if (bus && !(w->pub = bus_pub_new (w->cfg, name, w->cfg->bus.endpoints[def->id]))) {
        config_errors_add (errors, "cannot publish on %s (the reason is above)",
                           w->cfg->bus.endpoints[def->id]);
        return -1;
    }
    if (!(w->self = def->ops->new (w, errors)))
        return -1;
    if (w->pub && !(w->hb = heartbeat_new (w->cfg, w->pub, w->sub))) {
        config_errors_add (errors, "out of memory");
        return -1;
    }
    bool dropped;
    return privdrop_to (w->cfg, &dropped, errors);
}

static void
finish (worker_t *w)
{
    if (w->self)
        w->def->ops->destroy (&w->self);
    heartbeat_destroy (&w->hb);
    bus_sub_destroy (&w->sub);
    bus_pub_destroy (&w->pub);
    runlock_release (&w->lock);
    config_destroy (&w->cfg);
}

/*  --------------------------------------------------------------------------
    The loop                                                                 */

static pthread_mutex_t *
pub_lock (worker_t *w)
{
    return w->def->ops->pub_lock ? w->def->ops->pub_lock (w->self) : NULL;
}

/*  Flush the publisher; the heartbeat when due (or FORCE).                 */
static void
publish (worker_t *w, bool force)
{
    if (!w->pub)
        return;
    heartbeat_counter_t counters[MAX_COUNTERS];
    size_t n = 0;
    if (w->def->ops->counters && (force || heartbeat_wait_ms (w->hb) == 0))
        n = w->def->ops->counters (w->self, counters, MAX_COUNTERS);
    pthread_mutex_t *lock = pub_lock (w);
    if (lock)
        pthread_mutex_lock (lock);
    bus_pub_flush (w->pub);
    heartbeat_tick (w->hb, counters, n, force);
    if (lock)
        pthread_mutex_unlock (lock);
}

static void
take_signals (worker_t *w)
{
    struct signalfd_siginfo info;
    while (read (w->sigfd, &info, sizeof info) == (ssize_t) sizeof info) {
        if (info.ssi_signo == SIGHUP) {
            log_info ("SIGHUP: reloading");
            if (w->def->ops->reload && w->self)     /* not while ops.new runs */
                w->def->ops->reload (w->self);
        }
        else {
            log_info ("%s: stopping", strsignal ((int) info.ssi_signo));
            w->stop = true;
            zsys_interrupted = 1;       /* bounded waits in the bus end too */
        }
    }
}

static void
take_messages (worker_t *w)
{
    bus_msg_t msg;
    for (int i = 0; i < MESSAGES_PER_TURN && bus_sub_recv (w->sub, 0, &msg) == 1; i++)
        if (w->def->ops->on_message)
            w->def->ops->on_message (w->self, &msg);
}

/*  The poll set: the worker's descriptors, the subscriber, the signalfd.   */
static size_t
poll_items (worker_t *w, zmq_pollitem_t *items)
{
    int fds[MAX_FDS];
    size_t n = w->def->ops->fds ? w->def->ops->fds (w->self, fds, MAX_FDS) : 0;
    for (size_t i = 0; i < n; i++)
        items[i] = (zmq_pollitem_t) { NULL, fds[i], ZMQ_POLLIN, 0 };
    if (w->sub)
        items[n++] = (zmq_pollitem_t) { zsock_resolve (bus_sub_sock (w->sub)), 0, ZMQ_POLLIN, 0 };
    items[n++] = (zmq_pollitem_t) { NULL, w->sigfd, ZMQ_POLLIN, 0 };
    return n;
}

/*  Milliseconds to wait in poll: to the next tick or heartbeat.            */
static long
poll_timeout (worker_t *w, bool busy)
{
    if (busy)
        return 0;
    uint64_t now = bus_mono_ns ();
    long wait = now >= w->next_tick_ns ? 0 : (long) ((w->next_tick_ns - now) / 1000000ull) + 1;
    if (w->hb && heartbeat_wait_ms (w->hb) < wait)
        wait = heartbeat_wait_ms (w->hb);
    return wait;
}

static void
tick_when_due (worker_t *w)
{
    uint64_t now = bus_mono_ns ();
    if (now < w->next_tick_ns)
        return;
    w->next_tick_ns = now + (uint64_t) (w->def->tick_ms ? w->def->tick_ms : 1000) * 1000000ull;
    if (w->sub)
        bus_sub_service (w->sub);       /* CURVE handshakes: said, backed off */
    if (w->def->ops->tick)
        w->def->ops->tick (w->self);
}

/*  One turn of the loop; BUSY: ops.work has more to do.                    */
static int
turn (worker_t *w, bool *busy)
{
    const worker_ops_t *ops = w->def->ops;
    zmq_pollitem_t items[MAX_FDS + 2];
    size_t n = poll_items (w, items);
    if (zmq_poll (items, (int) n, poll_timeout (w, *busy)) < 0 && zmq_errno () != EINTR) {
        log_error ("poll: %s", zmq_strerror (zmq_errno ()));
        return -1;
    }
    size_t fds = n - 1 - (w->sub != NULL);
    for (size_t i = 0; i < fds; i++)
        if (items[i].revents & ZMQ_POLLIN)
            ops->drain (w->self, items[i].fd);
    if (w->sub && (items[fds].revents & ZMQ_POLLIN))
        take_messages (w);
    if (items[n - 1].revents & ZMQ_POLLIN)
        take_signals (w);
    if (ops->work && !w->stop) {
        int rc = ops->work (w->self);
        *busy = rc > 0;
        w->stop = w->stop || rc < 0;
    }
    tick_when_due (w);
    publish (w, false);
    return 0;
}

static int
run (worker_t *w)
{
    bool busy = w->def->ops->work != NULL;
    publish (w, true);
    int rc = 0;
    while (!w->stop && rc == 0)
        rc = turn (w, &busy);
    if (w->def->ops->finish)
        w->def->ops->finish (w->self);
    publish (w, true);
    return rc;
}

/*  --------------------------------------------------------------------------
    Public                                                                   */

int
worker_main (int argc, char **argv, const worker_def_t *def, void *opts)
{
    worker_t w_ = { .def = def, .opts = opts, .sigfd = -1 }, *w = &w_;
    snprintf (w->program, sizeof w->program, "dpi-%s", worker_info (def->id)->name);
    int rc = parse_options (w, argc, argv);
    if (rc >= 0)
        return rc;
    rc = 0;
    if ((w->sigfd = signals_open ()) < 0) {
        fprintf (stderr, "%s: signalfd: %s\n", w->program, strerror (errno));
        return WORKER_EXIT_FAILURE;
    }
    zsys_handler_set (NULL);            /* signals are ours (the signalfd) */
    zsys_init ();
    zsys_set_logstream (stderr);        /* stdout may carry data (--jsonl -) */
    if (!(w->cfg = config_load_verbose (w->config_path))) {
        close (w->sigfd);
        return WORKER_EXIT_FAILURE;
    }
    log_init (w->program, log_level (w));
    config_errors_t errors = { 0 };
    if (start (w, &errors) != 0) {
        config_errors_log (&errors);
        rc = WORKER_EXIT_FAILURE;
    }
    config_errors_clear (&errors);
    if (rc == 0 && run (w) != 0)
        rc = WORKER_EXIT_FAILURE;
    if (rc == 0 && def->ops->summary && log_enabled (LOG_LEVEL_INFO))
        def->ops->summary (w->self);
    if (rc == 0)
        rc = def->ops->status (w->self);
    finish (w);
    close (w->sigfd);
    return rc;
}

const config_t *
worker_config (worker_t *w)
{
    return w->cfg;
}

void *
worker_opts (worker_t *w)
{
    return w->opts;
}

bus_pub_t *
worker_pub (worker_t *w)
{
    return w->pub;
}

int
worker_subscribe (worker_t *w, const char *endpoint, const char *topic, config_errors_t *errors)
{
    if (!w->sub && !(w->sub = bus_sub_new (w->cfg))) {
        config_errors_add (errors, "out of memory");
        return -1;
    }
    const char *address = endpoint_address (endpoint);
    bool attached = false;
    for (size_t i = 0; i < bus_sub_endpoint_count (w->sub) && !attached; i++)
        attached = strcmp (bus_sub_endpoint (w->sub, i), address) == 0;
    if (!attached && bus_sub_attach (w->sub, endpoint) != 0) {
        config_errors_add (errors, "cannot subscribe to %s (the reason is above)", endpoint);
        return -1;
    }
    bus_sub_subscribe (w->sub, topic);
    return 0;
}

int
worker_subscribe_to (worker_t *w, worker_id_t peer, const char *topic, config_errors_t *errors)
{
    const char *own = w->cfg->bus.endpoints[peer], *reason;
    endpoint_t ep;
    if (endpoint_parse (own, true, &ep, &reason) != 0) {
        config_errors_add (errors, "%s: '%s' %s", worker_info (peer)->endpoint_key, own, reason);
        return -1;
    }
    char endpoint[1024];
    snprintf (endpoint, sizeof endpoint, "%c%s", ep.bind ? '>' : '@', ep.address);
    return worker_subscribe (w, endpoint, topic, errors);
}

int
worker_wait_subscriber (worker_t *w, double seconds)
{
    if (!w->pub)
        return 0;
    uint64_t deadline = bus_mono_ns () + (uint64_t) (seconds * 1e9);
    for (take_signals (w); !w->stop; take_signals (w)) {
        if (bus_pub_wait_subscriber (w->pub, 100) == 0)
            return 0;
        if (bus_mono_ns () >= deadline)
            break;
    }
    return -1;
}

void
worker_let_subscribers_join (worker_t *w)
{
    if (!w->pub)
        return;
    uint64_t held = bus_pub_let_subscribers_join (w->pub, BUS_JOIN_WINDOW_MS);
    log_debug ("%llu subscriptions after %d ms", (unsigned long long) held, BUS_JOIN_WINDOW_MS);
}
