/* irpc-bench rpc --tls: icerpc over TLS against plain TCP, in one run.
 *
 * Client and server on one loop, one thread, over loopback TCP; the same
 * figures for plain TCP and for TLS (TLS 1.3, P-256 certificate made for
 * the run, the client verifying it):
 *   latency      empty two-way calls one at a time (p50, p99);
 *   inflight_64  calls per second with 64 calls in flight;
 *   echo_1MiB    1 MiB echo calls one at a time, MB/s of request payload
 *                (tuned Slic window and frame sizes);
 *   handshakes   connections established per second (transport connect,
 *                TLS handshake, Slic handshake; a fresh client each time,
 *                so TLS handshakes are full), and over TLS again with a
 *                client that resumes its session.
 * The last column is the TLS figure divided by the TCP one.
 *
 * irpc-bench serve takes TLS options (bench_tls_server_options). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "bench_rpc.h"
#include "bench_tls.h"

/* ---- A certificate for the run ---- */

static char *pem_of(int cert, void *obj) {
  BIO *b = BIO_new(BIO_s_mem());
  if (cert)
    PEM_write_bio_X509(b, obj);
  else
    PEM_write_bio_PrivateKey(b, obj, NULL, NULL, 0, NULL, NULL);
  char *p;
  long n = BIO_get_mem_data(b, &p);
  char *s = malloc((size_t)n + 1);
  if (s) {
    memcpy(s, p, (size_t)n);
    s[n] = 0;
  }
  BIO_free(b);
  return s;
}

/* A self-signed certificate for 127.0.0.1, its own trust root. */
static int make_cert(char **cert, char **key) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  if (!k || !x)
    return -1;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, k);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             (const unsigned char *)"irpc-bench", -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  X509_EXTENSION *e =
      X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
  X509_sign(x, k, EVP_sha256());
  *cert = pem_of(1, x);
  *key = pem_of(0, k);
  X509_free(x);
  EVP_PKEY_free(k);
  return *cert && *key ? 0 : -1;
}

/* ---- Calls ---- */

static void on_connected(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  *(int *)ud = status ? status : 1;
}

static void close_client(uv_loop_t *loop, irpc_invoker *inv) {
  bench_client_shutdown(loop, inv);
  irpc_invoker_free(inv);
}

/* ---- One side of the comparison ---- */

typedef struct figures {
  double p50, p99, rate64, mbps, handshakes, resumed;
} figures;

static irpc_invoker *client(uv_loop_t *loop, const char *addr,
                            irpc_tls_client *tls, int tuned) {
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  irpc_icerpc_options io;
  irpc_icerpc_options_init(&io);
  if (tuned) {
    io.initial_stream_window_size = BENCH_TUNED_WINDOW;
    io.max_stream_frame_size = BENCH_TUNED_FRAME;
  }
  o.icerpc = &io;
  o.tls_client = tls;
  irpc_invoker *inv = NULL;
  if (irpc_client_connection_new(&inv, loop, addr, &o)) {
    fprintf(stderr, "client setup failed\n");
    exit(1);
  }
  return inv;
}

/* Connections established per second: connect, then abort at once. */
static double handshakes(uv_loop_t *loop, const char *addr,
                         irpc_tls_client *tls, double seconds) {
  uint64_t n = 0, t0 = bench_now_ns(), limit = (uint64_t)(seconds * 1e9);
  while (bench_now_ns() - t0 < limit || n < 20) {
    irpc_invoker *inv = client(loop, addr, tls, 0);
    int up = 0;
    if (irpc_client_connection_connect(inv, on_connected, &up) == 0)
      while (!up)
        uv_run(loop, UV_RUN_ONCE);
    if (up != 1) {
      fprintf(stderr, "connect failed: %s\n", irpc_strerror(up));
      exit(1);
    }
    close_client(loop, inv);
    n++;
  }
  return (double)n / ((double)(bench_now_ns() - t0) / 1e9);
}

static void measure(figures *f, double seconds, irpc_tls_server *stls,
                    irpc_tls_client *ctls, irpc_tls_client *resuming) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_router *router;
  irpc_dispatcher *echo;
  irpc_server *server;
  irpc_server_options so;
  irpc_server_options_init(&so);
  irpc_icerpc_options sio;
  irpc_icerpc_options_init(&sio);
  sio.initial_stream_window_size = BENCH_TUNED_WINDOW;
  sio.max_stream_frame_size = BENCH_TUNED_FRAME;
  so.connection.icerpc = &sio;
  so.connection.tls_server = stls;
  char bound[256];
  if (bench_echo_router(&router, &echo, &loop, 0) ||
      irpc_server_new(&server, &loop, irpc_router_dispatcher(router), &so) ||
      irpc_server_listen(server, "icerpc://127.0.0.1:0", bound, sizeof bound)) {
    fprintf(stderr, "server setup failed\n");
    exit(1);
  }
  bench_calls k = {.loop = &loop, .inv = client(&loop, bound, ctls, 1)};
  irpc_outgoing_request_new(&k.req, "/echo", "op");
  bench_calls_run(&k, 1, 2000, NULL); /* connect and warm up */

  uint64_t n = (uint64_t)(seconds * 15000);
  n = n < 2000 ? 2000 : n;
  uint64_t *lat = calloc(n, sizeof(*lat));
  bench_calls_run(&k, 1, n, lat);
  f->p50 = bench_pct_us(lat, n, 0.5);
  f->p99 = bench_pct_us(lat, n, 0.99);
  free(lat);

  uint64_t m = (uint64_t)(seconds * 100000);
  m = m < 256 ? 256 : m;
  f->rate64 = (double)m / ((double)bench_calls_run(&k, 64, m, NULL) / 1e9);

  size_t mib = 1u << 20;
  void *blob = calloc(1, mib);
  irpc_buf_append(irpc_outgoing_request_payload(k.req), blob, mib);
  free(blob);
  bench_calls_run(&k, 1, 3, NULL);
  uint64_t b = (uint64_t)(seconds * 400);
  b = b < 20 ? 20 : b;
  f->mbps = (double)b * (double)mib /
            ((double)bench_calls_run(&k, 1, b, NULL) / 1e9) / 1e6;
  if (k.failed)
    fprintf(stderr, "%llu calls failed\n", (unsigned long long)k.failed);
  close_client(&loop, k.inv);
  irpc_outgoing_request_free(k.req);

  f->handshakes = handshakes(&loop, bound, ctls, seconds / 2);
  f->resumed = resuming ? handshakes(&loop, bound, resuming, seconds / 2) : 0;

  irpc_server_free(server);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_router_free(router);
  irpc_dispatcher_free(echo);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

