/* The ice protocol against the real ZeroC Ice 3.7 (Ice for Python, no
 * generated code: tests/ice/ice_peer.py), over TCP on loopback:
 *   - a Python Ice client calls an irpc echo server: an echo, an ice_ping
 *     the irpc side answers, a compressed (-z) request, a one-way request,
 *     a context, a reply the irpc dispatcher asks to compress (the compress
 *     feature), then the client's CloseConnection;
 *   - an irpc client calls a Python Ice echo server (Ice.Blobject): an
 *     echo, a bzip2-compressed echo, a one-way request, an idempotent
 *     ice_ping, a context, a request compressed or not as its compress
 *     feature says whatever the connection's option (the Ice server's
 *     protocol trace tells the compression status of what it received and
 *     sent), then a graceful close.
 * The Python process is started by the test, waited for by reading its
 * output, and stopped by its PID. Skipped when /usr/bin/python3 cannot
 * import Ice. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "irpc/compress.h"
#include "kit/kit.h"
#include "kit/peer.h"

#define PYTHON "/usr/bin/python3"

/* ---- The Python process (tests/kit/peer.h) ---- */

/* The rest of the next line the peer prints starting with `line`. */
static const char *peer_wait(kit_peer *x, const char *line) {
  const char *rest = kit_peer_wait_line(x, line, 30000);
  if (!rest)
    fail_msg("the Ice peer did not print \"%s\" (exit %d)", line,
             (int)x->exit_status);
  return rest;
}

static int have_ice(void) {
  return system(PYTHON " -c 'import Ice' 2>/dev/null") == 0;
}

/* ---- Python client -> irpc server ---- */

typedef struct seen {
  int calls, oneways, pings, idempotent;
  char ctx[16];
} seen;

static seen S;

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const char *op = irpc_incoming_request_operation(req);
  irpc_fields *f = irpc_incoming_request_fields(req);
  S.calls++;
  S.oneways += irpc_incoming_request_oneway(req);
  S.pings += strcmp(op, "ice_ping") == 0;
  S.idempotent += irpc_fields_has(f, IRPC_REQUEST_FIELD_IDEMPOTENT);
  irpc_bytes v;
  if (irpc_fields_get(f, IRPC_REQUEST_FIELD_CONTEXT, &v) == 0 &&
      v.len < sizeof S.ctx)
    memcpy(S.ctx, v.base, v.len);
  if (strcmp(op, "zecho") == 0)
    assert_irpc_ok(irpc_features_set_compress(
        irpc_incoming_request_features(req), IRPC_COMPRESS_YES));
  irpc_outgoing_response *r;
  assert_irpc_ok(irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_response_payload(r),
                               irpc_incoming_request_payload(req)));
  assert_irpc_ok(irpc_dispatch_complete(d, r));
}

static const irpc_dispatcher_ops echo_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "echo",
                                             .dispatch = echo_dispatch};

static int close_err, closes;
static void on_conn_close(irpc_server *s, irpc_connection *c, int err,
                          void *ud) {
  (void)s;
  (void)c;
  (void)ud;
  closes++;
  close_err = err;
  if (err != IRPC_ECLOSEDBYPEER)
    fprintf(stderr, "server connection closed: %s\n", irpc_err_name(err));
}

static void python_client(void **state) {
  (void)state;
  if (!have_ice())
    skip();
  memset(&S, 0, sizeof S);
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_dispatcher *echo;
  assert_irpc_ok(irpc_dispatcher_new(&echo, &loop, &echo_ops, NULL));
  irpc_server *s;
  assert_irpc_ok(irpc_server_new(&s, &loop, echo, NULL));
  closes = 0;
  irpc_server_on_connection(s, NULL, on_conn_close, NULL);
  char bound[128];
  assert_irpc_ok(
      irpc_server_listen(s, "ice://127.0.0.1:0", bound, sizeof bound));
  const char *colon = strrchr(bound, ':');
  assert_non_null(colon);
  char port[16];
  snprintf(port, sizeof port, "%d", atoi(colon + 1));
  const char *args[] = {PYTHON, "-u", ICE_PEER_PY, "client", port, NULL};
  kit_peer x;
  assert_int_equal(kit_peer_start(&x, &loop, args, NULL), 0);
  peer_wait(&x, "ECHO OK");
  peer_wait(&x, "PING OK");
  peer_wait(&x, "COMPRESSED OK");
  peer_wait(&x, "ONEWAY SENT");
  peer_wait(&x, "CONTEXT OK");
  peer_wait(&x, "ZECHO OK");
  peer_wait(&x, "DONE");
  assert_int_equal(kit_peer_wait_exit(&x, 30000), 0);
  assert_int_equal(x.exit_status, 0);
  kit_peer_stop(&x, SIGTERM, 5000);
  /* The Ice client's CloseConnection closed the connection. */
  while (closes == 0)
    uv_run(&loop, UV_RUN_ONCE);
  assert_irpc_err(close_err, IRPC_ECLOSEDBYPEER);
  assert_int_equal(S.calls, 6);
  assert_int_equal(S.oneways, 1);
  assert_int_equal(S.pings, 1);
  assert_int_equal(S.idempotent, 2); /* ice_ping (Nonmutating), the last */
  assert_memory_equal(S.ctx, "\x04\x04k\x04v", 5);
  irpc_server_free(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_dispatcher_free(echo);
  test_loop_finish(&loop);
}

/* ---- irpc client -> Python server ---- */

typedef struct res {
  int done, err;
  uint64_t status;
  irpc_buf *payload;
} res;

static void on_res(irpc_call *call, int err, irpc_incoming_response *resp,
                   void *ud) {
  (void)call;
  res *r = ud;
  r->done = 1;
  r->err = err;
  if (resp) {
    r->status = irpc_incoming_response_status(resp);
    irpc_buf_move(r->payload, irpc_incoming_response_payload(resp));
  }
  irpc_incoming_response_free(resp);
}

static void echo_call_z(uv_loop_t *loop, irpc_invoker *inv, const char *op,
                        const void *data, size_t len, int oneway, int idem,
                        int ctx, int compress) {
  irpc_outgoing_request *q;
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/echo", op));
  assert_irpc_ok(
      irpc_features_set_compress(irpc_outgoing_request_features(q), compress));
  if (len)
    assert_irpc_ok(
        irpc_buf_append(irpc_outgoing_request_payload(q), data, len));
  irpc_outgoing_request_set_oneway(q, oneway);
  assert_irpc_ok(irpc_outgoing_request_set_idempotent(q, idem));
  if (ctx)
    assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(q),
                                   IRPC_REQUEST_FIELD_CONTEXT, "\x04\x04k\x04v",
                                   5));
  res r = {0};
  assert_irpc_ok(irpc_buf_new(&r.payload));
  assert_irpc_ok(irpc_invoke_owned(inv, q, on_res, &r, NULL));
  kit_run_until(loop, &r.done);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
  if (!oneway)
    assert_true(irpc_buf_equals(r.payload, data, len));
  irpc_buf_free(r.payload);
}

