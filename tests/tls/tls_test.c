/* TLS through the connection and server options: icerpc calls over TCP and
 * Unix domain sockets, the peer's identity in the connection information,
 * each handshake failure on the side that detects it, mutual TLS, session
 * resumption and certificate rotation. Certificates are made at test time
 * (kit/tls.h). */
#include <stdio.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kit/net.h"
#include "kit/tls.h"

/* ---- Fixtures ---- */

static kit_ca *ca, *other_ca;
static kit_cert server_cert, client_cert, foreign_client_cert;

static int group_setup(void **state) {
  (void)state;
  ca = kit_ca_new("irpc test CA");
  other_ca = kit_ca_new("another CA");
  server_cert = kit_ca_server(ca, "server");
  client_cert = kit_ca_issue(ca, "alice",
                             "URI:spiffe://irpc.test/alice,"
                             "email:alice@irpc.test",
                             -60, 86400);
  foreign_client_cert = kit_ca_issue(other_ca, "mallory", NULL, -60, 86400);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  kit_cert_free(&server_cert);
  kit_cert_free(&client_cert);
  kit_cert_free(&foreign_client_cert);
  kit_ca_free(ca);
  kit_ca_free(other_ca);
  return 0;
}

/* The server's handshake failures. */
typedef struct hs_errors {
  int count;
  int last;
  char remote[128];
} hs_errors;

static void on_hs_error(int err, const char *remote, void *ud) {
  hs_errors *e = ud;
  e->count++;
  e->last = err;
  snprintf(e->remote, sizeof e->remote, "%s", remote);
}

/* What the dispatcher saw of the caller. */
typedef struct seen {
  int calls;
  int tls;
  char subject[256];
  char sans[4][128];
  size_t nsans;
  char fingerprint[65];
  char alpn[16];
  char version[16];
  int verified;
} seen;

static seen last_seen;

static void peer_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const irpc_connection_info *ci = irpc_incoming_request_connection_info(req);
  seen *s = &last_seen;
  memset(s, 0, sizeof(*s));
  s->calls = 1;
  if (ci && ci->tls) {
    const irpc_tls_info *t = ci->tls;
    s->tls = 1;
    snprintf(s->subject, sizeof s->subject, "%s", t->subject);
    for (size_t i = 0; i < t->sans_count && i < 4; i++)
      snprintf(s->sans[i], sizeof s->sans[i], "%s", t->sans[i]);
    s->nsans = t->sans_count;
    snprintf(s->fingerprint, sizeof s->fingerprint, "%s", t->sha256_hex);
    snprintf(s->alpn, sizeof s->alpn, "%s", t->alpn);
    snprintf(s->version, sizeof s->version, "%s", t->version);
    s->verified = t->peer_verified;
  }
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_response_payload(resp),
                               irpc_incoming_request_payload(req)));
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

static const irpc_dispatcher_ops peer_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .dispatch = peer_dispatch,
};

typedef struct tls_rig {
  net_rig net;
  irpc_tls_server *server;
  irpc_tls_client *client;
  hs_errors errors;
} tls_rig;

/* A rig of `kind` whose server has `scert` and client auth `auth`, and
 * whose client trusts `trust` and presents `ccert` (NULL: none). */
static void tls_rig_init(tls_rig *r, int kind, const kit_cert *scert,
                         irpc_tls_client_auth auth, const kit_ca *trust,
                         const kit_cert *ccert) {
  memset(r, 0, sizeof(*r));
  net_rig_init(&r->net, kind);
  irpc_tls_options o;
  kit_tls_options(&o, scert, ca);
  o.client_auth = auth;
  o.on_handshake_error = on_hs_error;
  o.user_data = &r->errors;
  assert_irpc_ok(irpc_tls_server_new(&r->server, &o));
  kit_tls_options(&o, ccert, trust);
  if (kind == NET_UDS)
    o.server_name = "localhost";
  assert_irpc_ok(irpc_tls_client_new(&r->client, &o));
  r->net.sopts.connection.tls_server = r->server;
  r->net.copts.tls_client = r->client;
  net_map(&r->net, "/peer", &peer_ops, NULL);
  net_rig_start(&r->net);
}

