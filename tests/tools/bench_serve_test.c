/* irpc-bench serve as a real server: SIGTERM or SIGINT while a client has
 * a call in flight; the call completes, the client is told to go away
 * (GoAway), no new connection is accepted, and the process exits 0 (its
 * sanitizers found no leak either). The server runs as a child process. */
#include <signal.h>

#include "kit/net.h"

#ifndef IRPC_BENCH_PROGRAM
#error "IRPC_BENCH_PROGRAM: the path of irpc-bench"
#endif

typedef struct child {
  uv_process_t proc;
  uv_pipe_t out;
  char line[200]; /* the first line: the bound address */
  size_t len;
  int have_line;
  int exited;
  int64_t exit_status;
  int term_signal;
  int out_closed;
} child;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  child *c = h->data;
  buf->base = c->line + c->len;
  buf->len = sizeof c->line - 1 - c->len;
}

static void on_out_closed(uv_handle_t *h) {
  ((child *)h->data)->out_closed = 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  child *c = s->data;
  if (n > 0) {
    c->len += (size_t)n;
    c->line[c->len] = '\0';
    char *nl = strchr(c->line, '\n');
    if (nl) {
      *nl = '\0';
      c->have_line = 1;
      uv_read_stop(s);
    }
  } else if (n < 0) {
    uv_read_stop(s);
  }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  child *c = p->data;
  c->exited = 1;
  c->exit_status = status;
  c->term_signal = sig;
  uv_close((uv_handle_t *)p, NULL);
}

static void child_start(uv_loop_t *loop, child *c, const char *address) {
  memset(c, 0, sizeof(*c));
  assert_int_equal(uv_pipe_init(loop, &c->out, 0), 0);
  c->out.data = c;
  c->proc.data = c;
  char *args[] = {IRPC_BENCH_PROGRAM, "serve", (char *)address, NULL};
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&c->out;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  uv_process_options_t o;
  memset(&o, 0, sizeof o);
  o.file = IRPC_BENCH_PROGRAM;
  o.args = args;
  o.exit_cb = on_exit_cb;
  o.stdio = stdio;
  o.stdio_count = 3;
  assert_int_equal(uv_spawn(loop, &c->proc, &o), 0);
  assert_int_equal(uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read), 0);
  kit_run_until(loop, &c->have_line);
  uv_close((uv_handle_t *)&c->out, on_out_closed);
}

static void on_conn_closed(irpc_connection *conn, int err, void *ud) {
  (void)conn;
  *(int *)ud = err ? err : 1;
}

static void check_signal(int kind, int signum) {
  net_rig r; /* its loop and a temporary directory; no server */
  net_rig_init(&r, kind);
  char listen[200];
  if (kind == NET_UDS)
    snprintf(listen, sizeof listen, "unix:%s/s.sock", r.dir);
  else
    snprintf(listen, sizeof listen, "icerpc://127.0.0.1:0");
  child c;
  child_start(&r.loop, &c, listen);
  snprintf(r.bound, sizeof r.bound, "%s", c.line);
  irpc_invoker *client = net_client(&r);

  /* A call in flight: /hold answers only once the server shuts down. */
  irpc_buf *held_payload;
  assert_irpc_ok(irpc_buf_new(&held_payload));
  net_result held = {.payload = held_payload};
  irpc_outgoing_request *hold = kit_request("/hold", "in flight", 9);
  assert_irpc_ok(irpc_invoke(client, hold, net_on_result, &held, NULL));
  /* A call after it on the same connection: once it is answered, the
   * server has taken /hold (a connection dispatches in arrival order). */
  net_result echo = {0};
  irpc_outgoing_request *req = kit_request("/echo", "x", 1);
  net_call_sync(&r.loop, client, req, &echo);
  assert_irpc_ok(echo.err);
  assert_int_equal(echo.status, IRPC_STATUS_OK);
  assert_int_equal(held.done, 0);
  irpc_connection *conn =
      irpc_connection_ref(irpc_client_connection_connection(client));
  int closed = 0;
  assert_true(irpc_connection_on_close(conn, on_conn_closed, &closed) > 0);

  assert_int_equal(uv_process_kill(&c.proc, signum), 0);
  kit_run_until(&r.loop, &held.done);
  /* The call in flight completed normally. */
  assert_irpc_ok(held.err);
  assert_int_equal(held.status, IRPC_STATUS_OK);
  assert_int_equal(irpc_buf_len(held_payload), 9);
  /* The server said GoAway and the connection closed gracefully. */
  kit_run_until(&r.loop, &closed);
  assert_true(closed == IRPC_ECLOSED || closed == IRPC_ECLOSEDBYPEER);
  kit_run_until(&r.loop, &c.exited);
  assert_int_equal(c.term_signal, 0);
  assert_int_equal(c.exit_status, 0);
  /* Nobody listens any more (and the socket file is gone). */
  net_result after = {0};
  net_call_sync(&r.loop, client, req, &after);
  assert_true(after.err == UV_ECONNREFUSED || after.err == UV_ENOENT);

  irpc_connection_unref(conn);
  irpc_outgoing_request_free(req);
  irpc_outgoing_request_free(hold);
  irpc_buf_free(held_payload);
  irpc_invoker_free(client);
  kit_run_until(&r.loop, &c.out_closed);
  net_rig_fini(&r);
}

