/*  ring.h — the buffer of recent requests: a preallocated ring with O(1)
    insert and two indexes.

    SIZE slots are allocated once. A request is stored as received (its
    packed mitm.request message, one allocation of its exact size), with
    what is learnt later: the response status, the live verdict, the deep
    analysis result. Inserting into a full ring overwrites the oldest
    entry; so does going over MEMORY bytes of stored requests (counted as
    evicted_memory), so memory is bounded by SIZE slots + MEMORY bytes.

    Indexes, both O(1) on average and updated on overwrite:
      - request_id -> entry (a response or verdict finds its request; a
        request without an id is not indexed);
      - client ip -> that client's entries, newest first (a doubly linked
        list through the slots), for context and replay.

    An entry is named by its sequence number (1, 2, ... in insert order):
    ring_get (seq) says whether it is still there. One thread: the worker's
    main loop owns the ring; analysis threads get copies.                    */
#ifndef DPI_BUFFER_RING_H
#define DPI_BUFFER_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpidual.pb-c.h"

#define RING_IP_MAX 46              /* INET6_ADDRSTRLEN                      */
#define RING_RULES_MAX 8            /* rule ids kept per entry               */

typedef struct {
    uint64_t seq;                   /* 0: empty slot                         */
    uint64_t ts_ns;                 /* request start (its ts_ns, else receipt) */
    char client_ip[RING_IP_MAX];
    uint8_t *packed;                /* the mitm.request message as received  */
    size_t packed_len;
    bool credentials;               /* set by the caller: Authorization, or a
                                       login-like POST                       */
    /* learnt later */
    uint32_t status;                /* response status, 0 = none yet         */
    bool response_error;            /* the response was an error             */
    uint64_t latency_us;
    int verdict;                    /* Dpidual__V1__Verdict__Action, 0 = none */
    bool analysed;                  /* deep analysis done                    */
    bool not_analysed;              /* dropped from the analysis queue       */
    uint32_t score;                 /* CRS inbound anomaly score             */
    uint32_t severity;
    bool alerted;
    char category[24];
    size_t rule_count;
    uint32_t rules[RING_RULES_MAX];
} ring_entry_t;

typedef struct {
    uint64_t inserted;
    uint64_t overwritten;           /* the oldest entry made room            */
    uint64_t evicted_memory;        /* dropped early to stay under MEMORY    */
    uint64_t entries;               /* held now                              */
    uint64_t bytes;                 /* packed bytes held now                 */
    uint64_t clients;               /* distinct client ips held now          */
    uint64_t duplicate_ids;         /* a request_id already held: the older
                                       one leaves the id index               */
} ring_stats_t;

typedef struct ring_t ring_t;

/*  SIZE slots, MEMORY bytes of packed requests at most. NULL when out of
    memory.                                                                   */
ring_t *ring_new (size_t size, size_t memory);
void ring_destroy (ring_t **self_p);

/*  Store REQ (packed here). Returns the new entry (valid until the next
    insert), or NULL when out of memory or REQ alone is over MEMORY.         */
ring_entry_t *ring_insert (ring_t *self, const Dpidual__V1__HttpRequest *req);

/*  The entry SEQ, or NULL when overwritten (or never inserted).             */
ring_entry_t *ring_get (ring_t *self, uint64_t seq);

/*  The entry of REQUEST_ID, or NULL.                                        */
ring_entry_t *ring_find_request (ring_t *self, const char *request_id);

/*  The entries of client IP, newest first: the first, then each next (NULL
    at the end).                                                              */
ring_entry_t *ring_client_first (ring_t *self, const char *ip);
ring_entry_t *ring_client_next (ring_t *self, const ring_entry_t *entry);

/*  The newest entry, then older ones (NULL at the end): for `dump N`.      */
ring_entry_t *ring_newest (ring_t *self);
ring_entry_t *ring_older (ring_t *self, const ring_entry_t *entry);

/*  Unpack an entry's request (free with
    dpidual__v1__http_request__free_unpacked (req, NULL)); NULL on error.   */
Dpidual__V1__HttpRequest *ring_request (const ring_entry_t *entry);

ring_stats_t ring_stats (const ring_t *self);
size_t ring_size (const ring_t *self);

/*  Bytes the ring itself uses with no request stored (slots + indexes).    */
size_t ring_fixed_bytes (const ring_t *self);

#endif
