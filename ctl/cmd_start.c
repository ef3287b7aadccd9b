/*  dpi-dualctl start | stop | restart [OPTIONS] [WORKER...]

    start: the workers named, else this host's (global.workers, else those
    of global.mode; config_host_workers). Through the init system when
    there is one: systemd (systemctl start dpi-dual-NAME.service) or procd
    (/etc/init.d/dpi-dual start NAME); with neither, as daemons: dpi-NAME
    -c CONFIG forked, in a session of its own (setsid), stdin /dev/null,
    stdout and stderr appended to LOG_DIR/NAME.log (default: run_dir), its
    pid written to RUN_DIR/NAME.pid once it holds RUN_DIR/NAME.lock. Then
    it waits until every worker is up — its lock taken and a heartbeat of
    its pid heard — or has exited (its exit status and the last lines of
    its log are shown). Nothing is restarted when it dies later: that is
    the init system's job (the units say Restart=on-failure).

    stop: by the pid file, checked against the lock (procs.c): the pid must
    hold RUN_DIR/NAME.lock and be the binary dpi-NAME, so a stale pid file
    (the pid reused by another process) signals nothing. SIGTERM, then it
    waits up to --timeout; still running: said (exit 1), or SIGKILL with
    --kill. A worker holding the lock without a pid file of ours (started
    by hand) is left running (exit 3) unless --lock-holder. Under systemd
    a worker whose unit's MainPID holds the lock is stopped by systemctl.

    mitmdump: started after bridge-mitm, when this host runs the bridge and
    mitm.mitmdump.start is true (or it is named), as `dpi-dualctl mitmdump
    -c CONFIG` (cmd_mitm.c: exec'd, holding RUN_DIR/mitmdump.lock, so it is
    found, stopped and described like a worker); up once it holds the lock
    and listens on a TCP port. When false, start checks the running
    mitmdumps that load the addon against the YAML and says whether they
    agree (a difference is a warning: the exit status is the workers').
    stop stops it first, before the bridge.

    start, stop and restart of one run directory take turns
    (RUN_DIR/dpi-dualctl.lock).                                             */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "paths.h"
#include "topics.h"

#define HELP_COMMON                                                                  \
    CTL_HELP_CONFIG                                                                  \
    "  --via METHOD       daemon, systemd or procd (default: detected — systemd\n"  \
    "                     when /run/systemd/system exists, procd when /sbin/procd\n"  \
    "                     does or /etc/rc.common and ubus do, else daemon)\n"
#define HELP_START_OPTIONS                                                           \
    "  --timeout SEC      how long to wait for each worker to be up: its lock\n"      \
    "                     taken and a heartbeat heard (default:\n"                     \
    "                     bus.heartbeat_interval + 10)\n"                              \
    "  --bin-dir DIR      where the dpi-NAME binaries are (default:\n"                 \
    "                     $DPI_DUAL_BIN_DIR, else dpi-dualctl's own directory, its\n"  \
    "                     build tree's ../NAME/, then PATH)\n"                         \
    "  --log-dir DIR      daemons append stdout and stderr to DIR/NAME.log\n"          \
    "                     (default: global.run_dir)\n"
#define HELP_STOP_OPTIONS                                                            \
    "  --stop-timeout SEC how long to wait after SIGTERM (default 10)\n"             \
    "  --kill             send SIGKILL to a worker still running after it\n"        \
    "                     (default: none, say so and exit 1)\n"                      \
    "  --lock-holder      also stop a worker without a pid file of ours (started\n"  \
    "                     by hand): the process holding RUN_DIR/NAME.lock, when it\n" \
    "                     is dpi-NAME (default: left running, exit 3)\n"
#define HELP_WORKERS                                                                 \
    "  WORKER...          collector, bridge-mitm, buffer, correlator, api, mitmdump\n"     \
    "                     (default: this host's:\n"                                    \
    "                     global.workers, else those of global.mode; mitmdump\n"       \
    "                     with bridge-mitm when mitm.mitmdump.start is true)\n"

const ctl_command_t ctl_start_command = {
    .name = "start",
    .usage = "usage: dpi-dualctl start [-c FILE] [--via METHOD] [--timeout SEC] [--bin-dir DIR]\n"
             "                         [--log-dir DIR] [WORKER...]\n",
    .help =
        "Starts this host's workers (or those named) and waits until each one is up:\n"
        "its lock RUN_DIR/NAME.lock taken and a heartbeat of it heard. Through systemd\n"
        "(dpi-dual-NAME.service) or procd (/etc/init.d/dpi-dual start NAME) when one\n"
        "runs; else as daemons: dpi-NAME -c FILE in a session of its own, output\n"
        "appended to LOG_DIR/NAME.log, pid in RUN_DIR/NAME.pid. A worker that exits\n"
        "is named with its exit status and the last lines of its log. A worker that\n"
        "dies later is not restarted: that is the init system's job.\n"
        "mitmdump (dpi-dualctl mitmdump) starts after bridge-mitm when\n"
        "mitm.mitmdump.start is true: up once it listens. When false, the running\n"
        "mitmdumps with the addon are compared with the YAML (a difference is said,\n"
        "exit status unchanged).\n"
        "\n"
        HELP_COMMON
        HELP_START_OPTIONS
        HELP_WORKERS
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  every worker asked for runs (started now, or already running: said)\n"
        "  1  some could not be started or were not up in time (each named, with why),\n"
        "     or the configuration could not be used\n"
        "  2  usage error (an unknown option or worker, a worker not of this host)\n",
    .args = true,
};

