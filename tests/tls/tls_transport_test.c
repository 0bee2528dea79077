/* The TLS transport on its own: peers that stall in the handshake, that
 * send garbage or plain text, ALPN, and TLS stacked with the fault and
 * shaped decorators. Raw peers are plain TCP duplexes driven by the test;
 * every wait runs the loop until a state is reached. */
#include <stdio.h>
#include <string.h>

#include "kit/tls.h"

static kit_ca *ca;
static kit_cert server_cert;

static int group_setup(void **state) {
  (void)state;
  ca = kit_ca_new("transport test CA");
  server_cert = kit_ca_server(ca, "server");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  kit_cert_free(&server_cert);
  kit_ca_free(ca);
  return 0;
}

typedef struct hs_errors {
  int count;
  int last;
} hs_errors;

static void on_hs_error(int err, const char *remote, void *ud) {
  (void)remote;
  hs_errors *e = ud;
  e->count++;
  e->last = err;
}

/* A peer end: what it read, how reading ended, what it accepted. */
typedef struct peer {
  irpc_duplex *d;
  int connected; /* 1, or the connect error */
  int accepted;
  uint8_t got[4096];
  size_t len;
  int end; /* the negative read status */
} peer;

static void peer_read(irpc_duplex *d, int status, const uint8_t *data,
                      size_t len, void *ud) {
  (void)d;
  peer *p = ud;
  if (status < 0) {
    p->end = status;
    return;
  }
  size_t n = len < sizeof p->got - p->len ? len : sizeof p->got - p->len;
  memcpy(p->got + p->len, data, n);
  p->len += n;
}

static void peer_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l;
  peer *p = ud;
  p->d = d;
  p->accepted++;
  assert_irpc_ok(irpc_duplex_read_start(d, peer_read, p));
}

static void peer_connected(irpc_duplex *d, int status, void *ud) {
  peer *p = ud;
  p->connected = status == 0 ? 1 : status;
  if (status == 0)
    assert_irpc_ok(irpc_duplex_read_start(d, peer_read, p));
  else
    p->d = NULL;
}

static void send_bytes(irpc_duplex *d, const void *data, size_t len) {
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, data, len));
  assert_irpc_ok(irpc_duplex_write(d, b, NULL, NULL));
  irpc_buf_free(b);
}

#define RUN_UNTIL(loop, cond)                                                  \
  do {                                                                         \
    while (!(cond))                                                            \
      uv_run((loop), UV_RUN_ONCE);                                             \
  } while (0)

typedef struct fx {
  uv_loop_t loop;
  irpc_tls_server *server;
  irpc_tls_client *client;
  hs_errors errors;
  irpc_listener *l;
  irpc_server_address *bound;
} fx;

static void fx_init(fx *f, uint64_t timeout_ms) {
  memset(f, 0, sizeof(*f));
  assert_int_equal(uv_loop_init(&f->loop), 0);
  irpc_tls_options o;
  kit_tls_options(&o, &server_cert, ca);
  o.on_handshake_error = on_hs_error;
  o.user_data = &f->errors;
  o.handshake_timeout_ms = timeout_ms;
  assert_irpc_ok(irpc_tls_server_new(&f->server, &o));
  kit_tls_options(&o, NULL, ca);
  o.handshake_timeout_ms = timeout_ms;
  assert_irpc_ok(irpc_tls_client_new(&f->client, &o));
}

/* Listens on `t` (a TLS transport or plain TCP) at `uri`; accepted
 * duplexes go to `p`. */
static void fx_listen(fx *f, irpc_transport *t, const char *uri, peer *p) {
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  assert_irpc_ok(irpc_transport_listen(t, &f->loop, a, peer_accept, p, &f->l));
  irpc_server_address_free(a);
  assert_irpc_ok(
      irpc_server_address_clone(&f->bound, irpc_listener_address(f->l)));
}

static void fx_connect(fx *f, irpc_transport *t, const irpc_server_address *a,
                       peer *p) {
  assert_irpc_ok(
      irpc_transport_connect(t, &f->loop, a, &p->d, peer_connected, p));
}

static void fx_fini(fx *f) {
  if (f->l)
    irpc_listener_close(f->l, NULL, NULL);
  irpc_server_address_free(f->bound);
  test_loop_finish(&f->loop);
  irpc_tls_client_free(f->client);
  irpc_tls_server_free(f->server);
}

