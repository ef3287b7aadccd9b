/*  pool.h — the analysis threads and the bounded queue in front of them.

    The main loop submits jobs; N threads run FN on each; finished jobs
    come back to the main loop through pool_take, announced by an eventfd
    (pool_fd) it polls. The pool holds at most CAPACITY jobs (waiting,
    running, or finished and not yet taken): pool_submit never waits —
    when the pool is full it returns -1 and the
    caller counts the request as not analysed. A job is the caller's
    memory; the pool only moves the pointer.                                 */
#ifndef DPI_BUFFER_POOL_H
#define DPI_BUFFER_POOL_H

#include <stddef.h>
#include <stdint.h>

/*  Run in a pool thread on JOB (which it may change: the result).          */
typedef void (pool_fn) (void *arg, void *job);

typedef struct pool_t pool_t;

/*  THREADS threads, CAPACITY queued jobs at most. NULL on error (logged). */
pool_t *pool_new (size_t threads, size_t capacity, pool_fn *fn, void *arg);

/*  Stop the threads once the job each is running is done; jobs still queued
    or not taken are handed to DISCARD (may be NULL) on the caller's thread. */
void pool_destroy (pool_t **self_p, void (*discard) (void *job));

/*  0 queued, -1 the queue is full (JOB stays the caller's).                 */
int pool_submit (pool_t *self, void *job);

/*  Readable while finished jobs wait.                                       */
int pool_fd (pool_t *self);

/*  A finished job, or NULL.                                                 */
void *pool_take (pool_t *self);

/*  In a pool thread (inside FN): its index, 0..THREADS-1 (so FN can use
    state of its own per thread). Elsewhere: 0.                              */
size_t pool_thread_index (void);

/*  Jobs queued, running or finished and not taken.                          */
size_t pool_pending (pool_t *self);

/*  Jobs waiting in the queue now, and the most ever.                        */
size_t pool_queued (pool_t *self);
size_t pool_queued_max (pool_t *self);

#endif