const ctl_command_t ctl_stop_command = {
    .name = "stop",
    .usage = "usage: dpi-dualctl stop [-c FILE] [--via METHOD] [--stop-timeout SEC] [--kill]\n"
             "                        [--lock-holder] [WORKER...]\n",
    .help =
        "Stops what start started: by RUN_DIR/NAME.pid, believed only when its pid\n"
        "holds RUN_DIR/NAME.lock and is dpi-NAME (a stale pid file signals nothing and\n"
        "is removed). SIGTERM, then waits until the process is gone. Under systemd or\n"
        "procd a worker they started is stopped through them. Never by name.\n"
        "\n"
        HELP_COMMON
        HELP_STOP_OPTIONS
        "  WORKER...          collector, bridge-mitm, buffer, correlator, api, mitmdump\n"
        "                     (default: this host's and every one with a pid file;\n"
        "                     mitmdump first)\n"
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  every worker asked for is stopped (now, or was not running: said)\n"
        "  1  some did not stop in time or could not be signalled, or the\n"
        "     configuration could not be used\n"
        CTL_HELP_EXIT_USAGE
        "  3  some run without a pid file of ours (started by hand): left running\n"
        "     (--lock-holder stops them)\n",
    .args = true,
};

const ctl_command_t ctl_restart_command = {
    .name = "restart",
    .usage = "usage: dpi-dualctl restart [-c FILE] [--via METHOD] [--timeout SEC] [--bin-dir DIR]\n"
             "                           [--log-dir DIR] [--stop-timeout SEC] [--kill]\n"
             "                           [--lock-holder] [WORKER...]\n",
    .help =
        "stop, then start, of this host's workers (or those named).\n"
        "\n"
        HELP_COMMON
        HELP_START_OPTIONS
        HELP_STOP_OPTIONS
        HELP_WORKERS
        CTL_HELP_HELP
        "\n"
        "Exit status:\n"
        "  0  every worker asked for was stopped and runs again\n"
        "  1  some did not stop, or could not be started (each named, with why)\n"
        CTL_HELP_EXIT_USAGE
        "  3  some run without a pid file of ours: left running, not restarted\n",
    .args = true,
};

typedef struct {
    const char *config_path;
    int via;                        /* ctl_init_t, -1: detect               */
    double timeout, stop_timeout;   /* -1: default                          */
    const char *bin_dir, *log_dir;
    bool kill, lock_holder, help;
    bool named;
    bool want[WORKER_COUNT];
    bool want_mitmdump;             /* named                                 */
} opts_t;

enum { OPT_VIA = 256, OPT_TIMEOUT, OPT_STOP_TIMEOUT, OPT_BIN_DIR, OPT_LOG_DIR, OPT_KILL,
       OPT_LOCK_HOLDER };

