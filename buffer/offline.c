/*  offline.c — dpi-buffer --offline FILE|-: JSON lines in, results out.

    Input: the lines `dpi-dualctl tail` prints — {"topic":"mitm.request",
    ...} and {"topic":"mitm.response", ...} are used (mitm.verdict too),
    other topics are skipped; a line that is not such a JSON object is
    reported with its line number and counted, and the run ends with exit
    status 3 (data) once the rest is done. Nothing is dropped for speed:
    when the analysis pool is full, reading waits for it (buffer.c holds
    the request).                                                            */
#include <jansson.h>
#include <string.h>

#include "buffer.h"
#include "log.h"
#include "pbjson.h"
#include "topics.h"

#define LINE_MAX_BYTES (1024 * 1024)

/*  A file is read once: each of its first bad lines is named, the rest
    only counted (the summary says how many).                                */
#define INPUT_ERRORS_LOGGED 100

static void
input_error (buffer_t *self, const char *what)
{
    uint64_t n = ++self->counters[BUFFER_INPUT_ERRORS];
    if (n <= INPUT_ERRORS_LOGGED)
        log_error ("%s:%llu: %s", self->input_name, (unsigned long long) self->input_line, what);
    if (n == INPUT_ERRORS_LOGGED)
        log_error ("%s: further bad lines are counted, not logged", self->input_name);
}

static void
handle_message (buffer_t *self, const char *topic, const ProtobufCMessage *msg)
{
    if (strcmp (topic, TOPIC_MITM_REQUEST) == 0)
        buffer_request (self, (const Dpidual__V1__HttpRequest *) msg);
    else if (strcmp (topic, TOPIC_MITM_RESPONSE) == 0)
        buffer_response (self, (const Dpidual__V1__HttpResponse *) msg);
    else if (strcmp (topic, TOPIC_MITM_VERDICT) == 0)
        buffer_verdict (self, (const Dpidual__V1__Verdict *) msg);
}

static void
handle_line (buffer_t *self, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *obj = json_loadb (line, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *topic = obj ? json_string_value (json_object_get (obj, "topic")) : NULL;
    char why[256];
    if (!obj || !json_is_object (obj)) {
        snprintf (why, sizeof why, "not a JSON object: %s", obj ? "other JSON value" : jerr.text);
        input_error (self, why);
    } else if (!topic) {
        input_error (self, "no \"topic\" (expected the lines `dpi-dualctl tail` prints)");
    } else if (strcmp (topic, TOPIC_MITM_REQUEST) == 0 || strcmp (topic, TOPIC_MITM_RESPONSE) == 0
               || strcmp (topic, TOPIC_MITM_VERDICT) == 0) {
        ProtobufCMessage *msg = pbjson_parse (topics_descriptor (topic), obj, why, sizeof why);
        if (msg) {
            handle_message (self, topic, msg);
            protobuf_c_message_free_unpacked (msg, NULL);
        } else {
            char full[320];
            snprintf (full, sizeof full, "%s: %s", topic, why);
            input_error (self, full);
        }
    }
    json_decref (obj);
}

static bool
blank (const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
            return false;
    return true;
}

int
buffer_offline_work (buffer_t *self, size_t max)
{
    buffer_results (self);
    if (self->held) {                       /* a request waiting for room */
        if (pool_submit (self->pool, self->held) != 0)
            return 0;
        self->held = NULL;
    }
    char *line = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < max && !self->input_done && !self->held; i++) {
        ssize_t len = getline (&line, &cap, self->input);
        if (len < 0) {
            if (ferror (self->input)) {
                log_error ("%s: read error: %s", self->input_name, strerror (errno));
                self->counters[BUFFER_INPUT_ERRORS]++;
            }
            self->input_done = true;
            break;
        }
        self->input_line++;
        self->counters[BUFFER_INPUT_LINES]++;
        if (len > LINE_MAX_BYTES)
            input_error (self, "line over 1 MiB");
        else if (!blank (line, (size_t) len))
            handle_line (self, line, (size_t) len);
    }
    free (line);
    if (!self->input_done)
        return self->held ? 0 : 1;
    buffer_results (self);
    return pool_pending (self->pool) || self->held ? 0 : -1;
}
