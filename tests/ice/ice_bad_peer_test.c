/* Bad ice peers: an irpc server facing a scripted client, and an irpc
 * client facing a scripted server, over the memory transport. Each
 * misbehaviour ends that connection at once (no CloseConnection: the peer
 * reads the end of the transport) with the error that names it, and a
 * healthy connection to the same server, opened before, still works
 * after. Nothing is allocated for a message past the max size, and a
 * bzip2 bomb stops at its announced size. */
#include <string.h>

#include "ice_raw.h"

#define SERVER "ice://bad?transport=memory"
#define RAW_SERVER "ice://raw?transport=memory"
#define VALIDATE "496365500100010003000e000000"
#define CLOSE "496365500100010004010e000000"
/* ping on "echo", request id 1 */
#define PING                                                                   \
  "496365500100010000002600000001000000046563686f00000470696e67000006000000"   \
  "0101"
#define PING_REPLY "49636550010001000200190000000100000000060000000101"

typedef struct fx {
  uv_loop_t loop;
  irpc_transport *memory;
  irpc_dispatcher *echo;
  irpc_server *server;
  irpc_invoker *healthy; /* an irpc client of the same server */
  int closes;
  int close_err; /* of the last server connection that closed */
} fx;

static void on_close(irpc_server *s, irpc_connection *c, int err, void *ud) {
  (void)s;
  (void)c;
  fx *x = ud;
  x->closes++;
  x->close_err = err;
}

static void call_ok(fx *x, irpc_invoker *inv) {
  ice_res r = {0};
  assert_irpc_ok(irpc_invoke_owned(inv, kit_request("/echo", "x", 1),
                                   ice_on_res, &r, NULL));
  kit_run_until(&x->loop, &r.done);
  assert_irpc_ok(r.err);
  assert_int_equal(r.status, IRPC_STATUS_OK);
}

static void fx_init(fx *x) {
  memset(x, 0, sizeof(*x));
  assert_int_equal(uv_loop_init(&x->loop), 0);
  assert_irpc_ok(irpc_transport_memory_new(&x->memory));
  assert_irpc_ok(irpc_dispatcher_new(&x->echo, &x->loop, &test_echo_ops, NULL));
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.transport = x->memory;
  assert_irpc_ok(irpc_server_new(&x->server, &x->loop, x->echo, &so));
  irpc_server_on_connection(x->server, NULL, on_close, x);
  assert_irpc_ok(irpc_server_listen(x->server, SERVER, NULL, 0));
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  o.transport = x->memory;
  assert_irpc_ok(irpc_client_connection_new(&x->healthy, &x->loop, SERVER, &o));
  call_ok(x, x->healthy);
}

static void fx_fini(fx *x) {
  call_ok(x, x->healthy); /* still up */
  assert_int_equal(x->closes, 1);
  irpc_invoker_free(x->healthy);
  irpc_server_free(x->server);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  irpc_dispatcher_free(x->echo);
  irpc_transport_free(x->memory);
  test_loop_finish(&x->loop);
}

/* A scripted client sends `h` after the validation; the server ends that
 * connection with `err` and the client reads the end of the transport. */
static void server_faces(const char *h, int err) {
  fx x;
  fx_init(&x);
  raw c;
  raw_init(&c, &x.loop, x.memory);
  raw_connect(&c, SERVER);
  raw_expect_hex(&c, VALIDATE);
  raw_send_hex(&c, h);
  assert_true(raw_wait_end(&c) < 0); /* the end of the transport */
  kit_run_until(&x.loop, &x.closes);
  assert_irpc_err(x.close_err, err);
  raw_fini(&c);
  fx_fini(&x);
}

static void garbage(void **state) {
  (void)state;
  server_faces("68656c6c6f2c20746869732069732067617262616765", IRPC_EBADMAGIC);
}

static void wrong_magic(void **state) {
  (void)state;
  server_faces("496365510100010003000e000000", IRPC_EBADMAGIC);
  /* protocol 2.0, and protocol encoding 1.1 */
  server_faces("496365500200010003000e000000", IRPC_EBADMAGIC);
  server_faces("496365500100010103000e000000", IRPC_EBADMAGIC);
}

static void unknown_message_type(void **state) {
  (void)state;
  server_faces("496365500100010005000e000000", IRPC_EMSGTYPE);
}

