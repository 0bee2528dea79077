/* ice over TLS with ZeroC Ice 3.7's IceSSL (Ice for Python, peer.py):
 *   - an Ice client calls an irpc ice server listening on
 *     `ice://127.0.0.1:0?transport=ssl` (Ice's `ssl -h ... -p ...`
 *     endpoint), verifying irpc's certificate, and presenting its own,
 *     which irpc requires and verifies;
 *   - an irpc client calls an IceSSL server at `transport=ssl`, verifying
 *     the Ice server's certificate.
 * Certificates are made at test time (kit/tls.h) and written to a
 * temporary folder for the Ice side, whose IceSSL settings go through an
 * Ice configuration file (--Ice.Config). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "interop.h"
#include "kit/net.h"
#include "kit/tls.h"

static kit_ca *ca;
static kit_cert server_cert, client_cert;
static char dir[64];

static void write_file(const char *name, const char *text) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static const char *const files[] = {"ca.pem",     "server.pem", "server.key",
                                    "client.pem", "client.key", "server.cfg",
                                    "client.cfg"};

static int group_setup(void **state) {
  (void)state;
  ca = kit_ca_new("IceSSL interop CA");
  server_cert = kit_ca_server(ca, "server");
  client_cert =
      kit_ca_issue(ca, "ice-client", "DNS:client.irpc.test", -60, 86400);
  strcpy(dir, "/tmp/irpc-icessl-XXXXXX");
  assert_non_null(mkdtemp(dir));
  write_file("ca.pem", kit_ca_pem(ca));
  write_file("server.pem", server_cert.cert_pem);
  write_file("server.key", server_cert.key_pem);
  write_file("client.pem", client_cert.cert_pem);
  write_file("client.key", client_cert.key_pem);
  char cfg[1024];
  /* The Ice server: its certificate, no client certificate asked. */
  snprintf(cfg, sizeof cfg,
           "Ice.Plugin.IceSSL=IceSSL:createIceSSL\n"
           "IceSSL.DefaultDir=%s\n"
           "IceSSL.CAs=ca.pem\n"
           "IceSSL.CertFile=server.pem\n"
           "IceSSL.KeyFile=server.key\n"
           "IceSSL.VerifyPeer=0\n",
           dir);
  write_file("server.cfg", cfg);
  /* The Ice client: verifies irpc's certificate and its name, and
   * presents its own. */
  snprintf(cfg, sizeof cfg,
           "Ice.Plugin.IceSSL=IceSSL:createIceSSL\n"
           "IceSSL.DefaultDir=%s\n"
           "IceSSL.CAs=ca.pem\n"
           "IceSSL.CertFile=client.pem\n"
           "IceSSL.KeyFile=client.key\n"
           "IceSSL.VerifyPeer=2\n"
           "IceSSL.CheckCertName=1\n",
           dir);
  write_file("client.cfg", cfg);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  char path[128];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
  kit_cert_free(&server_cert);
  kit_cert_free(&client_cert);
  kit_ca_free(ca);
  return 0;
}

/* The subject of the client certificate of the last dispatch. */
static char seen_subject[256];
static int seen_calls;

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const irpc_connection_info *ci = irpc_incoming_request_connection_info(req);
  seen_calls++;
  snprintf(seen_subject, sizeof seen_subject, "%s",
           ci && ci->tls ? ci->tls->subject : "(no TLS)");
  irpc_outgoing_response *resp;
  assert_irpc_ok(irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL));
  assert_irpc_ok(irpc_buf_move(irpc_outgoing_response_payload(resp),
                               irpc_incoming_request_payload(req)));
  assert_irpc_ok(irpc_dispatch_complete(d, resp));
}

static const irpc_dispatcher_ops echo_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .dispatch = echo_dispatch,
};

