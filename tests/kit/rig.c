#include <stdio.h>
#include <string.h>

#include "kit/rig.h"

/* ---- Dispatchers ---- */

int rig_hang_canceled;

static void rig_hang_cancel(irpc_dispatch *d, int err, void *ud) {
  (void)ud;
  rig_hang_canceled = err;
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static void rig_hang_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_dispatch_on_cancel(d, rig_hang_cancel, NULL);
}

const irpc_dispatcher_ops rig_hang_ops = {.struct_size =
                                              sizeof(irpc_dispatcher_ops),
                                          .name = "hang",
                                          .dispatch = rig_hang_dispatch};

/* ---- The spy middleware ---- */

static void spy_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  spy *s = *(spy **)irpc_dispatcher_data(self);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  s->requests++;
  assert_irpc_ok(
      irpc_fields_copy(s->fields, irpc_incoming_request_fields(req)));
  s->payload_len = irpc_buf_len(irpc_incoming_request_payload(req));
  irpc_dispatch_next(d);
}

static int spy_on_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  spy *s = *(spy **)irpc_dispatcher_data(self);
  irpc_outgoing_response *r = irpc_dispatch_response(d);
  s->responses++;
  s->status = r ? irpc_outgoing_response_status(r) : 999;
  return 0;
}

static int spy_init(irpc_dispatcher *self, const void *config) {
  *(spy **)irpc_dispatcher_data(self) = (spy *)config;
  return 0;
}

const irpc_dispatcher_ops spy_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "spy",
    .data_size = sizeof(spy *),
    .init = spy_init,
    .dispatch = spy_dispatch,
    .on_complete = spy_on_complete,
};

/* ---- The log sink ---- */

void sink(irpc_log_level level, const irpc_log_record *rec, const char *line,
          void *ud) {
  sink_log *l = ud;
  if (l->count < 8) {
    snprintf(l->lines[l->count], sizeof l->lines[0], "%s", line);
    snprintf(l->events[l->count], sizeof l->events[0], "%s", rec->event);
    l->levels[l->count] = level;
  }
  snprintf(l->local, sizeof l->local, "%s", rec->local_address);
  snprintf(l->remote, sizeof l->remote, "%s", rec->remote_address);
  l->count++;
}

/* ---- The rig ---- */

void rig_init(rig *r) {
  memset(r, 0, sizeof(*r));
  assert_int_equal(uv_loop_init(&r->loop), 0);
  assert_irpc_ok(irpc_router_new(&r->router, &r->loop));
  assert_irpc_ok(
      irpc_coloc_new(&r->coloc, &r->loop, irpc_router_dispatcher(r->router)));
  assert_irpc_ok(irpc_pipeline_new(&r->pipeline, &r->loop));
  assert_irpc_ok(irpc_clock_manual_new(&r->clock, &r->loop, RIG_T0));
  assert_irpc_ok(
      irpc_outgoing_request_new(&r->fields_holder, "/spy", "fields"));
  r->spy.fields = irpc_outgoing_request_fields(r->fields_holder);
}

void rig_spy(rig *r) {
  irpc_dispatcher *d;
  assert_irpc_ok(irpc_dispatcher_new(&d, &r->loop, &spy_ops, &r->spy));
  assert_irpc_ok(irpc_router_use(r->router, d));
}

irpc_dispatcher *rig_map(rig *r, const char *path,
                         const irpc_dispatcher_ops *ops) {
  irpc_dispatcher *d;
  assert_irpc_ok(irpc_dispatcher_new(&d, &r->loop, ops, NULL));
  assert_irpc_ok(irpc_router_map(r->router, path, d));
  return d;
}

void rig_fini(rig *r, irpc_dispatcher **mapped, size_t n) {
  irpc_pipeline_free(r->pipeline);
  irpc_invoker_free(r->coloc);
  irpc_router_free(r->router);
  for (size_t i = 0; i < n; i++)
    irpc_dispatcher_free(mapped[i]);
  irpc_clock_unref(r->clock);
  irpc_outgoing_request_free(r->fields_holder);
  test_loop_finish(&r->loop);
}

void outcome_init(outcome *o) {
  memset(o, 0, sizeof(*o));
  assert_irpc_ok(irpc_buf_new(&o->payload));
  assert_irpc_ok(irpc_outgoing_request_new(&o->holder, "/o", "o"));
  o->fields = irpc_outgoing_request_fields(o->holder);
}

void outcome_fini(outcome *o) {
  irpc_buf_free(o->payload);
  irpc_outgoing_request_free(o->holder);
}

void rig_on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                 void *ud) {
  (void)call;
  outcome *o = ud;
  o->done++;
  o->err = err;
  if (resp) {
    o->status = irpc_incoming_response_status(resp);
    irpc_buf_clear(o->payload);
    assert_irpc_ok(
        irpc_buf_move(o->payload, irpc_incoming_response_payload(resp)));
    assert_irpc_ok(
        irpc_fields_copy(o->fields, irpc_incoming_response_fields(resp)));
    const char *m = irpc_incoming_response_error_message(resp);
    if (m)
      strncpy(o->message, m, sizeof(o->message) - 1);
    irpc_incoming_response_free(resp);
  }
}

void rig_invoke(rig *r, irpc_invoker *inv, irpc_outgoing_request *req,
                outcome *o, irpc_call **call) {
  assert_irpc_ok(irpc_invoke(inv ? inv : irpc_pipeline_invoker(r->pipeline),
                             req, rig_on_done, o, call));
}

void rig_run(rig *r) {
  uv_run(&r->loop, UV_RUN_DEFAULT);
}

void assert_field(irpc_fields *f, uint64_t key, const void *bytes, size_t len) {
  irpc_bytes v;
  assert_irpc_ok(irpc_fields_get(f, key, &v));
  assert_int_equal(v.len, len);
  if (len)
    assert_memory_equal(v.base, bytes, len);
}
