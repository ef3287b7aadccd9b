/*  haproxy.c — see haproxy.h.

    Every value is parsed and printed again (inet_pton, inet_ntop, the
    prefix length in decimal) before it is used: what reaches the socket is
    "add acl ACL VALUE\n" with VALUE made of [0-9a-f:./] only, and ACL a
    path checked once at haproxy_new — no space, ';', '\\', '#' or control
    character, which HAProxy's CLI would read as a separator or a second
    command. Canonical values also make a ban and its unban the same text,
    which `del acl` needs (it removes the exact pattern).                    */
#include "haproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "outfile.h"
#include "ratelog.h"

#define HAPROXY_TIMEOUT_MS 500
#define VALUE_MAX HAPROXY_VALUE_MAX
#define ANSWER_MAX 512

typedef struct {
    char value[VALUE_MAX];          /* canonical address or CIDR             */
    bool banned;                    /* wanted: in the list (else: removed)   */
    bool synced;                    /* HAProxy has been told                 */
    int64_t until_s;                /* expiry (UNIX time), 0: none           */
} entry_t;

struct haproxy_t {
    struct sockaddr_un addr;
    char acl[1024];
    entry_t *entries;
    size_t count, alloc;
    haproxy_stats_t stats;
    ratelog_t socket_log;
    bool file_warned;               /* "cannot write the ACL file" said      */
};

static void load_file (haproxy_t *self);
static void write_file (haproxy_t *self);
static entry_t *find (haproxy_t *self, const char *value);
static entry_t *add_entry (haproxy_t *self, const char *value);

static bool
acl_path_ok (const char *acl)
{
    if (!*acl || *acl == '#')
        return false;
    for (const unsigned char *c = (const unsigned char *) acl; *c; c++)
        if (*c <= ' ' || *c == 0x7f || *c == ';' || *c == '\\')
            return false;
    return true;
}

/*  VALUE as an address or ADDRESS/LEN, into OUT (VALUE_MAX) canonical: the
    host bits cleared, a full-length prefix written as the bare address.
    -1 for anything else.                                                    */
int
haproxy_canonical (const char *value, char out[HAPROXY_VALUE_MAX])
{
    char host[INET6_ADDRSTRLEN];
    const char *slash = value ? strchr (value, '/') : NULL;
    size_t hostlen = slash ? (size_t) (slash - value) : (value ? strlen (value) : 0);
    if (hostlen == 0 || hostlen >= sizeof host)
        return -1;
    memcpy (host, value, hostlen);
    host[hostlen] = 0;
    unsigned char bytes[16];
    int family = strchr (host, ':') ? AF_INET6 : AF_INET;
    if (inet_pton (family, host, bytes) != 1)
        return -1;
    int bits = family == AF_INET ? 32 : 128, len = bits;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen (p) > 3 || strspn (p, "0123456789") != strlen (p))
            return -1;
        len = atoi (p);
        if (len > bits)
            return -1;
    }
    for (int bit = len; bit < bits; bit++)
        bytes[bit / 8] &= (unsigned char) ~(0x80u >> (bit % 8));
    if (!inet_ntop (family, bytes, host, sizeof host))
        return -1;
    if (len == bits)
        snprintf (out, VALUE_MAX, "%s", host);
    else
        snprintf (out, VALUE_MAX, "%s/%d", host, len);
    return 0;
}

haproxy_t *
haproxy_new (const char *socket, const char *acl, config_errors_t *errors)
{
    haproxy_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "out of memory");
        return NULL;
    }
    self->addr.sun_family = AF_UNIX;
    if (!socket || !*socket || strlen (socket) >= sizeof self->addr.sun_path) {
        config_errors_add (errors, "decision.haproxy_socket '%s': empty or longer than %zu bytes",
                           socket ? socket : "", sizeof self->addr.sun_path - 1);
        free (self);
        return NULL;
    }
    if (!acl || !acl_path_ok (acl) || strlen (acl) >= sizeof self->acl) {
        config_errors_add (errors, "decision.haproxy_acl '%s': empty, too long, or holds a "
                           "space, ';', '\\', a control character or a leading '#'",
                           acl ? acl : "");
        free (self);
        return NULL;
    }
    memcpy (self->addr.sun_path, socket, strlen (socket) + 1);
    memcpy (self->acl, acl, strlen (acl) + 1);
    load_file (self);
    return self;
}

void
haproxy_destroy (haproxy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->entries);
    free (*self_p);
    *self_p = NULL;
}

static entry_t *
find (haproxy_t *self, const char *value)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->entries[i].value, value) == 0)
            return &self->entries[i];
    return NULL;
}