static void tls_rig_fini(tls_rig *r) {
  net_rig_fini(&r->net);
  irpc_tls_client_free(r->client);
  irpc_tls_server_free(r->server);
}

/* One call to /peer; returns its error (0 with status Ok). */
static int call(tls_rig *r, irpc_invoker *inv, const char *text) {
  net_result res = {0};
  irpc_buf *payload;
  assert_irpc_ok(irpc_buf_new(&payload));
  res.payload = payload;
  irpc_outgoing_request *req = kit_request("/peer", text, strlen(text));
  net_call_sync(&r->net.loop, inv, req, &res);
  irpc_outgoing_request_free(req);
  if (res.err == 0) {
    assert_int_equal(res.status, IRPC_STATUS_OK);
    assert_true(irpc_buf_equals(payload, text, strlen(text)));
  }
  irpc_buf_free(payload);
  return res.err;
}

/* Runs the loop until the server reported `n` handshake failures. */
static void wait_errors(tls_rig *r, int n) {
  int reached = 0;
  while (!reached) {
    reached = r->errors.count >= n;
    if (!reached)
      uv_run(&r->net.loop, UV_RUN_ONCE);
  }
}

/* ---- Calls over TLS ---- */

static void calls_over(int kind) {
  tls_rig r;
  tls_rig_init(&r, kind, &server_cert, IRPC_TLS_CLIENT_AUTH_NONE, ca, NULL);
  irpc_invoker *inv = net_client(&r.net);
  assert_irpc_ok(call(&r, inv, "hello over TLS"));
  assert_true(last_seen.tls);
  assert_string_equal(last_seen.alpn, "icerpc");
  assert_string_equal(last_seen.version, "TLSv1.3");
  assert_string_equal(last_seen.subject, ""); /* no client certificate */
  /* Large payloads cross many records both ways. */
  size_t n = 3 * 1024 * 1024 + 17;
  char *big = malloc(n + 1);
  assert_non_null(big);
  for (size_t i = 0; i < n; i++)
    big[i] = (char)('a' + i % 26);
  big[n] = 0;
  assert_irpc_ok(call(&r, inv, big));
  free(big);
  /* The client side sees the server's certificate. */
  irpc_server *s = r.net.server;
  irpc_connection *conns[1];
  assert_int_equal(irpc_server_connections(s, conns, 1), 1);
  const irpc_tls_info *si = irpc_connection_tls_info(conns[0]);
  assert_non_null(si);
  assert_int_equal(si->peer_certificate, 0);
  assert_string_equal(si->alpn, "icerpc");
  net_client_close(&r.net, inv);
  assert_int_equal(r.errors.count, 0);
  tls_rig_fini(&r);
}

static void test_icerpc_over_tls_tcp(void **state) {
  (void)state;
  calls_over(NET_TCP);
}

static void test_icerpc_over_tls_uds(void **state) {
  (void)state;
  calls_over(NET_UDS);
}

/* The client's view of the server, through a connection hook-free path:
 * the connection information of its outgoing request. */
static const irpc_tls_info *client_view;
static char client_subject[256], client_sans[256];
static int client_resumed;

static void record_view(irpc_call *c, int err, irpc_incoming_response *resp,
                        void *ud) {
  (void)c;
  net_result *o = ud;
  o->done++;
  o->err = err;
  if (resp)
    irpc_incoming_response_free(resp);
}

static int call_and_view(tls_rig *r, irpc_invoker *inv) {
  irpc_outgoing_request *req = kit_request("/peer", "x", 1);
  net_result res = {0};
  assert_irpc_ok(irpc_invoke(inv, req, record_view, &res, NULL));
  kit_run_until(&r->net.loop, &res.done);
  const irpc_connection_info *ci = irpc_outgoing_request_connection_info(req);
  client_view = ci ? ci->tls : NULL;
  client_subject[0] = client_sans[0] = 0;
  if (client_view) {
    snprintf(client_subject, sizeof client_subject, "%s", client_view->subject);
    for (size_t i = 0; i < client_view->sans_count; i++) {
      strncat(client_sans, client_view->sans[i],
              sizeof client_sans - strlen(client_sans) - 2);
      strcat(client_sans, ";");
    }
    client_resumed = client_view->resumed;
  }
  irpc_outgoing_request_free(req);
  return res.err;
}

