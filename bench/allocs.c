/* irpc-bench rpc's allocation counts: allocations per call in steady state,
 * on each side.
 *
 * The counting allocator must be installed before anything else, and it
 * turns off what only the C library's allocator gets (the buffer blocks
 * kept per thread for bulk transfers), so the counts run in a process of
 * their own: `irpc-bench rpc` starts `irpc-bench rpc --allocs` after its
 * figures, which prints one line a case that the parent reads back.
 *
 * Over TCP and Unix sockets the server runs on a loop of its own on a
 * second thread, so each allocation is counted on the thread, hence the
 * side, that made it. The memory transport connects only within one loop:
 * its count is both sides together. Each case warms up with the same calls
 * (filling what is kept for reuse), then counts `n` calls:
 *   empty         an empty request to the echo service
 *   interceptors  a 32-byte request through a client pipeline of the
 *                 logger (no sink), retry, deadline (10 s), metrics,
 *                 request context (one entry) and compress interceptors
 *                 (compression asked for, the payload below the minimum
 *                 size), into a server router with the logger, deadline,
 *                 compress, metrics and request context middleware */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_rpc.h"

#define ALLOCS_WARMUP 2000

/* ---- The server side, on its own loop and thread (or the client's) ---- */

typedef struct side {
  uv_loop_t *loop;
  int interceptors;
  irpc_router *router; /* the echo router, or the middleware in front */
  irpc_router *echo_router;
  irpc_dispatcher *echo;
  irpc_server *server;
  irpc_metrics *metrics;
  char bound[256];
} side;

/* `mw` is read after the constructor that sets it ran. */
static int use_mw(irpc_router *r, int rc, irpc_dispatcher **mw) {
  if (rc == 0 && (rc = irpc_router_use(r, *mw)) != 0)
    irpc_dispatcher_free(*mw);
  return rc;
}

static int side_start(side *s, const char *listen, irpc_transport *mem) {
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.transport = mem;
  so.connection.inactivity_timeout_ms = 0;
  int rc = bench_echo_router(&s->echo_router, &s->echo, s->loop, 0);
  if (rc == 0 && !s->interceptors) {
    s->router = s->echo_router;
    s->echo_router = NULL;
  } else if (rc == 0) {
    /* The middleware come before any route: a router in front. */
    rc = irpc_router_new(&s->router, s->loop);
    irpc_dispatcher *mw = NULL;
    uv_loop_t *l = s->loop;
    rc = use_mw(s->router, irpc_logger_middleware_new(&mw, l, NULL), &mw);
    if (rc == 0)
      rc = use_mw(s->router, irpc_deadline_middleware_new(&mw, l, NULL), &mw);
    if (rc == 0)
      rc = use_mw(s->router, irpc_compress_middleware_new(&mw, l, NULL), &mw);
    if (rc == 0)
      rc = irpc_metrics_new(&s->metrics, "server");
    if (rc == 0)
      rc = use_mw(s->router,
                  irpc_metrics_middleware_new(&mw, l, s->metrics, NULL), &mw);
    if (rc == 0)
      rc = use_mw(s->router, irpc_request_context_middleware_new(&mw, l), &mw);
    if (rc == 0)
      rc = irpc_router_mount(s->router, "/",
                             irpc_router_dispatcher(s->echo_router));
  }
  if (rc == 0)
    rc = irpc_server_new(&s->server, s->loop, irpc_router_dispatcher(s->router),
                         &so);
  if (rc == 0)
    rc = irpc_server_listen(s->server, listen, s->bound, sizeof s->bound);
  return rc;
}

static void side_stop(side *s) {
  irpc_server_free(s->server);
  uv_run(s->loop, UV_RUN_DEFAULT);
  irpc_router_free(s->router);
  irpc_router_free(s->echo_router);
  irpc_dispatcher_free(s->echo);
  irpc_metrics_free(s->metrics);
  uv_run(s->loop, UV_RUN_DEFAULT);
}

typedef struct server_thread {
  side s;
  uv_loop_t loop;
  const char *listen;
  uv_thread_t th;
  uv_sem_t ready;
  uv_async_t stop;
  int rc;
  const atomic_uint_least64_t *count;
} server_thread;

static void on_stop(uv_async_t *a) {
  server_thread *t = a->data;
  uv_close((uv_handle_t *)&t->stop, NULL);
  side_stop(&t->s);
}

static void server_main(void *arg) {
  server_thread *t = arg;
  t->count = bench_alloc_thread_counter();
  uv_loop_init(&t->loop);
  t->s.loop = &t->loop;
  t->rc = side_start(&t->s, t->listen, NULL);
  if (t->rc == 0) {
    uv_async_init(&t->loop, &t->stop, on_stop);
    t->stop.data = t;
  }
  uv_sem_post(&t->ready);
  if (t->rc == 0)
    uv_run(&t->loop, UV_RUN_DEFAULT);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  uv_loop_close(&t->loop);
}

