/* Calls that keep flowing while their server is killed and restarted, or
 * shut down gracefully and restarted, many times over. The client is a
 * pipeline [retry] -> connection cache over TCP; the server is this test
 * program run as a child process ("serve" mode), restarted on the same
 * address as soon as it exits. Calls carry payloads of 16 bytes to 64 KiB,
 * 32 in flight, half of them idempotent. The server marks each call it
 * dispatches in a file both processes map, so the test knows which calls
 * reached a dispatcher.
 *
 * Whatever the timing: every call completes exactly once, with its payload
 * echoed or a named error; after a graceful shutdown, every call the
 * server dispatched succeeded and every call it never dispatched failed
 * (if at all) with an error that says the request was not sent or not
 * accepted, never with one that leaves the caller unsure. The run is
 * bounded in calls, restarts and time (each call's deadline, the loop
 * watchdog). */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kit/net.h"

enum { CALLS = 1200, INFLIGHT = 32, DISRUPT_EVERY = 120 };

static const size_t sizes[] = {16, 1024, 16 << 10, 64 << 10};

/* ---- The server, in the child process ---- */

typedef struct child {
  uv_loop_t loop;
  uv_signal_t term;
  irpc_server *server;
  uint8_t *dispatched;
} child;

static void child_echo(irpc_dispatcher *self, irpc_dispatch *d) {
  child *c = *(child **)irpc_dispatcher_data(self);
  irpc_buf *in = irpc_incoming_request_payload(irpc_dispatch_request(d));
  uint32_t id;
  if (irpc_buf_copyout(in, 0, &id, sizeof id) == 0 && id < CALLS)
    c->dispatched[id] = 1;
  irpc_outgoing_response *resp;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL) ||
      irpc_buf_move(irpc_outgoing_response_payload(resp), in)) {
    fprintf(stderr, "chaos server: out of memory\n");
    exit(3);
  }
  irpc_dispatch_complete(d, resp);
}

static int child_init(irpc_dispatcher *self, const void *config) {
  *(child **)irpc_dispatcher_data(self) = (child *)config;
  return 0;
}

static const irpc_dispatcher_ops child_echo_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "chaos-echo",
    .data_size = sizeof(child *),
    .init = child_init,
    .dispatch = child_echo};

static void child_shut(irpc_server *s, int status, void *ud) {
  (void)s, (void)status;
  child *c = ud;
  uv_close((uv_handle_t *)&c->term, NULL);
}

static void child_on_term(uv_signal_t *h, int signum) {
  (void)signum;
  child *c = h->data;
  uv_signal_stop(h);
  if (irpc_server_shutdown(c->server, child_shut, c))
    exit(4);
}

/* serve ADDRESS MAPFILE: echoes until SIGTERM, then shuts down gracefully
 * and exits 0. Prints the bound address on a line once it listens. */
static int serve(const char *address, const char *map_path) {
  child c;
  memset(&c, 0, sizeof c);
  int fd = open(map_path, O_RDWR);
  if (fd < 0)
    return 2;
  c.dispatched = mmap(NULL, CALLS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (c.dispatched == MAP_FAILED)
    return 2;
  irpc_router *router;
  irpc_dispatcher *echo;
  char bound[256];
  if (uv_loop_init(&c.loop) || irpc_router_new(&router, &c.loop) ||
      irpc_dispatcher_new(&echo, &c.loop, &child_echo_ops, &c) ||
      irpc_router_map(router, "/echo", echo) ||
      irpc_server_new(&c.server, &c.loop, irpc_router_dispatcher(router),
                      NULL) ||
      irpc_server_listen(c.server, address, bound, sizeof bound))
    return 2;
  uv_signal_init(&c.loop, &c.term);
  c.term.data = &c;
  uv_signal_start(&c.term, child_on_term, SIGTERM);
  printf("%s\n", bound);
  fflush(stdout);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  irpc_server_free(c.server);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  irpc_router_free(router);
  irpc_dispatcher_free(echo);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&c.loop);
  munmap(c.dispatched, CALLS);
  if (rc)
    fprintf(stderr, "chaos server: the loop does not close: %s\n",
            uv_strerror(rc));
  return rc ? 5 : 0;
}

/* ---- The client, in the test process ---- */

enum { KILL, GRACEFUL };

typedef struct chaos {
  uv_loop_t *loop;
  int mode; /* KILL or GRACEFUL */
  char dir[64];
  char map_path[96];
  uint8_t *dispatched;
  char address[300]; /* "" until the first server listens */
  char exe[1024];
  /* The server process. */
  struct proc *proc; /* NULL between one server's exit and the next */
  int up, restarts;
  /* The client. */
  irpc_pipeline *pipeline;
  irpc_invoker *cache;
  irpc_service_address *target;
  int next, done, since_disrupt, finished;
  /* Per call. */
  int ends[CALLS];
  int errs[CALLS];
  irpc_outgoing_request *reqs[CALLS];
} chaos;

