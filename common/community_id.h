/*  community_id.h — Community ID v1 flow hashing (corelight/community-id-spec).

    The Community ID is the key both streams compute over the client→frontend
    tuple so the correlator can join them by string equality.

    Algorithm (v1):
      1. ICMP (proto 1) and ICMPv6 (proto 58): the "ports" are the message
         type and code. Request/reply types map to each other (echo 8<->0,
         ND 135<->136, ...); for those the destination port becomes the
         counterpart type, so both directions meet. Any other type is one-way:
         its code stays the destination port and the endpoints are never
         swapped.
      2. Otherwise order the endpoints so the smaller (address, port) comes
         first: compare the addresses bytewise in network order, and if they
         are equal, compare the ports.
      3. SHA-1 over  seed (2 bytes, big-endian) . saddr . daddr (4 or 16 bytes
         each) . proto (1 byte) . 0 (1 pad byte) . sport . dport (2 bytes each,
         big-endian). The ports appear only for TCP, UDP, SCTP, ICMP and
         ICMPv6; any other protocol hashes the addresses and proto only.
      4. Result: "1:" + base64 of the 20-byte digest (or lowercase hex).

    Pure functions: no globals, no allocation; safe from any thread.         */
#ifndef DPI_COMMUNITY_ID_H
#define DPI_COMMUNITY_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>         /* AF_INET, AF_INET6 */

/*  Buffer sizes including the NUL: "1:" + 28 base64 chars, or "1:" + 40 hex
    chars. COMMUNITY_ID_V1_BUFSIZE fits either form.                         */
#define COMMUNITY_ID_V1_BASE64_SIZE 31
#define COMMUNITY_ID_V1_HEX_SIZE    43
#define COMMUNITY_ID_V1_BUFSIZE     44

#define COMMUNITY_ID_SHA1_LEN       20

/*  Address family-agnostic tuple; addresses in network byte order.          */
typedef struct {
    int family;                 /* AF_INET or AF_INET6 */
    uint8_t src[16], dst[16];   /* 4 or 16 bytes used */
    uint8_t proto;              /* IP protocol number */
    uint16_t sport, dport;      /* host byte order; for ICMP/ICMPv6: type and code */
} community_id_tuple_t;

/*  Writes "1:" + base64 (or hex when HEX is true) of the SHA-1 into OUT
    (NUL-terminated). Returns the string length (30 base64, 42 hex), or -1 if
    OUTLEN is too small (see the _SIZE macros above), T or OUT is NULL, or the
    family is neither AF_INET nor AF_INET6. On -1, OUT is left untouched.    */
int community_id_v1 (const community_id_tuple_t *t, uint16_t seed, bool hex,
                     char *out, size_t outlen);

/*  Convenience: from text addresses ("10.0.0.1", "fe80::1"). Both must be of
    the same family. Returns -1 on a bad or mismatched address, otherwise as
    community_id_v1.                                                         */
int community_id_v1_str (const char *src_ip, uint16_t sport,
                         const char *dst_ip, uint16_t dport, uint8_t proto,
                         uint16_t seed, bool hex, char *out, size_t outlen);

/*  The SHA-1 (FIPS 180-1) used above, exposed so the unit test can check it
    on the standard vectors. One-shot; DATA may be NULL when LEN is 0.       */
void community_id_sha1 (const void *data, size_t len,
                        uint8_t digest[COMMUNITY_ID_SHA1_LEN]);

#endif
