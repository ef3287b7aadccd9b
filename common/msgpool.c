/*  msgpool.c — see msgpool.h. One ring of bytes: [slot header | content]...
    Positions are 64-bit byte offsets that only grow; a slot never straddles
    the end of the ring (a done padding slot fills the rest instead).     */
#include "msgpool.h"

#include "bigmem.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#define SLOT_ALIGN 16
#define HEADER     16                   /* keeps the content 16-byte aligned */

typedef struct {
    atomic_uint done;                   /* set by ZeroMQ's free function     */
    uint32_t len;                       /* header + content + padding        */
} slot_t;

struct msgpool_t {
    unsigned char *ring;
    size_t size;
    uint64_t head;                      /* next slot (owner only)            */
    uint64_t tail;                      /* oldest slot not reclaimed (owner) */
    atomic_uint_fast64_t refs;          /* owner + messages not yet freed    */
    uint64_t lent;
    uint64_t fallbacks;
};

msgpool_t *
msgpool_new (size_t bytes)
{
    const size_t unit = 64 * 1024;
    msgpool_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->size = bytes < unit ? unit : (bytes + unit - 1) / unit * unit;
    self->ring = bigmem_alloc (self->size);
    if (!self->ring) {
        free (self);
        return NULL;
    }
    atomic_init (&self->refs, 1);
    return self;
}

static void
unref (msgpool_t *self)
{
    if (atomic_fetch_sub_explicit (&self->refs, 1, memory_order_acq_rel) == 1) {
        bigmem_free (self->ring, self->size);
        free (self);
    }
}

/*  ZeroMQ's free function: any thread.                                     */
static void
slot_free (void *data, void *hint)
{
    slot_t *slot = (slot_t *) ((unsigned char *) data - HEADER);
    atomic_store_explicit (&slot->done, 1, memory_order_release);
    unref (hint);
}

static slot_t *
slot_at (msgpool_t *self, uint64_t pos)
{
    return (slot_t *) (self->ring + pos % self->size);
}

/*  Move the tail over the slots ZeroMQ has freed, oldest first.            */
static void
reclaim (msgpool_t *self)
{
    while (self->tail != self->head) {
        slot_t *slot = slot_at (self, self->tail);
        if (!atomic_load_explicit (&slot->done, memory_order_acquire))
            break;
        self->tail += slot->len;
    }
}

/*  Room for a slot of NEED bytes, with the padding it needs first.         */
static bool
fits (const msgpool_t *self, size_t need, size_t *pad)
{
    size_t pos = self->head % self->size;
    *pad = pos + need > self->size ? self->size - pos : 0;
    return self->head + *pad + need - self->tail <= self->size;
}

int
msgpool_msg_init (msgpool_t *self, zmq_msg_t *msg, size_t size)
{
    size_t need = (HEADER + size + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
    size_t pad = 0;
    bool small = need <= self->size / 8;
    if (small && !fits (self, need, &pad))
        reclaim (self);
    if (!small || !fits (self, need, &pad)) {
        self->fallbacks++;
        return zmq_msg_init_size (msg, size);
    }
    if (pad) {
        slot_t *filler = slot_at (self, self->head);
        filler->len = (uint32_t) pad;
        atomic_store_explicit (&filler->done, 1, memory_order_relaxed);
        self->head += pad;
    }
    slot_t *slot = slot_at (self, self->head);
    slot->len = (uint32_t) need;
    atomic_store_explicit (&slot->done, 0, memory_order_relaxed);
    atomic_fetch_add_explicit (&self->refs, 1, memory_order_relaxed);
    if (zmq_msg_init_data (msg, (unsigned char *) slot + HEADER, size, slot_free, self) != 0) {
        int err = errno;
        atomic_fetch_sub_explicit (&self->refs, 1, memory_order_relaxed);
        errno = err;
        return -1;                      /* the slot was not taken: head stays */
    }
    self->head += need;
    self->lent++;
    return 0;
}

uint64_t
msgpool_lent (const msgpool_t *self)
{
    return self->lent;
}

uint64_t
msgpool_fallbacks (const msgpool_t *self)
{
    return self->fallbacks;
}

void
msgpool_release (msgpool_t **self_p)
{
    if (*self_p)
        unref (*self_p);
    *self_p = NULL;
}