/* ---- The client side ---- */

typedef struct client {
  uv_loop_t *loop;
  irpc_invoker *conn;
  irpc_pipeline *pipeline;
  irpc_metrics *metrics;
  bench_calls k; /* on the pipeline, or the connection */
} client;

static int use_ic(irpc_pipeline *p, int rc, irpc_invoker **ic) {
  if (rc == 0 && (rc = irpc_pipeline_use(p, *ic)) != 0)
    irpc_invoker_free(*ic);
  return rc;
}

static int client_start(client *c, const char *addr, irpc_transport *mem,
                        int interceptors) {
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  o.transport = mem;
  int rc = irpc_client_connection_new(&c->conn, c->loop, addr, &o);
  if (rc == 0)
    rc = irpc_outgoing_request_new(&c->k.req, "/echo", "op");
  c->k.loop = c->loop;
  c->k.inv = c->conn;
  if (rc || !interceptors)
    return rc;
  uv_loop_t *l = c->loop;
  irpc_invoker *ic = NULL;
  irpc_deadline_options dopt;
  irpc_deadline_options_init(&dopt);
  dopt.default_timeout_ms = 10000;
  rc = irpc_pipeline_new(&c->pipeline, l);
  if (rc == 0)
    rc = use_ic(c->pipeline, irpc_logger_interceptor_new(&ic, l, NULL), &ic);
  if (rc == 0)
    rc = use_ic(c->pipeline, irpc_retry_interceptor_new(&ic, l, NULL), &ic);
  if (rc == 0)
    rc = use_ic(c->pipeline, irpc_deadline_interceptor_new(&ic, l, &dopt), &ic);
  if (rc == 0)
    rc = irpc_metrics_new(&c->metrics, "client");
  if (rc == 0)
    rc = use_ic(c->pipeline,
                irpc_metrics_interceptor_new(&ic, l, c->metrics, NULL), &ic);
  if (rc == 0)
    rc = use_ic(c->pipeline, irpc_request_context_interceptor_new(&ic, l), &ic);
  if (rc == 0)
    rc = use_ic(c->pipeline, irpc_compress_interceptor_new(&ic, l, NULL), &ic);
  if (rc == 0)
    rc = irpc_pipeline_into(c->pipeline, c->conn);
  if (rc == 0)
    c->k.inv = irpc_pipeline_invoker(c->pipeline);
  irpc_context *ctx = NULL;
  irpc_features *f = irpc_outgoing_request_features(c->k.req);
  static const char small[32] = "a small payload, not compressed";
  if (rc == 0)
    rc = irpc_context_new(&ctx);
  if (rc == 0 &&
      (rc = irpc_features_set(f, &irpc_request_context_feature, ctx)) != 0)
    irpc_context_free(ctx);
  if (rc == 0)
    rc = irpc_context_set(ctx, "tenant", "42");
  if (rc == 0)
    rc = irpc_features_set_compress(f, 1);
  if (rc == 0)
    rc = irpc_buf_append(irpc_outgoing_request_payload(c->k.req), small,
                         sizeof small);
  return rc;
}

static void client_stop(client *c) {
  bench_client_shutdown(c->loop, c->conn);
  irpc_pipeline_free(c->pipeline);
  irpc_invoker_free(c->conn);
  irpc_outgoing_request_free(c->k.req);
  irpc_metrics_free(c->metrics);
}

/* ---- One case ---- */

/* Counts the allocations of `n` calls with `inflight` at once after the
 * warm-up; *server is -1 when both sides share the client's loop. */