static void test_server_identity_reaches_client(void **state) {
  (void)state;
  tls_rig r;
  tls_rig_init(&r, NET_TCP, &server_cert, IRPC_TLS_CLIENT_AUTH_NONE, ca, NULL);
  irpc_invoker *inv = net_client(&r.net);
  assert_irpc_ok(call_and_view(&r, inv));
  assert_non_null(client_view);
  assert_string_equal(client_subject, "CN=server,O=irpc tests");
  assert_string_equal(client_sans, "DNS:localhost;IP:127.0.0.1;IP:::1;");
  net_client_close(&r.net, inv);
  tls_rig_fini(&r);
}

/* A client freed while connected (an abort), then the server: everything
 * closes. */
static void test_abrupt_client_free(void **state) {
  (void)state;
  tls_rig r;
  tls_rig_init(&r, NET_TCP, &server_cert, IRPC_TLS_CLIENT_AUTH_REQUIRED, ca,
               &client_cert);
  irpc_invoker *inv = net_client(&r.net);
  assert_irpc_ok(call(&r, inv, "then gone"));
  irpc_invoker_free(inv);
  tls_rig_fini(&r);
}

/* ---- Mutual TLS ---- */

static void test_mtls_required_with_certificate(void **state) {
  (void)state;
  tls_rig r;
  tls_rig_init(&r, NET_TCP, &server_cert, IRPC_TLS_CLIENT_AUTH_REQUIRED, ca,
               &client_cert);
  irpc_invoker *inv = net_client(&r.net);
  assert_irpc_ok(call(&r, inv, "who am I"));
  assert_true(last_seen.tls);
  assert_true(last_seen.verified);
  assert_string_equal(last_seen.subject, "CN=alice,O=irpc tests");
  assert_int_equal(last_seen.nsans, 2);
  assert_string_equal(last_seen.sans[0], "URI:spiffe://irpc.test/alice");
  assert_string_equal(last_seen.sans[1], "email:alice@irpc.test");
  /* The fingerprint is the SHA-256 of the certificate's DER. */
  BIO *b = BIO_new_mem_buf(client_cert.cert_pem, -1);
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  unsigned char md[32];
  unsigned len = 0;
  X509_digest(x, EVP_sha256(), md, &len);
  char hex[65];
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  X509_free(x);
  BIO_free(b);
  assert_string_equal(last_seen.fingerprint, hex);
  net_client_close(&r.net, inv);
  tls_rig_fini(&r);
}

static void test_mtls_required_without_certificate(void **state) {
  (void)state;
  tls_rig r;
  tls_rig_init(&r, NET_TCP, &server_cert, IRPC_TLS_CLIENT_AUTH_REQUIRED, ca,
               NULL);
  irpc_invoker *inv = net_client(&r.net);
  memset(&last_seen, 0, sizeof last_seen);
  assert_irpc_err(call(&r, inv, "no cert"), IRPC_ETLSNOCERT);
  wait_errors(&r, 1);
  assert_int_equal(r.errors.last, IRPC_ETLSNOCERT);
  assert_true(strncmp(r.errors.remote, "127.0.0.1:", 10) == 0);
  assert_int_equal(last_seen.calls, 0);
  irpc_invoker_free(inv);
  tls_rig_fini(&r);
}

static void test_mtls_optional(void **state) {
  (void)state;
  /* Without a certificate: accepted, no identity. */
  tls_rig r;
  tls_rig_init(&r, NET_TCP, &server_cert, IRPC_TLS_CLIENT_AUTH_OPTIONAL, ca,
               NULL);
  irpc_invoker *inv = net_client(&r.net);
  memset(&last_seen, 0, sizeof last_seen);
  assert_irpc_ok(call(&r, inv, "anonymous"));
  assert_true(last_seen.tls);
  assert_string_equal(last_seen.subject, "");
  net_client_close(&r.net, inv);
  tls_rig_fini(&r);
  /* With one from an unknown CA: refused on both sides. */
  tls_rig_init(&r, NET_TCP, &server_cert, IRPC_TLS_CLIENT_AUTH_OPTIONAL, ca,
               &foreign_client_cert);
  inv = net_client(&r.net);
  memset(&last_seen, 0, sizeof last_seen);
  assert_irpc_err(call(&r, inv, "mallory"), IRPC_ETLSBADCERT);
  wait_errors(&r, 1);
  assert_int_equal(r.errors.last, IRPC_ETLSUNKNOWNCA);
  assert_int_equal(last_seen.calls, 0);
  irpc_invoker_free(inv);
  tls_rig_fini(&r);
}

