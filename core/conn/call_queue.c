/* Calls from other threads (irpc/call_queue.h): a mailbox into the loop of
 * an invoker, and a client connection on a loop of its own whose calls
 * block. */
#include <string.h>

#include "base/mailbox.h"
#include "irpc/alloc.h"
#include "irpc/call_queue.h"
#include "irpc/error.h"

struct irpc_call_queue {
  irpc_invoker *target;
  uv_thread_t loop_thread;
  irpc__mailbox mb;
  uv_mutex_t mutex; /* guards closed against posts */
  int closed;       /* under mutex */
  size_t inflight;  /* started, not completed (loop thread) */
  int freeing;      /* loop thread */
  int mb_closed;    /* loop thread */
};

/* One request on its way; for a ticket, its result on the way back. */
typedef struct cq_item {
  irpc__mail mail;
  irpc_call_queue *q;
  irpc_outgoing_request *req;
  irpc_call_queue_cb cb; /* NULL: a ticket */
  void *ud;
  uv_thread_t loop_thread; /* a ticket's: its queue's loop thread */
  uv_sem_t sem;            /* a ticket's: posted once the result is set */
  int err;
  irpc_incoming_response *resp;
} cq_item;

struct irpc_call_ticket {
  cq_item item;
};

static void maybe_free_queue(irpc_call_queue *q) {
  if (q->freeing && q->mb_closed && q->inflight == 0) {
    uv_mutex_destroy(&q->mutex);
    irpc_free(q);
  }
}

/* On the loop: the result goes to the callback or the waiting thread. */
static void deliver(cq_item *it, int err, irpc_incoming_response *resp) {
  if (it->cb) {
    it->cb(err, resp, it->ud);
    irpc_free(it);
    return;
  }
  it->err = err;
  it->resp = resp;
  uv_sem_post(&it->sem); /* the waiter owns the item from here */
}

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  cq_item *it = ud;
  irpc_call_queue *q = it->q;
  (void)call;
  deliver(it, err, resp);
  q->inflight--;
  maybe_free_queue(q);
}

static void start_mail(irpc__mail *m) {
  cq_item *it = IRPC__CONTAINER_OF(m, cq_item, mail);
  irpc_call_queue *q = it->q;
  irpc_outgoing_request *req = it->req;
  it->req = NULL;
  if (q->freeing) {
    irpc_outgoing_request_free(req);
    deliver(it, IRPC_ECLOSED, NULL);
    return;
  }
  q->inflight++;
  int rc = irpc_invoke_owned(q->target, req, on_done, it, NULL);
  if (rc) {
    q->inflight--;
    deliver(it, rc, NULL);
  }
}

int irpc_call_queue_new(irpc_call_queue **out, irpc_invoker *target) {
  if (!out || !target)
    return IRPC_EINVAL;
  irpc_call_queue *q = irpc_calloc(1, sizeof(*q));
  if (!q)
    return IRPC_ENOMEM;
  int rc = uv_mutex_init(&q->mutex);
  if (rc) {
    irpc_free(q);
    return rc;
  }
  rc = irpc__mailbox_init(&q->mb, irpc_invoker_loop(target), 1);
  if (rc) {
    uv_mutex_destroy(&q->mutex);
    irpc_free(q);
    return rc;
  }
  q->mb.data = q;
  q->target = target;
  q->loop_thread = uv_thread_self();
  *out = q;
  return 0;
}

static int post(irpc_call_queue *q, cq_item *it) {
  uv_mutex_lock(&q->mutex);
  int closed = q->closed;
  if (!closed)
    irpc__mailbox_post(&q->mb, &it->mail);
  uv_mutex_unlock(&q->mutex);
  return closed ? IRPC_ECLOSED : 0;
}

static cq_item *item_new(irpc_call_queue *q, irpc_outgoing_request *req,
                         size_t size) {
  cq_item *it = irpc_calloc(1, size);
  if (!it)
    return NULL;
  it->mail.fn = start_mail;
  it->q = q;
  it->req = req;
  return it;
}

int irpc_call_queue_invoke(irpc_call_queue *q, irpc_outgoing_request *request,
                           irpc_call_queue_cb cb, void *user_data) {
  if (!q || !request || !cb) {
    irpc_outgoing_request_free(request);
    return IRPC_EINVAL;
  }
  cq_item *it = item_new(q, request, sizeof(*it));
  if (!it) {
    irpc_outgoing_request_free(request);
    return IRPC_ENOMEM;
  }
  it->cb = cb;
  it->ud = user_data;
  int rc = post(q, it);
  if (rc) {
    irpc_outgoing_request_free(request);
    irpc_free(it);
  }
  return rc;
}

