/* A foreign TLS client against an irpc server: `openssl s_client` (the
 * openssl command, skipped when it is not installed) completes a handshake
 * with ALPN icerpc and the server's choice of cipher suite, and verifies
 * the server's certificate; offering only another ALPN name is refused on
 * both sides. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kit/net.h"
#include "kit/peer.h"
#include "kit/tls.h"

typedef struct fx {
  net_rig r;
  kit_ca *ca;
  kit_cert cert;
  irpc_tls_server *tls;
  int errors, last_error;
  char dir[64], ca_path[128], port[16];
} fx;

static void on_hs_error(int err, const char *remote, void *ud) {
  (void)remote;
  fx *f = ud;
  f->errors++;
  f->last_error = err;
}

static void fx_init(fx *f) {
  memset(f, 0, sizeof(*f));
  net_rig_init(&f->r, NET_TCP);
  f->ca = kit_ca_new("s_client CA");
  f->cert = kit_ca_server(f->ca, "server");
  irpc_tls_options o;
  kit_tls_options(&o, &f->cert, NULL);
  o.on_handshake_error = on_hs_error;
  o.user_data = f;
  assert_irpc_ok(irpc_tls_server_new(&f->tls, &o));
  f->r.sopts.connection.tls_server = f->tls;
  net_map(&f->r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&f->r);
  const char *colon = strrchr(f->r.bound, ':');
  assert_non_null(colon);
  snprintf(f->port, sizeof f->port, "%d", atoi(colon + 1));
  strcpy(f->dir, "/tmp/irpc-sclient-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->ca_path, sizeof f->ca_path, "%s/ca.pem", f->dir);
  FILE *fp = fopen(f->ca_path, "w");
  assert_non_null(fp);
  fputs(kit_ca_pem(f->ca), fp);
  fclose(fp);
}

static void fx_fini(fx *f) {
  unlink(f->ca_path);
  rmdir(f->dir);
  net_rig_fini(&f->r);
  irpc_tls_server_free(f->tls);
  kit_cert_free(&f->cert);
  kit_ca_free(f->ca);
}

/* Starts s_client offering `alpn`; 0, or UV_ENOENT without the command. */
static int s_client(fx *f, kit_peer *p, const char *alpn) {
  char connect[64];
  snprintf(connect, sizeof connect, "127.0.0.1:%s", f->port);
  const char *argv[] = {"openssl",
                        "s_client",
                        "-connect",
                        connect,
                        "-alpn",
                        alpn,
                        "-CAfile",
                        f->ca_path,
                        "-verify_ip",
                        "127.0.0.1",
                        "-verify_return_error",
                        NULL};
  return kit_peer_start(p, &f->r.loop, argv, NULL);
}

static void test_s_client_handshake(void **state) {
  (void)state;
  fx f;
  fx_init(&f);
  kit_peer p;
  memset(&p, 0, sizeof p);
  int rc = s_client(&f, &p, "icerpc");
  if (rc == UV_ENOENT) {
    fx_fini(&f);
    skip();
  }
  assert_irpc_ok(rc);
  const char *alpn = kit_peer_wait_line(&p, "ALPN protocol: ", 30000);
  assert_non_null(alpn);
  assert_string_equal(alpn, "icerpc");
  const char *verify = kit_peer_wait_line(&p, "Verify return code: ", 30000);
  assert_non_null(verify);
  assert_string_equal(verify, "0 (ok)");
  char line[256];
  assert_non_null(kit_peer_find_line(&p, "subject=", line, sizeof line));
  assert_non_null(strstr(line, "CN = server"));
  /* s_client lists AES-256-GCM first; the server's order wins. */
  assert_non_null(kit_peer_find_line(&p, "New, ", line, sizeof line));
  assert_non_null(strstr(line, "Cipher is TLS_AES_128_GCM_SHA256"));
  kit_peer_stop(&p, SIGTERM, 10000);
  assert_int_equal(f.errors, 0);
  fx_fini(&f);
}

static void test_s_client_other_alpn(void **state) {
  (void)state;
  fx f;
  fx_init(&f);
  kit_peer p;
  memset(&p, 0, sizeof p);
  int rc = s_client(&f, &p, "h2");
  if (rc == UV_ENOENT) {
    fx_fini(&f);
    skip();
  }
  assert_irpc_ok(rc);
  assert_int_equal(kit_peer_wait_exit(&p, 30000), 0);
  assert_int_not_equal(p.exit_status, 0);
  while (f.errors == 0)
    uv_run(&f.r.loop, UV_RUN_ONCE);
  assert_int_equal(f.last_error, IRPC_ETLSALPN);
  kit_peer_stop(&p, SIGTERM, 10000);
  fx_fini(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_s_client_handshake),
      cmocka_unit_test(test_s_client_other_alpn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
