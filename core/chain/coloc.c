/* The coloc invoker: requests dispatched in-process, on the loop. */
#include <string.h>

#include "model/compression.h"
#include "chain.h"
#include "irpc/alloc.h"
#include "irpc/coloc.h"
#include "irpc/status.h"
#include "irpc/compression.h"
#include "irpc/connection_info.h"

/* What the coloc invoker reports as the local and remote address. */
static const irpc_connection_info coloc_info = {.local_address = "coloc",
                                                .remote_address = "coloc"};

typedef struct coloc {
  irpc_invoker *self;
  irpc_dispatcher *dispatcher;
  irpc__list inflight; /* irpc__chain: dispatches under way, newest first */
  irpc__list orphans;  /* irpc__chain: given up on at shutdown */
  size_t count;
  int closing;
  int shutdown_status;
  irpc_shutdown_cb shutdown_cb;
  void *shutdown_ud;
  irpc__timer timer;
  irpc__task done_task;
} coloc;

static const irpc_invoker_ops coloc_ops;

static void list_push(irpc__list *l, irpc__chain *c) {
  c->on = l;
  irpc__list_push_front(l, &c->link);
}

/* Takes `c` off the list it is on, if any. */
static void list_unlink(irpc__chain *c) {
  if (!c->on)
    return;
  irpc__list_remove(c->on, &c->link);
  c->on = NULL;
}

static irpc__chain *list_first(const irpc__list *l) {
  return l->head ? IRPC__CONTAINER_OF(l->head, irpc__chain, link) : NULL;
}

static void shutdown_done_task(irpc__task *t) {
  coloc *co = IRPC__CONTAINER_OF(t, coloc, done_task);
  irpc_shutdown_cb cb = co->shutdown_cb;
  co->shutdown_cb = NULL;
  if (cb)
    cb(co->shutdown_status, co->shutdown_ud);
}

static void maybe_shutdown_done(coloc *co) {
  if (!co->closing || !co->shutdown_cb || co->inflight.head)
    return;
  irpc__timer_stop(co->self->node.sched, &co->timer);
  irpc__sched_post(co->self->node.sched, &co->done_task);
}

/* The dispatch finished: hand its response to the waiting call, if any. */
static void coloc_done(irpc_dispatch *d, irpc_outgoing_response *resp,
                       void *ud) {
  coloc *co = ud;
  irpc__chain *dc = &d->c;
  irpc__chain *call = dc->peer;
  list_unlink(dc);
  co->count--;
  if (call) {
    call->peer = NULL;
    dc->peer = NULL;
    irpc_incoming_response *in = NULL;
    const irpc_fields *req_fields =
        irpc_outgoing_request_fields(irpc_call_request((irpc_call *)call));
    /* What the caller reads is what its request listed (compress.h). */
    int rc = resp ? irpc__response_convert(
                        resp, irpc__compress_accepted(req_fields), &in)
                  : IRPC_ENOMEM;
    if (rc && rc != IRPC_ENOMEM &&
        irpc_incoming_response_new(&in, IRPC_STATUS_INTERNAL_ERROR,
                                   irpc_strerror(rc)) == 0)
      rc = 0; /* a writer failed: the server answers InternalError */
    if (rc == 0)
      rc = irpc__compress_screen_response(req_fields, &in);
    irpc__chain_complete(call, rc, in);
  }
  irpc_outgoing_response_free(resp);
  maybe_shutdown_done(co);
}

static void start_task(irpc__task *t) {
  irpc__chain *dc = (irpc__chain *)t;
  if (dc->cancel_err && !dc->peer) {
    /* Canceled before it started: never dispatched. */
    coloc *co = dc->user_data;
    list_unlink(dc);
    co->count--;
    irpc__chain_release(dc);
    maybe_shutdown_done(co);
    return;
  }
  irpc__dispatch_start(dc);
}

static void coloc_cancel(irpc_call *call, int err, void *ud) {
  (void)ud;
  irpc__chain *dc = call->c.peer;
  if (dc) {
    call->c.peer = NULL;
    dc->peer = NULL;
    irpc__chain_cancel(dc, err);
  }
  irpc_call_complete(call, err, NULL);
}

/* A request compressed in a format the dispatcher chain does not
 * decompress is answered here, never dispatched (irpc/compress.h).
 * Returns 1 when the call was completed (the request freed), else 0. */
static int coloc_screen(irpc_call *call, irpc_incoming_request *in,
                        uint64_t reads) {
  char msg[200];
  uint64_t status =
      irpc__compress_screen_request(&in->fields, reads, msg, sizeof(msg));
  if (status == 0)
    return 0;
  irpc_incoming_request_free(in);
  irpc_incoming_response *r = NULL;
  int rc = irpc_outgoing_request_oneway(irpc_call_request(call))
               ? irpc_incoming_response_new(&r, IRPC_STATUS_OK, NULL)
               : irpc_incoming_response_new(&r, status, msg);
  irpc_call_complete(call, rc, rc ? NULL : r);
  return 1;
}

