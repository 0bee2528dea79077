/* The multi-loop server over TLS: loop 0 accepts the TCP sockets and hands
 * them over; the loop that gets one runs its TLS handshake and serves it.
 * Connections on every loop complete mutual TLS and calls, rotation
 * applies on every loop, failed and stalled handshakes are reported by the
 * loop that ran them and free their slot, and freeing the server closes
 * the handshakes under way. The clients run on the test's loop, on the
 * main thread. Certificates are made at test time (kit/tls.h). */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "kit/net.h"
#include "kit/tls.h"

#define LOOPS 3

static kit_ca *ca;
static kit_cert server_cert, client_cert;

static int group_setup(void **state) {
  (void)state;
  ca = kit_ca_new("multi-loop CA");
  server_cert = kit_ca_server(ca, "server");
  client_cert = kit_ca_issue(ca, "alice", NULL, -60, 86400);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  kit_cert_free(&server_cert);
  kit_cert_free(&client_cert);
  kit_ca_free(ca);
  return 0;
}

/* The server's handshake failures, reported on its loops' threads. */
static _Atomic int hs_count, hs_last;

static void on_hs_error(int err, const char *remote, void *ud) {
  (void)remote;
  (void)ud;
  atomic_store(&hs_last, err);
  atomic_fetch_add(&hs_count, 1);
}

/* "/who": answers its loop's index, then the subject of the caller's
 * certificate as this loop's connection saw it ("-" without TLS). */
static void who_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  uint8_t index = *(uint8_t *)irpc_dispatcher_data(self);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const irpc_connection_info *ci = irpc_incoming_request_connection_info(req);
  const char *subject = ci && ci->tls ? ci->tls->subject : "-";
  irpc_outgoing_response *r;
  assert_irpc_ok(irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL));
  irpc_buf *p = irpc_outgoing_response_payload(r);
  assert_irpc_ok(irpc_buf_append(p, &index, 1));
  assert_irpc_ok(irpc_buf_append(p, subject, strlen(subject)));
  assert_irpc_ok(irpc_dispatch_complete(d, r));
}

static int who_init(irpc_dispatcher *self, const void *config) {
  *(uint8_t *)irpc_dispatcher_data(self) = (uint8_t)(uintptr_t)config;
  return 0;
}

static const irpc_dispatcher_ops who_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "who",
    .data_size = sizeof(uint8_t),
    .init = who_init,
    .dispatch = who_dispatch,
};

static int factory(uv_loop_t *loop, unsigned index, irpc_dispatcher **out,
                   void *ud) {
  (void)ud;
  return irpc_dispatcher_new(out, loop, &who_ops, (void *)(uintptr_t)index);
}

static void release(uv_loop_t *loop, unsigned index, irpc_dispatcher *d,
                    void *ud) {
  (void)loop;
  (void)index;
  (void)ud;
  irpc_dispatcher_free(d);
}

typedef struct fx {
  uv_loop_t loop;
  irpc_multi_server *ms;
  irpc_tls_server *server;
  irpc_tls_client *client; /* presents alice's certificate */
  char bound[256];
} fx;

/* A server of LOOPS loops over TLS at `address`, requiring client
 * certificates, with a handshake timeout of `timeout_ms`. */
static void fx_start_with(fx *f, const char *address, uint64_t timeout_ms,
                          int reuseport) {
  memset(f, 0, sizeof(*f));
  atomic_store(&hs_count, 0);
  atomic_store(&hs_last, 0);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  irpc_tls_options o;
  kit_tls_options(&o, &server_cert, ca);
  o.client_auth = IRPC_TLS_CLIENT_AUTH_REQUIRED;
  o.on_handshake_error = on_hs_error;
  assert_irpc_ok(irpc_tls_server_new(&f->server, &o));
  kit_tls_options(&o, &client_cert, ca);
  o.session_cache_size = 0; /* every handshake is a full one */
  assert_irpc_ok(irpc_tls_client_new(&f->client, &o));
  irpc_multi_server_options mo;
  irpc_multi_server_options_init(&mo);
  mo.loops = LOOPS;
  mo.factory = factory;
  mo.release = release;
  mo.server.connection.tls_server = f->server;
  mo.server.connection.connect_timeout_ms = timeout_ms;
  assert_irpc_ok(irpc_multi_server_new(&f->ms, &mo));
  if (reuseport)
    assert_irpc_ok(irpc_multi_server_listen_reuseport(f->ms, address, f->bound,
                                                      sizeof f->bound));
  else
    assert_irpc_ok(
        irpc_multi_server_listen(f->ms, address, f->bound, sizeof f->bound));
}

