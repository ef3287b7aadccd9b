/*  topics.h — the topics of the bus and the message type each one carries.

    The one place that maps a topic string to a protobuf descriptor; the
    publisher checks what it sends against it and the subscriber decodes
    with it. Topic names and their messages are listed in DESIGN.md.       */
#ifndef DPI_TOPICS_H
#define DPI_TOPICS_H

#include "dpidual.pb-c.h"

#define DPI_SCHEMA_VERSION 1

#define TOPIC_TAP_FLOW          "tap.flow"
#define TOPIC_TAP_STATS         "tap.stats"
#define TOPIC_MITM_REQUEST      "mitm.request"
#define TOPIC_MITM_RESPONSE     "mitm.response"
#define TOPIC_MITM_VERDICT      "mitm.verdict"
#define TOPIC_BUFFER_ALERT      "buffer.alert"
#define TOPIC_CORRELATED_THREAT "correlated.threat"
#define TOPIC_CORRELATED_JOIN   "correlated.join"
#define TOPIC_DECISION          "decision"
#define TOPIC_HEARTBEAT         "sys.heartbeat"

/*  The message descriptor of TOPIC (exact name), or NULL if unknown.      */
const ProtobufCMessageDescriptor *topics_descriptor (const char *topic);

/*  The topic at INDEX (0..), NULL past the end: for listings.             */
const char *topics_name (size_t index);

#endif
