/*  topics.c — see topics.h.                                                 */
#include "topics.h"

#include <string.h>

static const struct {
    const char *topic;
    const ProtobufCMessageDescriptor *descriptor;
} s_topics[] = {
    { TOPIC_TAP_FLOW, &dpidual__v1__flow_event__descriptor },
    { TOPIC_TAP_STATS, &dpidual__v1__tap_stats__descriptor },
    { TOPIC_MITM_REQUEST, &dpidual__v1__http_request__descriptor },
    { TOPIC_MITM_RESPONSE, &dpidual__v1__http_response__descriptor },
    { TOPIC_MITM_VERDICT, &dpidual__v1__verdict__descriptor },
    { TOPIC_BUFFER_ALERT, &dpidual__v1__alert__descriptor },
    { TOPIC_CORRELATED_THREAT, &dpidual__v1__correlated_threat__descriptor },
    { TOPIC_CORRELATED_JOIN, &dpidual__v1__join__descriptor },
    { TOPIC_DECISION, &dpidual__v1__decision__descriptor },
    { TOPIC_HEARTBEAT, &dpidual__v1__heartbeat__descriptor },
};

const ProtobufCMessageDescriptor *
topics_descriptor (const char *topic)
{
    for (size_t i = 0; i < sizeof s_topics / sizeof s_topics[0]; i++)
        if (strcmp (s_topics[i].topic, topic) == 0)
            return s_topics[i].descriptor;
    return NULL;
}

const char *
topics_name (size_t index)
{
    return index < sizeof s_topics / sizeof s_topics[0] ? s_topics[index].topic : NULL;
}
