/*  worker.h — the skeleton every dpi-dual worker process runs on.

    A worker is a small ops interface (worker_ops_t) and a description of
    its command line (worker_def_t); its main () is one call:

        int main (int argc, char **argv)
        {
            my_opts_t opts = { 0 };         (the worker's own options, or NULL)
            return worker_main (argc, argv, &s_def, &opts);
        }

    worker_main does what every worker does, in this order — the way
    relayd's proc_run carries each of its processes:

      1. options: the common ones (-c/--config FILE, -q/--quiet,
         -v/--verbose, --version, -h/--help) and the worker's own (DEF's
         options, each handed to def->option); a usage error exits
         WORKER_EXIT_USAGE with the reason;
      2. signals: SIGINT, SIGTERM and SIGHUP are blocked in every thread
         (before any starts) and read from a signalfd in the loop;
      3. the configuration (-c FILE, else config_default_path ()): errors
         are printed one a line, exit WORKER_EXIT_FAILURE; logging at
         global.log_level, warning with -q, debug with -v;
      4. the lock on RUN_DIR/NAME.lock (runlock.h): a second instance of
         the worker stops here, exit WORKER_EXIT_FAILURE, touching nothing
         of the first (a run without a bus, def->uses_bus false, binds
         nothing and takes no lock);
      5. the publisher on the worker's bus endpoint (workers.h), unless
         def->uses_bus says this run has no bus;
      6. ops.new: the worker opens what it needs and asks for its
         subscriptions (worker_subscribe_to, worker_subscribe);
      7. the drop of root to global.user (privdrop.h), once everything
         that needs root is open;
      8. the loop, until SIGINT or SIGTERM, or until ops.work says the work
         is done;
      9. ops.finish, a last heartbeat, ops.summary (when info messages are
         logged: not with -q or a log_level above info), ops.destroy, the bus
         closed (an ipc:// socket file we bound is removed), the lock
         released; the exit status is ops.status's.

    The loop: one poll over the worker's descriptors (ops.fds), its
    subscriber and the signalfd, with the time to the next heartbeat or
    tick as its timeout (0 while ops.work has more to do). Then, in turn:
    ops.drain for each ready descriptor; ops.on_message for each waiting
    bus message; SIGHUP: ops.reload; SIGINT/SIGTERM: stop; ops.work; ops.tick
    every def->tick_ms; the publisher flushed (bus_pub_flush); the heartbeat,
    with ops.counters, when due. Everything runs in the calling thread; a
    worker with threads of its own (the collector's lanes) hands over the
    lock that guards its publisher (ops.pub_lock).

    Exit codes, the same for every worker binary:
        0  done (a signal stopped it, or the offline input was all read)
        1  failure: could not start (the reason is logged) or a fatal error
        2  usage: bad command line
        3  data: some input could not be read, or some output could not be
           written; what could be was processed (the log says what failed) */
#ifndef DPI_WORKER_H
#define DPI_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus.h"
#include "config.h"
#include "heartbeat.h"
#include "workers.h"

typedef enum {
    WORKER_EXIT_OK = 0,
    WORKER_EXIT_FAILURE = 1,
    WORKER_EXIT_USAGE = 2,
    WORKER_EXIT_DATA = 3,
} worker_exit_t;

/*  The running skeleton, handed to the worker's ops.new.                   */
typedef struct worker_t worker_t;

/*  What a worker does. SELF is what ops.new returned. Every member but
    new, destroy and status may be NULL (drain is needed when fds is set). */
typedef struct {
    /* open what the worker needs; NULL with every reason in ERRORS */
    void *(*new) (worker_t *w, config_errors_t *errors);
    void (*destroy) (void **self_p);
    /* descriptors to poll for input (at most MAX), and what to do when
       one is readable */
    size_t (*fds) (void *self, int *fds, size_t max);
    void (*drain) (void *self, int fd);
    /* work that has no descriptor: 1 more to do (poll without waiting),
       0 nothing now, -1 all done (the loop ends) */
    int (*work) (void *self);
    /* the loop ended (signal, or work done): finish what is under way
       (the collector ends its flows) before the last heartbeat */
    void (*finish) (void *self);
    void (*on_message) (void *self, const bus_msg_t *msg);
    void (*tick) (void *self);                      /* every def->tick_ms    */
    void (*reload) (void *self);                    /* SIGHUP                */
    /* the heartbeat counters (names static, values a snapshot) */
    size_t (*counters) (void *self, heartbeat_counter_t *out, size_t max);
    void (*summary) (void *self);                   /* at exit, at info level */
    int (*status) (void *self);                     /* worker_exit_t at exit */
    pthread_mutex_t *(*pub_lock) (void *self);      /* NULL: one thread      */
} worker_ops_t;

/*  One option of the worker's own.                                          */
typedef struct {
    const char *name;               /* long name, "jsonl"                    */
    char letter;                    /* short name, or 0                      */
    const char *arg;                /* "PATH", or NULL: takes no argument    */
    const char *help;               /* meaning and default                   */
} worker_option_t;

typedef struct {
    worker_id_t id;                 /* its row in workers.h                  */
    const char *purpose;            /* one line under the usage line         */
    const char *synopsis;           /* its own options, for the usage line   */
    const worker_option_t *options; /* ended by a row with name NULL         */
    const char *details;            /* text after the options (may be NULL)  */
    /* the worker's own option INDEX (into options) with ARG (NULL when it
       takes none) into OPTS (worker_main's); 0, or -1 after printing why on
       stderr (a usage error) */
    int (*option) (void *opts, size_t index, const char *arg);
    /* after parsing: cross-option checks; 0 or -1 (message printed) */
    int (*check) (void *opts);
    bool (*uses_bus) (void *opts);  /* NULL: always                          */
    unsigned tick_ms;               /* ops.tick period (0: 1000)             */
    const worker_ops_t *ops;
} worker_def_t;

/*  Run the worker described by DEF, its own options parsed into OPTS (not
    owned; NULL when it has none); returns the process exit status.           */
int worker_main (int argc, char **argv, const worker_def_t *def, void *opts);

/*  For the worker's ops.new and after.                                      */
const config_t *worker_config (worker_t *w);
void *worker_opts (worker_t *w);                    /* worker_main's OPTS    */
bus_pub_t *worker_pub (worker_t *w);                /* NULL: no bus this run */

/*  Receive TOPIC (a prefix) from the publisher at ENDPOINT (endpoint.h;
    without a prefix: connect). 0, or -1 with the reason in ERRORS.          */
int worker_subscribe (worker_t *w, const char *endpoint, const char *topic,
                      config_errors_t *errors);

/*  Receive TOPIC from worker PEER at its configured endpoint: connect to it
    when it binds, bind it when it connects out ("@"/">", endpoint.h).      */
int worker_subscribe_to (worker_t *w, worker_id_t peer, const char *topic,
                         config_errors_t *errors);

/*  An offline run: let the subscribers that are trying to connect join
    before the first message (bus_pub_let_subscribers_join), so that none
    of its messages is lost to a slow joiner. No bus: nothing.               */
void worker_let_subscribers_join (worker_t *w);

/*  Wait up to SECONDS for a first subscriber; a SIGINT or SIGTERM ends the
    wait (and then the worker, before its loop). 0 when one came, else -1.
    No bus: 0.                                                                */
int worker_wait_subscriber (worker_t *w, double seconds);

/*  Parse TEXT as a decimal number in [MIN, MAX] (no trailing characters,
    no inf/nan). 0, or -1.                                                   */
int worker_parse_number (const char *text, double min, double max, double *out);

#endif
