/* The offload dispatcher (irpc/offload.h): blocking handlers on a bounded
 * pool of threads, completions back on the dispatch's loop through the
 * dispatcher's mailbox. */
#include <string.h>

#include "base/list.h"
#include "base/mailbox.h"
#include "base/struct_size.h"
#include "chain/chain.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/frames.h"
#include "irpc/offload.h"
#include "irpc/status.h"

#define THREADS_MAX 1024
#define DEFAULT_QUEUED 64

static const char busy_message[] = "Server busy: the offload queue is full.";

struct irpc_offload_pool {
  uv_mutex_t mutex;
  uv_cond_t cond;
  irpc__list queue; /* ol_job, oldest first; under mutex */
  size_t max_queued;
  int stop; /* under mutex */
  unsigned nthreads;
  uv_thread_t *threads;
  irpc_offload_pool_stats stats; /* under mutex (queued is queue.len) */
};

/* An offload dispatcher's state that must outlive the dispatcher until its
 * mailbox is closed. */
typedef struct ol {
  irpc__mailbox mb;
  irpc_offload_pool *pool;
  irpc_offload_fn fn;
  void *ud;
  size_t inflight; /* loop thread: handed to the pool, not completed */
  int destroyed;   /* loop thread */
} ol;

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

/* One request, in the dispatch's state: no allocation per request. */
typedef struct ol_job {
  irpc__link link; /* in the pool's queue while queued */
  irpc__mail mail; /* back to the loop */
  ol *owner;
  irpc_dispatch *d;
  irpc_incoming_request *req;
  irpc_outgoing_response *resp;
  int state; /* under the pool's mutex */
} ol_job;

/* ---- The pool ---- */

static void worker(void *arg) {
  irpc_offload_pool *p = arg;
  uv_mutex_lock(&p->mutex);
  for (;;) {
    while (!p->stop && !p->queue.head)
      uv_cond_wait(&p->cond, &p->mutex);
    if (!p->queue.head)
      break; /* stopping, and nothing left */
    ol_job *job =
        IRPC__CONTAINER_OF(irpc__list_pop_front(&p->queue), ol_job, link);
    job->state = JOB_RUNNING;
    p->stats.running++;
    uv_mutex_unlock(&p->mutex);
    ol *o = job->owner;
    job->resp = o->fn(job->req, o->ud);
    uv_mutex_lock(&p->mutex);
    job->state = JOB_DONE;
    p->stats.running--;
    p->stats.done++;
    /* Under the pool's mutex: the loop sees the job done only from the
     * mail, after this. */
    irpc__mailbox_post(&o->mb, &job->mail);
  }
  uv_mutex_unlock(&p->mutex);
}

void irpc_offload_pool_options_init_sized(irpc_offload_pool_options *o,
                                          size_t size) {
  irpc_offload_pool_options d;
  memset(&d, 0, sizeof(d));
  d.max_queued = DEFAULT_QUEUED;
  irpc__struct_export(o, size, &d, sizeof(d));
}

static void pool_stop(irpc_offload_pool *p, unsigned started) {
  uv_mutex_lock(&p->mutex);
  p->stop = 1;
  uv_cond_broadcast(&p->cond);
  uv_mutex_unlock(&p->mutex);
  for (unsigned i = 0; i < started; i++)
    uv_thread_join(&p->threads[i]);
  uv_cond_destroy(&p->cond);
  uv_mutex_destroy(&p->mutex);
  irpc_free(p->threads);
  irpc_free(p);
}

int irpc_offload_pool_new(irpc_offload_pool **out,
                          const irpc_offload_pool_options *opts) {
  if (!out)
    return IRPC_EINVAL;
  irpc_offload_pool_options o;
  if (opts) {
    if (IRPC__IMPORT(&o, opts, irpc_offload_pool_options) < 0)
      return IRPC_EINVAL;
  } else {
    irpc_offload_pool_options_init(&o);
  }
  if (o.threads > THREADS_MAX)
    return IRPC_EINVAL;
  unsigned n = o.threads ? o.threads : uv_available_parallelism();
  if (n == 0)
    n = 1;
  if (n > THREADS_MAX)
    n = THREADS_MAX;
  irpc_offload_pool *p = irpc_calloc(1, sizeof(*p));
  if (!p)
    return IRPC_ENOMEM;
  p->threads = irpc_calloc(n, sizeof(uv_thread_t));
  if (!p->threads) {
    irpc_free(p);
    return IRPC_ENOMEM;
  }
  if (uv_mutex_init(&p->mutex) != 0) {
    irpc_free(p->threads);
    irpc_free(p);
    return IRPC_ENOMEM;
  }
  if (uv_cond_init(&p->cond) != 0) {
    uv_mutex_destroy(&p->mutex);
    irpc_free(p->threads);
    irpc_free(p);
    return IRPC_ENOMEM;
  }
  p->max_queued = o.max_queued;
  p->nthreads = n;
  for (unsigned i = 0; i < n; i++) {
    int rc = uv_thread_create(&p->threads[i], worker, p);
    if (rc) {
      pool_stop(p, i);
      return rc;
    }
  }
  *out = p;
  return 0;
}

int irpc_offload_pool_read(irpc_offload_pool *p, irpc_offload_pool_stats *out) {
  if (!p || !out)
    return IRPC_EINVAL;
  uv_mutex_lock(&p->mutex);
  *out = p->stats;
  out->queued = p->queue.len;
  uv_mutex_unlock(&p->mutex);
  return 0;
}