/*  A new entry for VALUE (banned, not synced), or NULL (out of memory).   */
static entry_t *
add_entry (haproxy_t *self, const char *value)
{
    if (self->count == self->alloc) {
        size_t alloc = self->alloc ? self->alloc * 2 : 16;
        entry_t *grown = realloc (self->entries, alloc * sizeof *grown);
        if (!grown)
            return NULL;
        self->entries = grown;
        self->alloc = alloc;
    }
    entry_t *e = &self->entries[self->count++];
    memset (e, 0, sizeof *e);
    snprintf (e->value, sizeof e->value, "%s", value);
    e->banned = true;
    return e;
}

static void
remove_entry (haproxy_t *self, entry_t *e)
{
    size_t i = (size_t) (e - self->entries);
    memmove (e, e + 1, (self->count - i - 1) * sizeof *e);
    self->count--;
}

/*  The values already in the ACL file: HAProxy loaded them at its start,
    so they count as told. Blank lines and comments are skipped; a line that
    is not an address or CIDR is said, and dropped at the next rewrite.     */
static void
load_file (haproxy_t *self)
{
    FILE *f = fopen (self->acl, "r");
    if (!f) {
        if (errno != ENOENT)
            log_warning ("%s: cannot read the HAProxy ACL file: %s", self->acl, strerror (errno));
        return;
    }
    char line[256], value[VALUE_MAX];
    unsigned lineno = 0;
    long long until = 0;                    /* from the comment just before  */
    while (fgets (line, sizeof line, f)) {
        lineno++;
        line[strcspn (line, "\r\n")] = 0;
        char *start = line + strspn (line, " \t");
        long long when;
        if (sscanf (start, "# dpi-dual until %lld", &when) == 1 && when > 0) {
            until = when;
            continue;
        }
        start[strcspn (start, " \t")] = 0;
        if (!*start || *start == '#')
            continue;
        entry_t *e = NULL;
        if (haproxy_canonical (start, value) != 0)
            log_warning ("%s:%u: not an address or CIDR, dropped at the next rewrite: %.64s",
                         self->acl, lineno, start);
        else if (!find (self, value) && (e = add_entry (self, value))) {
            e->synced = true;
            e->until_s = until;
        }
        until = 0;
    }
    fclose (f);
}

