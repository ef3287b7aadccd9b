/*  classify.h — nDPI 4.2 classification of flows, as ndpiReader does it.

    One classifier (one nDPI detection module) per lane thread. Packets
    of a flow go to nDPI until detection ends: a protocol is found and nDPI
    says no extra dissection is possible (it keeps going, e.g., for the TLS
    server certificate), or tap.max_packets_per_flow packets were given —
    then nDPI is asked to give up (and guess). At that point the facts worth
    keeping (protocols, category, confidence, risks, host, TLS and HTTP
    fields, DNS query) are copied into the flow record and nDPI's per-flow
    state is freed: a classified flow costs only its compact record.      */
#ifndef DPI_CLASSIFY_H
#define DPI_CLASSIFY_H

#include <stddef.h>

#include "flowtable.h"

typedef struct classifier_t classifier_t;

classifier_t *classifier_new (unsigned max_packets);
void classifier_destroy (classifier_t **self_p);

/*  Give the packet PKT of FLOW (seen at TS_MS) to nDPI unless FLOW is
    classified already. Returns 1 when classification ended with this
    packet, 0 otherwise, -1 when memory ran out (the flow then stays
    unclassified, and the caller counts it).                                  */
int classifier_feed (classifier_t *self, flow_t *flow, const packet_t *pkt, uint64_t ts_ms);

/*  FLOW ends before classification ended: give up (nDPI guesses).          */
void classifier_giveup (classifier_t *self, flow_t *flow);

/*  Free what FLOW holds (nDPI state, metadata).                             */
void classifier_release (classifier_t *self, flow_t *flow);

/*  Names, for events: "TLS.Google" as ndpiReader prints it, a protocol id's
    name, the category and confidence names, a risk bit's name (NULL if the
    bit is not a risk).                                                       */
const char *classifier_proto_name (classifier_t *self, const flow_t *flow, char *buf, size_t len);
const char *classifier_id_name (classifier_t *self, uint16_t id);
const char *classifier_category_name (classifier_t *self, uint16_t category);
const char *classifier_confidence_name (uint8_t confidence);
const char *classifier_risk_name (unsigned bit);

/*  Bytes held by nDPI's per-flow states now.                                */
size_t classifier_state_bytes (classifier_t *self);

#endif
