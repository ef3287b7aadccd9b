/*  decode.h — from a captured frame to the facts a flow table needs.

    decode_packet walks the link layer (Ethernet with 802.1Q/QinQ, MPLS,
    PPPoE and LLC/SNAP, Linux SLL and SLL2, raw IP, BSD NULL/loopback, PPP
    and Cisco HDLC), then IPv4 or IPv6 with its extension headers, through
    IP-in-IP, 6in4 and 4in6 tunnels to the innermost IP header, as
    ndpiReader does, and reads the transport ports. IP protocol numbers are
    the IPPROTO_* of <netinet/in.h> here and in every module.

    Every read is bounds-checked against the captured length; a frame that
    cannot be decoded gets a reason (decode_reason_name) for the counters,
    never a crash. IPv4 fragments: the first one is decoded normally (its
    transport header is there), later ones return DECODE_FRAGMENT and are
    only counted — as ndpiReader does. An IP datagram cut short by the
    capture (snaplen, or a broken frame) is DECODE_TRUNCATED and not
    accounted to a flow, like ndpiReader: nDPI cannot classify it, and
    tap.snaplen (default 65535) must cover whole packets.                   */
#ifndef DPI_DECODE_H
#define DPI_DECODE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    DECODE_OK = 0,
    DECODE_TOO_SHORT,           /* frame shorter than its headers           */
    DECODE_NOT_IP,              /* ARP, STP, LLDP...: not for us            */
    DECODE_BAD_IP,              /* IP header inconsistent (version, lengths) */
    DECODE_FRAGMENT,            /* IPv4/IPv6 fragment after the first       */
    DECODE_TUNNEL_DEPTH,        /* more than DECODE_MAX_TUNNELS nested IP    */
    DECODE_BAD_LINK,            /* link type we do not decode               */
    DECODE_TRUNCATED,           /* IP datagram longer than what was captured */
    DECODE_REASONS
} decode_result_t;

#define DECODE_MAX_TUNNELS 4

typedef struct {
    const uint8_t *l3;          /* innermost IP header                       */
    uint16_t l3_len;            /* captured bytes from l3 (what nDPI gets)   */
    uint8_t ip_version;         /* 4 or 6                                    */
    uint8_t proto;              /* transport protocol (after ext. headers)   */
    uint16_t vlan;              /* innermost 802.1Q id, 0 if none            */
    uint8_t src[16], dst[16];   /* IPv4 in the first 4 bytes, rest zero      */
    uint16_t sport, dport;      /* host order; 0 for protocols without ports */
    uint8_t icmp_type, icmp_code;
    uint8_t tcp_flags;
    bool first_fragment;        /* the datagram is fragmented (MF set)       */
    uint8_t tunnels;            /* IP-in-IP levels crossed                   */
} packet_t;

/*  Decode FRAME (CAPLEN captured bytes) of link type DLT into PKT.          */
decode_result_t decode_packet (int dlt, const uint8_t *frame, uint32_t caplen, packet_t *pkt);

/*  Is DLT a link type decode_packet handles?                                */
bool decode_link_supported (int dlt);

/*  Short names for counters: "too-short", "not-ip", ...                     */
const char *decode_reason_name (decode_result_t reason);

#endif
