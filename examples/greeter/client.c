/* greeter client: calls greet (greeter.slice) on a server over TCP (or any
 * irpc address) through a pipeline of interceptors.
 *
 *   irpc-greeter-client [ADDRESS [NAME...]]   default icerpc://127.0.0.1:4062
 *
 * The pipeline, outermost first: deadline (each call gets 5 s in all,
 * retries included), retry (a call the server refused or never received
 * is sent again), then the client connection, which connects on the first
 * call. All the calls are under way at once on the one connection. */
#include <stdio.h>

#include <irpc/irpc.h>

#include "greeter.slice.h"

typedef struct app {
  irpc_pipeline *pipeline;
  irpc_invoker *conn;
  int calls_left;
  int failed;
} app;

/* The reply to one greet: `greeting` is valid until this returns. */
static void on_greeting(irpc_slice_reply *reply, int err,
                        const irpc_str *greeting, void *ud) {
  app *a = ud;
  if (err) { /* the message names the operation, path and cause */
    fprintf(stderr, "%s\n", irpc_slice_reply_message(reply));
    a->failed = 1;
  } else {
    printf("%.*s\n", (int)greeting->len, greeting->ptr);
  }
  if (--a->calls_left == 0) /* the last one: close the connection */
    irpc_client_connection_shutdown(a->conn, NULL, NULL);
}

int main(int argc, char **argv) {
  const char *address = argc > 1 ? argv[1] : "icerpc://127.0.0.1:4062";
  static const char *default_names[] = {"world"};
  const char **names = argc > 2 ? (const char **)argv + 2 : default_names;
  int count = argc > 2 ? argc - 2 : 1;
  uv_loop_t *loop = uv_default_loop();
  app a = {.calls_left = count};

  irpc_deadline_options dopts;
  irpc_deadline_options_init(&dopts);
  dopts.default_timeout_ms = 5000;
  irpc_invoker *deadline = NULL, *retry = NULL;
  int rc = irpc_pipeline_new(&a.pipeline, loop);
  if (rc == 0)
    rc = irpc_deadline_interceptor_new(&deadline, loop, &dopts);
  if (rc == 0 && (rc = irpc_pipeline_use(a.pipeline, deadline)) != 0)
    irpc_invoker_free(deadline);
  if (rc == 0)
    rc = irpc_retry_interceptor_new(&retry, loop, NULL);
  if (rc == 0 && (rc = irpc_pipeline_use(a.pipeline, retry)) != 0)
    irpc_invoker_free(retry);
  if (rc == 0)
    rc = irpc_client_connection_new(&a.conn, loop, address, NULL);
  if (rc == 0)
    rc = irpc_pipeline_into(a.pipeline, a.conn);
  /* The proxy: calls go through the pipeline to the default path,
   * /VisitorCenter.Greeter. The name is encoded before the call returns. */
  VisitorCenter_GreeterProxy greeter =
      VisitorCenter_GreeterProxy_from(irpc_pipeline_invoker(a.pipeline), NULL);
  for (int i = 0; rc == 0 && i < count; i++)
    rc = VisitorCenter_Greeter_greet(&greeter, irpc_str_c(names[i]), NULL,
                                     on_greeting, &a);
  if (rc) {
    fprintf(stderr, "client: %s\n", irpc_strerror(rc));
    return 1;
  }
  uv_run(loop, UV_RUN_DEFAULT); /* until the calls end and it closed */

  /* Teardown: the pipeline (it owns its interceptors), then its terminal,
   * which it only borrowed. */
  irpc_pipeline_free(a.pipeline);
  irpc_invoker_free(a.conn);
  uv_run(loop, UV_RUN_DEFAULT);
  return a.failed || uv_loop_close(loop) != 0;
}