static void malformed(void **state) {
  (void)state;
  /* a size below the header's, a control message with a body, an unknown
   * compression status, a request cut short inside its message */
  server_faces("496365500100010000000d000000", IRPC_EPROTO);
  server_faces("496365500100010003000f00000000", IRPC_EPROTO);
  server_faces("496365500100010003030e000000", IRPC_EPROTO);
  server_faces("496365500100010000001b00000001000000046563686f0000046e",
               IRPC_EPROTO);
  /* two facets */
  server_faces("496365500100010000002a00000001000000046563686f0002016101620470"
               "696e67000006000000010101",
               IRPC_EPROTO);
}

/* Only the header is sent: its size is refused before the body comes, and
 * before anything is allocated for it. */
static void size_past_max(void **state) {
  (void)state;
  test_alloc_install();
  fx x;
  fx_init(&x);
  raw c;
  raw_init(&c, &x.loop, x.memory);
  raw_connect(&c, SERVER);
  raw_expect_hex(&c, VALIDATE);
  test_alloc.bytes_peak = test_alloc.bytes_live;
  long long before = test_alloc.bytes_live;
  raw_send_hex(&c, "496365500100010000000000a000"); /* 10 MiB */
  assert_true(raw_wait_end(&c) < 0);
  kit_run_until(&x.loop, &x.closes);
  assert_irpc_err(x.close_err, IRPC_ELIMIT);
  assert_true(test_alloc.bytes_peak - before < 256 * 1024);
  raw_fini(&c);
  fx_fini(&x);
  /* One byte over the default max (1 MiB), and a negative size. */
  server_faces("49636550010001000000 01001000", IRPC_ELIMIT);
  server_faces("49636550010001000000 ffffffff", IRPC_EPROTO);
}

/* 2,000,000 zero bytes, bzip2 level 1: 49 bytes. */
#define BOMB                                                                   \
  "425a683131415926535982b85a42000f51e000c00000008008200030cc09aa698a921b55"   \
  "2921e2ee48a70a1210570b4840"

static void compressed_bomb(void **state) {
  (void)state;
  /* Announcing 1,000 bytes: decompression stops at the 987th. */
  server_faces("4963655001000100 0002 43000000 e8030000" BOMB, IRPC_ELIMIT);
  /* Announcing 2 MiB, past the max: refused before decompressing. */
  server_faces("4963655001000100 0002 43000000 00002000" BOMB, IRPC_ELIMIT);
  /* Corrupt, and cut short. */
  server_faces("4963655001000100 0002 1b000000 e8030000 425a6831 0001020304",
               IRPC_EDATA);
  server_faces("4963655001000100 0002 28000000 e8030000"
               "425a683131415926535982b85a42000f51e000c00000",
               IRPC_EDATA);
}

/* A peer that vanishes in the middle of a message. */
static void truncated(void **state) {
  (void)state;
  fx x;
  fx_init(&x);
  raw c;
  raw_init(&c, &x.loop, x.memory);
  raw_connect(&c, SERVER);
  raw_expect_hex(&c, VALIDATE);
  raw_send_hex(&c, "496365500100010000002600000001");
  raw_close(&c);
  kit_run_until(&x.loop, &x.closes);
  assert_irpc_err(x.close_err, UV_ECONNRESET);
  raw_fini(&c);
  fx_fini(&x);
}

/* Heartbeats (ValidateConnection) are taken at any time. */
static void heartbeats(void **state) {
  (void)state;
  fx x;
  fx_init(&x);
  raw c;
  raw_init(&c, &x.loop, x.memory);
  raw_connect(&c, SERVER);
  raw_expect_hex(&c, VALIDATE);
  raw_send_hex(&c, VALIDATE);
  raw_send_hex(&c, VALIDATE PING VALIDATE);
  raw_expect_hex(&c, PING_REPLY);
  raw_send_hex(&c, CLOSE);
  /* The server closes the transport first, then the client. */
  assert_int_equal(raw_wait_end(&c), UV_EOF);
  raw_close(&c);
  kit_run_until(&x.loop, &x.closes);
  assert_irpc_err(x.close_err, IRPC_ECLOSEDBYPEER);
  raw_fini(&c);
  fx_fini(&x);
}