static void coloc_invoke(irpc_invoker *self, irpc_call *call) {
  coloc *co = irpc_invoker_data(self);
  irpc_outgoing_request *req = irpc_call_request(call);
  if (co->closing) {
    irpc_call_complete(call, IRPC_ECLOSED, NULL);
    return;
  }
  irpc_incoming_request *in;
  irpc__chain *dc;
  uint64_t reads = irpc__compress_announcement(
      co->dispatcher, irpc_compress_formats_readable());
  int rc = irpc__request_convert(req, reads, &in);
  if (rc == 0 && coloc_screen(call, in, reads))
    return;
  if (rc == 0) {
    irpc_features_set(&in->features, &irpc_connection_info_feature,
                      (void *)&coloc_info);
    irpc_features_set(&req->features, &irpc_connection_info_feature,
                      (void *)&coloc_info);
    rc = irpc__dispatch_create(co->dispatcher, in, coloc_done, co, &dc);
  }
  if (rc) {
    irpc_call_complete(call, rc, NULL);
    return;
  }
  list_push(&co->inflight, dc);
  co->count++;
  dc->task.fn = start_task;
  irpc__sched_post(self->node.sched, &dc->task);
  if (irpc_outgoing_request_oneway(req)) {
    irpc_incoming_response *ok;
    rc = irpc_incoming_response_new(&ok, 0, NULL);
    irpc_call_complete(call, rc, rc ? NULL : ok);
    return;
  }
  dc->peer = &call->c;
  call->c.peer = dc;
  irpc_call_on_cancel(call, coloc_cancel, co);
}

/* Gives up on every dispatch still under way: their calls fail with
 * IRPC_EABORTED and the dispatches are canceled and kept as orphans. */
static void abandon_all(coloc *co) {
  while (co->inflight.head) {
    irpc__chain *dc = list_first(&co->inflight);
    list_unlink(dc);
    list_push(&co->orphans, dc);
    irpc__chain *call = dc->peer;
    dc->peer = NULL;
    if (call) {
      call->peer = NULL;
      irpc__chain_complete(call, IRPC_EABORTED, NULL);
    }
    irpc__chain_cancel(dc, IRPC_EABORTED);
  }
}

static void on_shutdown_timeout(irpc__timer *t) {
  coloc *co = IRPC__CONTAINER_OF(t, coloc, timer);
  co->shutdown_status = IRPC_ETIMEDOUT;
  abandon_all(co);
  maybe_shutdown_done(co);
}

static void release_task(irpc__task *t) {
  irpc__chain_release((irpc__chain *)t);
}

static int coloc_init(irpc_invoker *self, const void *config) {
  coloc *co = irpc_invoker_data(self);
  co->self = self;
  co->dispatcher = (irpc_dispatcher *)config;
  irpc__timer_init(&co->timer, on_shutdown_timeout);
  co->done_task.fn = shutdown_done_task;
  return 0;
}

static void coloc_destroy(irpc_invoker *self) {
  coloc *co = irpc_invoker_data(self);
  irpc__sched *s = self->node.sched;
  irpc__timer_stop(s, &co->timer);
  abandon_all(co);
  /* Orphans whose dispatcher never completed: reclaim them. A task still
   * queued for one is dropped with it. */
  while (co->orphans.head) {
    irpc__chain *dc = list_first(&co->orphans);
    list_unlink(dc);
    if (dc->task.queued)
      dc->task.fn = release_task; /* never started: drop it when it runs */
    else
      irpc__chain_release(dc);
  }
  co->shutdown_cb = NULL;
}

static const irpc_invoker_ops coloc_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "coloc",
    .data_size = sizeof(coloc),
    .init = coloc_init,
    .invoke = coloc_invoke,
    .destroy = coloc_destroy,
};

int irpc_coloc_new(irpc_invoker **out, uv_loop_t *loop,
                   irpc_dispatcher *dispatcher) {
  if (!out || !loop || !dispatcher)
    return IRPC_EINVAL;
  if (dispatcher->node.loop != loop)
    return IRPC_EINVAL;
  return irpc_invoker_new(out, loop, &coloc_ops, dispatcher);
}

int irpc_coloc_shutdown(irpc_invoker *inv, uint64_t timeout_ms,
                        irpc_shutdown_cb cb, void *user_data) {
  if (!inv || !cb || inv->node.ops != &coloc_ops)
    return IRPC_EINVAL;
  coloc *co = irpc_invoker_data(inv);
  if (co->closing)
    return IRPC_ECLOSED;
  co->closing = 1;
  co->shutdown_cb = cb;
  co->shutdown_ud = user_data;
  if (!co->inflight.head) {
    irpc__sched_post(inv->node.sched, &co->done_task);
    return 0;
  }
  int rc = irpc__timer_start(inv->node.sched, &co->timer, timeout_ms);
  if (rc) {
    co->closing = 0;
    co->shutdown_cb = NULL;
  }
  return rc;
}

size_t irpc_coloc_in_flight(const irpc_invoker *inv) {
  if (!inv || inv->node.ops != &coloc_ops)
    return 0;
  return ((const coloc *)((const uint8_t *)inv + IRPC__NODE_HEADER))->count;
}