/* A client that sends the first bytes of a ClientHello and then nothing:
 * the server drops it when the handshake timeout passes. */
static void test_client_stalls_mid_handshake(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 50);
  peer srv = {0}, raw = {0};
  fx_listen(&f, irpc_tls_server_transport(f.server, NULL, 0),
            "icerpc://127.0.0.1:0", &srv);
  fx_connect(&f, irpc_transport_tcp(), f.bound, &raw);
  RUN_UNTIL(&f.loop, raw.connected);
  assert_int_equal(raw.connected, 1);
  static const uint8_t partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  send_bytes(raw.d, partial, sizeof partial);
  RUN_UNTIL(&f.loop, f.errors.count == 1 && raw.end != 0);
  assert_int_equal(f.errors.last, IRPC_ETLSTIMEDOUT);
  assert_int_equal(srv.accepted, 0); /* never handed out */
  irpc_duplex_close(raw.d, NULL, NULL);
  fx_fini(&f);
}

/* A server that accepts and never answers: the TLS transport's connect
 * ends with IRPC_ETLSTIMEDOUT; so does a client connection whose connect
 * timeout (which covers the TCP connect and the handshake) passes once TCP
 * is connected, as the server reports a client that stalls. */
static void test_server_stalls(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 50);
  peer raw = {0}, c = {0};
  fx_listen(&f, irpc_transport_tcp(), "icerpc://127.0.0.1:0", &raw);
  irpc_transport *t;
  assert_irpc_ok(irpc_transport_tls_new(&t, NULL, f.client, NULL));
  fx_connect(&f, t, f.bound, &c);
  RUN_UNTIL(&f.loop, c.connected != 0);
  assert_int_equal(c.connected, IRPC_ETLSTIMEDOUT);
  assert_int_equal(raw.accepted, 1);
  assert_true(raw.len > 5 && raw.got[0] == 0x16); /* a ClientHello */
  irpc_duplex_close(raw.d, NULL, NULL);
  raw.d = NULL;

  irpc_connection_options co;
  irpc_connection_options_init(&co);
  co.tls_client = f.client;
  co.connect_timeout_ms = 50;
  char uri[128];
  assert_irpc_ok(irpc_server_address_format(f.bound, uri, sizeof uri));
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, &f.loop, uri, &co));
  int up = 0;
  assert_irpc_ok(irpc_client_connection_connect(inv, kit_status_cb, &up));
  RUN_UNTIL(&f.loop, up != 0);
  assert_int_equal(up, IRPC_ETLSTIMEDOUT);
  assert_int_equal(raw.accepted, 2);
  irpc_invoker_free(inv);
  irpc_duplex_close(raw.d, NULL, NULL);
  fx_fini(&f);
  irpc_transport_free(t);
}

/* Garbage instead of a ClientHello. */
static void garbage(const uint8_t *bytes, size_t len, int server_err,
                    int alert) {
  fx f;
  fx_init(&f, 10000);
  peer srv = {0}, raw = {0};
  fx_listen(&f, irpc_tls_server_transport(f.server, NULL, 0),
            "icerpc://127.0.0.1:0", &srv);
  fx_connect(&f, irpc_transport_tcp(), f.bound, &raw);
  RUN_UNTIL(&f.loop, raw.connected);
  send_bytes(raw.d, bytes, len);
  RUN_UNTIL(&f.loop, f.errors.count == 1 && raw.end != 0);
  assert_int_equal(f.errors.last, server_err);
  assert_int_equal(srv.accepted, 0);
  /* The server says why, with an alert record, before it closes. */
  assert_true(raw.len >= 7);
  assert_int_equal(raw.got[0], 0x15);
  if (alert >= 0)
    assert_int_equal(raw.got[6], alert);
  irpc_duplex_close(raw.d, NULL, NULL);
  fx_fini(&f);
}

static void test_plain_text_instead_of_client_hello(void **state) {
  (void)state;
  static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  garbage((const uint8_t *)http, sizeof http - 1, IRPC_ETLSPLAINTEXT, 70);
}

static void test_bad_handshake_record(void **state) {
  (void)state;
  uint8_t rec[5 + 16] = {0x16, 0x03, 0x01, 0x00, 0x10};
  for (int i = 5; i < (int)sizeof rec; i++)
    rec[i] = (uint8_t)(0xa5 ^ i);
  garbage(rec, sizeof rec, IRPC_ETLS, -1);
}

/* A TLS client facing a server that speaks plain text first (an ice
 * server without TLS sends its ValidateConnection at once). */