static uint64_t
now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/*  Wait for EVENTS on FD until DEADLINE (now_ms). 0, or -1 (ETIMEDOUT). */
static int
wait_fd (int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms ();
        if (now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll (&p, 1, (int) (deadline - now));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/*  Send CMD on a new connection and read the answer until HAProxy closes
    (it does after one command), within HAPROXY_TIMEOUT_MS. The answer, cut
    to ANSWER_MAX, into ANSWER. 0, or -1 with errno.                         */
static int
exchange (const haproxy_t *self, const char *cmd, char *answer)
{
    uint64_t deadline = now_ms () + HAPROXY_TIMEOUT_MS;
    size_t len = strlen (cmd), sent = 0, got = 0;
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect (fd, (const struct sockaddr *) &self->addr, sizeof self->addr) != 0)
        goto fail;
    while (sent < len) {
        ssize_t n = send (fd, cmd + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t) n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            goto fail;
        else if (wait_fd (fd, POLLOUT, deadline) != 0)
            goto fail;
    }
    for (;;) {
        char buf[ANSWER_MAX];
        ssize_t n = recv (fd, buf, sizeof buf, 0);
        if (n == 0)
            break;
        if (n > 0) {
            size_t keep = (size_t) n < ANSWER_MAX - 1 - got ? (size_t) n : ANSWER_MAX - 1 - got;
            memcpy (answer + got, buf, keep);
            got += keep;
        } else if (errno != EAGAIN && errno != EINTR)
            goto fail;
        else if (wait_fd (fd, POLLIN, deadline) != 0)
            goto fail;
    }
    answer[got] = 0;
    close (fd);
    return 0;
fail:;
    int error = errno;
    close (fd);
    errno = error;
    return -1;
}

/*  Success is an empty answer (add acl, del acl); for del acl, "Key not
    found." too: the value is not there, which is what was asked.           */
static bool
answer_ok (const char *answer, bool del)
{
    const char *text = answer + strspn (answer, "\r\n");
    if (!*text)
        return true;
    return del && strncmp (text, "Key not found.", 14) == 0;
}

/*  Tell HAProxy about E (add or del). true when it accepted.               */
static bool
send_entry (haproxy_t *self, entry_t *e)
{
    char cmd[sizeof self->acl + VALUE_MAX + 16], answer[ANSWER_MAX];
    snprintf (cmd, sizeof cmd, "%s acl %s %s\n", e->banned ? "add" : "del", self->acl, e->value);
    const char *why = NULL;
    if (exchange (self, cmd, answer) != 0)
        why = strerror (errno);
    else if (!answer_ok (answer, !e->banned))
        why = answer + strspn (answer, "\r\n");
    if (!why) {
        e->synced = true;
        e->banned ? self->stats.added++ : self->stats.removed++;
        return true;
    }
    self->stats.errors++;
    uint64_t unlogged;
    if (ratelog_due (&self->socket_log, &unlogged))
        log_warning ("%s: %s acl %s: %.*s; kept for a retry (%llu not logged since)",
                     self->addr.sun_path, e->banned ? "add" : "del", e->value,
                     (int) strcspn (why, "\r\n"), why, (unsigned long long) unlogged);
    return false;
}

/*  Replace the ACL file with the banned values, one a line — when it can be
    written; when not, say so once (until it can again).                  */
static void
write_file (haproxy_t *self)
{
    outfile_snapshot_t snap;
    FILE *f = NULL;
    if (access (self->acl, W_OK) == 0 || errno == ENOENT)
        f = outfile_snapshot_begin (&snap, self->acl, 0);
    if (f) {
        for (size_t i = 0; i < self->count; i++) {
            const entry_t *e = &self->entries[i];
            if (!e->banned)
                continue;
            if (e->until_s > 0) {           /* a comment to HAProxy          */
                char when[32];
                struct tm tm;
                time_t t = (time_t) e->until_s;
                gmtime_r (&t, &tm);
                strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
                fprintf (f, "# dpi-dual until %lld (%s)\n", (long long) e->until_s, when);
            }
            fprintf (f, "%s\n", e->value);
        }
        if (outfile_snapshot_commit (&snap) == 0) {
            self->file_warned = false;
            return;
        }
    }
    self->stats.file_errors++;
    if (!self->file_warned)
        log_warning ("%s: cannot rewrite the HAProxy ACL file (%s): bans applied at run time "
                     "are lost when HAProxy reloads", self->acl, strerror (errno));
    self->file_warned = true;
}

/*  The later of two expiries, 0 (none) winning.                          */
static int64_t
later (int64_t a, int64_t b)
{
    return a == 0 || b == 0 ? 0 : a > b ? a : b;
}

/*  Want VALUE banned until UNTIL (or not), rewrite the file, tell HAProxy. */
static int
change (haproxy_t *self, const char *value, bool banned, int64_t until)
{
    char canon[VALUE_MAX];
    if (!self || haproxy_canonical (value, canon) != 0) {
        char shown[65] = "";                /* no control character in the log */
        for (size_t i = 0; value && value[i] && i < sizeof shown - 1; i++)
            shown[i] = (unsigned char) value[i] < ' ' || value[i] == 0x7f ? '?' : value[i];
        log_warning ("haproxy: not an address or CIDR, not sent: %s", shown);
        return -2;
    }
    entry_t *e = find (self, canon);
    if (e && e->banned && banned) {         /* banned already: the expiry    */
        int64_t until_s = later (e->until_s, until);
        if (until_s != e->until_s) {
            e->until_s = until_s;
            write_file (self);
        }
        if (e->synced)
            return 0;                       /* HAProxy has it already        */
    } else if (e && !e->banned && !banned && e->synced)
        return 0;
    bool fresh = !e;
    if (!e)                                 /* an unban: may predate us      */
        e = add_entry (self, canon);
    if (!e) {
        log_error ("haproxy: out of memory, %s not sent", canon);
        return -1;
    }
    if (banned && (fresh || !e->banned))
        e->until_s = until;
    e->banned = banned;
    e->synced = false;
    write_file (self);
    if (!send_entry (self, e))
        return -1;
    if (!banned)
        remove_entry (self, e);
    return 0;
}

int
haproxy_ban (haproxy_t *self, const char *value)
{
    return change (self, value, true, 0);
}

int
haproxy_ban_until (haproxy_t *self, const char *value, int64_t until_s)
{
    return change (self, value, true, until_s);
}

int
haproxy_unban (haproxy_t *self, const char *value)
{
    return change (self, value, false, 0);
}

void
haproxy_tick (haproxy_t *self)
{
    if (!self)
        return;
    int64_t now = (int64_t) time (NULL);
    bool expired = false;
    for (size_t i = 0; i < self->count; i++) {
        entry_t *e = &self->entries[i];
        if (e->banned && e->until_s > 0 && e->until_s <= now) {
            e->banned = false;              /* its time is up: del acl       */
            e->synced = false;
            expired = true;
            self->stats.expired++;
        }
    }
    if (expired)
        write_file (self);
    for (size_t i = 0; i < self->count;) {
        entry_t *e = &self->entries[i];
        if (e->synced) {
            i++;
            continue;
        }
        if (!send_entry (self, e))
            return;                         /* HAProxy is not answering: later */
        if (!e->banned)
            remove_entry (self, e);
        else
            i++;
    }
}

haproxy_stats_t
haproxy_stats (const haproxy_t *self)
{
    haproxy_stats_t stats = self->stats;
    stats.pending = 0;
    for (size_t i = 0; i < self->count; i++)
        stats.pending += !self->entries[i].synced;
    return stats;
}
