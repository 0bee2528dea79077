/* custom_interceptor: how to write an interceptor.
 *
 * An interceptor is a static ops table; irpc allocates each instance with
 * `data_size` private bytes and gives every call `call_state_size` bytes.
 * `invoke` sees the request on the way out and passes it on (or answers it);
 * `on_complete` sees the result on the way back. This one counts calls and
 * failures and stamps each request with an attempt number field. */
#include <stdio.h>

#include <irpc/irpc.h>

typedef struct counter {
  unsigned long calls, failures;
} counter;

static void counter_invoke(irpc_invoker *self, irpc_call *call) {
  counter *c = irpc_invoker_data(self);
  uint8_t n = (uint8_t)++c->calls;
  irpc_fields_set(irpc_outgoing_request_fields(irpc_call_request(call)), 200,
                  &n, 1);
  irpc_call_next(call);
}

static int counter_on_complete(irpc_invoker *self, irpc_call *call) {
  counter *c = irpc_invoker_data(self);
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  if (err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK)
    c->failures++;
  return 0; /* let the result travel on back */
}

static const irpc_invoker_ops counter_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "counter",
    .data_size = sizeof(counter),
    .invoke = counter_invoke,
    .on_complete = counter_on_complete,
};

/* ---- Below: a server and two calls to show it working ---- */

static void ok_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static const irpc_dispatcher_ops ok_ops = {.struct_size =
                                               sizeof(irpc_dispatcher_ops),
                                           .name = "ok",
                                           .dispatch = ok_dispatch};

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *user_data) {
  (void)call;
  (void)user_data;
  printf("%s\n", err ? irpc_strerror(err)
                     : irpc_status_name(irpc_incoming_response_status(resp)));
  irpc_incoming_response_free(resp);
}

int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_router *router;
  irpc_dispatcher *ok;
  irpc_invoker *coloc, *cnt;
  irpc_pipeline *p;
  irpc_router_new(&router, &loop);
  irpc_dispatcher_new(&ok, &loop, &ok_ops, NULL);
  irpc_router_map(router, "/ok", ok);
  irpc_coloc_new(&coloc, &loop, irpc_router_dispatcher(router));
  irpc_invoker_new(&cnt, &loop, &counter_ops, NULL);
  irpc_pipeline_new(&p, &loop);
  irpc_pipeline_use(p, cnt);
  irpc_pipeline_into(p, coloc);

  irpc_outgoing_request *good, *bad;
  irpc_outgoing_request_new(&good, "/ok", "op");
  irpc_outgoing_request_new(&bad, "/missing", "op");
  /* The calls own their requests and free them when they end. */
  irpc_invoke_owned(irpc_pipeline_invoker(p), good, on_done, NULL, NULL);
  irpc_invoke_owned(irpc_pipeline_invoker(p), bad, on_done, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  counter *c = irpc_invoker_data(cnt);
  printf("counter: %lu calls, %lu failures\n", c->calls, c->failures);
  int rc = c->calls == 2 && c->failures == 1 ? 0 : 1;

  irpc_pipeline_free(p); /* frees the counter too */
  irpc_invoker_free(coloc);
  irpc_router_free(router);
  irpc_dispatcher_free(ok);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}