static void test_plain_server_speaks_first(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 10000);
  peer raw = {0}, c = {0};
  fx_listen(&f, irpc_transport_tcp(), "ice://127.0.0.1:0", &raw);
  fx_connect(&f, irpc_tls_client_transport(f.client, NULL, 0), f.bound, &c);
  RUN_UNTIL(&f.loop, raw.accepted);
  static const uint8_t validate[] = {'I', 'c', 'e', 'P', 1, 0, 1,
                                     0,   3,   0,   14,  0, 0, 0};
  send_bytes(raw.d, validate, sizeof validate);
  RUN_UNTIL(&f.loop, c.connected != 0);
  assert_int_equal(c.connected, IRPC_ETLSPLAINTEXT);
  irpc_duplex_close(raw.d, NULL, NULL);
  fx_fini(&f);
}

/* The client offers "ice", the listener speaks "icerpc". */
static void test_alpn_mismatch(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 10000);
  peer srv = {0}, c = {0};
  fx_listen(&f, irpc_tls_server_transport(f.server, NULL, 0),
            "icerpc://127.0.0.1:0", &srv);
  irpc_server_address *a;
  char uri[128];
  snprintf(uri, sizeof uri, "ice://127.0.0.1:%u",
           (unsigned)irpc_server_address_port(f.bound));
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  fx_connect(&f, irpc_tls_client_transport(f.client, NULL, 0), a, &c);
  RUN_UNTIL(&f.loop, c.connected != 0 && f.errors.count == 1);
  assert_int_equal(c.connected, IRPC_ETLSALPN);
  assert_int_equal(f.errors.last, IRPC_ETLSALPN);
  irpc_server_address_free(a);
  fx_fini(&f);
}

/* The inner connection fails during the handshake (a fault on the
 * client's first read): the connect ends with that error. */
static void test_inner_failure_during_handshake(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 10000);
  peer srv = {0}, c = {0};
  fx_listen(&f, irpc_tls_server_transport(f.server, NULL, 0),
            "icerpc://127.0.0.1:0", &srv);
  irpc_transport *fault, *t;
  assert_irpc_ok(irpc_transport_fault_new(&fault, irpc_transport_tcp()));
  assert_irpc_ok(irpc_fault_set(irpc_transport_fault(fault), IRPC_FAULT_READ,
                                IRPC_FAULT_FAIL, UV_ECONNRESET));
  assert_irpc_ok(irpc_transport_tls_new(&t, fault, f.client, NULL));
  fx_connect(&f, t, f.bound, &c);
  RUN_UNTIL(&f.loop, c.connected != 0 && f.errors.count == 1);
  assert_int_equal(c.connected, UV_ECONNRESET);
  assert_int_equal(f.errors.last, UV_ECONNRESET);
  assert_int_equal(srv.accepted, 0);
  fx_fini(&f);
  irpc_transport_free(t);
  irpc_transport_free(fault);
}

/* TLS over a fault transport (below), and a shaped link over TLS (above):
 * bytes cross, and the TLS information shows through the decorator. */
static void test_stacked_with_decorators(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 10000);
  irpc_transport *fault, *tls, *shaped;
  assert_irpc_ok(irpc_transport_fault_new(&fault, irpc_transport_tcp()));
  assert_irpc_ok(irpc_transport_tls_new(&tls, fault, f.client, f.server));
  irpc_link link;
  assert_irpc_ok(irpc_link_parse(&link, "1gbit,0.1ms"));
  assert_irpc_ok(irpc_transport_shaped_new(&shaped, tls, &link));
  peer srv = {0}, c = {0};
  fx_listen(&f, tls, "icerpc://127.0.0.1:0", &srv);
  fx_connect(&f, shaped, f.bound, &c);
  RUN_UNTIL(&f.loop, c.connected != 0 && srv.accepted);
  assert_int_equal(c.connected, 1);
  const irpc_tls_info *ti = irpc_duplex_tls_info(c.d);
  assert_non_null(ti);
  assert_string_equal(ti->subject, "CN=server,O=irpc tests");
  assert_int_equal(ti->peer_verified, 1);
  assert_non_null(irpc_duplex_tls_info(srv.d));
  assert_null(irpc_duplex_tls_info(NULL));
  assert_string_equal(irpc_duplex_type(srv.d), "tls");
  static const char hello[] = "through fault, TLS and a shaped link";
  send_bytes(c.d, hello, sizeof hello);
  send_bytes(srv.d, hello, sizeof hello);
  RUN_UNTIL(&f.loop, srv.len == sizeof hello && c.len == sizeof hello);
  assert_memory_equal(srv.got, hello, sizeof hello);
  assert_memory_equal(c.got, hello, sizeof hello);
  /* A graceful end: close_notify, then FIN. */
  assert_irpc_ok(irpc_duplex_shutdown(c.d, NULL, NULL));
  RUN_UNTIL(&f.loop, srv.end != 0);
  assert_int_equal(srv.end, UV_EOF);
  assert_true(irpc_fault_count(irpc_transport_fault(fault), IRPC_FAULT_WRITE) >
              0);
  irpc_duplex_close(c.d, NULL, NULL);
  irpc_duplex_close(srv.d, NULL, NULL);
  fx_fini(&f);
  irpc_transport_free(shaped);
  irpc_transport_free(tls);
  irpc_transport_free(fault);
}

