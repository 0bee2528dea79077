/* multiloop: a server on several loops, called from plain threads, with
 * a blocking handler kept off its loops (irpc/multi_server.h,
 * irpc/call_queue.h, irpc/offload.h, irpc/metrics.h).
 *
 * The server runs 2 loops, one thread each (loops = 0 would take one per
 * core). It listens with SO_REUSEPORT: every loop has a socket of its own
 * on the same port and the kernel spreads the connections over them, by a
 * hash of their addresses (two connections may land on one loop;
 * irpc_multi_server_listen, one acceptor handing each connection to the
 * least loaded loop, is the default and the fallback where the system has
 * no SO_REUSEPORT). A factory builds each loop's chain on that loop's
 * thread: a router with a metrics middleware of its own, "/echo" answered
 * on the loop, and "/report" handed to a blocking handler (it sleeps, as a
 * database query would) on a pool of 2 threads shared by both loops.
 *
 * 4 threads that run no loop call it two ways: through a blocking client
 * (a loop on a thread of its own, calls that block), and through a call
 * queue on a client connection of a loop this program runs on another
 * thread. Then the metrics of the loops are merged into one object, each
 * on its own loop's thread (irpc_multi_server_visit), and printed with the
 * server's counters; the server shuts down gracefully.
 *
 * Built with the tree, or on its own against an installed irpc: copy this
 * folder and see its CMakeLists.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

enum { LOOPS = 2, THREADS = 4, ECHOES = 100, REPORTS = 2 };

/* ---- The server ---- */

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_buf *in = irpc_incoming_request_payload(irpc_dispatch_request(d));
  irpc_outgoing_response *r;
  if (irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL) ||
      irpc_buf_append_ref(irpc_outgoing_response_payload(r), in, 0,
                          irpc_buf_len(in))) {
    irpc_outgoing_response_free(r);
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, "out of memory");
    return;
  }
  irpc_dispatch_complete(d, r);
}

static const irpc_dispatcher_ops echo_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "echo",
                                             .dispatch = echo_dispatch};

/* On a thread of the pool: may block; touches the request and its own
 * response only. */
static irpc_outgoing_response *report(irpc_incoming_request *req, void *ud) {
  (void)ud;
  uv_sleep(10); /* ms */
  char text[64];
  int n = snprintf(text, sizeof text, "report of %zu bytes",
                   irpc_buf_len(irpc_incoming_request_payload(req)));
  irpc_outgoing_response *r;
  if (irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL))
    return NULL; /* answered InternalError */
  if (irpc_buf_append(irpc_outgoing_response_payload(r), text, (size_t)n)) {
    irpc_outgoing_response_free(r);
    return NULL;
  }
  return r;
}

/* What the factory built for one loop, freed by the release function. */
typedef struct chain {
  irpc_router *router;
  irpc_dispatcher *echo, *report;
  irpc_metrics *metrics;
} chain;

typedef struct server_app {
  irpc_offload_pool *pool; /* shared by the loops: thread-safe */
  chain chains[LOOPS];
  irpc_metrics *total; /* the loops' metrics merged */
} server_app;

static void release_chain(uv_loop_t *loop, unsigned index, irpc_dispatcher *d,
                          void *user_data) {
  (void)loop;
  (void)d;
  server_app *app = user_data;
  chain *c = &app->chains[index];
  irpc_router_free(c->router); /* and its middleware */
  irpc_dispatcher_free(c->echo);
  irpc_dispatcher_free(c->report);
  irpc_metrics_free(c->metrics);
  memset(c, 0, sizeof(*c));
}

static int build_chain(uv_loop_t *loop, unsigned index, irpc_dispatcher **out,
                       void *user_data) {
  server_app *app = user_data;
  chain *c = &app->chains[index];
  irpc_dispatcher *mw = NULL;
  int rc = irpc_metrics_new(&c->metrics, "server");
  if (rc == 0)
    rc = irpc_router_new(&c->router, loop);
  if (rc == 0)
    rc = irpc_metrics_middleware_new(&mw, loop, c->metrics, NULL);
  if (rc == 0 && (rc = irpc_router_use(c->router, mw)) != 0)
    irpc_dispatcher_free(mw);
  if (rc == 0)
    rc = irpc_dispatcher_new(&c->echo, loop, &echo_ops, NULL);
  if (rc == 0)
    rc = irpc_router_map(c->router, "/echo", c->echo);
  if (rc == 0)
    rc = irpc_offload_new(&c->report, loop, app->pool, report, NULL);
  if (rc == 0)
    rc = irpc_router_map(c->router, "/report", c->report);
  if (rc == 0)
    *out = irpc_router_dispatcher(c->router);
  else /* the other loops' chains are released by irpc_multi_server_new */
    release_chain(loop, index, NULL, app);
  return rc;
}