static void put(bench_json *j, const char *transport, const figures *f) {
  bench_json_begin(j);
  bench_json_str(j, "transport", transport);
  bench_json_num(j, "p50_us", f->p50);
  bench_json_num(j, "p99_us", f->p99);
  bench_json_num(j, "inflight_64_calls_per_s", f->rate64);
  bench_json_num(j, "echo_1MiB_mb_per_s", f->mbps);
  bench_json_num(j, "handshakes_per_s", f->handshakes);
  if (f->resumed > 0)
    bench_json_num(j, "resumed_handshakes_per_s", f->resumed);
  bench_json_end(j);
}

int bench_tls_run(double seconds, bench_json *j) {
  char *cert, *key;
  if (make_cert(&cert, &key)) {
    fprintf(stderr, "certificate generation failed\n");
    return 1;
  }
  irpc_tls_options o;
  irpc_tls_options_init(&o);
  o.cert_pem = cert;
  o.key_pem = key;
  o.ca_pem = cert;
  irpc_tls_server *stls;
  irpc_tls_client *fresh, *resuming;
  int rc = irpc_tls_server_new(&stls, &o);
  irpc_tls_options c;
  irpc_tls_options_init(&c);
  c.ca_pem = cert;
  c.session_cache_size = 0;
  if (rc == 0)
    rc = irpc_tls_client_new(&fresh, &c);
  c.session_cache_size = 64;
  if (rc == 0)
    rc = irpc_tls_client_new(&resuming, &c);
  free(cert);
  free(key);
  if (rc) {
    fprintf(stderr, "TLS setup failed: %s\n", irpc_strerror(rc));
    return 1;
  }
  figures tcp, tls;
  measure(&tcp, seconds, NULL, NULL, NULL);
  measure(&tls, seconds, stls, fresh, resuming);
  printf("icerpc over loopback TCP, client and server on one loop, one "
         "thread; TLS 1.3 with a P-256 certificate\n");
  printf("%-22s %12s %12s %8s\n", "", "tcp", "tls", "tls/tcp");
  printf("%-22s %12.1f %12.1f %8.2f\n", "latency p50 (us)", tcp.p50, tls.p50,
         tls.p50 / tcp.p50);
  printf("%-22s %12.1f %12.1f %8.2f\n", "latency p99 (us)", tcp.p99, tls.p99,
         tls.p99 / tcp.p99);
  printf("%-22s %12.0f %12.0f %8.2f\n", "64 in flight (calls/s)", tcp.rate64,
         tls.rate64, tls.rate64 / tcp.rate64);
  printf("%-22s %12.0f %12.0f %8.2f\n", "1 MiB echo (MB/s)", tcp.mbps, tls.mbps,
         tls.mbps / tcp.mbps);
  printf("%-22s %12.0f %12.0f %8.2f\n", "handshakes/s", tcp.handshakes,
         tls.handshakes, tls.handshakes / tcp.handshakes);
  printf("%-22s %12s %12.0f %8.2f\n", "  resumed", "", tls.resumed,
         tls.resumed / tcp.handshakes);
  put(j, "tcp", &tcp);
  put(j, "tls", &tls);
  irpc_tls_client_free(fresh);
  irpc_tls_client_free(resuming);
  irpc_tls_server_free(stls);
  return 0;
}

int bench_tls_server_options(irpc_server_options *so, const char *cert,
                             const char *key, const char *ca,
                             const char *client_auth, irpc_tls_server **out) {
  irpc_tls_options o;
  irpc_tls_options_init(&o);
  o.cert_file = cert;
  o.key_file = key;
  o.ca_file = ca;
  if (!client_auth || !strcmp(client_auth, "none"))
    o.client_auth = IRPC_TLS_CLIENT_AUTH_NONE;
  else if (!strcmp(client_auth, "optional"))
    o.client_auth = IRPC_TLS_CLIENT_AUTH_OPTIONAL;
  else if (!strcmp(client_auth, "required"))
    o.client_auth = IRPC_TLS_CLIENT_AUTH_REQUIRED;
  else
    return IRPC_EINVAL;
  int rc = irpc_tls_server_new(out, &o);
  if (rc == 0)
    so->connection.tls_server = *out;
  return rc;
}