/* ---- Server authentication failures ---- */

static void expect_client_failure(const kit_cert *scert, const kit_ca *trust,
                                  int client_err, int server_err) {
  tls_rig r;
  tls_rig_init(&r, NET_TCP, scert, IRPC_TLS_CLIENT_AUTH_NONE, trust, NULL);
  irpc_invoker *inv = net_client(&r.net);
  memset(&last_seen, 0, sizeof last_seen);
  assert_irpc_err(call(&r, inv, "x"), client_err);
  wait_errors(&r, 1);
  assert_int_equal(r.errors.last, server_err);
  assert_int_equal(last_seen.calls, 0);
  irpc_invoker_free(inv);
  tls_rig_fini(&r);
}

static void test_unknown_ca(void **state) {
  (void)state;
  expect_client_failure(&server_cert, other_ca, IRPC_ETLSUNKNOWNCA,
                        IRPC_ETLSBADCERT);
}

static void test_expired_certificate(void **state) {
  (void)state;
  kit_cert expired =
      kit_ca_issue(ca, "old", "DNS:localhost,IP:127.0.0.1", -2 * 86400, -86400);
  expect_client_failure(&expired, ca, IRPC_ETLSEXPIRED, IRPC_ETLSBADCERT);
  kit_cert_free(&expired);
}

static void test_wrong_host(void **state) {
  (void)state;
  kit_cert other =
      kit_ca_issue(ca, "elsewhere", "DNS:elsewhere.example", -60, 86400);
  expect_client_failure(&other, ca, IRPC_ETLSHOSTNAME, IRPC_ETLSBADCERT);
  kit_cert_free(&other);
}

/* ---- Plain text and TLS mixed up ---- */

static void on_conn_closed(irpc_server *s, irpc_connection *c, int err,
                           void *ud) {
  (void)s;
  (void)c;
  int *e = ud;
  *e = err ? err : 1;
}

static void test_plain_client_on_tls_port(void **state) {
  (void)state;
  tls_rig r;
  tls_rig_init(&r, NET_TCP, &server_cert, IRPC_TLS_CLIENT_AUTH_NONE, ca, NULL);
  r.net.copts.tls_client = NULL;
  irpc_invoker *inv = net_client(&r.net);
  assert_irpc_err(call(&r, inv, "plain"), IRPC_ETLSPEER);
  wait_errors(&r, 1);
  assert_int_equal(r.errors.last, IRPC_ETLSPLAINTEXT);
  irpc_invoker_free(inv);
  tls_rig_fini(&r);
}

static void test_tls_client_on_plain_port(void **state) {
  (void)state;
  tls_rig r;
  tls_rig_init(&r, NET_TCP, &server_cert, IRPC_TLS_CLIENT_AUTH_NONE, ca, NULL);
  /* A second, plain server. */
  irpc_server *plain;
  irpc_server_options so;
  irpc_server_options_init(&so);
  assert_irpc_ok(irpc_server_new(&plain, &r.net.loop,
                                 irpc_router_dispatcher(r.net.router), &so));
  int closed = 0;
  irpc_server_on_connection(plain, NULL, on_conn_closed, &closed);
  char bound[128];
  assert_irpc_ok(
      irpc_server_listen(plain, "icerpc://127.0.0.1:0", bound, sizeof bound));
  irpc_invoker *inv;
  assert_irpc_ok(
      irpc_client_connection_new(&inv, &r.net.loop, bound, &r.net.copts));
  assert_irpc_err(call(&r, inv, "tls"), UV_ECONNRESET);
  kit_run_until(&r.net.loop, &closed);
  assert_int_equal(closed, IRPC_ETLSPEER);
  irpc_invoker_free(inv);
  irpc_server_free(plain);
  tls_rig_fini(&r);
}