static void test_sigterm_tcp(void **state) {
  (void)state;
  check_signal(NET_TCP, SIGTERM);
}

static void test_sigterm_uds(void **state) {
  (void)state;
  check_signal(NET_UDS, SIGTERM);
}

static void test_sigint_tcp(void **state) {
  (void)state;
  check_signal(NET_TCP, SIGINT);
}

static int wend_err = 1;
static void wend(irpc_stream_writer *w, int err, void *ud) {
  (void)w;
  (void)ud;
  wend_err = err;
}

static const irpc_stream_writer_ops wops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_end = wend,
};

/* /stream: the server answers a request whose payload keeps arriving, and
 * keeps reading it after the answer. */
static void test_stream_answered_before_payload_ends(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_TCP);
  child c;
  child_start(&r.loop, &c, "icerpc://127.0.0.1:0");
  snprintf(r.bound, sizeof r.bound, "%s", c.line);
  irpc_invoker *client = net_client(&r);
  irpc_stream_writer *w;
  assert_irpc_ok(irpc_stream_writer_new(&w, &r.loop, NULL, &wops, NULL));
  irpc_outgoing_request *req = kit_request("/stream", "payload", 7);
  assert_irpc_ok(irpc_outgoing_request_set_continuation(req, w));
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, "first", 5));
  assert_irpc_ok(irpc_stream_writer_write(w, b));
  net_result res = {0};
  net_call_sync(&r.loop, client, req, &res); /* the continuation is open */
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_OK);
  assert_int_equal(wend_err, 1); /* not ended */
  static uint8_t more[1 << 20];
  assert_irpc_ok(irpc_buf_append(b, more, sizeof more));
  assert_irpc_ok(irpc_stream_writer_write(w, b));
  assert_irpc_ok(irpc_stream_writer_end(w));
  while (wend_err == 1)
    uv_run(&r.loop, UV_RUN_ONCE);
  assert_irpc_ok(wend_err);
  irpc_buf_free(b);
  irpc_stream_writer_free(w);
  irpc_outgoing_request_free(req);
  assert_int_equal(uv_process_kill(&c.proc, SIGTERM), 0);
  kit_run_until(&r.loop, &c.exited);
  assert_int_equal(c.exit_status, 0);
  irpc_invoker_free(client);
  kit_run_until(&r.loop, &c.out_closed);
  net_rig_fini(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sigterm_tcp),
      cmocka_unit_test(test_sigterm_uds),
      cmocka_unit_test(test_sigint_tcp),
      cmocka_unit_test(test_stream_answered_before_payload_ends),
  };
  return cmocka_run_group_tests_name("bench_serve", tests, NULL, NULL);
}
