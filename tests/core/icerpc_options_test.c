/* The icerpc part of the connection options (irpc_icerpc_options): set on
 * a server or a client connection it takes effect, copied at creation; a
 * NULL pointer means IceRPC's defaults; values out of range are refused
 * when the server, client connection or connection cache is created. */
#include <stdlib.h>
#include <string.h>

#include "irpc/compress.h"
#include "kit/net.h"

/* A path of 100 bytes: a request header well over 63 bytes. */
#define LONG_PATH                                                              \
  "/long-path-0123456789012345678901234567890123456789012345678901234567890"   \
  "123456789012345678901234567"

/* A message of 100 bytes: a response header well over 63 bytes. */
#define LONG_MESSAGE                                                           \
  "unavailable-0123456789012345678901234567890123456789012345678901234567890"  \
  "12345678901234567890123456"

static void unavailable_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  assert_irpc_ok(irpc_dispatch_reply(d, IRPC_STATUS_UNAVAILABLE, LONG_MESSAGE));
}

static const irpc_dispatcher_ops unavailable_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "unavailable",
    .dispatch = unavailable_dispatch};

/* One call of `path` on a new client connection of the rig; its result. */
static net_result call_once(net_rig *r, const char *path) {
  irpc_invoker *inv = net_client(r);
  net_result o = {0};
  irpc_outgoing_request *req = kit_request(path, "x", 1);
  net_call_sync(&r->loop, inv, req, &o);
  assert_int_equal(o.done, 1);
  irpc_outgoing_request_free(req);
  net_client_close(r, inv);
  return o;
}

/* The server announces its max_header_size: with 63 the client refuses to
 * send a request whose header is larger (IRPC_ELIMIT); without icerpc
 * options (NULL) the default, 16,383, lets it through. The server copied
 * the options: changing the caller's struct afterwards changes nothing. */
static void server_max_header_size(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  net_map(&r, LONG_PATH, &test_echo_ops, NULL);
  r.sicerpc.max_header_size = 63;
  net_rig_start(&r);
  r.sicerpc.max_header_size = 16383;
  net_result o = call_once(&r, LONG_PATH);
  assert_irpc_err(o.err, IRPC_ELIMIT);
  net_rig_fini(&r);

  net_rig_init(&r, NET_MEMORY);
  net_map(&r, LONG_PATH, &test_echo_ops, NULL);
  r.sopts.connection.icerpc = NULL;
  net_rig_start(&r);
  o = call_once(&r, LONG_PATH);
  assert_irpc_ok(o.err);
  assert_int_equal(o.status, IRPC_STATUS_OK);
  net_rig_fini(&r);
}

/* The client announces its max_header_size: with 63 the server cannot send
 * a response header of 100 bytes and answers InternalError instead; with
 * NULL (the defaults) the response arrives as the dispatcher made it. The
 * client connection copied the options. */
static void client_max_header_size(void **state) {
  (void)state;
  for (int with = 1; with >= 0; with--) {
    net_rig r;
    net_rig_init(&r, NET_MEMORY);
    net_map(&r, "/unavailable", &unavailable_ops, NULL);
    net_rig_start(&r);
    if (with)
      r.cicerpc.max_header_size = 63;
    else
      r.copts.icerpc = NULL;
    irpc_invoker *inv = net_client(&r);
    r.cicerpc.max_header_size = 16383;
    net_result o = {0};
    irpc_outgoing_request *req = kit_request("/unavailable", "x", 1);
    net_call_sync(&r.loop, inv, req, &o);
    irpc_outgoing_request_free(req);
    assert_irpc_ok(o.err);
    assert_int_equal(o.status, with ? IRPC_STATUS_INTERNAL_ERROR
                                    : IRPC_STATUS_UNAVAILABLE);
    net_client_close(&r, inv);
    net_rig_fini(&r);
  }
}

/* The server's max_bidirectional_streams of 1: the client sends its second
 * call only once the first is answered, so a dispatcher that holds the
 * first sees one request; with the defaults it sees both. */
static irpc_dispatch *held[2];
static int got[2]; /* got[i]: held[i] arrived */
static int nheld;

static void hold_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  assert_true(nheld < 2);
  got[nheld] = 1;
  held[nheld++] = d;
}

static const irpc_dispatcher_ops hold_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "hold",
                                             .dispatch = hold_dispatch};

