/*  listener.h — the unix datagram socket the mitmproxy addon writes to.

    listener_new binds a SOCK_DGRAM unix socket at PATH: it creates the
    directory, removes a stale socket file left by a bridge that died (a
    live one — one that still accepts a connect — is an error, as is a
    path that exists and is not a socket), binds, and sets mode 0660.
    listener_destroy closes it and removes the file.

    Reads never block (the socket is non-blocking); a datagram larger than
    the buffer is reported with its real size (MSG_TRUNC) so the caller
    can count it. Replies go to the sender's address with sendto, never
    blocking either.                                                          */
#ifndef DPI_BRIDGE_LISTENER_H
#define DPI_BRIDGE_LISTENER_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "config.h"

typedef struct listener_t listener_t;

/*  The sender of a datagram.                                                */
typedef struct {
    struct sockaddr_un addr;
    socklen_t len;                      /* <= sizeof (sa_family_t): unbound  */
} listener_peer_t;

/*  NULL on error, the reason (naming PATH) added to ERRORS.                */
listener_t *listener_new (const char *path, config_errors_t *errors);
void listener_destroy (listener_t **self_p);

int listener_fd (listener_t *self);
const char *listener_path (listener_t *self);

/*  Read one datagram into BUF (CAP bytes). Returns the bytes stored, with
    the datagram's real size in *REAL_LEN and its sender in PEER; -1 when
    there is nothing to read (or an error: errno).                           */
ssize_t listener_recv (listener_t *self, void *buf, size_t cap, size_t *real_len,
                       listener_peer_t *peer);

/*  Send DATA to PEER. 0, or -1 (unbound peer, or sendto failed: errno).    */
int listener_reply (listener_t *self, const listener_peer_t *peer, const void *data, size_t len);

#endif