/* On loop `index`'s thread, one loop after the other: that loop's metrics
 * are read there, and merged into the one object nothing else uses. */
static void merge_metrics(irpc_multi_server *ms, unsigned index,
                          uv_loop_t *loop, void *user_data) {
  (void)ms;
  (void)loop;
  server_app *app = user_data;
  irpc_metrics_merge(app->total, app->chains[index].metrics);
}

/* ---- A client loop with a call queue, on a thread of its own ---- */

typedef struct client_loop {
  uv_loop_t loop;
  uv_thread_t thread;
  uv_sem_t ready;
  uv_async_t stop;
  const char *address;
  irpc_invoker *conn;
  irpc_call_queue *queue;
  int rc;
} client_loop;

static void on_shutdown(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  (void)status;
  (void)ud;
}

static void on_stop(uv_async_t *a) {
  client_loop *cl = a->data;
  irpc_call_queue_free(cl->queue);
  irpc_client_connection_shutdown(cl->conn, on_shutdown, NULL);
  uv_close((uv_handle_t *)&cl->stop, NULL);
}

static void client_loop_main(void *arg) {
  client_loop *cl = arg;
  uv_loop_init(&cl->loop);
  /* The queue is made on the thread that runs its loop: it refuses to
   * wait on that thread, and only that one. */
  cl->rc = irpc_client_connection_new(&cl->conn, &cl->loop, cl->address, NULL);
  if (cl->rc == 0 && (cl->rc = irpc_call_queue_new(&cl->queue, cl->conn)))
    irpc_invoker_free(cl->conn);
  if (cl->rc == 0 && (cl->rc = uv_async_init(&cl->loop, &cl->stop, on_stop))) {
    irpc_call_queue_free(cl->queue);
    irpc_invoker_free(cl->conn);
  }
  cl->stop.data = cl;
  uv_sem_post(&cl->ready);
  if (cl->rc == 0) {
    uv_run(&cl->loop, UV_RUN_DEFAULT); /* until on_stop */
    irpc_invoker_free(cl->conn);
  }
  uv_run(&cl->loop, UV_RUN_DEFAULT);
  uv_loop_close(&cl->loop);
}

/* ---- The calling threads ---- */

typedef struct caller {
  uv_thread_t thread;
  int id;
  irpc_blocking_client *blocking;
  irpc_call_queue *queue;
  int ok, failed;
} caller;

static void call(caller *c, int through_queue, const char *path) {
  irpc_outgoing_request *req;
  char text[32];
  int n = snprintf(text, sizeof text, "from thread %d", c->id);
  if (irpc_outgoing_request_new(&req, path, "get")) {
    c->failed++;
    return;
  }
  irpc_incoming_response *resp = NULL;
  int rc = irpc_buf_append(irpc_outgoing_request_payload(req), text, (size_t)n);
  if (rc)
    irpc_outgoing_request_free(req);
  else if (through_queue) /* the request passes to the call, also on error */
    rc = irpc_call_queue_invoke_sync(c->queue, req, &resp);
  else
    rc = irpc_blocking_client_invoke(c->blocking, req, &resp);
  if (rc == 0 && irpc_incoming_response_status(resp) == IRPC_STATUS_OK &&
      irpc_buf_len(irpc_incoming_response_payload(resp)) > 0) {
    c->ok++;
  } else {
    c->failed++;
    fprintf(stderr, "thread %d %s: %s\n", c->id, path,
            rc ? irpc_strerror(rc)
               : irpc_incoming_response_error_message(resp));
  }
  irpc_incoming_response_free(resp);
}

static void caller_main(void *arg) {
  caller *c = arg;
  for (int i = 0; i < ECHOES; i++) {
    call(c, 0, "/echo");
    call(c, 1, "/echo");
  }
  for (int i = 0; i < REPORTS; i++) {
    call(c, 0, "/report");
    call(c, 1, "/report");
  }
}

