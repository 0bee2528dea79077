/* greeter server: serves the Greeter interface of greeter.slice at its
 * default path, /VisitorCenter.Greeter, over TCP (or any irpc address).
 *
 *   irpc-greeter-server [ADDRESS]      default icerpc://127.0.0.1:4062
 *
 * The router runs a logger middleware (lines on stderr) in front of the
 * greeter service. SIGINT or SIGTERM shuts the server down gracefully:
 * it stops listening, finishes the calls under way and tells its clients
 * to go away (GoAway) before it exits. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <irpc/irpc.h>

#include "greeter.slice.h"

/* The greeter service: implements greet of the Greeter interface
 * (greeter.slice). `name` is a view into the request, valid until the
 * dispatch completes; the reply copies the greeting out. */
static void greet(void *impl, irpc_slice_dispatch *sd, irpc_str name) {
  (void)impl;
  char text[96];
  int n = snprintf(text, sizeof text, "Hello, %.*s!", (int)name.len, name.ptr);
  if (n >= (int)sizeof text) /* a long name: the greeting is cut */
    n = (int)sizeof text - 1;
  VisitorCenter_Greeter_greet_reply(sd, (irpc_str){text, (size_t)n});
}

static const VisitorCenter_Greeter_ops greeter_ops = {.greet = greet};

typedef struct app {
  irpc_server *server;
  uv_signal_t sigint, sigterm;
} app;

static void on_shutdown(irpc_server *s, int status, void *ud) {
  (void)s;
  app *a = ud;
  fprintf(stderr, "server: shut down (%s)\n",
          status ? irpc_strerror(status) : "gracefully");
  uv_close((uv_handle_t *)&a->sigint, NULL);
  uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  app *a = h->data;
  fprintf(stderr, "server: signal %d, shutting down\n", signum);
  uv_signal_stop(&a->sigint);
  uv_signal_stop(&a->sigterm);
  irpc_server_shutdown(a->server, on_shutdown, a);
}

int main(int argc, char **argv) {
  const char *address = argc > 1 ? argv[1] : "icerpc://127.0.0.1:4062";
  uv_loop_t *loop = uv_default_loop();
  app a;
  memset(&a, 0, sizeof a);

  irpc_logger_options lo;
  irpc_logger_options_init(&lo);
  irpc_logger_options_use_file(&lo, stderr, IRPC_LOG_INFO);

  irpc_router *router = NULL;
  irpc_dispatcher *logger = NULL, *greeter = NULL;
  char bound[256];
  int rc = irpc_router_new(&router, loop);
  if (rc == 0)
    rc = irpc_logger_middleware_new(&logger, loop, &lo);
  if (rc == 0 && (rc = irpc_router_use(router, logger)) != 0)
    irpc_dispatcher_free(logger); /* the router did not take it */
  if (rc == 0)                    /* NULL path: the interface's default path */
    rc = VisitorCenter_Greeter_map(router, NULL, &greeter_ops, NULL, &greeter);
  if (rc == 0)
    rc = irpc_server_new(&a.server, loop, irpc_router_dispatcher(router), NULL);
  if (rc == 0)
    rc = irpc_server_listen(a.server, address, bound, sizeof bound);
  if (rc) {
    fprintf(stderr, "server: %s: %s\n", address, irpc_strerror(rc));
    return 1;
  }
  printf("listening on %s\n", bound);
  fflush(stdout);

  uv_signal_init(loop, &a.sigint);
  uv_signal_init(loop, &a.sigterm);
  a.sigint.data = a.sigterm.data = &a;
  uv_signal_start(&a.sigint, on_signal, SIGINT);
  uv_signal_start(&a.sigterm, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);

  /* Teardown: the server first (it borrows the router), then the router
   * (it owns its middleware), then the services it borrowed. */
  irpc_server_free(a.server);
  uv_run(loop, UV_RUN_DEFAULT);
  irpc_router_free(router);
  irpc_dispatcher_free(greeter);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
