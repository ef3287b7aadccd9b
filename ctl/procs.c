/*  procs.c — see ctl.h ("procs.c"): which process runs a worker here, and
    how it was started.

    The one proof that a process is the worker of a run directory is its
    lock: RUN_DIR/NAME.lock, held with flock by the running instance
    (common/runlock.h). The holder is read from /proc/locks (the lock's
    device and inode), never taken: taking it, even for a moment, would make
    a worker starting at that instant refuse to run. A pid file
    (RUN_DIR/NAME.pid, written by `dpi-dualctl start`) is believed only when
    its pid holds that lock and is the binary dpi-NAME.                    */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"

void
ctl_run_path (const config_t *cfg, const char *name, const char *suffix, char *out,
              size_t outlen)
{
    const char *dir = cfg->global.run_dir;
    int length = (int) strlen (dir);
    while (length > 1 && dir[length - 1] == '/')
        length--;
    snprintf (out, outlen, "%.*s/%s.%s", length, dir, name, suffix);
}

long
ctl_lock_holder (const config_t *cfg, const char *name)
{
    char path[4096];
    ctl_run_path (cfg, name, "lock", path, sizeof path);
    struct stat st;
    if (stat (path, &st) != 0)
        return 0;
    FILE *locks = fopen ("/proc/locks", "r");
    if (!locks)
        return 0;
    char line[512];
    long holder = 0;
    while (!holder && fgets (line, sizeof line, locks)) {
        //  "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" ("->" lines wait)
        char kind[16], mode[16], access[16];
        long pid;
        unsigned maj, min;
        unsigned long long ino;
        if (strstr (line, "->"))
            continue;
        if (sscanf (line, "%*d: %15s %15s %15s %ld %x:%x:%llu", kind, mode, access, &pid, &maj,
                    &min, &ino) == 7
            && strcmp (kind, "FLOCK") == 0 && maj == major (st.st_dev)
            && min == minor (st.st_dev) && ino == (unsigned long long) st.st_ino && pid > 0)
            holder = pid;
    }
    fclose (locks);
    return holder;
}

long
ctl_pidfile_read (const config_t *cfg, const char *name)
{
    char path[4096], text[32] = "";
    ctl_run_path (cfg, name, "pid", path, sizeof path);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    if (!fgets (text, sizeof text, file))
        text[0] = 0;
    fclose (file);
    char *end;
    long pid = strtol (text, &end, 10);
    return pid > 0 && (*end == '\n' || !*end) ? pid : -1;
}

bool
ctl_self_path (bool dir, char *out, size_t outlen)
{
    ssize_t n = readlink ("/proc/self/exe", out, outlen - 1);
    if (n <= 0)
        return false;
    out[n] = 0;
    char *slash = strrchr (out, '/');
    if (dir && slash)
        *slash = 0;
    return true;
}

size_t
ctl_proc_argv (long pid, char *data, size_t size, char **argv, size_t max)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%ld/cmdline", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    size_t n = fread (data, 1, size - 1, file);
    fclose (file);
    data[n] = 0;
    size_t count = 0;
    for (size_t at = 0; at < n && count < max; at += strlen (data + at) + 1)
        argv[count++] = data + at;
    return count;
}

bool
ctl_argv_loads_addon (char **argv, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen (argv[i]);
        if (len >= 13 && strcmp (argv[i] + len - 13, "dpi_bridge.py") == 0)
            return true;
    }
    return false;
}