static void fx_start(fx *f, const char *address, uint64_t timeout_ms) {
  fx_start_with(f, address, timeout_ms, 0);
}

static void fx_fini(fx *f) {
  irpc_multi_server_free(f->ms);
  test_loop_finish(&f->loop);
  irpc_tls_client_free(f->client);
  irpc_tls_server_free(f->server);
}

static irpc_invoker *client(fx *f, irpc_tls_client *tls) {
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  co.tls_client = tls;
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, &f->loop, f->bound, &co));
  return inv;
}

/* What a call to /who answered. */
typedef struct who {
  int err;
  int loop;
  char subject[128];      /* the server's view of the client */
  char peer_subject[128]; /* the client's view of the server */
} who;

static who call_who(fx *f, irpc_invoker *inv) {
  who w;
  memset(&w, 0, sizeof(w));
  net_result res = {0};
  irpc_buf *payload;
  assert_irpc_ok(irpc_buf_new(&payload));
  res.payload = payload;
  irpc_outgoing_request *req = kit_request("/who", NULL, 0);
  net_call_sync(&f->loop, inv, req, &res);
  w.err = res.err;
  if (res.err == 0) {
    assert_int_equal(res.status, IRPC_STATUS_OK);
    size_t n = irpc_buf_len(payload);
    assert_true(n >= 1 && n < sizeof w.subject);
    uint8_t b[128];
    irpc_buf_copyout(payload, 0, b, n);
    w.loop = b[0];
    memcpy(w.subject, b + 1, n - 1);
    const irpc_connection_info *ci = irpc_outgoing_request_connection_info(req);
    assert_non_null(ci);
    assert_non_null(ci->tls);
    snprintf(w.peer_subject, sizeof w.peer_subject, "%s", ci->tls->subject);
  }
  irpc_outgoing_request_free(req);
  irpc_buf_free(payload);
  return w;
}

static void client_close(fx *f, irpc_invoker *inv) {
  int done = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(inv, kit_status_cb, &done));
  kit_run_until(&f->loop, &done);
  assert_int_equal(done, 1);
  irpc_invoker_free(inv);
}

static uint64_t current(fx *f) {
  irpc_multi_server_stats s;
  irpc_multi_server_read_stats(f->ms, &s, NULL, 0);
  return s.connections_current;
}

/* Runs the test's loop (its clients) until the server's loops reported
 * `n` handshake failures and hold `conns` connections. */
static void wait_server(fx *f, int n, uint64_t conns) {
  while (atomic_load(&hs_count) < n || current(f) != conns) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    sched_yield();
  }
}