/* ---- Options ---- */

static void test_ssl_address_requires_tls(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_invoker *inv = NULL;
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  assert_irpc_err(irpc_client_connection_new(
                      &inv, &loop, "ice://127.0.0.1:4061/x?transport=ssl", &co),
                  IRPC_EINVAL);
  irpc_router *router;
  assert_irpc_ok(irpc_router_new(&router, &loop));
  irpc_server *s;
  assert_irpc_ok(
      irpc_server_new(&s, &loop, irpc_router_dispatcher(router), NULL));
  assert_irpc_err(
      irpc_server_listen(s, "ice://127.0.0.1:0?transport=ssl", NULL, 0),
      IRPC_EINVAL);
  irpc_server_free(s);
  irpc_router_free(router);
  test_loop_finish(&loop);
}

static void test_options_errors(void **state) {
  (void)state;
  irpc_tls_options o;
  irpc_tls_server *s = NULL;
  irpc_tls_client *c = NULL;
  /* A server needs a certificate. */
  kit_tls_options(&o, NULL, ca);
  assert_irpc_err(irpc_tls_server_new(&s, &o), IRPC_EINVAL);
  /* A certificate without its key, or the reverse. */
  kit_tls_options(&o, &server_cert, NULL);
  o.key_pem = NULL;
  assert_irpc_err(irpc_tls_server_new(&s, &o), IRPC_EINVAL);
  assert_irpc_err(irpc_tls_client_new(&c, &o), IRPC_EINVAL);
  /* A source given twice. */
  kit_tls_options(&o, &server_cert, NULL);
  o.cert_file = "/nonexistent.pem";
  assert_irpc_err(irpc_tls_server_new(&s, &o), IRPC_EINVAL);
  /* A file that cannot be read, PEM that does not parse, a key of another
   * certificate, roots that hold no certificate. */
  kit_tls_options(&o, NULL, NULL);
  o.cert_file = "/nonexistent/cert.pem";
  o.key_file = "/nonexistent/key.pem";
  assert_irpc_err(irpc_tls_server_new(&s, &o), IRPC_ETLSCONFIG);
  kit_tls_options(&o, &server_cert, NULL);
  o.cert_pem = "not PEM";
  assert_irpc_err(irpc_tls_server_new(&s, &o), IRPC_ETLSCONFIG);
  kit_tls_options(&o, &server_cert, NULL);
  o.key_pem = client_cert.key_pem;
  assert_irpc_err(irpc_tls_server_new(&s, &o), IRPC_ETLSCONFIG);
  kit_tls_options(&o, NULL, NULL);
  o.ca_pem = "garbage";
  assert_irpc_err(irpc_tls_client_new(&c, &o), IRPC_ETLSCONFIG);
  /* Versions and client authentication out of range, a bad size. */
  kit_tls_options(&o, &server_cert, NULL);
  o.min_version = 0x0301;
  assert_irpc_err(irpc_tls_server_new(&s, &o), IRPC_EINVAL);
  kit_tls_options(&o, &server_cert, NULL);
  o.client_auth = (irpc_tls_client_auth)7;
  assert_irpc_err(irpc_tls_server_new(&s, &o), IRPC_EINVAL);
  kit_tls_options(&o, &server_cert, NULL);
  o.struct_size = 0;
  assert_irpc_err(irpc_tls_server_new(&s, &o), IRPC_EINVAL);
  assert_irpc_err(irpc_tls_server_new(NULL, &o), IRPC_EINVAL);
  assert_irpc_err(irpc_tls_client_new(&c, NULL), IRPC_EINVAL);
  assert_irpc_err(irpc_transport_tls_new(NULL, NULL, NULL, NULL), IRPC_EINVAL);
  irpc_transport *t;
  assert_irpc_err(irpc_transport_tls_new(&t, NULL, NULL, NULL), IRPC_EINVAL);
  /* Rotation to a bad certificate changes nothing. */
  kit_tls_options(&o, &server_cert, NULL);
  assert_irpc_ok(irpc_tls_server_new(&s, &o));
  o.key_pem = client_cert.key_pem;
  assert_irpc_err(irpc_tls_server_set_certificate(s, &o), IRPC_ETLSCONFIG);
  o.key_pem = NULL;
  o.cert_pem = NULL;
  assert_irpc_err(irpc_tls_server_set_certificate(s, &o), IRPC_EINVAL);
  assert_irpc_err(irpc_tls_server_set_certificate(NULL, &o), IRPC_EINVAL);
  irpc_tls_server_free(s);
  irpc_tls_client_free(NULL);
  irpc_tls_server_free(NULL);
  assert_int_equal(irpc_tls_available(), 1);
  assert_string_equal(irpc_err_name(IRPC_ETLSNOCERT), "IRPC_ETLSNOCERT");
}