/*  0, or 2 on a usage error (said).                                         */
static int
parse (int argc, char **argv, const ctl_command_t *cmd, opts_t *o)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "via", required_argument, NULL, OPT_VIA },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
        { "bin-dir", required_argument, NULL, OPT_BIN_DIR },
        { "log-dir", required_argument, NULL, OPT_LOG_DIR },
        { "kill", no_argument, NULL, OPT_KILL },
        { "lock-holder", no_argument, NULL, OPT_LOCK_HOLDER },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool starts = cmd != &ctl_stop_command, stops = cmd != &ctl_start_command;
    *o = (opts_t) { .via = -1, .timeout = -1, .stop_timeout = 10 };
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, "+:c:h", options, NULL)) != -1) {
        if (((opt == OPT_TIMEOUT || opt == OPT_BIN_DIR || opt == OPT_LOG_DIR) && !starts)
            || ((opt == OPT_STOP_TIMEOUT || opt == OPT_KILL || opt == OPT_LOCK_HOLDER) && !stops))
            return ctl_usage_error (cmd, "%s is not an option of %s", argv[optind - 1],
                                    cmd->name);
        switch (opt) {
            case 'h':
                o->help = true;
                return ctl_help (cmd);
            case 'c': o->config_path = optarg; break;
            case OPT_BIN_DIR: o->bin_dir = optarg; break;
            case OPT_LOG_DIR: o->log_dir = optarg; break;
            case OPT_KILL: o->kill = true; break;
            case OPT_LOCK_HOLDER: o->lock_holder = true; break;
            case OPT_VIA:
                if (strcmp (optarg, "daemon") == 0)
                    o->via = CTL_INIT_DAEMON;
                else if (strcmp (optarg, "systemd") == 0)
                    o->via = CTL_INIT_SYSTEMD;
                else if (strcmp (optarg, "procd") == 0)
                    o->via = CTL_INIT_PROCD;
                else
                    return ctl_usage_error (cmd, "bad value '%s' for --via: daemon, systemd or "
                                            "procd", optarg);
                break;
            case OPT_TIMEOUT:
            case OPT_STOP_TIMEOUT:
                if (!ctl_parse_seconds (optarg, opt == OPT_TIMEOUT ? &o->timeout
                                                                   : &o->stop_timeout))
                    return ctl_usage_error (cmd, "bad value '%s' for %s: seconds from 0 to %.0f",
                                            optarg, argv[optind - 1], CTL_MAX_TIMEOUT);
                break;
            case ':':
                return ctl_usage_error (cmd, "%s needs a value", argv[optind - 1]);
            default:
                return ctl_usage_error (cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++) {
        const worker_info_t *info = worker_find (argv[i]);
        o->named = true;
        if (strcmp (argv[i], "mitmdump") == 0)
            o->want_mitmdump = true;
        else if (!info)
            return ctl_usage_error (cmd, "'%s' is not a worker (collector, bridge-mitm, buffer, "
                                    "correlator, api, mitmdump)", argv[i]);
        else
            o->want[info->id] = true;
    }
    return 0;
}

/*  --------------------------------------------------------------------------
    Helpers                                                                  */

/*  Run ARGV (PATH searched), wait for it: its exit status, 127 when it
    could not run.                                                            */
static int
run_argv (char *const argv[])
{
    fflush (stdout);
    pid_t pid = fork ();
    if (pid == 0) {
        execvp (argv[0], argv);
        dprintf (2, "dpi-dualctl: cannot run %s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    int status = 0;
    if (pid < 0 || waitpid (pid, &status, 0) < 0)
        return 127;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static bool
is_executable (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode) && access (path, X_OK) == 0;
}

/*  The binary dpi-NAME into OUT: --bin-dir or $DPI_DUAL_BIN_DIR only; else
    beside dpi-dualctl (installed), its build tree's ../NAME/, then PATH.   */
static bool
find_binary (const opts_t *o, const char *name, char *out, size_t outlen)
{
    const char *dir = o->bin_dir ? o->bin_dir : getenv ("DPI_DUAL_BIN_DIR");
    if (dir && *dir) {
        snprintf (out, outlen, "%s/dpi-%s", dir, name);
        return is_executable (out);
    }
    char self[PATH_MAX];
    if (ctl_self_path (true, self, sizeof self)) {
        int n1 = snprintf (out, outlen, "%s/dpi-%s", self, name);
        if (n1 > 0 && (size_t) n1 < outlen && is_executable (out))
            return true;
        int n2 = snprintf (out, outlen, "%s/../%s/dpi-%s", self, name, name);
        if (n2 > 0 && (size_t) n2 < outlen && is_executable (out))
            return true;
    }
    const char *path = getenv ("PATH");
    while (path && *path) {
        size_t len = strcspn (path, ":");
        snprintf (out, outlen, "%.*s/dpi-%s", (int) len, len ? path : ".", name);
        if (is_executable (out))
            return true;
        path += len + (path[len] == ':');
    }
    snprintf (out, outlen, "dpi-%s", name);
    return false;
}

/*  The last (at most) LINES lines of FILE from byte FROM, each on stderr
    after PREFIX; false when there were none.                                */
static bool
print_log_tail (const char *file, off_t from, int lines, const char *prefix)
{
    int fd = open (file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    off_t end = lseek (fd, 0, SEEK_END);
    if (end - from > 65536)
        from = end - 65536;
    char *text = end > from ? malloc ((size_t) (end - from) + 1) : NULL;
    ssize_t got = text ? pread (fd, text, (size_t) (end - from), from) : 0;
    close (fd);
    if (got <= 0) {
        free (text);
        return false;
    }
    text[got] = 0;
    while (got > 0 && text[got - 1] == '\n')
        text[--got] = 0;
    char *start = text + got;
    for (int seen = 0; start > text; start--)
        if (start[-1] == '\n' && ++seen == lines)
            break;
    for (char *line = strtok (start, "\n"); line; line = strtok (NULL, "\n"))
        fprintf (stderr, "%s%s\n", prefix, line);
    free (text);
    return true;
}

/*  RUN_DIR/dpi-dualctl.lock, held (waiting) until exit: one start, stop or
    restart at a time per run directory. -1 when it cannot be taken.       */
static int
take_ctl_lock (const config_t *cfg, const char *command)
{
    char path[4096];
    ctl_run_path (cfg, "dpi-dualctl", "lock", path, sizeof path);
    if (paths_mkdir (cfg->global.run_dir, 0755) != 0) {
        fprintf (stderr, "dpi-dualctl %s: %s: cannot create the run directory: %s\n", command,
                 cfg->global.run_dir, strerror (errno));
        return -1;
    }
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock (fd, LOCK_EX) != 0) {
        fprintf (stderr, "dpi-dualctl %s: %s: %s\n", command, path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

static int
init_of (const opts_t *o)
{
    return o->via >= 0 ? o->via : (int) ctl_init_detect ();
}

static void
unlink_pidfile (const config_t *cfg, const char *name)
{
    char path[4096];
    ctl_run_path (cfg, name, "pid", path, sizeof path);
    unlink (path);
}

/*  --------------------------------------------------------------------------
    stop                                                                     */

typedef struct {
    const char *name;
    long pid;
    int pidfd;                      /* the process itself, -1: none          */
    bool signalled, gone;
} victim_t;

/*  SIGTERM to HOLDER, through a pidfd opened before the last check that it
    holds NAME.lock and is dpi-NAME: a pid reused between the check and the
    signal cannot be hit. The pidfd (for --kill) into *PIDFD. 0, or -1
    (errno set; ESRCH: it is no longer the holder).                          */
static int
signal_holder (const config_t *cfg, const char *name, long holder, int *pidfd)
{
    *pidfd = pidfd_open ((pid_t) holder, 0);
    if (*pidfd < 0)
        return errno == ENOSYS ? kill ((pid_t) holder, SIGTERM) : -1;
    if (ctl_lock_holder (cfg, name) != holder || !ctl_proc_is (holder, name)) {
        close (*pidfd);
        *pidfd = -1;
        errno = ESRCH;
        return -1;
    }
    return pidfd_send_signal (*pidfd, SIGTERM, NULL, 0);
}

/*  Stop the workers of WANT, MITMDUMP first. The exit code: 0, 1 or 3.      */
static int
do_stop (const config_t *cfg, const opts_t *o, const bool want[WORKER_COUNT], bool mitmdump)
{
    int init = init_of (o);
    const char *names[WORKER_COUNT + 1];
    size_t nnames = 0;
    if (mitmdump)
        names[nnames++] = "mitmdump";
    for (int id = 0; id < WORKER_COUNT; id++)
        if (want[id])
            names[nnames++] = worker_info (id)->name;
    victim_t victims[WORKER_COUNT + 1];
    size_t count = 0;
    bool failed = false, foreign = false;
    for (size_t n = 0; n < nnames; n++) {
        const char *name = names[n];
        long holder, pidfile;
        ctl_started_t how = ctl_how_started (cfg, name, init, &holder, &pidfile);
        if (how == CTL_STARTED_NONE) {
            printf ("%s: not running\n", name);
            continue;
        }
        if (pidfile && pidfile != holder) {
            printf ("%s: stale pid file (pid %ld does not hold %s.lock): removed, nothing "
                    "signalled\n", name, pidfile, name);
            unlink_pidfile (cfg, name);
        }
        if (how == CTL_STARTED_STALE) {
            printf ("%s: not running\n", name);
            continue;
        }
        if (how == CTL_STARTED_SYSTEMD || (how == CTL_STARTED_OTHER && init == CTL_INIT_PROCD)) {
            char unit[128];
            snprintf (unit, sizeof unit, "dpi-dual-%s.service", name);
            char *sd[] = { "systemctl", "stop", unit, NULL };
            char *pd[] = { "/etc/init.d/dpi-dual", "stop", (char *) name, NULL };
            int rc = run_argv (how == CTL_STARTED_SYSTEMD ? sd : pd);
            if (rc != 0) {
                fprintf (stderr, "dpi-dualctl stop: %s: %s failed (exit %d)\n", name,
                         how == CTL_STARTED_SYSTEMD ? "systemctl stop" : "/etc/init.d/dpi-dual stop",
                         rc);
                failed = true;
                continue;
            }
            victims[count++] = (victim_t) { name, holder, -1, true, false };
            continue;
        }
        if (how == CTL_STARTED_OTHER && !o->lock_holder) {
            fprintf (stderr, "dpi-dualctl stop: %s: running (pid %ld holds %s.lock) but not "
                     "started by dpi-dualctl start (no pid file of it): left running; stop it "
                     "the way it was started, or --lock-holder\n", name, holder, name);
            foreign = true;
            continue;
        }
        if (!ctl_proc_is (holder, name)) {
            fprintf (stderr, "dpi-dualctl stop: %s: pid %ld holds %s.lock but is not %s%s: "
                     "not signalled\n", name, holder, name,
                     strcmp (name, "mitmdump") ? "dpi-" : "", name);
            failed = true;
            continue;
        }
        int pidfd;
        if (signal_holder (cfg, name, holder, &pidfd) != 0) {
            fprintf (stderr, "dpi-dualctl stop: %s: cannot signal pid %ld: %s\n", name, holder,
                     strerror (errno));
            failed = true;
            continue;
        }
        victims[count++] = (victim_t) { name, holder, pidfd, true, false };
    }

    //  Wait for them to go, then --kill or say so
    struct timespec pause = { 0, 50 * 1000 * 1000 };
    for (int round = 0; round < 2; round++) {
        double limit = round == 0 ? o->stop_timeout : 5;
        uint64_t deadline = bus_mono_ns () + (uint64_t) (limit * 1e9);
        for (;;) {
            bool waiting = false;
            for (size_t i = 0; i < count; i++)
                if (!victims[i].gone)
                    waiting |= !(victims[i].gone = ctl_proc_gone (victims[i].pid)
                                                   && ctl_lock_holder (cfg, victims[i].name)
                                                          != victims[i].pid);
            if (!waiting || ctl_wait_ms (deadline) < 0)
                break;
            nanosleep (&pause, NULL);
        }
        bool killed = false;
        for (size_t i = 0; round == 0 && o->kill && i < count; i++)
            if (!victims[i].gone
                && (victims[i].pidfd >= 0
                        ? pidfd_send_signal (victims[i].pidfd, SIGKILL, NULL, 0)
                        : kill ((pid_t) victims[i].pid, SIGKILL)) == 0) {
                fprintf (stderr, "dpi-dualctl stop: %s: pid %ld still running %g s after "
                         "SIGTERM: SIGKILL sent\n", victims[i].name, victims[i].pid,
                         o->stop_timeout);
                killed = true;
            }
        if (!killed)
            break;
    }
    for (size_t i = 0; i < count; i++) {
        if (victims[i].pidfd >= 0)
            close (victims[i].pidfd);
        if (victims[i].gone) {
            printf ("%s: stopped (pid %ld)\n", victims[i].name, victims[i].pid);
            unlink_pidfile (cfg, victims[i].name);
        }
        else {
            fprintf (stderr, "dpi-dualctl stop: %s: pid %ld still running %g s after SIGTERM%s\n",
                     victims[i].name, victims[i].pid, o->stop_timeout,
                     o->kill ? " and SIGKILL" : ": not killed (--kill sends SIGKILL after "
                               "--stop-timeout)");
            failed = true;
        }
    }
    return failed ? 1 : foreign ? 3 : 0;
}

/*  --------------------------------------------------------------------------
    start                                                                    */

typedef struct {
    const char *name;               /* a worker's, or "mitmdump"            */
    bool mitmdump;                  /* up when listening, no heartbeat      */
    pid_t child;                    /* daemon: our child, 0 otherwise       */
    long pid;                       /* the lock holder, once it is          */
    bool heard, done, failed;
    char listen[128];               /* mitmdump: where it listens           */
    char log[4096];
    off_t log_from;
} job_t;

/*  Fork ARGV as a daemon writing to LOG_FD. The child's pid, or -1.         */
static pid_t
spawn (char *const argv[], int log_fd)
{
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    setsid ();
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal (sig, SIG_DFL);
    int null = open ("/dev/null", O_RDONLY);
    if (null < 0 || dup2 (null, 0) < 0 || dup2 (log_fd, 1) < 0 || dup2 (log_fd, 2) < 0)
        _exit (127);
    close_range (3, ~0U, 0);
    if (chdir ("/") != 0)
        _exit (127);
    execv (argv[0], argv);
    dprintf (2, "dpi-dualctl start: cannot run %s: %s\n", argv[0], strerror (errno)); /* the log */
    _exit (127);
}

/*  Start JOB as a daemon; false (said) when it could not be forked.        */
static bool
start_daemon (const config_t *cfg, const opts_t *o, const char *config, job_t *job)
{
    const char *name = job->name;
    char bin[PATH_MAX];
    if (job->mitmdump) {                /* dpi-dualctl mitmdump: ourselves   */
        if (!ctl_self_path (false, bin, sizeof bin)) {
            fprintf (stderr, "dpi-dualctl start: mitmdump: /proc/self/exe: %s\n",
                     strerror (errno));
            return false;
        }
    }
    else if (!find_binary (o, name, bin, sizeof bin)) {
        fprintf (stderr, "dpi-dualctl start: %s: no executable %s (in %s)\n", name, bin,
                 o->bin_dir ? "--bin-dir"
                 : getenv ("DPI_DUAL_BIN_DIR") && *getenv ("DPI_DUAL_BIN_DIR")
                     ? "$DPI_DUAL_BIN_DIR" : "dpi-dualctl's directory, its build tree, PATH");
        return false;
    }
    const char *dir = o->log_dir ? o->log_dir : cfg->global.run_dir;
    snprintf (job->log, sizeof job->log, "%s/%s.log", dir, name);
    int fd = paths_mkdir (dir, 0755) == 0
                 ? open (job->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640) : -1;
    if (fd < 0) {
        fprintf (stderr, "dpi-dualctl start: %s: %s: %s\n", name, job->log, strerror (errno));
        return false;
    }
    char when[64];
    time_t now = time (NULL);
    strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime (&now));
    dprintf (fd, "--- dpi-dualctl start: %s%s -c %s, %s\n", bin, job->mitmdump ? " mitmdump" : "",
             config ? config : "(default)", when);
    job->log_from = lseek (fd, 0, SEEK_END);
    char *argv[] = { bin, "-c", (char *) config, NULL, NULL };
    if (job->mitmdump) {
        argv[1] = "mitmdump";
        argv[2] = config ? "-c" : NULL;
        argv[3] = (char *) config;
    }
    else if (!config)
        argv[1] = NULL;
    job->child = spawn (argv, fd);
    int error = errno;
    close (fd);
    if (job->child < 0) {
        fprintf (stderr, "dpi-dualctl start: %s: fork: %s\n", name, strerror (error));
        return false;
    }
    return true;
}

static bool
write_pidfile (const config_t *cfg, const char *name, long pid)
{
    char path[4096], tmp[4200];
    ctl_run_path (cfg, name, "pid", path, sizeof path);
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *file = fopen (tmp, "w");
    if (!file)
        return false;
    fprintf (file, "%ld\n", pid);
    bool ok = fclose (file) == 0 && rename (tmp, path) == 0;
    if (!ok)
        unlink (tmp);
    return ok;
}

/*  A daemon child that ended: said with its status and its log's tail.     */
static void
report_exit (const config_t *cfg, job_t *job, int status)
{
    const char *name = job->name;
    if (job->pid)       /* it took its lock, then exited: the pid file goes too */
        unlink_pidfile (cfg, name);
    if (WIFEXITED (status))
        fprintf (stderr, "dpi-dualctl start: %s exited %d", name, WEXITSTATUS (status));
    else
        fprintf (stderr, "dpi-dualctl start: %s was killed by signal %d (%s)", name,
                 WTERMSIG (status), strsignal (WTERMSIG (status)));
    fprintf (stderr, "; the last lines of %s:\n", job->log);
    if (!print_log_tail (job->log, job->log_from, 5, "  "))
        fprintf (stderr, "  (nothing)\n");
    job->failed = job->done = true;
}

/*  Does PID listen on a TCP socket (its fds against /proc/PID/net/tcp and
    tcp6: its network namespace's)? The first such address into OUT.       */
static bool
listening (long pid, char *out, size_t outlen)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%ld/fd", pid);
    DIR *dir = opendir (path);
    if (!dir)
        return false;
    unsigned long inodes[256];
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) && count < 256) {
        char link[4200], target[64];
        snprintf (link, sizeof link, "%s/%s", path, entry->d_name);
        ssize_t n = readlink (link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        if (sscanf (target, "socket:[%lu]", &inodes[count]) == 1)
            count++;
    }
    closedir (dir);
    bool found = false;
    for (int v6 = 0; v6 < 2 && !found && count; v6++) {
        snprintf (path, sizeof path, "/proc/%ld/net/tcp%s", pid, v6 ? "6" : "");
        FILE *file = fopen (path, "r");
        char line[512];
        while (file && !found && fgets (line, sizeof line, file)) {
            char hex[40];
            unsigned port, state;
            unsigned long inode;
            if (sscanf (line, " %*d: %32[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %lu", hex,
                        &port, &state, &inode) != 4 || state != 0x0A)
                continue;
            for (size_t i = 0; i < count && !found; i++)
                found = inodes[i] == inode;
            if (!found)
                continue;
            //  the address: 32-bit words in host order, as hex
            unsigned char bytes[16];
            size_t len = strlen (hex) / 2;
            for (size_t w = 0; w < len / 4; w++) {
                unsigned word;
                sscanf (hex + 8 * w, "%8x", &word);
                memcpy (bytes + 4 * w, &word, 4);
            }
            char text[INET6_ADDRSTRLEN] = "?";
            inet_ntop (len == 4 ? AF_INET : AF_INET6, bytes, text, sizeof text);
            snprintf (out, outlen, len == 4 ? "%s:%u" : "[%s]:%u", text, port);
        }
        if (file)
            fclose (file);
    }
    return found;
}

/*  Wait until every job is up or failed, or TIMEOUT passes.                 */
static void
wait_up (const config_t *cfg, job_t *jobs, size_t count, bus_sub_t *sub,
         const ctl_target_t *targets, size_t ntargets, double timeout)
{
    uint64_t deadline = bus_mono_ns () + (uint64_t) (timeout * 1e9);
    for (;;) {
        bool waiting = false;
        for (size_t i = 0; i < count; i++) {
            job_t *job = &jobs[i];
            if (job->done)
                continue;
            int status;
            if (job->child > 0 && waitpid (job->child, &status, WNOHANG) == job->child) {
                report_exit (cfg, job, status);
                continue;
            }
            long holder = ctl_lock_holder (cfg, job->name);
            if (!job->pid && holder && (!job->child || holder == job->child)) {
                job->pid = holder;
                if (job->child && !write_pidfile (cfg, job->name, holder))
                    fprintf (stderr, "dpi-dualctl start: %s: cannot write its pid file in %s: "
                             "%s\n", job->name, cfg->global.run_dir, strerror (errno));
            }
            bool connects_out = false;
            for (size_t t = 0; t < ntargets; t++)
                if (strcmp (targets[t].name, job->name) == 0)
                    connects_out = targets[t].connects_out;
            if (job->mitmdump)
                job->done = job->pid && listening (job->pid, job->listen, sizeof job->listen);
            else if (job->pid && (job->heard || connects_out || !sub))
                job->done = true;
            waiting |= !job->done;
        }
        int wait_ms = ctl_wait_ms (deadline);
        if (!waiting || wait_ms < 0 || zsys_interrupted)
            break;
        bus_msg_t msg;
        if (!sub) {
            struct timespec pause = { 0, 50 * 1000 * 1000 };
            nanosleep (&pause, NULL);
            continue;
        }
        if (bus_sub_recv (sub, wait_ms < 50 ? wait_ms : 50, &msg) != 1
            || strcmp (msg.topic, TOPIC_HEARTBEAT) != 0)
            continue;
        const Dpidual__V1__Heartbeat *hb = (const Dpidual__V1__Heartbeat *) msg.body;
        for (size_t i = 0; i < count; i++)
            if (strcmp (hb->name, jobs[i].name) == 0 && jobs[i].pid
                && (long) hb->pid == jobs[i].pid)
                jobs[i].heard = true;
    }
}

/*  Start NAMES (COUNT), then wait until each is up; false when one could not
    be started or was not up in time (each said).                           */
static bool
start_names (const config_t *cfg, const opts_t *o, const char *config, const char **names,
             size_t nnames, bus_sub_t *sub, const ctl_target_t *targets, size_t ntargets)
{
    int init = init_of (o);
    job_t jobs[WORKER_COUNT + 1];
    size_t count = 0;
    bool failed = false;
    for (size_t n = 0; n < nnames; n++) {
        const char *name = names[n];
        long holder, pidfile;
        char how_text[512];
        ctl_started_t how = ctl_how_started (cfg, name, init, &holder, &pidfile);
        if (holder) {
            ctl_describe_started (cfg, name, how, holder, pidfile, how_text, sizeof how_text);
            printf ("%s: already running, started %s\n", name, how_text);
            continue;
        }
        if (pidfile)
            unlink_pidfile (cfg, name);         /* stale: its pid holds no lock */
        job_t *job = &jobs[count];
        *job = (job_t) { .name = name, .mitmdump = strcmp (name, "mitmdump") == 0 };
        bool ok;
        if (init == CTL_INIT_DAEMON)
            ok = start_daemon (cfg, o, config, job);
        else {
            char unit[128];
            snprintf (unit, sizeof unit, "dpi-dual-%s.service", name);
            char *sd[] = { "systemctl", "start", unit, NULL };
            char *pd[] = { "/etc/init.d/dpi-dual", "start", (char *) name, NULL };
            int rc = run_argv (init == CTL_INIT_SYSTEMD ? sd : pd);
            ok = rc == 0;
            if (!ok)
                fprintf (stderr, "dpi-dualctl start: %s: %s failed (exit %d)%s\n", name,
                         init == CTL_INIT_SYSTEMD ? "systemctl start" : "/etc/init.d/dpi-dual start",
                         rc, init == CTL_INIT_SYSTEMD ? ": see journalctl -u dpi-dual-*" : "");
        }
        if (ok)
            count++;
        else
            failed = true;
    }
    double timeout = o->timeout >= 0 ? o->timeout : cfg->bus.heartbeat_interval + 10.0;
    wait_up (cfg, jobs, count, sub, targets, ntargets, timeout);
    for (size_t i = 0; i < count; i++) {
        job_t *job = &jobs[i];
        if (job->failed)
            failed = true;
        else if (job->done)
            printf ("%s: started (pid %ld, %s%s%s%s%s)\n", job->name, job->pid,
                    job->child ? "a daemon; log " : "by ", job->child ? job->log : "",
                    job->child ? "" : ctl_init_name (init),
                    job->mitmdump ? "; listening on " : "", job->mitmdump ? job->listen : "");
        else {
            failed = true;
            if (job->mitmdump)
                fprintf (stderr, "dpi-dualctl start: mitmdump is not up after %g s (lock %s, "
                         "%s): left as it is%s%s\n", timeout, job->pid ? "taken" : "not taken",
                         job->pid ? "listening on no TCP port" : "not listening",
                         job->child ? "; its log: " : "", job->child ? job->log : "");
            else
                fprintf (stderr, "dpi-dualctl start: %s is not up after %g s (lock %s, "
                         "heartbeat %s): left as it is%s%s\n", job->name, timeout,
                         job->pid ? "taken" : "not taken", job->heard ? "heard" : "not heard",
                         job->child ? "; its log: " : "", job->child ? job->log : "");
            if (job->child)
                print_log_tail (job->log, job->log_from, 5, "  ");
        }
    }
    return !failed;
}

/*  Start the workers of WANT, then mitmdump when MITMDUMP; with CHECK, the
    running mitmdumps are compared with the YAML instead. The exit code: 0
    or 1.                                                                     */
static int
do_start (const config_t *cfg, const opts_t *o, const bool want[WORKER_COUNT], bool mitmdump,
          bool check)
{
    int init = init_of (o);
    char config[PATH_MAX];
    if (o->config_path && !realpath (o->config_path, config)) {
        fprintf (stderr, "dpi-dualctl start: %s: %s\n", o->config_path, strerror (errno));
        return 1;
    }
    if (o->config_path && init != CTL_INIT_DAEMON && strcmp (config, CONFIG_DEFAULT_PATH) != 0)
        fprintf (stderr, "dpi-dualctl start: note: the %s services read their own "
                 "configuration (%s), not %s\n", ctl_init_name (init),
                 init == CTL_INIT_PROCD ? "/etc/config/dpi-dual, converted by "
                 "/etc/init.d/dpi-dual; else " CONFIG_DEFAULT_PATH : CONFIG_DEFAULT_PATH,
                 config);
    size_t ntargets = 0;
    ctl_target_t *targets = ctl_targets (cfg, NULL, 0, false, &ntargets);
    bus_sub_t *sub = targets ? ctl_sub_open (cfg, targets, ntargets) : NULL;
    if (sub)
        bus_sub_subscribe (sub, TOPIC_HEARTBEAT);
    else
        fprintf (stderr, "dpi-dualctl start: cannot listen to the workers' heartbeats: "
                 "waiting for their locks only\n");
    const char *names[WORKER_COUNT];
    size_t nnames = 0;
    for (int id = 0; id < WORKER_COUNT; id++)
        if (want[id])
            names[nnames++] = worker_info (id)->name;
    const char *conf = o->config_path ? config : NULL;
    bool ok = start_names (cfg, o, conf, names, nnames, sub, targets, ntargets);
    if (mitmdump) {
        const char *mitm[] = { "mitmdump" };
        if (want[WORKER_BRIDGE_MITM] && !ctl_lock_holder (cfg, "bridge-mitm")) {
            fprintf (stderr, "dpi-dualctl start: mitmdump: not started: bridge-mitm is not "
                     "up\n");
            ok = false;
        }
        else
            ok &= start_names (cfg, o, conf, mitm, 1, sub, targets, ntargets);
    }
    else if (check) {
        printf ("mitmdump: not started by dpi-dualctl (mitm.mitmdump.start is false); "
                "those running with the addon, against the YAML:\n");
        fflush (stdout);
        if (ctl_mitm_check (cfg, "  ") != 0)
            fprintf (stderr, "dpi-dualctl start: warning: no mitmdump with the addon agrees "
                     "with the YAML (above); mitm.mitmdump.start, or dpi-dualctl mitmdump, "
                     "runs one that does\n");
    }
    bus_sub_destroy (&sub);
    free (targets);
    return ok ? 0 : 1;
}

/*  --------------------------------------------------------------------------
    The commands                                                             */

static int
run (int argc, char **argv, const ctl_command_t *cmd)
{
    opts_t o;
    int rc = parse (argc, argv, cmd, &o);
    if (rc != 0 || o.help)
        return rc;
    config_t *cfg = config_load_verbose (o.config_path);
    if (!cfg)
        return 1;
    bool host[WORKER_COUNT], want[WORKER_COUNT];
    config_host_workers (cfg, host);
    for (int id = 0; id < WORKER_COUNT; id++) {
        want[id] = o.named ? o.want[id] : host[id];
        if (cmd == &ctl_stop_command && !o.named && ctl_pidfile_read (cfg, worker_info (id)->name))
            want[id] = true;            /* what an earlier start started */
        if (cmd != &ctl_stop_command && want[id] && !host[id]) {
            if (cfg->global.workers.count)
                rc = ctl_usage_error (cmd, "%s is not one of this host's workers "
                                      "(global.workers)", worker_info (id)->name);
            else
                rc = ctl_usage_error (cmd, "%s is not one of this host's workers (global.mode "
                                      "%s)", worker_info (id)->name,
                                      config_mode_name (cfg->global.mode));
            config_destroy (&cfg);
            return rc;
        }
    }
    //  mitmdump runs beside bridge-mitm: started when named, or with the
    //  bridge's host when mitm.mitmdump.start; else checked by start
    bool mitm_start = false, mitm_check = false, mitm_stop = false;
    if (o.want_mitmdump && !host[WORKER_BRIDGE_MITM] && cmd != &ctl_stop_command) {
        rc = ctl_usage_error (cmd, "mitmdump runs beside bridge-mitm, which is not one of this "
                              "host's workers");
        config_destroy (&cfg);
        return rc;
    }
    if (cmd != &ctl_stop_command) {
        mitm_start = o.named ? o.want_mitmdump
                             : host[WORKER_BRIDGE_MITM] && cfg->mitm.mitmdump.start;
        mitm_check = !mitm_start && !o.named && host[WORKER_BRIDGE_MITM];
    }
    if (cmd != &ctl_start_command)
        mitm_stop = o.named ? o.want_mitmdump
                            : ctl_pidfile_read (cfg, "mitmdump") || cfg->mitm.mitmdump.start;
    if (cmd == &ctl_restart_command && !o.named)
        mitm_start = mitm_stop = (host[WORKER_BRIDGE_MITM] && cfg->mitm.mitmdump.start)
                                 || ctl_pidfile_read (cfg, "mitmdump");
    int lock = take_ctl_lock (cfg, cmd->name);
    if (lock < 0) {
        config_destroy (&cfg);
        return 1;
    }
    if (cmd != &ctl_start_command)
        rc = do_stop (cfg, &o, want, mitm_stop);
    if (cmd != &ctl_stop_command) {
        int started = do_start (cfg, &o, want, mitm_start, mitm_check); /* restart: what stopped */
        rc = rc ? rc : started;
    }
    fflush (stdout);
    close (lock);
    config_destroy (&cfg);
    return rc;
}

int
cmd_start (int argc, char **argv)
{
    return run (argc, argv, &ctl_start_command);
}

int
cmd_stop (int argc, char **argv)
{
    return run (argc, argv, &ctl_stop_command);
}

int
cmd_restart (int argc, char **argv)
{
    return run (argc, argv, &ctl_restart_command);
}
