/*  pool.c — the analysis threads and their bounded queue (pool.h).

    Two fixed rings of job pointers under one mutex: the queue and the
    finished list. At most CAPACITY jobs are in the pool at once (waiting,
    running, or finished and not taken), so neither ring can overflow. A thread takes from the queue, runs
    FN without the lock, puts the job on the finished list and bumps the
    eventfd; pool_take reads it back on the main thread.                    */
#include <errno.h>
#include <string.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"

typedef struct {
    void **items;
    size_t cap, head, count;
} fifo_t;

static __thread size_t s_thread_index;      /* pool_thread_index          */

typedef struct {
    struct pool_t *pool;
    size_t index;
} thread_arg_t;

struct pool_t {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    fifo_t queue, done;
    size_t running;
    size_t queued_max;
    bool stopping;
    int efd;
    pool_fn *fn;
    void *arg;
    size_t thread_count;
    pthread_t *threads;
    thread_arg_t *args;
};

static int
fifo_init (fifo_t *f, size_t cap)
{
    f->items = calloc (cap, sizeof *f->items);
    f->cap = cap;
    f->head = f->count = 0;
    return f->items ? 0 : -1;
}

static void
fifo_push (fifo_t *f, void *item)
{
    f->items[(f->head + f->count++) % f->cap] = item;
}

static void *
fifo_pop (fifo_t *f)
{
    if (f->count == 0)
        return NULL;
    void *item = f->items[f->head];
    f->head = (f->head + 1) % f->cap;
    f->count--;
    return item;
}

size_t
pool_thread_index (void)
{
    return s_thread_index;
}

static void *
pool_thread (void *arg)
{
    const thread_arg_t *targ = arg;
    pool_t *self = targ->pool;
    s_thread_index = targ->index;
    pthread_mutex_lock (&self->lock);
    for (;;) {
        while (!self->stopping && self->queue.count == 0)
            pthread_cond_wait (&self->wake, &self->lock);
        if (self->stopping)
            break;
        void *job = fifo_pop (&self->queue);
        self->running++;
        pthread_mutex_unlock (&self->lock);
        self->fn (self->arg, job);
        pthread_mutex_lock (&self->lock);
        self->running--;
        fifo_push (&self->done, job);
        uint64_t one = 1;
        if (write (self->efd, &one, sizeof one) < 0 && errno != EAGAIN)
            log_warning ("analysis pool: eventfd: %s", strerror (errno));
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

pool_t *
pool_new (size_t threads, size_t capacity, pool_fn *fn, void *arg)
{
    pool_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->fn = fn;
    self->arg = arg;
    self->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    self->threads = calloc (threads, sizeof *self->threads);
    self->args = calloc (threads, sizeof *self->args);
    if (self->efd < 0 || !self->threads || !self->args || fifo_init (&self->queue, capacity)
        || fifo_init (&self->done, capacity)) {
        log_error ("analysis pool: %s", self->efd < 0 ? strerror (errno) : "out of memory");
        pool_destroy (&self, NULL);
        return NULL;
    }
    for (; self->thread_count < threads; self->thread_count++) {
        thread_arg_t *targ = &self->args[self->thread_count];
        *targ = (thread_arg_t) { self, self->thread_count };
        int rc = pthread_create (&self->threads[self->thread_count], NULL, pool_thread, targ);
        if (rc != 0) {
            log_error ("analysis pool: cannot start thread: %s", strerror (rc));
            pool_destroy (&self, NULL);
            return NULL;
        }
    }
    return self;
}

void
pool_destroy (pool_t **self_p, void (*discard) (void *job))
{
    pool_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
    for (size_t i = 0; i < self->thread_count; i++)
        pthread_join (self->threads[i], NULL);
    void *job;
    while (self->queue.items && (job = fifo_pop (&self->queue)))
        if (discard)
            discard (job);
    while (self->done.items && (job = fifo_pop (&self->done)))
        if (discard)
            discard (job);
    free (self->queue.items);
    free (self->done.items);
    free (self->threads);
    free (self->args);
    if (self->efd >= 0)
        close (self->efd);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->wake);
    free (self);
    *self_p = NULL;
}

int
pool_submit (pool_t *self, void *job)
{
    pthread_mutex_lock (&self->lock);
    bool room = self->queue.count + self->running + self->done.count < self->queue.cap;
    if (room) {
        fifo_push (&self->queue, job);
        if (self->queue.count > self->queued_max)
            self->queued_max = self->queue.count;
        pthread_cond_signal (&self->wake);
    }
    pthread_mutex_unlock (&self->lock);
    return room ? 0 : -1;
}

int
pool_fd (pool_t *self)
{
    return self->efd;
}

void *
pool_take (pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    void *job = fifo_pop (&self->done);
    if (self->done.count == 0) {
        uint64_t count;                 /* re-armed by the next finished job */
        if (read (self->efd, &count, sizeof count) < 0 && errno != EAGAIN)
            log_warning ("analysis pool: eventfd: %s", strerror (errno));
    }
    pthread_mutex_unlock (&self->lock);
    return job;
}

size_t
pool_pending (pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->queue.count + self->running + self->done.count;
    pthread_mutex_unlock (&self->lock);
    return n;
}

size_t
pool_queued (pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->queue.count;
    pthread_mutex_unlock (&self->lock);
    return n;
}

size_t
pool_queued_max (pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->queued_max;
    pthread_mutex_unlock (&self->lock);
    return n;
}
