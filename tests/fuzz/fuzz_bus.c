/*  fuzz_bus.c — libFuzzer harness for a received bus message
    (common/bus.c bus_sub_decode, common/topics.c) and the JSON printer
    (common/pbjson.c pbjson_append) and reader (common/pbjson_parse.c) on
    what decodes.

    Input: one flags byte (bit 0: headers-only subscriber, as
    `dpi-dualctl tail --count-only`), then messages, each
        topic byte   0..9 the topics of topics.c, 10 an unknown topic,
                     11 an empty topic, 12+ a topic of that many - 12 bytes
                     taken from the input (any bytes)
        length       2 bytes, big endian
        payload      that many bytes (fewer at the end of the input)
    all fed to one subscriber, so the sequence accounting (gaps, restarts,
    out of order per source and topic) sees a stream, then one message with
    an empty topic, which must be refused. The subscriber lives
    from one input to the next (a socket per input costs milliseconds): its
    tables fill up to their limit of sources, and the counters are checked
    as the differences one input makes.

    Checks beyond no crash: a message decodes only with a known topic and a
    header with a source and seq > 0; received and decode errors grow by the
    messages decoded and refused; the per-source received counts add up to
    at most what was received, and the per-source gaps to the total. For each decoded body: the JSON
    pbjson_append prints loads (jansson), starts with its topic, and read
    back by pbjson_parse and printed again gives the same JSON (roundtrip.h).

    Log lines (a message that does not decode is logged, rate-limited) are
    discarded unless FUZZ_LOG is set.                                        */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "config.h"
#include "roundtrip.h"
#include "topics.h"

static config_t *s_cfg;
static bus_sub_t *s_sub;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc, (void) argv;
    fuzz_quiet_logs ();
    zsys_init ();
    zsys_set_logstream (NULL);
    s_cfg = config_new ();
    s_sub = s_cfg ? bus_sub_new (s_cfg) : NULL;
    return s_sub ? 0 : 1;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bus_sub_t *sub = s_sub;
    uint64_t received = bus_sub_received (sub), errors = bus_sub_decode_errors (sub);
    bus_sub_set_headers_only (sub, data[0] & 1);
    size_t pos = 1, fed = 0, decoded = 0;
    while (pos < size) {
        uint8_t sel = data[pos++];
        char topic[256];
        size_t topic_len;
        if (sel < 10)
            topic_len = (size_t) snprintf (topic, sizeof topic, "%s", topics_name (sel));
        else if (sel == 10)
            topic_len = (size_t) snprintf (topic, sizeof topic, "tap.flowx");
        else if (sel == 11)
            topic_len = 0;
        else {
            topic_len = sel - 12u;
            if (topic_len > size - pos)
                topic_len = size - pos;
            memcpy (topic, data + pos, topic_len);
            pos += topic_len;
        }
        size_t len = 0;
        if (pos + 2 <= size) {
            len = (size_t) data[pos] << 8 | data[pos + 1];
            pos += 2;
        } else
            pos = size;
        if (len > size - pos)
            len = size - pos;
        uint8_t *payload = malloc (len ? len : 1);  /* exactly its bytes, for ASan */
        memcpy (payload, data + pos, len);
        pos += len;
        fed++;

        bus_msg_t msg;
        memset (&msg, 0, sizeof msg);
        int rc = bus_sub_decode (sub, topic, topic_len, payload, len, &msg);
        if (rc == 1) {
            decoded++;
            const ProtobufCMessageDescriptor *desc = topics_descriptor (msg.topic);
            if (!desc || strlen (msg.topic) != topic_len || memcmp (msg.topic, topic, topic_len))
                abort ();
            if (!msg.header || !msg.header->source || !*msg.header->source || !msg.header->seq)
                abort ();
            if ((data[0] & 1) != (msg.body == NULL))
                abort ();
            if (msg.body) {
                if (msg.body->descriptor != desc)
                    abort ();
                fuzz_round_trip (msg.topic, msg.body);
            }
        } else if (rc != -1)
            abort ();
        free (payload);
    }
    /* last, a message with an empty topic: refused, and it frees the blocks
       of the message decoded last (the arena is reset at each decode), so
       that the input's mallocs and frees balance; else libFuzzer runs most
       inputs twice looking for a leak */
    bus_msg_t last;
    memset (&last, 0, sizeof last);
    if (bus_sub_decode (sub, "", 0, data, 0, &last) != -1)
        abort ();
    fed++;
    if (bus_sub_received (sub) - received != decoded
        || bus_sub_decode_errors (sub) - errors != fed - decoded)
        abort ();
    uint64_t per_source = 0, gaps = 0;
    for (size_t i = 0; i < bus_sub_source_count (sub); i++) {
        bus_source_stats_t s = bus_sub_source_stats (sub, i);
        if (!s.source || !*s.source)
            abort ();
        per_source += s.received;
        gaps += s.gaps;
    }
    if (per_source > bus_sub_received (sub) || gaps != bus_sub_gaps (sub))
        abort ();
    return 0;
}
