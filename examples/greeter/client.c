/* greeter client: calls /greeter on a server over TCP (or any irpc
 * address) through a pipeline of interceptors.
 *
 *   irpc-greeter-client [ADDRESS [NAME...]]   default icerpc://127.0.0.1:4062
 *
 * The pipeline, outermost first: deadline (each call gets 5 s in all,
 * retries included), retry (a call the server refused or never received
 * is sent again), then the client connection, which connects on the first
 * call. All the calls are under way at once on the one connection. */
#include <stdio.h>
#include <string.h>

#include <irpc/irpc.h>

typedef struct app {
  irpc_pipeline *pipeline;
  irpc_invoker *conn;
  int calls_left;
  int failed;
} app;

typedef struct greeting {
  app *app;
  const char *name;
} greeting;

static void on_response(irpc_call *call, int err, irpc_incoming_response *resp,
                        void *ud) {
  (void)call;
  greeting *g = ud;
  if (err) {
    fprintf(stderr, "%s: %s\n", g->name, irpc_strerror(err));
    g->app->failed = 1;
  } else if (irpc_incoming_response_status(resp) != IRPC_STATUS_OK) {
    fprintf(stderr, "%s: %s %s\n", g->name,
            irpc_status_name(irpc_incoming_response_status(resp)),
            irpc_incoming_response_error_message(resp));
    g->app->failed = 1;
  } else {
    char text[128] = {0};
    irpc_buf *p = irpc_incoming_response_payload(resp);
    size_t n =
        irpc_buf_len(p) < sizeof text - 1 ? irpc_buf_len(p) : sizeof text - 1;
    irpc_buf_copyout(p, 0, text, n);
    printf("%s\n", text);
  }
  irpc_incoming_response_free(resp); /* NULL when err */
  if (--g->app->calls_left == 0)     /* the last one: close the connection */
    irpc_client_connection_shutdown(g->app->conn, NULL, NULL);
}

/* Starts one call; the request belongs to the call (irpc_invoke_owned). */
static int greet(app *a, greeting *g) {
  irpc_outgoing_request *req;
  int rc = irpc_outgoing_request_new(&req, "/greeter", "greet");
  if (rc)
    return rc;
  rc = irpc_buf_append(irpc_outgoing_request_payload(req), g->name,
                       strlen(g->name));
  if (rc == 0)
    rc = irpc_outgoing_request_set_idempotent(req, 1); /* safe to resend */
  if (rc) {
    irpc_outgoing_request_free(req);
    return rc;
  }
  return irpc_invoke_owned(irpc_pipeline_invoker(a->pipeline), req, on_response,
                           g, NULL);
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
  greeting g[64];
  for (int i = 0; rc == 0 && i < count && i < 64; i++) {
    g[i] = (greeting){.app = &a, .name = names[i]};
    rc = greet(&a, &g[i]);
  }
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