static uint8_t payload_byte(uint32_t id, size_t i) {
  return (uint8_t)(id * 31 + i * 7);
}

static void start_server(chaos *t);
static void next_calls(chaos *t);

/* One server process, with the pipe its ready line comes on; freed once
 * both handles closed. */
typedef struct proc {
  chaos *t;
  uv_process_t handle;
  uv_pipe_t out;
  char line[256];
  size_t line_len;
  int open_handles;
} proc;

static void proc_closed(uv_handle_t *h) {
  proc *p = h->data;
  if (--p->open_handles == 0)
    free(p);
}

static void proc_close(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, proc_closed);
}

static void on_out_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)hint;
  proc *p = h->data;
  b->base = p->line + p->line_len;
  b->len = sizeof p->line - 1 - p->line_len;
}

static void on_out_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  proc *p = s->data;
  chaos *t = p->t;
  if (n <= 0) {
    proc_close((uv_handle_t *)s);
    return;
  }
  p->line_len += (size_t)n;
  p->line[p->line_len] = 0;
  char *nl = strchr(p->line, '\n');
  if (!nl || t->up || t->proc != p)
    return;
  *nl = 0;
  if (!t->address[0]) {
    snprintf(t->address, sizeof t->address, "%s", p->line);
    char sa[320];
    snprintf(sa, sizeof sa, "%s/echo", t->address);
    assert_irpc_ok(irpc_service_address_parse(&t->target, sa));
  } else {
    assert_string_equal(p->line, t->address);
  }
  t->up = 1;
  next_calls(t);
}

static void on_exit_cb(uv_process_t *h, int64_t status, int signum) {
  proc *p = h->data;
  chaos *t = p->t;
  if (!(signum == SIGKILL || (signum == 0 && status == 0)))
    fail_msg("the server exited with status %d, signal %d", (int)status,
             signum);
  t->proc = NULL;
  t->up = 0;
  proc_close((uv_handle_t *)&p->handle);
  proc_close((uv_handle_t *)&p->out);
  if (t->done < CALLS) {
    t->restarts++;
    start_server(t);
  }
}

static void start_server(chaos *t) {
  proc *p = calloc(1, sizeof *p);
  assert_non_null(p);
  p->t = t;
  char *args[] = {t->exe, "serve",
                  t->address[0] ? t->address : "icerpc://127.0.0.1:0",
                  t->map_path, NULL};
  uv_pipe_init(t->loop, &p->out, 0);
  p->out.data = p;
  p->handle.data = p;
  p->open_handles = 2;
  uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                   {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
                                    .data.stream = (uv_stream_t *)&p->out},
                                   {.flags = UV_INHERIT_FD, .data.fd = 2}};
  uv_process_options_t po = {.exit_cb = on_exit_cb,
                             .file = t->exe,
                             .args = args,
                             .stdio_count = 3,
                             .stdio = stdio};
  assert_int_equal(uv_spawn(t->loop, &p->handle, &po), 0);
  t->proc = p;
  assert_int_equal(
      uv_read_start((uv_stream_t *)&p->out, on_out_alloc, on_out_read), 0);
}

static void disrupt(chaos *t) {
  if (!t->proc || !t->up)
    return; /* a restart is under way */
  t->since_disrupt = 0;
  t->up = 0; /* further disruptions wait for the next server */
  uv_process_kill(&t->proc->handle, t->mode == KILL ? SIGKILL : SIGTERM);
}

/* Errors that say the request never reached a dispatcher: refused before
 * it was sent, canceled before dispatch, no server to connect to. */
static int not_sent_error(int err) {
  return err == IRPC_EINVCANCELED || err == IRPC_EREFUSED ||
         err == UV_ECONNREFUSED;
}

/* Errors that say the connection went away with the request on it. */
static int lost_error(int err) {
  return err == UV_ECONNRESET || err == UV_ECONNABORTED || err == UV_EPIPE ||
         err == IRPC_ECLOSEDBYPEER || err == UV_EOF;
}

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  chaos *t = ud;
  irpc_outgoing_request *req = irpc_call_request(call);
  uint32_t id = 0;
  for (; id < CALLS && t->reqs[id] != req; id++)
    ;
  assert_true(id < CALLS);
  assert_int_equal(t->ends[id]++, 0);
  t->errs[id] = err;
  if (resp) {
    assert_int_equal(irpc_incoming_response_status(resp), IRPC_STATUS_OK);
    irpc_buf *p = irpc_incoming_response_payload(resp);
    size_t len = irpc_buf_len(p);
    assert_int_equal(len, sizes[id % 4]);
    uint8_t *back = malloc(len);
    assert_irpc_ok(irpc_buf_copyout(p, 0, back, len));
    assert_memory_equal(back, &id, sizeof id);
    for (size_t i = sizeof id; i < len; i++)
      assert_int_equal(back[i], payload_byte(id, i));
    free(back);
    irpc_incoming_response_free(resp);
  } else {
    assert_true(err < 0);
  }
  t->done++;
  t->since_disrupt++;
  if (t->since_disrupt >= DISRUPT_EVERY)
    disrupt(t);
  next_calls(t);
}