/* ---- Resumption and rotation ---- */

static void test_session_resumption(void **state) {
  (void)state;
  tls_rig r;
  tls_rig_init(&r, NET_TCP, &server_cert, IRPC_TLS_CLIENT_AUTH_NONE, ca, NULL);
  irpc_invoker *inv = net_client(&r.net);
  assert_irpc_ok(call_and_view(&r, inv));
  assert_int_equal(client_resumed, 0);
  net_client_close(&r.net, inv);
  inv = net_client(&r.net);
  assert_irpc_ok(call_and_view(&r, inv));
  assert_int_equal(client_resumed, 1);
  assert_string_equal(client_subject, "CN=server,O=irpc tests");
  net_client_close(&r.net, inv);
  tls_rig_fini(&r);
}

static void test_certificate_rotation(void **state) {
  (void)state;
  tls_rig r;
  tls_rig_init(&r, NET_TCP, &server_cert, IRPC_TLS_CLIENT_AUTH_NONE, ca, NULL);
  irpc_invoker *before = net_client(&r.net);
  assert_irpc_ok(call_and_view(&r, before));
  assert_string_equal(client_subject, "CN=server,O=irpc tests");
  kit_cert next = kit_ca_server(ca, "server-2");
  irpc_tls_options o;
  kit_tls_options(&o, &next, NULL);
  assert_irpc_ok(irpc_tls_server_set_certificate(r.server, &o));
  /* A new connection (a fresh client: no session to resume) gets the new
   * certificate; the established one keeps working. */
  irpc_tls_client *fresh;
  kit_tls_options(&o, NULL, ca);
  o.session_cache_size = 0;
  assert_irpc_ok(irpc_tls_client_new(&fresh, &o));
  irpc_connection_options co = r.net.copts;
  co.tls_client = fresh;
  irpc_invoker *after;
  assert_irpc_ok(
      irpc_client_connection_new(&after, &r.net.loop, r.net.bound, &co));
  assert_irpc_ok(call_and_view(&r, after));
  assert_string_equal(client_subject, "CN=server-2,O=irpc tests");
  assert_int_equal(client_resumed, 0);
  assert_irpc_ok(call_and_view(&r, before));
  assert_string_equal(client_subject, "CN=server,O=irpc tests");
  net_client_close(&r.net, after);
  net_client_close(&r.net, before);
  irpc_tls_client_free(fresh);
  kit_cert_free(&next);
  tls_rig_fini(&r);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_icerpc_over_tls_tcp),
      cmocka_unit_test(test_icerpc_over_tls_uds),
      cmocka_unit_test(test_server_identity_reaches_client),
      cmocka_unit_test(test_mtls_required_with_certificate),
      cmocka_unit_test(test_abrupt_client_free),
      cmocka_unit_test(test_mtls_required_without_certificate),
      cmocka_unit_test(test_mtls_optional),
      cmocka_unit_test(test_unknown_ca),
      cmocka_unit_test(test_expired_certificate),
      cmocka_unit_test(test_wrong_host),
      cmocka_unit_test(test_plain_client_on_tls_port),
      cmocka_unit_test(test_tls_client_on_plain_port),
      cmocka_unit_test(test_ssl_address_requires_tls),
      cmocka_unit_test(test_options_errors),
      cmocka_unit_test(test_session_resumption),
      cmocka_unit_test(test_certificate_rotation),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