int irpc_call_queue_submit(irpc_call_queue *q, irpc_outgoing_request *request,
                           irpc_call_ticket **out) {
  if (!q || !request || !out) {
    irpc_outgoing_request_free(request);
    return IRPC_EINVAL;
  }
  irpc_call_ticket *t =
      (irpc_call_ticket *)item_new(q, request, sizeof(irpc_call_ticket));
  if (!t) {
    irpc_outgoing_request_free(request);
    return IRPC_ENOMEM;
  }
  int rc = uv_sem_init(&t->item.sem, 0);
  if (rc == 0) {
    t->item.loop_thread = q->loop_thread;
    rc = post(q, &t->item);
    if (rc)
      uv_sem_destroy(&t->item.sem);
  }
  if (rc) {
    irpc_outgoing_request_free(request);
    irpc_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

int irpc_call_ticket_wait(irpc_call_ticket *t,
                          irpc_incoming_response **response) {
  if (!t || !response)
    return IRPC_EINVAL;
  uv_thread_t self = uv_thread_self();
  if (uv_thread_equal(&self, &t->item.loop_thread))
    return IRPC_EINVAL;
  uv_sem_wait(&t->item.sem);
  uv_sem_destroy(&t->item.sem);
  int err = t->item.err;
  *response = t->item.resp;
  irpc_free(t);
  return err;
}

int irpc_call_queue_invoke_sync(irpc_call_queue *q,
                                irpc_outgoing_request *request,
                                irpc_incoming_response **response) {
  if (!response) {
    irpc_outgoing_request_free(request);
    return IRPC_EINVAL;
  }
  *response = NULL;
  if (q) {
    uv_thread_t self = uv_thread_self();
    if (uv_thread_equal(&self, &q->loop_thread)) {
      irpc_outgoing_request_free(request);
      return IRPC_EINVAL;
    }
  }
  irpc_call_ticket *t;
  int rc = irpc_call_queue_submit(q, request, &t);
  return rc ? rc : irpc_call_ticket_wait(t, response);
}

static void mailbox_closed(irpc__mailbox *mb) {
  irpc_call_queue *q = mb->data;
  q->mb_closed = 1;
  maybe_free_queue(q);
}

void irpc_call_queue_free(irpc_call_queue *q) {
  if (!q)
    return;
  uv_mutex_lock(&q->mutex);
  q->closed = 1;
  uv_mutex_unlock(&q->mutex);
  q->freeing = 1;
  /* The requests still queued fail with IRPC_ECLOSED as it runs them. */
  irpc__mailbox_close(&q->mb, mailbox_closed);
}

/* ---- The blocking client ---- */

struct irpc_blocking_client {
  uv_loop_t loop;
  uv_thread_t thread;
  uv_sem_t ready;
  int start_rc;
  irpc_invoker *inv;
  irpc_call_queue *q;
  const char *address;                 /* during the start only */
  const irpc_connection_options *opts; /* likewise */
  irpc__mail stop_mail;
};

static void bc_thread(void *arg) {
  irpc_blocking_client *c = arg;
  int rc = irpc_client_connection_new(&c->inv, &c->loop, c->address, c->opts);
  if (rc == 0) {
    rc = irpc_call_queue_new(&c->q, c->inv);
    if (rc) {
      irpc_invoker_free(c->inv);
      c->inv = NULL;
    }
  }
  c->start_rc = rc;
  uv_sem_post(&c->ready);
  if (rc == 0)
    uv_run(&c->loop, UV_RUN_DEFAULT); /* until the queue is gone */
  uv_run(&c->loop, UV_RUN_DEFAULT);   /* what the connection closes */
}

static void bc_shut(irpc_invoker *inv, int status, void *ud) {
  (void)status;
  (void)ud;
  irpc_invoker_free(inv);
}

static void bc_stop(irpc__mail *m) {
  irpc_blocking_client *c =
      IRPC__CONTAINER_OF(m, irpc_blocking_client, stop_mail);
  irpc_call_queue *q = c->q;
  c->q = NULL;
  /* Its mailbox keeps the loop running until the calls under way are
   * done; the graceful shutdown of the connection lets them complete. */
  if (irpc_client_connection_shutdown(c->inv, bc_shut, NULL) != 0)
    irpc_invoker_free(c->inv);
  c->inv = NULL;
  irpc_call_queue_free(q);
}

int irpc_blocking_client_new(irpc_blocking_client **out,
                             const char *server_address,
                             const irpc_connection_options *opts) {
  if (!out || !server_address)
    return IRPC_EINVAL;
  irpc_blocking_client *c = irpc_calloc(1, sizeof(*c));
  if (!c)
    return IRPC_ENOMEM;
  int rc = uv_loop_init(&c->loop);
  if (rc) {
    irpc_free(c);
    return rc;
  }
  rc = uv_sem_init(&c->ready, 0);
  if (rc == 0) {
    c->address = server_address;
    c->opts = opts;
    rc = uv_thread_create(&c->thread, bc_thread, c);
    if (rc) {
      uv_sem_destroy(&c->ready);
    } else {
      uv_sem_wait(&c->ready);
      uv_sem_destroy(&c->ready);
      rc = c->start_rc;
      if (rc)
        uv_thread_join(&c->thread);
    }
  }
  c->address = NULL;
  c->opts = NULL;
  if (rc) {
    uv_loop_close(&c->loop);
    irpc_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

int irpc_blocking_client_invoke(irpc_blocking_client *c,
                                irpc_outgoing_request *request,
                                irpc_incoming_response **response) {
  if (!c) {
    irpc_outgoing_request_free(request);
    return IRPC_EINVAL;
  }
  return irpc_call_queue_invoke_sync(c->q, request, response);
}

void irpc_blocking_client_free(irpc_blocking_client *c) {
  if (!c)
    return;
  c->stop_mail.fn = bc_stop;
  irpc__mailbox_post(&c->q->mb, &c->stop_mail);
  uv_thread_join(&c->thread);
  uv_loop_close(&c->loop);
  irpc_free(c);
}
