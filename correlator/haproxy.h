/*  haproxy.h — bans enforced by HAProxy itself, through its runtime API.

    deploy/haproxy/haproxy.cfg denies a client whose address is in the ACL
    file decision.haproxy_acl (`http-request deny if { src -f FILE }`,
    before anything reaches mitmproxy). A decision becomes
    `add acl FILE VALUE` on HAProxy's stats socket (decision.haproxy_socket,
    level admin), an UNBAN `del acl FILE VALUE`; addresses and CIDR ranges,
    IPv4 and IPv6. The runtime change is lost when HAProxy reloads: the
    enforcer also rewrites the ACL file itself (atomically) when it can
    write it, so a reload keeps the bans; when it cannot, it says so once.

    A socket that is missing or refuses is logged (rate-limited) and
    counted; the ban stays in the enforcer's list and is sent again when
    HAProxy answers (haproxy_tick retries). Each command is one short
    unix-socket exchange with a 500 ms timeout.

    HAProxy accepts a command with an empty answer; anything else is its
    refusal (an unban of a value it does not hold, "Key not found.", counts
    as done). Values are canonical (haproxy_canonical) so a ban and its
    unban name the same pattern; nothing but a valid address or CIDR ever
    reaches the socket. At haproxy_new the values already in the file count
    as applied (HAProxy loaded them); the file is the enforcer's: one value
    a line, other lines dropped at the next rewrite. A ban already applied
    is not sent twice; a ban queued while HAProxy was down is sent when it
    is back even though HAProxy then read it from the file (a duplicate
    pattern, harmless: `del acl` removes both). One thread at a time.

    Expiry: a ban made with haproxy_ban_until is lifted by haproxy_tick when
    its time is up (`del acl`, and out of the file), as the bridge's ban list
    lets its entries expire. The expiry is kept in the file as a comment line
    before the value ("# dpi-dual until UNIX-TIME (ISO time)": HAProxy skips
    lines starting with '#'), so it survives a restart of the correlator; a
    value without one (the operator's own lines) never expires.          */
#ifndef DPI_CORRELATOR_HAPROXY_H
#define DPI_CORRELATOR_HAPROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct {
    uint64_t added, removed;        /* commands HAProxy accepted             */
    uint64_t errors;                /* refused, or no answer                 */
    uint64_t pending;               /* waiting to be sent again              */
    uint64_t file_errors;           /* the ACL file could not be written     */
    uint64_t expired;               /* bans whose time was up (then del acl) */
} haproxy_stats_t;

typedef struct haproxy_t haproxy_t;

#define HAPROXY_VALUE_MAX 64        /* an IPv6 address and "/128", and NUL   */

/*  VALUE (an IPv4/IPv6 address, or one with "/LEN") into OUT canonical:
    host bits cleared, inet_ntop's spelling, "/LEN" only when shorter than
    the address. 0, or -1 when VALUE is anything else.                      */
int haproxy_canonical (const char *value, char out[HAPROXY_VALUE_MAX]);

/*  For SOCKET and ACL (decision.*). NULL with the reason in ERRORS (a path
    too long for a unix socket).                                            */
haproxy_t *haproxy_new (const char *socket, const char *acl, config_errors_t *errors);
void haproxy_destroy (haproxy_t **self_p);

/*  VALUE: an address or CIDR. 0 applied, -1 queued for a retry (logged),
    -2 refused: VALUE is not an address or CIDR (logged, never sent).      */
int haproxy_ban (haproxy_t *self, const char *value);
int haproxy_unban (haproxy_t *self, const char *value);
/*  The same ban, lifted at UNTIL_S (UNIX time; 0: never) by haproxy_tick.
    A ban already held keeps the later expiry (never wins).                */
int haproxy_ban_until (haproxy_t *self, const char *value, int64_t until_s);

/*  Lift the bans whose time is up, retry what failed (once a second is
    plenty).                                                                 */
void haproxy_tick (haproxy_t *self);

haproxy_stats_t haproxy_stats (const haproxy_t *self);

#endif
