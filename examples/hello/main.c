/* hello: one call through the whole stack, printed layer by layer.
 *
 *   client: Greeter proxy -> pipeline [tag] -> [stopwatch] -> coloc
 *   server: router: [audit] middleware -> /VisitorCenter.Greeter
 *
 * The Greeter interface is in greeter.slice; irpc-slicec generates the
 * typed proxy (VisitorCenter_Greeter_greet) and the dispatcher
 * (VisitorCenter_Greeter_map) the example uses. A second call goes to a
 * path where nothing is mapped and gets NotFound.
 *
 * Run it: ./irpc-hello [name] */
#include <stdio.h>

#include <irpc/irpc.h>

#include "greeter.slice.h"

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

static const irpc_invoker_ops tag_ops = {.struct_size =
                                             sizeof(irpc_invoker_ops),

                                         .name = "tag",
                                         .invoke = tag_invoke,
                                         .on_complete = tag_on_complete};

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
    .struct_size = sizeof(irpc_invoker_ops),
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

static const irpc_dispatcher_ops audit_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "audit",
                                              .dispatch = audit_dispatch,
                                              .on_complete = audit_on_complete};

/* The greeter service: greet of the Greeter interface (greeter.slice). */
static void greet(void *impl, irpc_slice_dispatch *sd, irpc_str name) {
  (void)impl;
  printf("  server  Greeter      greets \"%.*s\"\n", (int)name.len, name.ptr);
  char text[96];
  int n = snprintf(text, sizeof text, "Hello, %.*s!", (int)name.len, name.ptr);
  if (n >= (int)sizeof text) /* a long name: the greeting is cut */
    n = (int)sizeof text - 1;
  VisitorCenter_Greeter_greet_reply(sd, (irpc_str){text, (size_t)n});
}

static const VisitorCenter_Greeter_ops greeter_ops = {.greet = greet};

/* ---- The call ---- */

static void on_greeting(irpc_slice_reply *reply, int err,
                        const irpc_str *greeting, void *user_data) {
  int *failed = user_data;
  if (err == 0) {
    printf("  app     <- Ok: %.*s\n", (int)greeting->len, greeting->ptr);
    *failed = 0;
  } else { /* IRPC_ESTATUS: the server answered a status other than Ok */
    uint64_t status = irpc_slice_reply_status(reply);
    printf("  app     <- %s\n",
           err == IRPC_ESTATUS ? irpc_status_name(status) : irpc_strerror(err));
    printf("          %s\n", irpc_slice_reply_message(reply));
    *failed = status != IRPC_STATUS_NOT_FOUND; /* NotFound: expected */
  }
}

/* Calls greet on `greeter` and runs the loop until the reply came. */
static int call(uv_loop_t *loop, const VisitorCenter_GreeterProxy *greeter,
                const char *name) {
  printf("\napp -> %s greet(\"%s\")\n",
         greeter->p.path ? greeter->p.path : VISITORCENTER_GREETER_DEFAULT_PATH,
         name);
  int failed = 1;
  int rc = VisitorCenter_Greeter_greet(greeter, irpc_str_c(name), NULL,
                                       on_greeting, &failed);
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
  irpc_dispatcher *audit, *greeter;
  irpc_router_new(&router, &loop);
  irpc_dispatcher_new(&audit, &loop, &audit_ops, NULL);
  irpc_router_use(router, audit); /* the router owns it from here */
  VisitorCenter_Greeter_map(router, NULL, &greeter_ops, NULL, &greeter);

  irpc_invoker *coloc, *tag, *stopwatch;
  irpc_pipeline *pipeline;
  irpc_coloc_new(&coloc, &loop, irpc_router_dispatcher(router));
  irpc_pipeline_new(&pipeline, &loop);
  irpc_invoker_new(&tag, &loop, &tag_ops, NULL);
  irpc_invoker_new(&stopwatch, &loop, &stopwatch_ops, NULL);
  irpc_pipeline_use(pipeline, tag);
  irpc_pipeline_use(pipeline, stopwatch);
  irpc_pipeline_into(pipeline, coloc);

  /* NULL path: the interface's default path, /VisitorCenter.Greeter. */
  VisitorCenter_GreeterProxy greeter_proxy =
      VisitorCenter_GreeterProxy_from(irpc_pipeline_invoker(pipeline), NULL);
  VisitorCenter_GreeterProxy nowhere = VisitorCenter_GreeterProxy_from(
      irpc_pipeline_invoker(pipeline), "/nowhere");
  int rc = call(&loop, &greeter_proxy, name);
  if (rc == 0)
    rc = call(&loop, &nowhere, name);

  irpc_pipeline_free(pipeline);
  irpc_invoker_free(coloc);
  irpc_router_free(router);
  irpc_dispatcher_free(greeter);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc == 0 ? 0 : 1;
}
