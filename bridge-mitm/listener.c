/*  listener.c — see listener.h.                                             */
#include "listener.h"

#define RECOMMENDED_QLEN 512

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

static void warn_queue_length (void);

struct listener_t {
    int fd;
    char path[sizeof ((struct sockaddr_un *) 0)->sun_path];
};

/*  Remove a stale socket at ADDR's path; -1 (reason in ERRORS) when the path
    is something else or a live bridge answers there.                       */
static int
clear_stale (const struct sockaddr_un *addr, config_errors_t *errors)
{
    struct stat st;
    if (lstat (addr->sun_path, &st) != 0)
        return errno == ENOENT ? 0 : (config_errors_add (errors, "%s: %s", addr->sun_path,
                                                         strerror (errno)), -1);
    if (!S_ISSOCK (st.st_mode)) {
        config_errors_add (errors, "%s: exists and is not a socket; not removing it",
                  addr->sun_path);
        return -1;
    }
    int probe = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
        int live = connect (probe, (const struct sockaddr *) addr, sizeof *addr) == 0;
        close (probe);
        if (live) {
            config_errors_add (errors, "%s: another process is bound to this socket",
                      addr->sun_path);
            return -1;
        }
    }
    if (unlink (addr->sun_path) != 0 && errno != ENOENT) {
        config_errors_add (errors, "%s: cannot remove the stale socket: %s", addr->sun_path,
                  strerror (errno));
        return -1;
    }
    return 0;
}

listener_t *
listener_new (const char *path, config_errors_t *errors)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (!path || !*path || strlen (path) >= sizeof addr.sun_path) {
        config_errors_add (errors, "mitm.socket '%s': empty or longer than %zu bytes",
                  path ? path : "", sizeof addr.sun_path - 1);
        return NULL;
    }
    memcpy (addr.sun_path, path, strlen (path) + 1);
    if (paths_mkdir_parent (path, 0755) != 0) {
        config_errors_add (errors, "%s: cannot create its directory: %s", path, strerror (errno));
        return NULL;
    }
    if (clear_stale (&addr, errors) != 0)
        return NULL;
    listener_t *self = calloc (1, sizeof *self);
    if (!self) {
        config_errors_add (errors, "out of memory");
        return NULL;
    }
    snprintf (self->path, sizeof self->path, "%s", path);
    self->fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (self->fd < 0) {
        config_errors_add (errors, "%s: socket: %s", path, strerror (errno));
        free (self);
        return NULL;
    }
    if (bind (self->fd, (const struct sockaddr *) &addr, sizeof addr) != 0) {
        config_errors_add (errors, "%s: bind: %s", path, strerror (errno));
        close (self->fd);
        free (self);
        return NULL;
    }
    if (chmod (path, 0660) != 0) {
        config_errors_add (errors, "%s: chmod 0660: %s", path, strerror (errno));
        listener_destroy (&self);
        return NULL;
    }
    int size = 4 << 20;                 /* room for bursts; capped by rmem_max */
    setsockopt (self->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    warn_queue_length ();
    return self;
}

/*  Linux queues at most net.unix.max_dgram_qlen datagrams on the socket
    (10 by default, read when the socket is created), whatever its buffer:
    past that the addon's sends fail and it counts them undelivered. Say so
    at start rather than let bursts vanish into a counter.                  */
static void
warn_queue_length (void)
{
    FILE *f = fopen ("/proc/sys/net/unix/max_dgram_qlen", "r");
    int qlen = 0;
    if (!f)
        return;
    if (fscanf (f, "%d", &qlen) == 1 && qlen < RECOMMENDED_QLEN)
        log_warning ("net.unix.max_dgram_qlen is %d: a burst of more records than that is "
                     "dropped by the addon (counted as undelivered); raise it before the bridge "
                     "starts: sysctl -w net.unix.max_dgram_qlen=%d",
                     qlen, RECOMMENDED_QLEN);
    fclose (f);
}

void
listener_destroy (listener_t **self_p)
{
    listener_t *self = *self_p;
    if (!self)
        return;
    close (self->fd);
    unlink (self->path);
    free (self);
    *self_p = NULL;
}

int
listener_fd (listener_t *self)
{
    return self->fd;
}

const char *
listener_path (listener_t *self)
{
    return self->path;
}

ssize_t
listener_recv (listener_t *self, void *buf, size_t cap, size_t *real_len, listener_peer_t *peer)
{
    peer->len = sizeof peer->addr;
    ssize_t n = recvfrom (self->fd, buf, cap, MSG_TRUNC | MSG_DONTWAIT,
                          (struct sockaddr *) &peer->addr, &peer->len);
    if (n < 0)
        return -1;
    *real_len = (size_t) n;
    return (size_t) n > cap ? (ssize_t) cap : n;
}

int
listener_reply (listener_t *self, const listener_peer_t *peer, const void *data, size_t len)
{
    if (peer->len <= (socklen_t) sizeof (sa_family_t)) {
        errno = EDESTADDRREQ;
        return -1;
    }
    ssize_t n = sendto (self->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                        (const struct sockaddr *) &peer->addr, peer->len);
    return n == (ssize_t) len ? 0 : -1;
}