int main(void) {
  static server_app app;
  static client_loop cl;
  irpc_multi_server *ms = NULL;
  irpc_blocking_client *blocking = NULL;
  int cl_started = 0, ok = 0, failed = 0;
  irpc_metrics_snapshot s = {0};
  const char *what = "offload pool";

  irpc_offload_pool_options po;
  irpc_offload_pool_options_init(&po);
  po.threads = 2;
  int rc = irpc_offload_pool_new(&app.pool, &po);
  if (rc)
    goto out;

  what = "multi-loop server";
  irpc_multi_server_options o;
  irpc_multi_server_options_init(&o);
  o.loops = LOOPS;
  o.factory = build_chain;
  o.release = release_chain;
  o.user_data = &app;
  if ((rc = irpc_multi_server_new(&ms, &o)) != 0)
    goto out;

  what = "listen";
  char address[128];
  const char *how = "SO_REUSEPORT";
  rc = irpc_multi_server_listen_reuseport(ms, "icerpc://127.0.0.1:0", address,
                                          sizeof address);
  if (rc == IRPC_ENOTSUP) {
    how = "one acceptor";
    rc = irpc_multi_server_listen(ms, "icerpc://127.0.0.1:0", address,
                                  sizeof address);
  }
  if (rc)
    goto out;
  printf("listening on %s with %u loops (%s)\n", address,
         irpc_multi_server_loops(ms), how);

  what = "blocking client";
  if ((rc = irpc_blocking_client_new(&blocking, address, NULL)) != 0)
    goto out;
  what = "call queue";
  cl.address = address;
  uv_sem_init(&cl.ready, 0);
  if ((rc = uv_thread_create(&cl.thread, client_loop_main, &cl)) == 0) {
    cl_started = 1;
    uv_sem_wait(&cl.ready);
    rc = cl.rc;
  }
  uv_sem_destroy(&cl.ready);
  if (rc)
    goto out;

  caller callers[THREADS];
  int n = 0;
  for (; n < THREADS; n++) {
    callers[n] = (caller){.id = n, .blocking = blocking, .queue = cl.queue};
    if (uv_thread_create(&callers[n].thread, caller_main, &callers[n]))
      break;
  }
  for (int i = 0; i < n; i++) {
    uv_thread_join(&callers[i].thread);
    ok += callers[i].ok;
    failed += callers[i].failed;
  }
  printf("%d threads: %d calls answered, %d failed\n", n, ok, failed);

  irpc_multi_server_stats st, per[LOOPS];
  irpc_multi_server_read_stats(ms, &st, per, LOOPS);
  printf("server: %llu connections, %llu dispatches, %llu failed\n",
         (unsigned long long)st.connections_accepted,
         (unsigned long long)st.dispatches_total,
         (unsigned long long)st.dispatches_failed);
  for (unsigned i = 0; i < LOOPS; i++)
    printf("  loop %u: %llu connections, %llu dispatches\n", i,
           (unsigned long long)per[i].connections_accepted,
           (unsigned long long)per[i].dispatches_total);

  what = "metrics";
  if ((rc = irpc_metrics_new(&app.total, "server")) != 0 ||
      (rc = irpc_multi_server_visit(ms, merge_metrics, &app)) != 0 ||
      (rc = irpc_metrics_read(app.total, &s)) != 0)
    goto out;
  printf("metrics of all loops: %llu dispatches, %llu failed, p50 %.1f us, "
         "p99 %.1f us\n",
         (unsigned long long)s.total, (unsigned long long)s.failed,
         (double)s.p50_ns / 1e3, (double)s.p99_ns / 1e3);
  irpc_offload_pool_stats ps;
  irpc_offload_pool_read(app.pool, &ps);
  printf("blocking handler: %llu runs on the pool, %llu refused\n",
         (unsigned long long)ps.done, (unsigned long long)ps.rejected);

  int shut = irpc_multi_server_shutdown(ms);
  printf("shut down (%s)\n", shut ? irpc_strerror(shut) : "gracefully");

out:
  if (rc)
    fprintf(stderr, "%s: %s\n", what, irpc_strerror(rc));
  if (cl_started) {
    if (cl.rc == 0)
      uv_async_send(&cl.stop);
    uv_thread_join(&cl.thread);
  }
  irpc_blocking_client_free(blocking);
  irpc_multi_server_free(ms); /* releases each loop's chain */
  irpc_offload_pool_free(app.pool);
  irpc_metrics_free(app.total);
  int expected = THREADS * 2 * (ECHOES + REPORTS);
  return rc || failed || ok != expected || s.total != (uint64_t)expected;
}