static void server_max_bidirectional_streams(void **state) {
  (void)state;
  for (int with = 1; with >= 0; with--) {
    net_rig r;
    net_rig_init(&r, NET_MEMORY);
    net_map(&r, "/hold", &hold_ops, NULL);
    if (with)
      r.sicerpc.max_bidirectional_streams = 1;
    else
      r.sopts.connection.icerpc = NULL;
    net_rig_start(&r);
    nheld = got[0] = got[1] = 0;
    irpc_invoker *inv = net_client(&r);
    net_result o[2] = {{0}};
    irpc_outgoing_request *req[2];
    for (int i = 0; i < 2; i++) {
      req[i] = kit_request("/hold", "x", 1);
      assert_irpc_ok(irpc_invoke(inv, req[i], net_on_result, &o[i], NULL));
    }
    kit_run_until(&r.loop, &got[with ? 0 : 1]);
    /* Nothing more arrives while the first is held. */
    for (int i = 0; i < 20; i++)
      uv_run(&r.loop, UV_RUN_NOWAIT);
    assert_int_equal(nheld, with ? 1 : 2);
    assert_irpc_ok(irpc_dispatch_reply(held[0], IRPC_STATUS_OK, NULL));
    kit_run_until(&r.loop, &o[0].done);
    kit_run_until(&r.loop, &got[1]);
    assert_irpc_ok(irpc_dispatch_reply(held[1], IRPC_STATUS_OK, NULL));
    kit_run_until(&r.loop, &o[1].done);
    assert_irpc_ok(o[0].err);
    assert_irpc_ok(o[1].err);
    irpc_outgoing_request_free(req[0]);
    irpc_outgoing_request_free(req[1]);
    net_client_close(&r, inv);
    net_rig_fini(&r);
  }
}

/* Creating with icerpc options out of range, or with a bad struct_size,
 * fails with IRPC_EINVAL, for a client connection, a connection cache and
 * a server alike; nothing is created. */
static void bad(irpc_icerpc_options *o, int which) {
  irpc_icerpc_options_init(o);
  switch (which) {
  case 0:
    o->struct_size = 0;
    break;
  case 1:
    o->struct_size = sizeof(size_t);
    break;
  case 2:
    o->max_header_size = 62;
    break;
  case 3:
    o->max_header_size = 1048576;
    break;
  case 4:
    o->max_bidirectional_streams = 0;
    break;
  case 5:
    o->max_unidirectional_streams = 0;
    break;
  case 6:
    o->initial_stream_window_size = 1023;
    break;
  case 7:
    o->max_stream_frame_size = 1023;
    break;
  case 8:
    o->max_stream_frame_size = 16777216;
    break;
  case 9:
    o->compression_formats = IRPC_COMPRESSION_BIT(7);
    break;
  default:
    break;
  }
}

static void invalid_values_are_refused(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_router *router;
  assert_irpc_ok(irpc_router_new(&router, &loop));
  for (int which = 0; which <= 10; which++) {
    int want = which == 10 ? 0 : IRPC_EINVAL; /* 10: the defaults, valid */
    irpc_icerpc_options io;
    bad(&io, which);

    irpc_connection_options co;
    irpc_connection_options_init(&co);
    co.icerpc = &io;
    irpc_invoker *inv = NULL;
    assert_int_equal(
        irpc_client_connection_new(&inv, &loop, "icerpc://127.0.0.1:4062", &co),
        want);
    if (inv)
      irpc_invoker_free(inv);

    irpc_connection_cache_options ko;
    irpc_connection_cache_options_init(&ko);
    ko.connection.icerpc = &io;
    inv = NULL;
    assert_int_equal(irpc_connection_cache_new(&inv, &loop, &ko), want);
    if (inv)
      irpc_invoker_free(inv);

    irpc_server_options so;
    irpc_server_options_init(&so);
    so.connection.icerpc = &io;
    irpc_server *s = NULL;
    assert_int_equal(
        irpc_server_new(&s, &loop, irpc_router_dispatcher(router), &so), want);
    if (s)
      irpc_server_free(s);
  }
  /* The defaults, as irpc_icerpc_options_init gives them. */
  irpc_icerpc_options io;
  irpc_icerpc_options_init(&io);
  assert_int_equal(io.struct_size, sizeof(io));
  assert_int_equal(io.max_header_size, 16383);
  assert_int_equal(io.max_bidirectional_streams, 100);
  assert_int_equal(io.max_unidirectional_streams, 100);
  assert_int_equal(io.idle_timeout_ms, 30000);
  assert_int_equal(io.initial_stream_window_size, 1 << 20);
  assert_int_equal(io.max_stream_frame_size, 256 << 10);
  assert_true(io.compression_formats == irpc_compress_formats_readable());
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  assert_int_equal(co.struct_size, sizeof(co));
  assert_null(co.icerpc);
  irpc_router_free(router);
  test_loop_finish(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(server_max_header_size),
      cmocka_unit_test(client_max_header_size),
      cmocka_unit_test(server_max_bidirectional_streams),
      cmocka_unit_test(invalid_values_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