/* ---- The client side ---- */

typedef struct cfx {
  fx x;
  raw s;
  irpc_invoker *client;
  ice_res r;
} cfx;

static void cfx_init(cfx *k) {
  fx_init(&k->x);
  raw_init(&k->s, &k->x.loop, k->x.memory);
  raw_listen(&k->s, RAW_SERVER);
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  o.transport = k->x.memory;
  assert_irpc_ok(
      irpc_client_connection_new(&k->client, &k->x.loop, RAW_SERVER, &o));
  memset(&k->r, 0, sizeof k->r);
  irpc_outgoing_request *q;
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/echo", "ping"));
  assert_irpc_ok(irpc_invoke_owned(k->client, q, ice_on_res, &k->r, NULL));
  kit_run_until(&k->x.loop, &k->s.ready);
}

static void cfx_fini(cfx *k) {
  irpc_invoker_free(k->client);
  raw_fini(&k->s);
  k->x.closes = 1; /* no server connection was involved */
  fx_fini(&k->x);
}

/* The call fails with `err` after the scripted server sends `h`. */
static void client_faces(const char *h, int validate, int err) {
  cfx k;
  cfx_init(&k);
  if (validate) {
    raw_send_hex(&k.s, VALIDATE);
    raw_expect_hex(&k.s, PING);
  }
  raw_send_hex(&k.s, h);
  kit_run_until(&k.x.loop, &k.r.done);
  assert_irpc_err(k.r.err, err);
  assert_true(raw_wait_end(&k.s) < 0);
  cfx_fini(&k);
}

static void reply_for_unknown_id(void **state) {
  (void)state;
  client_faces("49636550010001000200190000002a00000000060000000101", 1,
               IRPC_EPROTO);
}

static void first_message_not_validation(void **state) {
  (void)state;
  client_faces(PING_REPLY, 0, IRPC_EMSGTYPE);
  client_faces(CLOSE, 0, IRPC_EMSGTYPE);
  client_faces("68656c6c6f2c20746869732069732067617262616765", 0,
               IRPC_EBADMAGIC);
}

/* The server goes away without CloseConnection: the peer vanished; and
 * before validating: a refusal. */
static void server_vanishes(void **state) {
  (void)state;
  cfx k;
  cfx_init(&k);
  raw_send_hex(&k.s, VALIDATE);
  raw_expect_hex(&k.s, PING);
  raw_close(&k.s);
  kit_run_until(&k.x.loop, &k.r.done);
  assert_irpc_err(k.r.err, UV_ECONNRESET);
  cfx_fini(&k);

  cfx_init(&k);
  raw_close(&k.s);
  kit_run_until(&k.x.loop, &k.r.done);
  assert_irpc_err(k.r.err, UV_ECONNREFUSED);
  cfx_fini(&k);
}

/* The server's CloseConnection while a call waits: the call was not
 * dispatched (Ice replies to everything it accepted before it closes),
 * IRPC_EINVCANCELED; the client then closes the transport. */
static void server_closes_under_call(void **state) {
  (void)state;
  cfx k;
  cfx_init(&k);
  raw_send_hex(&k.s, VALIDATE);
  raw_expect_hex(&k.s, PING);
  raw_send_hex(&k.s, CLOSE);
  kit_run_until(&k.x.loop, &k.r.done);
  assert_irpc_err(k.r.err, IRPC_EINVCANCELED);
  assert_int_equal(raw_wait_end(&k.s), UV_EOF);
  cfx_fini(&k);
}

/* A reply whose encapsulation is broken fails that call only. */
static void bad_reply_keeps_connection(void **state) {
  (void)state;
  cfx k;
  cfx_init(&k);
  raw_send_hex(&k.s, VALIDATE);
  raw_expect_hex(&k.s, PING);
  /* encoding 1.0, then a size past the message */
  raw_send_hex(&k.s, "49636550010001000200190000000100000000060000000100");
  kit_run_until(&k.x.loop, &k.r.done);
  assert_irpc_err(k.r.err, IRPC_EPROTO);
  memset(&k.r, 0, sizeof k.r);
  irpc_outgoing_request *q;
  assert_irpc_ok(irpc_outgoing_request_new(&q, "/echo", "ping"));
  assert_irpc_ok(irpc_invoke_owned(k.client, q, ice_on_res, &k.r, NULL));
  uint8_t b[64];
  size_t n = hex(b, sizeof b, PING);
  b[14] = 2;
  raw_expect(&k.s, b, n);
  raw_send_hex(&k.s, "49636550010001000200190000000200000000ff0000000101");
  kit_run_until(&k.x.loop, &k.r.done);
  assert_irpc_err(k.r.err, IRPC_EPROTO);
  assert_true(
      irpc_connection_is_active(irpc_client_connection_connection(k.client)));
  cfx_fini(&k);
}