static void test_ice_client_calls_irpc_over_ssl(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_TCP);
  snprintf(r.listen, sizeof r.listen, "ice://127.0.0.1:0?transport=ssl");
  irpc_tls_server *tls;
  irpc_tls_options o;
  kit_tls_options(&o, &server_cert, ca);
  o.client_auth = IRPC_TLS_CLIENT_AUTH_REQUIRED;
  assert_irpc_ok(irpc_tls_server_new(&tls, &o));
  r.sopts.connection.tls_server = tls;
  irpc_ice_options io; /* room for echo_large's 10 MiB */
  irpc_ice_options_init(&io);
  io.max_message_size = 64u << 20;
  r.sopts.connection.ice = &io;
  net_map(&r, "/echo", &echo_ops, NULL);
  net_rig_start(&r);
  const char *colon = strrchr(r.bound, ':');
  assert_non_null(colon);
  char proxy[128], config[128];
  snprintf(proxy, sizeof proxy, "echo:ssl -h 127.0.0.1 -p %d -t 60000",
           atoi(colon + 1));
  snprintf(config, sizeof config, "--Ice.Config=%s/client.cfg", dir);
  const char *args[] = {"--proxy",  proxy,
                        "--checks", "echo_small,echo_large,echo_in_flight",
                        config,     NULL};
  kit_peer client;
  memset(&client, 0, sizeof client);
  seen_calls = 0;
  int status = interop_ice_run(&client, &r.loop, "echo", args);
  interop_expect_pass(&client, "echo_small");
  interop_expect_pass(&client, "echo_large");
  interop_expect_pass(&client, "echo_in_flight");
  assert_int_equal(status, 0);
  assert_true(seen_calls > 0);
  assert_string_equal(seen_subject, "CN=ice-client,O=irpc tests");
  kit_peer_stop(&client, SIGTERM, 10000);
  net_rig_fini(&r);
  irpc_tls_server_free(tls);
}

static void on_result(irpc_call *call, int err, irpc_incoming_response *resp,
                      void *ud) {
  (void)call;
  net_result *o = ud;
  o->done++;
  o->err = err;
  if (resp) {
    o->status = irpc_incoming_response_status(resp);
    irpc_buf_move(o->payload, irpc_incoming_response_payload(resp));
    irpc_incoming_response_free(resp);
  }
}

static void test_irpc_client_calls_icessl_server(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  char config[128];
  snprintf(config, sizeof config, "--Ice.Config=%s/server.cfg", dir);
  const char *extra[] = {"--endpoints", "ssl -h 127.0.0.1 -p 0", config, NULL};
  kit_peer server;
  memset(&server, 0, sizeof server);
  int port;
  char proxy[256];
  interop_ice_server_start(&server, &loop, extra, &port, proxy, sizeof proxy);
  assert_non_null(strstr(proxy, "ssl"));

  irpc_tls_client *tls;
  irpc_tls_options o;
  kit_tls_options(&o, NULL, ca);
  assert_irpc_ok(irpc_tls_client_new(&tls, &o));
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  co.tls_client = tls;
  char uri[128];
  snprintf(uri, sizeof uri, "ice://127.0.0.1:%d?transport=ssl", port);
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, &loop, uri, &co));
  /* Pinger::pings, no parameters: an empty payload (the protocol adds the
   * encapsulation header). */
  for (int i = 1; i <= 2; i++) {
    irpc_buf *payload;
    assert_irpc_ok(irpc_buf_new(&payload));
    irpc_outgoing_request *named;
    assert_irpc_ok(irpc_outgoing_request_new(&named, "/test", "pings"));
    net_result res = {.payload = payload};
    assert_irpc_ok(irpc_invoke(inv, named, on_result, &res, NULL));
    kit_run_until(&loop, &res.done);
    assert_irpc_ok(res.err);
    assert_int_equal(res.status, IRPC_STATUS_OK);
    /* One int, little endian: the calls this server answered. */
    uint8_t got[4];
    assert_int_equal(irpc_buf_len(payload), sizeof got);
    assert_irpc_ok(irpc_buf_copyout(payload, 0, got, sizeof got));
    assert_int_equal(got[0], i);
    assert_int_equal(got[1] | got[2] | got[3], 0);
    const irpc_connection_info *ci =
        irpc_outgoing_request_connection_info(named);
    assert_non_null(ci);
    assert_non_null(ci->tls);
    assert_string_equal(ci->tls->subject, "CN=server,O=irpc tests");
    assert_int_equal(ci->tls->peer_verified, 1);
    assert_string_equal(ci->tls->alpn, ""); /* IceSSL offers no ALPN */
    irpc_outgoing_request_free(named);
    irpc_buf_free(payload);
  }
  int done = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(inv, kit_status_cb, &done));
  kit_run_until(&loop, &done);
  irpc_invoker_free(inv);
  assert_int_equal(kit_peer_stop(&server, SIGTERM, 10000), 0);
  test_loop_finish(&loop);
  irpc_tls_client_free(tls);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ice_client_calls_irpc_over_ssl),
      cmocka_unit_test(test_irpc_client_calls_icessl_server),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
