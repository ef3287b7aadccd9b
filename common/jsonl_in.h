/*  jsonl_in.h — reading the JSON lines `dpi-dualctl tail` prints, as bus
    messages: the offline input of the workers (dpi-buffer --offline,
    dpi-correlator --offline).

    Each line is one object with a "topic" (and a "header", ignored); a line
    whose topic is one of TOPICS becomes a message of that topic's type
    (pbjson_parse) handed to FN; lines of other topics are skipped and
    counted; blank lines are skipped. A line that is not such an object
    (not JSON, no topic, a field that does not parse, over 1 MiB) is named
    with its number and what is wrong — each of the first 100 logged, then
    only counted — and reading goes on.                                     */
#ifndef DPI_JSONL_IN_H
#define DPI_JSONL_IN_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef void (jsonl_in_fn) (void *arg, const char *topic, const ProtobufCMessage *msg);

typedef struct {
    uint64_t lines;
    uint64_t messages;              /* handed to FN                          */
    uint64_t skipped;               /* of a topic not asked for              */
    uint64_t errors;                /* lines not understood                  */
} jsonl_in_stats_t;

typedef struct jsonl_in_t jsonl_in_t;

/*  Read PATH ("-": stdin) for the topics of TOPICS (NULL-terminated). NULL
    with "PATH: cannot open: REASON" in ERRORS.                              */
jsonl_in_t *jsonl_in_open (const char *path, const char *const *topics,
                           config_errors_t *errors);
void jsonl_in_close (jsonl_in_t **self_p);

/*  Read up to MAX lines, each message to FN. 1: more to read, 0: the end
    (or a read error, logged and counted).                                  */
int jsonl_in_read (jsonl_in_t *self, size_t max, jsonl_in_fn *fn, void *arg);

const char *jsonl_in_name (const jsonl_in_t *self);
jsonl_in_stats_t jsonl_in_stats (const jsonl_in_t *self);

#endif