/* ---- A request waiting for a dispatch slot when the peer goes ---- */

typedef struct holder {
  irpc_dispatch *held; /* the "hold" dispatch, completed by the test */
  int holding;
  int notes; /* "note" dispatches started */
  int canceled;
} holder;

static holder H;

static void hold_canceled(irpc_dispatch *d, int err, void *ud) {
  (void)d;
  (void)ud;
  H.canceled = err;
}

static void hold_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  const char *op = irpc_incoming_request_operation(irpc_dispatch_request(d));
  if (strcmp(op, "hold") == 0) {
    H.held = d;
    H.holding = 1;
    irpc_dispatch_on_cancel(d, hold_canceled, NULL);
    return;
  }
  H.notes++;
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL));
}

static const irpc_dispatcher_ops hold_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "hold",
                                             .dispatch = hold_dispatch};

/* One dispatch at a time: a two-way request holds the slot, a one-way
 * request behind it waits; the peer closes the transport. The held
 * dispatch is canceled and, completed after the connection closed, does
 * not start the one-way request: nothing would ever cancel it. */
static void queued_oneway_after_close(void **state) {
  (void)state;
  memset(&H, 0, sizeof H);
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_transport *memory;
  assert_irpc_ok(irpc_transport_memory_new(&memory));
  irpc_dispatcher *hold;
  assert_irpc_ok(irpc_dispatcher_new(&hold, &loop, &hold_ops, NULL));
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.transport = memory;
  so.connection.max_dispatches = 1;
  irpc_server *server;
  assert_irpc_ok(irpc_server_new(&server, &loop, hold, &so));
  fx x; /* for on_close's counters only */
  memset(&x, 0, sizeof x);
  irpc_server_on_connection(server, NULL, on_close, &x);
  assert_irpc_ok(irpc_server_listen(server, SERVER, NULL, 0));
  raw c;
  raw_init(&c, &loop, memory);
  raw_connect(&c, SERVER);
  raw_expect_hex(&c, VALIDATE);
  /* "hold" (two-way, id 1) and "note" (one-way) in one write: both are
   * read at once, the second waits for the slot. */
  raw_send_hex(&c, "496365500100010000002600000001000000046563686f0000"
                   "04686f6c64000006000000 0101"
                   "496365500100010000002600000000000000046563686f0000"
                   "046e6f7465000006000000 0101");
  kit_run_until(&loop, &H.holding);
  raw_close(&c);
  kit_run_until(&loop, &x.closes);
  assert_int_not_equal(H.canceled, 0);
  assert_int_equal(H.notes, 0);
  /* The held dispatch completes after the close: its slot frees, and the
   * waiting one-way request still does not start. */
  assert_irpc_ok(irpc_dispatch_reply(H.held, IRPC_STATUS_OK, NULL));
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(H.notes, 0);
  raw_fini(&c);
  irpc_server_free(server);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(H.notes, 0);
  irpc_dispatcher_free(hold);
  irpc_transport_free(memory);
  test_loop_finish(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(garbage),
      cmocka_unit_test(wrong_magic),
      cmocka_unit_test(unknown_message_type),
      cmocka_unit_test(malformed),
      cmocka_unit_test(size_past_max),
      cmocka_unit_test(compressed_bomb),
      cmocka_unit_test(truncated),
      cmocka_unit_test(heartbeats),
      cmocka_unit_test(reply_for_unknown_id),
      cmocka_unit_test(first_message_not_validation),
      cmocka_unit_test(server_vanishes),
      cmocka_unit_test(server_closes_under_call),
      cmocka_unit_test(bad_reply_keeps_connection),
      cmocka_unit_test(queued_oneway_after_close),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