static void start_call(chaos *t, uint32_t id) {
  size_t len = sizes[id % 4];
  uint8_t *data = malloc(len);
  memcpy(data, &id, sizeof id);
  for (size_t i = sizeof id; i < len; i++)
    data[i] = payload_byte(id, i);
  irpc_outgoing_request *req = kit_request("/echo", data, len);
  free(data);
  assert_irpc_ok(irpc_outgoing_request_set_service_address(req, t->target));
  if (id % 2)
    assert_irpc_ok(irpc_outgoing_request_set_idempotent(req, 1));
  t->reqs[id] = req;
  assert_irpc_ok(
      irpc_invoke(irpc_pipeline_invoker(t->pipeline), req, on_done, t, NULL));
}

static void next_calls(chaos *t) {
  while (t->up && t->next < CALLS && t->next - t->done < INFLIGHT)
    start_call(t, (uint32_t)t->next++);
  if (t->done == CALLS && !t->finished) {
    t->finished = 1;
    if (t->proc)
      uv_process_kill(&t->proc->handle, SIGKILL);
  }
}

static void run(int mode) {
  static chaos t;
  memset(&t, 0, sizeof t);
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  t.loop = &loop;
  t.mode = mode;
  size_t n = sizeof t.exe;
  assert_int_equal(uv_exepath(t.exe, &n), 0);
  strcpy(t.dir, "/tmp/irpc-chaos-XXXXXX");
  assert_non_null(mkdtemp(t.dir));
  snprintf(t.map_path, sizeof t.map_path, "%s/dispatched", t.dir);
  int fd = open(t.map_path, O_RDWR | O_CREAT, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, CALLS), 0);
  t.dispatched = mmap(NULL, CALLS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  assert_true(t.dispatched != MAP_FAILED);

  irpc_retry_options ro;
  irpc_retry_options_init(&ro);
  ro.max_attempts = 8;
  ro.initial_backoff_ms = 2;
  ro.max_backoff_ms = 50;
  ro.budget_max_tokens = 0; /* no budget: every failure may retry */
  ro.seed = 7;
  irpc_invoker *retry;
  assert_irpc_ok(irpc_retry_interceptor_new(&retry, &loop, &ro));
  assert_irpc_ok(irpc_connection_cache_new(&t.cache, &loop, NULL));
  assert_irpc_ok(irpc_pipeline_new(&t.pipeline, &loop));
  assert_irpc_ok(irpc_pipeline_use(t.pipeline, retry));
  assert_irpc_ok(irpc_pipeline_into(t.pipeline, t.cache));

  start_server(&t);
  kit_run_until(&loop, &t.finished);
  while (t.proc)
    uv_run(&loop, UV_RUN_ONCE);

  int ok = 0, not_sent = 0, lost = 0;
  for (uint32_t id = 0; id < CALLS; id++) {
    assert_int_equal(t.ends[id], 1);
    int err = t.errs[id];
    if (err == 0)
      ok++;
    else if (not_sent_error(err))
      not_sent++;
    else if (lost_error(err))
      lost++;
    else
      fail_msg("call %u failed with %s (%s)", id, irpc_err_name(err),
               irpc_strerror(err));
    if (mode == GRACEFUL) {
      /* A graceful shutdown finishes what it dispatched and refuses the
       * rest: nothing is lost with the connection. */
      if (t.dispatched[id])
        assert_int_equal(err, 0);
      else if (err)
        assert_true(not_sent_error(err));
    } else if (err && !t.dispatched[id] && !(id % 2)) {
      /* Non-idempotent and never dispatched: not sent, or lost with a
       * connection the server was killed under. */
      assert_true(not_sent_error(err) || lost_error(err));
    }
    irpc_outgoing_request_free(t.reqs[id]);
  }
  print_message("%s: %d calls, %d restarts: %d ok, %d not sent, %d lost\n",
                mode == KILL ? "kill" : "graceful shutdown", CALLS, t.restarts,
                ok, not_sent, lost);
  assert_true(t.restarts >= CALLS / DISRUPT_EVERY / 2);
  assert_true(ok > CALLS / 2);

  irpc_pipeline_free(t.pipeline);
  int closed = 0;
  assert_irpc_ok(
      irpc_connection_cache_shutdown(t.cache, kit_status_cb, &closed));
  kit_run_until(&loop, &closed);
  irpc_invoker_free(t.cache);
  irpc_service_address_free(t.target);
  munmap(t.dispatched, CALLS);
  unlink(t.map_path);
  rmdir(t.dir);
  test_loop_finish(&loop);
}

static void kill_and_restart(void **state) {
  (void)state;
  run(KILL);
}

static void shutdown_and_restart(void **state) {
  (void)state;
  run(GRACEFUL);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "serve") == 0)
    return serve(argv[2], argv[3]);
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(kill_and_restart),
      cmocka_unit_test(shutdown_and_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
