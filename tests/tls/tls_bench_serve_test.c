/* irpc-bench serve with TLS options, as a child process: a client with a
 * certificate calls its echo over TLS, a client without one is refused
 * (--tls-client-auth required), a bad option value makes it exit with an
 * error, and SIGTERM stops it gracefully. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kit/net.h"
#include "kit/peer.h"
#include "kit/tls.h"

#ifndef IRPC_BENCH_PROGRAM
#error "IRPC_BENCH_PROGRAM: the path of irpc-bench"
#endif

static char dir[64];
static kit_ca *ca;
static kit_cert server_cert, client_cert;

static void write_file(const char *name, const char *text) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void remove_file(const char *name) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  unlink(path);
}

static int group_setup(void **state) {
  (void)state;
  ca = kit_ca_new("serve CA");
  server_cert = kit_ca_server(ca, "serve");
  client_cert = kit_ca_issue(ca, "bench-client", NULL, -60, 86400);
  strcpy(dir, "/tmp/irpc-serve-tls-XXXXXX");
  assert_non_null(mkdtemp(dir));
  write_file("ca.pem", kit_ca_pem(ca));
  write_file("cert.pem", server_cert.cert_pem);
  write_file("key.pem", server_cert.key_pem);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  remove_file("ca.pem");
  remove_file("cert.pem");
  remove_file("key.pem");
  rmdir(dir);
  kit_cert_free(&server_cert);
  kit_cert_free(&client_cert);
  kit_ca_free(ca);
  return 0;
}

static int start(kit_peer *p, uv_loop_t *loop, const char *auth) {
  char cert[96], key[96], cafile[96];
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  snprintf(key, sizeof key, "%s/key.pem", dir);
  snprintf(cafile, sizeof cafile, "%s/ca.pem", dir);
  const char *argv[] = {IRPC_BENCH_PROGRAM,
                        "serve",
                        "--tls-cert",
                        cert,
                        "--tls-key",
                        key,
                        "--tls-ca",
                        cafile,
                        "--tls-client-auth",
                        auth,
                        "icerpc://127.0.0.1:0",
                        NULL};
  memset(p, 0, sizeof(*p));
  return kit_peer_start(p, loop, argv, NULL);
}

static int echo(uv_loop_t *loop, const char *addr, const kit_cert *cert) {
  irpc_tls_options o;
  kit_tls_options(&o, cert, ca);
  irpc_tls_client *tls;
  assert_irpc_ok(irpc_tls_client_new(&tls, &o));
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  co.tls_client = tls;
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, loop, addr, &co));
  irpc_outgoing_request *req = kit_request("/echo", "over TLS", 8);
  irpc_buf *got;
  assert_irpc_ok(irpc_buf_new(&got));
  net_result res = {.payload = got};
  net_call_sync(loop, inv, req, &res);
  if (res.err == 0) {
    assert_int_equal(res.status, IRPC_STATUS_OK);
    assert_true(irpc_buf_equals(got, "over TLS", 8));
  }
  irpc_buf_free(got);
  irpc_outgoing_request_free(req);
  irpc_invoker_free(inv);
  irpc_tls_client_free(tls);
  return res.err;
}

static void test_serve_over_tls(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  kit_peer p;
  assert_irpc_ok(start(&p, &loop, "required"));
  const char *port = kit_peer_wait_line(&p, "icerpc://127.0.0.1:", 30000);
  assert_non_null(port);
  char addr[64];
  snprintf(addr, sizeof addr, "icerpc://127.0.0.1:%s", port);
  assert_irpc_ok(echo(&loop, addr, &client_cert));
  assert_irpc_err(echo(&loop, addr, NULL), IRPC_ETLSNOCERT);
  assert_int_equal(kit_peer_stop(&p, SIGTERM, 30000), 0);
  test_loop_finish(&loop);
}

static void test_serve_bad_client_auth(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  kit_peer p;
  assert_irpc_ok(start(&p, &loop, "sometimes"));
  assert_int_equal(kit_peer_wait_exit(&p, 30000), 0);
  assert_int_not_equal(p.exit_status, 0);
  kit_peer_stop(&p, SIGTERM, 1000);
  test_loop_finish(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_serve_over_tls),
      cmocka_unit_test(test_serve_bad_client_auth),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