static void test_tls_on_every_loop(void **state) {
  (void)state;
  fx f;
  fx_start(&f, "icerpc://127.0.0.1:0", 10000);
  irpc_invoker *inv[2 * LOOPS];
  int seen[LOOPS] = {0};
  for (int i = 0; i < 2 * LOOPS; i++) {
    inv[i] = client(&f, f.client);
    who w = call_who(&f, inv[i]);
    assert_irpc_ok(w.err);
    assert_true(w.loop < LOOPS);
    seen[w.loop]++;
    assert_string_equal(w.subject, "CN=alice,O=irpc tests");
    assert_string_equal(w.peer_subject, "CN=server,O=irpc tests");
  }
  for (int i = 0; i < LOOPS; i++)
    assert_int_equal(seen[i], 2); /* the least loaded loop each time */

  /* Rotation: new handshakes on every loop present the new certificate;
   * the connections already established keep working. */
  kit_cert next = kit_ca_server(ca, "server-2");
  irpc_tls_options o;
  kit_tls_options(&o, &next, NULL);
  assert_irpc_ok(irpc_tls_server_set_certificate(f.server, &o));
  irpc_invoker *after[LOOPS];
  int seen_after[LOOPS] = {0};
  for (int i = 0; i < LOOPS; i++) {
    after[i] = client(&f, f.client);
    who w = call_who(&f, after[i]);
    assert_irpc_ok(w.err);
    seen_after[w.loop]++;
    assert_string_equal(w.peer_subject, "CN=server-2,O=irpc tests");
  }
  for (int i = 0; i < LOOPS; i++)
    assert_int_equal(seen_after[i], 1);
  for (int i = 0; i < 2 * LOOPS; i++) {
    who w = call_who(&f, inv[i]);
    assert_irpc_ok(w.err);
    assert_string_equal(w.peer_subject, "CN=server,O=irpc tests");
  }
  for (int i = 0; i < 2 * LOOPS; i++)
    client_close(&f, inv[i]);
  for (int i = 0; i < LOOPS; i++)
    client_close(&f, after[i]);
  assert_int_equal(atomic_load(&hs_count), 0);
  kit_cert_free(&next);
  fx_fini(&f);
}

/* With SO_REUSEPORT each loop accepts its own connections and runs their
 * handshakes itself: every call goes over TLS with both identities. */
static void test_tls_reuseport(void **state) {
  (void)state;
  fx f;
  fx_start_with(&f, "icerpc://127.0.0.1:0", 10000, 1);
  enum { N = 4 * LOOPS };
  irpc_invoker *inv[N];
  for (int i = 0; i < N; i++) {
    inv[i] = client(&f, f.client);
    who w = call_who(&f, inv[i]);
    assert_irpc_ok(w.err);
    assert_true(w.loop < LOOPS);
    assert_string_equal(w.subject, "CN=alice,O=irpc tests");
    assert_string_equal(w.peer_subject, "CN=server,O=irpc tests");
  }
  for (int i = 0; i < N; i++)
    client_close(&f, inv[i]);
  assert_int_equal(atomic_load(&hs_count), 0);
  fx_fini(&f);
}

/* ice over `ssl` (Ice's ssl endpoints) on a multi-loop server: the bound
 * address says ssl, and the calls go over TLS with ALPN "ice". */
static void test_ice_ssl_on_loops(void **state) {
  (void)state;
  fx f;
  fx_start(&f, "ice://127.0.0.1:0?transport=ssl", 10000);
  assert_non_null(strstr(f.bound, "transport=ssl"));
  for (int i = 0; i < LOOPS; i++) {
    irpc_invoker *inv = client(&f, f.client);
    who w = call_who(&f, inv);
    assert_irpc_ok(w.err);
    assert_string_equal(w.subject, "CN=alice,O=irpc tests");
    client_close(&f, inv);
  }
  fx_fini(&f);
}

/* Handshakes that fail on the loops: each is reported once by the loop
 * that ran it, the client gets its error, and no slot stays taken. */
static void test_failed_handshakes(void **state) {
  (void)state;
  fx f;
  fx_start(&f, "icerpc://127.0.0.1:0", 10000);
  irpc_tls_client *anonymous;
  irpc_tls_options o;
  kit_tls_options(&o, NULL, ca);
  assert_irpc_ok(irpc_tls_client_new(&anonymous, &o));
  for (int i = 0; i < LOOPS; i++) {
    irpc_invoker *inv = client(&f, anonymous);
    who w = call_who(&f, inv);
    assert_int_equal(w.err, IRPC_ETLSNOCERT);
    irpc_invoker_free(inv);
    wait_server(&f, i + 1, 0);
    assert_int_equal(atomic_load(&hs_last), IRPC_ETLSNOCERT);
  }
  /* A plain-text client. */
  irpc_invoker *plain = client(&f, NULL);
  who w = call_who(&f, plain);
  assert_int_equal(w.err, IRPC_ETLSPEER);
  irpc_invoker_free(plain);
  wait_server(&f, LOOPS + 1, 0);
  assert_int_equal(atomic_load(&hs_last), IRPC_ETLSPLAINTEXT);
  /* Still serving. */
  irpc_invoker *inv = client(&f, f.client);
  assert_irpc_ok(call_who(&f, inv).err);
  client_close(&f, inv);
  irpc_tls_client_free(anonymous);
  fx_fini(&f);
}