bool
ctl_proc_is (long pid, const char *name)
{
    if (strcmp (name, "mitmdump") == 0) {
        static char data[65536];
        char *argv[1024];
        return ctl_argv_loads_addon (argv, ctl_proc_argv (pid, data, sizeof data, argv, 1024));
    }
    char path[64], exe[4096], binary[128];
    snprintf (binary, sizeof binary, "dpi-%s", name);
    snprintf (path, sizeof path, "/proc/%ld/exe", pid);
    ssize_t n = readlink (path, exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *deleted = strstr (exe, " (deleted)");    /* the binary was rebuilt */
        if (deleted && !deleted[10])
            *deleted = 0;
        const char *base = strrchr (exe, '/');
        return strcmp (base ? base + 1 : exe, binary) == 0;
    }
    //  Not ours to read (a worker of another user): its name, at most 15 bytes
    snprintf (path, sizeof path, "/proc/%ld/comm", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return false;
    char comm[64] = "";
    if (!fgets (comm, sizeof comm, file))
        comm[0] = 0;
    fclose (file);
    comm[strcspn (comm, "\n")] = 0;
    return *comm && strncmp (comm, binary, 15) == 0;
}

bool
ctl_proc_gone (long pid)
{
    if (kill ((pid_t) pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], stat[512] = "";
    snprintf (path, sizeof path, "/proc/%ld/stat", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return true;
    if (!fgets (stat, sizeof stat, file))
        stat[0] = 0;
    fclose (file);
    const char *paren = strrchr (stat, ')');          /* "PID (comm) S ..." */
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

const char *
ctl_init_name (ctl_init_t init)
{
    switch (init) {
        case CTL_INIT_SYSTEMD: return "systemd";
        case CTL_INIT_PROCD:   return "procd";
        default:               return "daemon";
    }
}

ctl_init_t
ctl_init_detect (void)
{
    struct stat st;
    if (stat ("/run/systemd/system", &st) == 0 && S_ISDIR (st.st_mode))
        return CTL_INIT_SYSTEMD;
    if (access ("/sbin/procd", X_OK) == 0
        || (access ("/etc/rc.common", R_OK) == 0
            && (access ("/bin/ubus", X_OK) == 0 || access ("/sbin/ubus", X_OK) == 0)))
        return CTL_INIT_PROCD;
    return CTL_INIT_DAEMON;
}

/*  systemd's MainPID of dpi-dual-NAME.service, 0 when none or unknown.     */
static long
systemd_main_pid (const char *name)
{
    char command[256];
    snprintf (command, sizeof command,
              "systemctl show -p MainPID --value dpi-dual-%s.service 2>/dev/null", name);
    FILE *pipe = popen (command, "r");
    if (!pipe)
        return 0;
    char text[32] = "";
    if (!fgets (text, sizeof text, pipe))
        text[0] = 0;
    pclose (pipe);
    return strtol (text, NULL, 10);
}

ctl_started_t
ctl_how_started (const config_t *cfg, const char *name, ctl_init_t init, long *holder_p,
                 long *pidfile_p)
{
    long holder = ctl_lock_holder (cfg, name);
    long pidfile = ctl_pidfile_read (cfg, name);
    *holder_p = holder;
    *pidfile_p = pidfile;
    if (!holder)
        return pidfile ? CTL_STARTED_STALE : CTL_STARTED_NONE;
    if (pidfile == holder && ctl_proc_is (holder, name))
        return CTL_STARTED_DAEMON;
    if (init == CTL_INIT_SYSTEMD && systemd_main_pid (name) == holder)
        return CTL_STARTED_SYSTEMD;
    return CTL_STARTED_OTHER;
}

const char *
ctl_started_kind (ctl_started_t how)
{
    static const char *const kinds[] = {
        [CTL_STARTED_NONE] = "none", [CTL_STARTED_STALE] = "stale",
        [CTL_STARTED_DAEMON] = "daemon", [CTL_STARTED_SYSTEMD] = "systemd",
        [CTL_STARTED_OTHER] = "other",
    };
    return kinds[how];
}

void
ctl_describe_started (const config_t *cfg, const char *name, ctl_started_t how, long holder,
                      long pidfile, char *out, size_t outlen)
{
    char path[4096];
    ctl_run_path (cfg, name, "pid", path, sizeof path);
    switch (how) {
        case CTL_STARTED_DAEMON:
            snprintf (out, outlen, "as a daemon by dpi-dualctl start (pid %ld, pid file %s)",
                      holder, path);
            break;
        case CTL_STARTED_SYSTEMD:
            snprintf (out, outlen, "by systemd (dpi-dual-%s.service, pid %ld)", name, holder);
            break;
        case CTL_STARTED_OTHER:
            snprintf (out, outlen,
                      "not by dpi-dualctl start (pid %ld holds %s.lock, no pid file of it): "
                      "by hand or by the init system",
                      holder, name);
            break;
        case CTL_STARTED_STALE:
            snprintf (out, outlen, "not running here; stale pid file %s (pid %ld)", path,
                      pidfile);
            break;
        case CTL_STARTED_NONE:
            snprintf (out, outlen, "not running here (%s.lock is free)", name);
            break;
    }
}
