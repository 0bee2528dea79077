/* hello: one call through the whole stack, printed layer by layer.
 *
 *   client: pipeline [tag] -> [stopwatch] -> coloc
 *   server: router: [audit] middleware -> /greeter or /echo
 *
 * Run it: ./irpc-hello [name] */
#include <stdio.h>
#include <string.h>

#include <irpc/irpc.h>

/* ---- Client side: two small interceptors ---- */

/* tag: adds a request field (key 100) that the server reads. */
static void tag_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  irpc_outgoing_request *req = irpc_call_request(call);
  printf("  client  [tag]        -> sets field 100 = \"hello-demo\"\n");
  irpc_fields_set(irpc_outgoing_request_fields(req), 100, "hello-demo", 10);
  irpc_call_next(call);
}

static int tag_on_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  (void)call;
  printf("  client  [tag]        <- response passes back\n");
  return 0;
}

static const irpc_invoker_ops tag_ops = {
    .name = "tag", .invoke = tag_invoke, .on_complete = tag_on_complete};

/* stopwatch: measures the call, keeping the start time per call. */
static void stopwatch_invoke(irpc_invoker *self, irpc_call *call) {
  *(uint64_t *)irpc_call_state(call) = uv_hrtime();
  printf("  client  [stopwatch]  -> starts timing\n");
  irpc_call_next(call);
  (void)self;
}

static int stopwatch_on_complete(irpc_invoker *self, irpc_call *call) {
  (void)self;
  uint64_t ns = uv_hrtime() - *(uint64_t *)irpc_call_state(call);
  printf("  client  [stopwatch]  <- call took %.1f us\n", (double)ns / 1e3);
  return 0;
}

static const irpc_invoker_ops stopwatch_ops = {
    .name = "stopwatch",
    .call_state_size = sizeof(uint64_t),
    .invoke = stopwatch_invoke,
    .on_complete = stopwatch_on_complete,
};

/* ---- Server side: a middleware and two services ---- */

static void audit_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_bytes tag = {0};
  irpc_fields_get(irpc_incoming_request_fields(req), 100, &tag);
  printf("  server  [audit]      -> %s %s (field 100 = \"%.*s\")\n",
         irpc_incoming_request_path(req), irpc_incoming_request_operation(req),
         (int)tag.len, (const char *)tag.base);
  irpc_dispatch_next(d);
}

static int audit_on_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  uint64_t status = irpc_outgoing_response_status(irpc_dispatch_response(d));
  printf("  server  [audit]      <- %s\n", irpc_status_name(status));
  return 0;
}

static const irpc_dispatcher_ops audit_ops = {.name = "audit",
                                              .dispatch = audit_dispatch,
                                              .on_complete = audit_on_complete};

static void greeter_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_buf *in = irpc_incoming_request_payload(req);
  char name[64] = {0};
  size_t n = irpc_buf_len(in) < 63 ? irpc_buf_len(in) : 63;
  irpc_buf_copyout(in, 0, name, n);
  printf("  server  /greeter     greets \"%s\"\n", name);
  irpc_outgoing_response *resp;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL) != 0) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  char text[96];
  int len = snprintf(text, sizeof(text), "Hello, %s!", name);
  irpc_buf_append(irpc_outgoing_response_payload(resp), text, (size_t)len);
  irpc_dispatch_complete(d, resp);
}

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_outgoing_response *resp;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL) != 0) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  irpc_buf_move(irpc_outgoing_response_payload(resp),
                irpc_incoming_request_payload(irpc_dispatch_request(d)));
  irpc_dispatch_complete(d, resp);
}

static const irpc_dispatcher_ops greeter_ops = {.name = "greeter",
                                                .dispatch = greeter_dispatch};
static const irpc_dispatcher_ops echo_ops = {.name = "echo",
                                             .dispatch = echo_dispatch};

/* ---- The call ---- */

static void on_response(irpc_call *call, int err, irpc_incoming_response *resp,
                        void *user_data) {
  (void)call;
  int *failed = user_data;
  if (err) {
    printf("  app     call failed: %s\n", irpc_strerror(err));
    *failed = 1;
    return;
  }
  irpc_buf *p = irpc_incoming_response_payload(resp);
  char text[128] = {0};
  size_t n = irpc_buf_len(p) < 127 ? irpc_buf_len(p) : 127;
  irpc_buf_copyout(p, 0, text, n);
  uint64_t status = irpc_incoming_response_status(resp);
  printf("  app     <- %s: %s\n", irpc_status_name(status),
         status == IRPC_STATUS_OK ? text
                                  : irpc_incoming_response_error_message(resp));
  *failed = status != IRPC_STATUS_OK && status != IRPC_STATUS_NOT_FOUND;
  irpc_incoming_response_free(resp);
}

static int call(uv_loop_t *loop, irpc_invoker *pipeline, const char *path,
                const char *payload) {
  irpc_outgoing_request *req;
  int rc = irpc_outgoing_request_new(&req, path, "greet");
  if (rc)
    return rc;
  irpc_buf_append(irpc_outgoing_request_payload(req), payload, strlen(payload));
  printf("\napp -> %s greet(\"%s\")\n", path, payload);
  int failed = 0;
  /* The call owns the request from here and frees it when it ends. */
  rc = irpc_invoke_owned(pipeline, req, on_response, &failed, NULL);
  if (rc == 0)
    uv_run(loop, UV_RUN_DEFAULT);
  return rc ? rc : failed;
}

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : "world";
  printf("irpc %s hello\n", irpc_version_string());
  uv_loop_t loop;
  uv_loop_init(&loop);

  irpc_router *router;
  irpc_dispatcher *audit, *greeter, *echo;
  irpc_router_new(&router, &loop);
  irpc_dispatcher_new(&audit, &loop, &audit_ops, NULL);
  irpc_dispatcher_new(&greeter, &loop, &greeter_ops, NULL);
  irpc_dispatcher_new(&echo, &loop, &echo_ops, NULL);
  irpc_router_use(router, audit);
  irpc_router_map(router, "/greeter", greeter);
  irpc_router_mount(router, "/echo", echo);

  irpc_invoker *coloc, *tag, *stopwatch;
  irpc_pipeline *pipeline;
  irpc_coloc_new(&coloc, &loop, irpc_router_dispatcher(router));
  irpc_pipeline_new(&pipeline, &loop);
  irpc_invoker_new(&tag, &loop, &tag_ops, NULL);
  irpc_invoker_new(&stopwatch, &loop, &stopwatch_ops, NULL);
  irpc_pipeline_use(pipeline, tag);
  irpc_pipeline_use(pipeline, stopwatch);
  irpc_pipeline_into(pipeline, coloc);

  irpc_invoker *inv = irpc_pipeline_invoker(pipeline);
  int rc = call(&loop, inv, "/greeter", name);
  if (rc == 0)
    rc = call(&loop, inv, "/echo/loud", "echo me");
  if (rc == 0)
    rc = call(&loop, inv, "/nowhere", name);

  irpc_pipeline_free(pipeline);
  irpc_invoker_free(coloc);
  irpc_router_free(router);
  irpc_dispatcher_free(greeter);
  irpc_dispatcher_free(echo);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc == 0 ? 0 : 1;
}