/* A raw TCP client of the server. */
typedef struct raw {
  irpc_duplex *d;
  int connected;
  int end;
} raw;

static void raw_read(irpc_duplex *d, int status, const uint8_t *data,
                     size_t len, void *ud) {
  (void)d;
  (void)data;
  (void)len;
  raw *r = ud;
  if (status < 0)
    r->end = status;
}

static void raw_connected(irpc_duplex *d, int status, void *ud) {
  raw *r = ud;
  r->connected = status == 0 ? 1 : status;
  if (status == 0)
    assert_irpc_ok(irpc_duplex_read_start(d, raw_read, r));
}

static void raw_connect(fx *f, raw *r) {
  memset(r, 0, sizeof(*r));
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, f->bound));
  assert_irpc_ok(irpc_transport_connect(irpc_transport_tcp(), &f->loop, a,
                                        &r->d, raw_connected, r));
  irpc_server_address_free(a);
  kit_run_until(&f->loop, &r->connected);
  assert_int_equal(r->connected, 1);
}

/* Clients that stall in the middle of their ClientHello: each loop's TLS
 * timer drops its own (IRPC_ETLSTIMEDOUT) and the slot is free again;
 * then a handshake under way when the server is freed is closed. */
static void test_stalled_handshakes(void **state) {
  (void)state;
  fx f;
  fx_start(&f, "icerpc://127.0.0.1:0", 1500);
  raw r[LOOPS];
  static const uint8_t partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  for (int i = 0; i < LOOPS; i++) {
    raw_connect(&f, &r[i]);
    irpc_buf *b;
    assert_irpc_ok(irpc_buf_new(&b));
    assert_irpc_ok(irpc_buf_append(b, partial, sizeof partial));
    assert_irpc_ok(irpc_duplex_write(r[i].d, b, NULL, NULL));
    irpc_buf_free(b);
  }
  wait_server(&f, LOOPS, 0);
  assert_int_equal(atomic_load(&hs_last), IRPC_ETLSTIMEDOUT);
  for (int i = 0; i < LOOPS; i++) {
    while (!r[i].end)
      uv_run(&f.loop, UV_RUN_ONCE); /* the server closed it */
    irpc_duplex_close(r[i].d, NULL, NULL);
  }
  /* The next handshake on each loop still works. */
  for (int i = 0; i < LOOPS; i++) {
    irpc_invoker *inv = client(&f, f.client);
    assert_irpc_ok(call_who(&f, inv).err);
    client_close(&f, inv);
  }
  wait_server(&f, LOOPS, 0);
  /* A client that says nothing, then the server goes. */
  raw quiet;
  raw_connect(&f, &quiet);
  wait_server(&f, LOOPS, 1);
  irpc_multi_server_free(f.ms);
  f.ms = NULL;
  while (!quiet.end)
    uv_run(&f.loop, UV_RUN_ONCE);
  irpc_duplex_close(quiet.d, NULL, NULL);
  assert_int_equal(atomic_load(&hs_count), LOOPS);
  fx_fini(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tls_on_every_loop),
      cmocka_unit_test(test_tls_reuseport),
      cmocka_unit_test(test_ice_ssl_on_loops),
      cmocka_unit_test(test_failed_handshakes),
      cmocka_unit_test(test_stalled_handshakes),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