static void echo_call(uv_loop_t *loop, irpc_invoker *inv, const char *op,
                      const void *data, size_t len, int oneway, int idem,
                      int ctx) {
  echo_call_z(loop, inv, op, data, len, oneway, idem, ctx,
              IRPC_COMPRESS_DEFAULT);
}

static void python_server(void **state) {
  (void)state;
  if (!have_ice())
    skip();
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  const char *args[] = {PYTHON, "-u", ICE_PEER_PY, "server", NULL};
  kit_peer x;
  assert_int_equal(kit_peer_start(&x, &loop, args, NULL), 0);
  int port = atoi(peer_wait(&x, "READY "));
  assert_true(port > 0);
  char addr[64];
  snprintf(addr, sizeof addr, "ice://127.0.0.1:%d", port);

  irpc_invoker *inv, *zinv;
  assert_irpc_ok(irpc_client_connection_new(&inv, &loop, addr, NULL));
  irpc_ice_options io;
  irpc_ice_options_init(&io);
  io.compress = 1;
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  o.ice = &io;
  assert_irpc_ok(irpc_client_connection_new(&zinv, &loop, addr, &o));

  echo_call(&loop, inv, "echo",
            "\x03"
            "abc",
            4, 0, 0, 0);
  uint8_t big[4096];
  big[0] = 0xff;
  big[1] = 0xfb;
  big[2] = 0x0f;
  big[3] = big[4] = 0;
  for (size_t i = 5; i < sizeof big; i++)
    big[i] = (uint8_t)(i % 7);
  echo_call(&loop, zinv, "echo", big, sizeof big, 0, 0, 0);
  /* The first echo went plain, this one compressed (the option), and so
   * did its reply. */
  assert_string_equal(peer_wait(&x, "RECEIVED request echo "), "0");
  assert_string_equal(peer_wait(&x, "RECEIVED request echo "), "2");
  assert_string_equal(peer_wait(&x, "SENT reply "), "2");
  echo_call(&loop, inv, "note", NULL, 0, 1, 0, 0);
  peer_wait(&x, "ONEWAY note");
  echo_call(&loop, inv, "ice_ping", NULL, 0, 0, 1, 0);
  echo_call(&loop, inv, "echo",
            "\x01"
            "z",
            2, 0, 0, 1);
  peer_wait(&x, "CONTEXT k=v");
  /* Per request: compressed on a connection without the option, the
   * reply compressed too (Ice follows the request); not compressed on a
   * connection with it. */
  echo_call_z(&loop, inv, "zecho", big, sizeof big, 0, 0, 0, IRPC_COMPRESS_YES);
  assert_string_equal(peer_wait(&x, "RECEIVED request zecho "), "2");
  assert_string_equal(peer_wait(&x, "SENT reply "), "2");
  echo_call_z(&loop, zinv, "pecho", big, sizeof big, 0, 0, 0, IRPC_COMPRESS_NO);
  assert_string_equal(peer_wait(&x, "RECEIVED request pecho "), "0");
  assert_string_equal(peer_wait(&x, "SENT reply "), "0");

  int done = 0, zdone = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(inv, kit_status_cb, &done));
  assert_irpc_ok(irpc_client_connection_shutdown(zinv, kit_status_cb, &zdone));
  kit_run_until(&loop, &done);
  kit_run_until(&loop, &zdone);
  assert_int_equal(done, 1);
  assert_int_equal(zdone, 1);
  irpc_invoker_free(inv);
  irpc_invoker_free(zinv);
  assert_int_equal(kit_peer_stop(&x, SIGTERM, 10000), 0);
  test_loop_finish(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(python_client),
      cmocka_unit_test(python_server),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
