/*  fuzz_decode.c — libFuzzer harness for collector/decode.c and the flow key.

    Input: one byte choosing the link type (among every type decode_packet
    handles, plus one it does not), then the frame. The frame is copied into
    a buffer of exactly its length, so ASan sees any read past the captured
    bytes. A frame that decodes must give an l3 inside the frame, a known IP
    version, and a flow hash that does not depend on the direction (the
    flow table keys both directions of a flow to the same bucket).          */
#include <pcap/dlt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "flowtable.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

static const int links[] = {
    DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_IPV4, DLT_IPV6,
    DLT_NULL, DLT_LOOP, DLT_PPP, DLT_PPP_SERIAL, DLT_C_HDLC, DLT_IEEE802_11,
};

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int dlt = links[data[0] % (sizeof links / sizeof links[0])];
    size_t caplen = size - 1;
    uint8_t *frame = malloc (caplen ? caplen : 1);
    if (!frame)
        return 0;
    memcpy (frame, data + 1, caplen);

    packet_t pkt;
    memset (&pkt, 0, sizeof pkt);
    decode_result_t r = decode_packet (dlt, frame, (uint32_t) caplen, &pkt);
    if (r >= DECODE_REASONS || !decode_reason_name (r))
        abort ();
    if (r == DECODE_OK) {
        if (pkt.l3 < frame || pkt.l3 + pkt.l3_len > frame + caplen)
            abort ();
        if (pkt.ip_version != 4 && pkt.ip_version != 6)
            abort ();
        if (pkt.tunnels > DECODE_MAX_TUNNELS)
            abort ();
        packet_t rev = pkt;
        memcpy (rev.src, pkt.dst, 16);
        memcpy (rev.dst, pkt.src, 16);
        rev.sport = pkt.dport;
        rev.dport = pkt.sport;
        if (flowtable_hash (&pkt) != flowtable_hash (&rev))
            abort ();
    }
    free (frame);
    return 0;
}