void irpc_offload_pool_free(irpc_offload_pool *p) {
  if (p)
    pool_stop(p, p->nthreads);
}

/* Queues the job unless the queue is full (a request is taken without
 * waiting while a thread is idle). Returns 0 or IRPC_ESERVERBUSY. */
static int pool_submit(irpc_offload_pool *p, ol_job *job) {
  int rc = 0;
  uv_mutex_lock(&p->mutex);
  size_t idle = p->nthreads - (size_t)p->stats.running;
  if (p->queue.len >=
      p->max_queued + (idle > p->queue.len ? idle - p->queue.len : 0)) {
    p->stats.rejected++;
    rc = IRPC_ESERVERBUSY;
  } else {
    job->state = JOB_QUEUED;
    irpc__list_push_back(&p->queue, &job->link);
    uv_cond_signal(&p->cond);
  }
  uv_mutex_unlock(&p->mutex);
  return rc;
}

/* Takes a job still waiting off the queue. Returns 1 when it was. */
static int pool_withdraw(irpc_offload_pool *p, ol_job *job) {
  int taken = 0;
  uv_mutex_lock(&p->mutex);
  if (job->state == JOB_QUEUED) {
    irpc__list_remove(&p->queue, &job->link);
    job->state = JOB_DONE;
    p->stats.canceled++;
    taken = 1;
  }
  uv_mutex_unlock(&p->mutex);
  return taken;
}

/* ---- The dispatcher ---- */

static void ol_closed(irpc__mailbox *mb) {
  irpc_free(mb->data);
}

static void ol_release(ol *o) {
  if (--o->inflight == 0) {
    if (o->destroyed)
      irpc__mailbox_close(&o->mb, ol_closed);
    else
      irpc__mailbox_ref(&o->mb, 0); /* nothing to wait for */
  }
}

static void complete(ol_job *job) {
  irpc_outgoing_response *r = job->resp;
  job->resp = NULL;
  if (!r)
    irpc__dispatch_reply_or_abort(
        job->d, IRPC_STATUS_INTERNAL_ERROR,
        "The offloaded handler returned no response.");
  else
    irpc_dispatch_complete(job->d, r);
}

/* On the loop: the handler returned. */
static void done_mail(irpc__mail *m) {
  ol_job *job = IRPC__CONTAINER_OF(m, ol_job, mail);
  ol *o = job->owner;
  irpc_dispatch_on_cancel(job->d, NULL, NULL);
  complete(job);
  ol_release(o);
}

static void on_cancel(irpc_dispatch *d, int err, void *ud) {
  ol_job *job = ud;
  (void)err;
  ol *o = job->owner;
  if (!pool_withdraw(o->pool, job))
    return; /* running: it completes when the handler returns */
  irpc_dispatch_on_cancel(d, NULL, NULL);
  irpc__dispatch_reply_or_abort(d, IRPC_STATUS_INTERNAL_ERROR,
                                "The dispatch was canceled.");
  ol_release(o);
}

static void ol_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  ol *o = *(ol **)irpc_dispatcher_data(self);
  ol_job *job = irpc_dispatch_state(d);
  job->owner = o;
  job->d = d;
  job->req = irpc_dispatch_request(d);
  job->mail.fn = done_mail;
  if (o->inflight++ == 0)
    irpc__mailbox_ref(&o->mb, 1); /* the loop waits for the handlers */
  if (pool_submit(o->pool, job) != 0) {
    ol_release(o);
    irpc__dispatch_reply_or_abort(d, IRPC_STATUS_UNAVAILABLE, busy_message);
    return;
  }
  irpc_dispatch_on_cancel(d, on_cancel, job);
}

typedef struct ol_config {
  uv_loop_t *loop;
  irpc_offload_pool *pool;
  irpc_offload_fn fn;
  void *ud;
} ol_config;

static int ol_init(irpc_dispatcher *self, const void *config) {
  const ol_config *c = config;
  ol *o = irpc_calloc(1, sizeof(*o));
  if (!o)
    return IRPC_ENOMEM;
  int rc = irpc__mailbox_init(&o->mb, c->loop, 0);
  if (rc) {
    irpc_free(o);
    return rc;
  }
  o->mb.data = o;
  o->pool = c->pool;
  o->fn = c->fn;
  o->ud = c->ud;
  *(ol **)irpc_dispatcher_data(self) = o;
  return 0;
}

static void ol_destroy(irpc_dispatcher *self) {
  ol *o = *(ol **)irpc_dispatcher_data(self);
  o->destroyed = 1;
  if (o->inflight == 0)
    irpc__mailbox_close(&o->mb, ol_closed);
}

static const irpc_dispatcher_ops ol_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "offload",
    .data_size = sizeof(ol *),
    .dispatch_state_size = sizeof(ol_job),
    .init = ol_init,
    .dispatch = ol_dispatch,
    .destroy = ol_destroy,
};

int irpc_offload_new(irpc_dispatcher **out, uv_loop_t *loop,
                     irpc_offload_pool *pool, irpc_offload_fn fn,
                     void *user_data) {
  if (!out || !loop || !pool || !fn)
    return IRPC_EINVAL;
  ol_config c = {.loop = loop, .pool = pool, .fn = fn, .ud = user_data};
  return irpc_dispatcher_new(out, loop, &ol_ops, &c);
}
