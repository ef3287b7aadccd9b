/*  msgpool.h — payload buffers for outgoing ZeroMQ messages, without malloc.

    A publisher packs each message into a zmq_msg_t; ZeroMQ frees it later in
    its I/O thread. With zmq_msg_init_size that is a malloc in the publishing
    thread and a free in another one for every message, and glibc serialises
    the two on the arena lock (measured: a quarter of the collector's time
    when a subscriber is attached). A pool is one ring of bytes: the
    publishing thread takes the next slot, ZeroMQ's free function marks it
    done (from any thread), and the publishing thread reclaims done slots in
    ring order. When the ring is full (a slow subscriber holds many
    messages), a message falls back to zmq_msg_init_size: never refused.

    Only the thread that owns the pool calls msgpool_msg_init; the free
    function may run in any thread. The pool lives until the owner has
    released it AND every message it lent has been freed by ZeroMQ.        */
#ifndef DPI_MSGPOOL_H
#define DPI_MSGPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

typedef struct msgpool_t msgpool_t;

/*  A pool of BYTES (rounded up to 64 KiB); NULL when out of memory.        */
msgpool_t *msgpool_new (size_t bytes);

/*  Initialise MSG with SIZE bytes of content, from the ring when it has
    room, else from the heap. 0, or -1 (errno) as zmq_msg_init_size.       */
int msgpool_msg_init (msgpool_t *self, zmq_msg_t *msg, size_t size);

/*  Messages initialised from the ring, and from the heap because it was
    full.                                                                   */
uint64_t msgpool_lent (const msgpool_t *self);
uint64_t msgpool_fallbacks (const msgpool_t *self);

/*  Drop the owner's reference; the memory goes when ZeroMQ has freed the
    last message lent. Sets *SELF_P to NULL.                                */
void msgpool_release (msgpool_t **self_p);

#endif
