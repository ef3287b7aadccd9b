/*  fuzz_jsonl.c — libFuzzer harness for the offline JSON-line readers
    (common/jsonl_in.c) as dpi-buffer --offline (buffer/buffer.c) and
    dpi-correlator --offline (correlator/correlator.c) open them.

    Input: one byte choosing the reader (even: the buffer's topics
    mitm.request, mitm.response, mitm.verdict; odd: the correlator's
    tap.flow, mitm.request, mitm.verdict, buffer.alert), then the file: its
    bytes are written to a memfd and read through /proc/self/fd/N to the
    end, as a file given to --offline is.

    Checks beyond no crash: nothing is dropped silently — the reader's line
    count is the file's (counted here: each '\n', plus a last line without
    one), and every line is a message handed over, a skipped topic, an error
    or a blank line (only spaces, tabs, CR: counted here); the messages
    handed over are those counted, each of an asked-for topic and of that
    topic's type. (The JSON round trip of each message is fuzz_bus's and
    fuzz_pbjson_parse's: here it would cost most of the time per input.)    */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "jsonl_in.h"
#include "roundtrip.h"
#include "topics.h"

static const char *const s_buffer_topics[] = {
    TOPIC_MITM_REQUEST, TOPIC_MITM_RESPONSE, TOPIC_MITM_VERDICT, NULL,
};
static const char *const s_correlator_topics[] = {
    TOPIC_TAP_FLOW, TOPIC_MITM_REQUEST, TOPIC_MITM_VERDICT, TOPIC_BUFFER_ALERT, NULL,
};

static int s_fd = -1;
static char s_path[64];

typedef struct {
    const char *const *topics;
    uint64_t messages;
} seen_t;

static void
on_message (void *arg, const char *topic, const ProtobufCMessage *msg)
{
    seen_t *seen = arg;
    bool wanted = false;
    for (size_t i = 0; seen->topics[i]; i++)
        wanted = wanted || strcmp (seen->topics[i], topic) == 0;
    if (!wanted || !msg || msg->descriptor != topics_descriptor (topic))
        abort ();
    seen->messages++;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc, (void) argv;
    fuzz_quiet_logs ();
    s_fd = memfd_create ("fuzz_jsonl", MFD_CLOEXEC);
    if (s_fd < 0)
        return 1;
    snprintf (s_path, sizeof s_path, "/proc/self/fd/%d", s_fd);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *) data + 1;
    size_t len = size - 1;
    if (ftruncate (s_fd, 0) || (len && pwrite (s_fd, text, len, 0) != (ssize_t) len))
        abort ();

    /* the file's lines, and its blank ones, counted here */
    uint64_t lines = 0, blank = 0;
    for (size_t start = 0; start < len;) {
        const char *nl = memchr (text + start, '\n', len - start);
        size_t end = nl ? (size_t) (nl - text) + 1 : len;
        bool is_blank = true;
        for (size_t i = start; i < end && is_blank; i++)
            is_blank = text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n';
        lines++;
        blank += is_blank;
        start = end;
    }

    config_errors_t errors = { 0 };
    seen_t seen = { .topics = data[0] & 1 ? s_correlator_topics : s_buffer_topics };
    jsonl_in_t *in = jsonl_in_open (s_path, seen.topics, &errors);
    if (!in)
        abort ();
    int more = 1;
    for (int turns = 0; more == 1; turns++) {
        more = jsonl_in_read (in, 7, on_message, &seen);
        if (turns > 100000)
            abort ();                           /* never comes to the end */
    }
    jsonl_in_stats_t st = jsonl_in_stats (in);
    if (more != 0 || st.lines != lines || st.messages != seen.messages
        || st.messages + st.skipped + st.errors + blank != lines) {
        printf ("lines %llu (file %llu, blank %llu) messages %llu (seen %llu) skipped %llu "
                "errors %llu\n", (unsigned long long) st.lines, (unsigned long long) lines,
                (unsigned long long) blank, (unsigned long long) st.messages,
                (unsigned long long) seen.messages, (unsigned long long) st.skipped,
                (unsigned long long) st.errors);
        abort ();
    }
    jsonl_in_close (&in);
    config_errors_clear (&errors);
    return 0;
}
