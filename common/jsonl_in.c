/*  jsonl_in.c — see jsonl_in.h.                                            */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl_in.h"
#include "log.h"
#include "pbjson.h"
#include "topics.h"

#define LINE_MAX_BYTES (1024 * 1024)
#define ERRORS_LOGGED 100

struct jsonl_in_t {
    FILE *file;
    char *name;
    const char *const *topics;
    jsonl_in_stats_t stats;
    char *line;
    size_t cap;
};

jsonl_in_t *
jsonl_in_open (const char *path, const char *const *topics, config_errors_t *errors)
{
    jsonl_in_t *self = calloc (1, sizeof *self);
    if (!self || !(self->name = strdup (path))) {
        free (self);
        config_errors_add (errors, "%s: out of memory", path);
        return NULL;
    }
    self->topics = topics;
    self->file = strcmp (path, "-") == 0 ? stdin : fopen (path, "r");
    if (!self->file) {
        config_errors_add (errors, "%s: cannot open: %s", path, strerror (errno));
        jsonl_in_close (&self);
    }
    return self;
}

void
jsonl_in_close (jsonl_in_t **self_p)
{
    jsonl_in_t *self = *self_p;
    if (!self)
        return;
    if (self->file && self->file != stdin)
        fclose (self->file);
    free (self->line);
    free (self->name);
    free (self);
    *self_p = NULL;
}

static void
line_error (jsonl_in_t *self, const char *what)
{
    uint64_t n = ++self->stats.errors;
    if (n <= ERRORS_LOGGED)
        log_error ("%s:%llu: %s", self->name, (unsigned long long) self->stats.lines, what);
    if (n == ERRORS_LOGGED)
        log_error ("%s: further bad lines are counted, not logged", self->name);
}

static bool
wanted (const jsonl_in_t *self, const char *topic)
{
    for (size_t i = 0; self->topics[i]; i++)
        if (strcmp (self->topics[i], topic) == 0)
            return true;
    return false;
}

static void
handle_line (jsonl_in_t *self, const char *line, size_t len, jsonl_in_fn *fn, void *arg)
{
    json_error_t jerr;
    json_t *obj = json_loadb (line, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *topic = obj ? json_string_value (json_object_get (obj, "topic")) : NULL;
    char why[320], detail[256];
    if (!obj || !json_is_object (obj)) {
        snprintf (why, sizeof why, "not a JSON object: %s", obj ? "other JSON value" : jerr.text);
        line_error (self, why);
    } else if (!topic) {
        line_error (self, "no \"topic\" (expected the lines `dpi-dualctl tail` prints)");
    } else if (!wanted (self, topic) || !topics_descriptor (topic)) {
        self->stats.skipped++;
    } else {
        json_object_del (obj, "header");
        ProtobufCMessage *msg = pbjson_parse (topics_descriptor (topic), obj, detail,
                                              sizeof detail);
        if (msg) {
            self->stats.messages++;
            fn (arg, topic, msg);
            protobuf_c_message_free_unpacked (msg, NULL);
        } else {
            snprintf (why, sizeof why, "%s: %s", topic, detail);
            line_error (self, why);
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
jsonl_in_read (jsonl_in_t *self, size_t max, jsonl_in_fn *fn, void *arg)
{
    for (size_t i = 0; i < max; i++) {
        ssize_t len = getline (&self->line, &self->cap, self->file);
        if (len < 0) {
            if (ferror (self->file)) {
                log_error ("%s: read error: %s", self->name, strerror (errno));
                self->stats.errors++;
            }
            return 0;
        }
        self->stats.lines++;
        if (len > LINE_MAX_BYTES)
            line_error (self, "line over 1 MiB");
        else if (!blank (self->line, (size_t) len))
            handle_line (self, self->line, (size_t) len, fn, arg);
    }
    return 1;
}

const char *
jsonl_in_name (const jsonl_in_t *self)
{
    return self->name;
}

jsonl_in_stats_t
jsonl_in_stats (const jsonl_in_t *self)
{
    return self->stats;
}