/* An end of the connection without close_notify is a truncation: the
 * client's close_notify is lost (a fault fails that write), its FIN
 * arrives, and the server reads UV_ECONNRESET, not UV_EOF. */
static void test_truncation(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 10000);
  irpc_transport *fault, *client;
  assert_irpc_ok(irpc_transport_fault_new(&fault, irpc_transport_tcp()));
  assert_irpc_ok(irpc_transport_tls_new(&client, fault, f.client, NULL));
  peer srv = {0}, c = {0};
  fx_listen(&f, irpc_tls_server_transport(f.server, NULL, 0),
            "icerpc://127.0.0.1:0", &srv);
  fx_connect(&f, client, f.bound, &c);
  RUN_UNTIL(&f.loop, c.connected != 0 && srv.accepted);
  assert_int_equal(c.connected, 1);
  assert_irpc_ok(irpc_fault_set(irpc_transport_fault(fault), IRPC_FAULT_WRITE,
                                IRPC_FAULT_FAIL, UV_EPIPE));
  assert_irpc_ok(irpc_duplex_shutdown(c.d, NULL, NULL));
  RUN_UNTIL(&f.loop, srv.end != 0);
  assert_int_equal(srv.end, UV_ECONNRESET);
  irpc_duplex_close(c.d, NULL, NULL);
  irpc_duplex_close(srv.d, NULL, NULL);
  fx_fini(&f);
  irpc_transport_free(client);
  irpc_transport_free(fault);
}

/* A connect or listen without the context for that direction. */
static void test_missing_direction(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 10000);
  irpc_transport *t;
  assert_irpc_ok(irpc_transport_tls_new(&t, NULL, f.client, NULL));
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, "icerpc://127.0.0.1:0"));
  irpc_listener *l;
  assert_irpc_err(irpc_transport_listen(t, &f.loop, a, peer_accept, NULL, &l),
                  IRPC_EINVAL);
  irpc_transport_free(t);
  assert_irpc_ok(irpc_transport_tls_new(&t, NULL, NULL, f.server));
  irpc_duplex *d;
  assert_irpc_err(
      irpc_transport_connect(t, &f.loop, a, &d, peer_connected, NULL),
      IRPC_EINVAL);
  irpc_transport_free(t);
  /* An unknown transport name. */
  irpc_server_address_free(a);
  assert_irpc_ok(
      irpc_server_address_parse(&a, "icerpc://127.0.0.1:1?transport=quic"));
  assert_irpc_err(
      irpc_transport_connect(irpc_tls_client_transport(f.client, NULL, 0),
                             &f.loop, a, &d, peer_connected, NULL),
      IRPC_EINVAL);
  assert_null(irpc_tls_client_transport(NULL, NULL, 0));
  assert_null(irpc_tls_server_transport(NULL, NULL, 0));
  irpc_server_address_free(a);
  fx_fini(&f);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_client_stalls_mid_handshake),
      cmocka_unit_test(test_server_stalls),
      cmocka_unit_test(test_plain_text_instead_of_client_hello),
      cmocka_unit_test(test_bad_handshake_record),
      cmocka_unit_test(test_plain_server_speaks_first),
      cmocka_unit_test(test_alpn_mismatch),
      cmocka_unit_test(test_inner_failure_during_handshake),
      cmocka_unit_test(test_stacked_with_decorators),
      cmocka_unit_test(test_truncation),
      cmocka_unit_test(test_missing_direction),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