static int run_case(const char *protocol, const char *transport,
                    int interceptors, size_t inflight, uint64_t n,
                    double *client_per_call, double *server_per_call) {
  char dir[] = "/tmp/irpc-allocs-XXXXXX";
  char listen[160];
  int ice = strcmp(protocol, "ice") == 0;
  int uds = strcmp(transport, "uds") == 0;
  int memory = strcmp(transport, "memory") == 0;
  if (uds) {
    if (!mkdtemp(dir))
      return -1;
    if (ice)
      snprintf(listen, sizeof listen,
               "ice://localhost?transport=uds&path=%s/s.sock", dir);
    else
      snprintf(listen, sizeof listen, "unix:%s/s.sock", dir);
  } else if (memory) {
    snprintf(listen, sizeof listen, "%s://allocs?transport=memory", protocol);
  } else {
    snprintf(listen, sizeof listen, "%s://127.0.0.1:0", protocol);
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  client c = {.loop = &loop};
  irpc_transport *mem = NULL;
  side one = {.loop = &loop, .interceptors = interceptors};
  server_thread t = {.listen = listen, .s = {.interceptors = interceptors}};
  const char *bound;
  int rc = 0;
  if (memory) {
    rc = irpc_transport_memory_new(&mem);
    if (rc == 0)
      rc = side_start(&one, listen, mem);
    bound = one.bound;
  } else {
    uv_sem_init(&t.ready, 0);
    uv_thread_create(&t.th, server_main, &t);
    uv_sem_wait(&t.ready);
    uv_sem_destroy(&t.ready);
    rc = t.rc;
    bound = t.s.bound;
  }
  if (rc == 0)
    rc = client_start(&c, bound, mem, interceptors);
  if (rc)
    fprintf(stderr, "allocs: %s over %s: %s\n", protocol, transport,
            irpc_strerror(rc));
  if (rc == 0) {
    const atomic_uint_least64_t *mine = bench_alloc_thread_counter();
    bench_calls_run(&c.k, inflight, ALLOCS_WARMUP, NULL);
    uint64_t c0 = bench_alloc_read(mine);
    uint64_t s0 = memory ? 0 : bench_alloc_read(t.count);
    bench_calls_run(&c.k, inflight, n, NULL);
    uint64_t c1 = bench_alloc_read(mine);
    uint64_t s1 = memory ? 0 : bench_alloc_read(t.count);
    *client_per_call = (double)(c1 - c0) / (double)n;
    *server_per_call = memory ? -1 : (double)(s1 - s0) / (double)n;
    if (c.k.failed) {
      fprintf(stderr, "allocs: %llu calls failed\n",
              (unsigned long long)c.k.failed);
      rc = -1;
    }
  }
  if (c.conn)
    client_stop(&c);
  if (memory) {
    if (one.server)
      side_stop(&one);
  } else {
    if (t.rc == 0)
      uv_async_send(&t.stop);
    uv_thread_join(&t.th);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  irpc_transport_free(mem);
  if (uds) {
    char p[160];
    snprintf(p, sizeof p, "%s/s.sock", dir);
    unlink(p);
    rmdir(dir);
  }
  return rc;
}

/* ---- The child: irpc-bench rpc --allocs ---- */

int bench_allocs_main(const char *protocol, const char *transport,
                      double seconds) {
  bench_alloc_install();
  static const char *transports[] = {"tcp", "uds", "memory"};
  static const size_t depths[] = {1, 64};
  uint64_t n = bench_count_for(seconds, 5000, 2000);
  int rc = 0;
  for (size_t ti = 0; ti < 3; ti++) {
    if (strcmp(transport, "all") && strcmp(transport, transports[ti]))
      continue;
    for (int ic = 0; ic < 2; ic++)
      for (size_t di = 0; di < 2; di++) {
        double cl = 0, sv = 0;
        if (run_case(protocol, transports[ti], ic, depths[di], n, &cl, &sv)) {
          rc = 1;
          continue;
        }
        printf("%s %s %zu %.4f %.4f\n", transports[ti],
               ic ? "interceptors" : "empty", depths[di], cl, sv);
        fflush(stdout);
      }
  }
  return rc;
}

/* ---- The parent: starts the child, prints and records what it found ---- */

void bench_allocs(const char *self, const char *protocol, const char *transport,
                  double seconds, bench_json *j) {
  int fds[2];
  if (pipe(fds))
    return;
  char secs[32];
  snprintf(secs, sizeof secs, "%g", seconds);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl("/proc/self/exe", self, "rpc", "--allocs", "--protocol", protocol,
          "--transport", transport, "--seconds", secs, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return;
  }
  FILE *in = fdopen(fds[0], "r");
  printf("allocations per call in steady state (counting allocator, a "
         "process of its own; TCP and UDS: server on a second thread, "
         "counted per thread; memory: one loop, both sides)\n");
  char line[256];
  while (in && fgets(line, sizeof line, in)) {
    char tname[32], kase[32];
    size_t inflight;
    double cl, sv;
    if (sscanf(line, "%31s %31s %zu %lf %lf", tname, kase, &inflight, &cl,
               &sv) != 5)
      continue;
    char name[96];
    snprintf(name, sizeof name, "allocs_%s_inflight_%zu", kase, inflight);
    char tn[48];
    snprintf(tn, sizeof tn, "%s%s", tname,
             strcmp(protocol, "ice") ? "" : "/ice");
    if (sv < 0)
      printf("%-10s %-13s %4zu in flight   both sides %6.2f\n", tn, kase,
             inflight, cl);
    else
      printf("%-10s %-13s %4zu in flight   client %6.2f   server %6.2f\n", tn,
             kase, inflight, cl, sv);
    bench_json_begin(j);
    bench_json_str(j, "transport", tn);
    bench_json_str(j, "case", name);
    bench_json_num(j, sv < 0 ? "allocs_per_call" : "client_allocs_per_call",
                   cl);
    if (sv >= 0)
      bench_json_num(j, "server_allocs_per_call", sv);
    bench_json_end(j);
  }
  if (in)
    fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fprintf(stderr, "allocs: the counting process failed\n");
}
