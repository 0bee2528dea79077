/* Every allocation failing in turn over TLS: a new client connection's
 * first call (TCP connect, TLS handshake on both sides, the icerpc
 * handshake, the call and its echo) with the Nth allocation from the
 * invoke on failing, for N = 1, 2, ... until none fails; then the same for
 * a call on an established TLS connection. Client and server run in this
 * process, so both sides' allocations fail in turn. Each call completes
 * exactly once, with the echo or an error that names a cause (out of
 * memory, or the connection it ended); nothing leaks (the allocator's live
 * count, and ASan); and a call on a new connection succeeds after each
 * failure.
 *
 * By default the allocations swept are irpc's (the TLS layer's engine
 * state, buffers, peer identity strings, session keys, the connection and
 * the call). With --openssl OpenSSL's own allocations go through the same
 * failing allocator (CRYPTO_set_mem_functions, before OpenSSL's first
 * use): the sweep then also fails each of the engine's allocations, which
 * the glue must turn into an error of the handshake or of the connection
 * (a handshake needs some 3,000 allocations: `--openssl 7` fails every
 * seventh, to keep the run short).
 * The library itself never changes OpenSSL's allocator: that is process
 * wide, and belongs to the application. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kit/net.h"
#include "kit/tls.h"

static int route_openssl;
static long stride = 1; /* every allocation, or every stride-th */
static kit_ca *ca;
static kit_cert server_cert;

static void *ossl_malloc(size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  return irpc_malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  return irpc_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line) {
  (void)file;
  (void)line;
  irpc_free(p);
}

static int group_setup(void **state) {
  (void)state;
  ca = kit_ca_new("allocation CA");
  server_cert = kit_ca_server(ca, "server");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  kit_cert_free(&server_cert);
  kit_ca_free(ca);
  return 0;
}

typedef struct fx {
  net_rig n;
  irpc_tls_server *server;
  irpc_tls_client *client;
  int hs_errors;
} fx;

static void on_hs_error(int err, const char *remote, void *ud) {
  (void)remote;
  fx *f = ud;
  assert_true(err < 0);
  f->hs_errors++;
}

static void fx_init(fx *f) {
  memset(f, 0, sizeof(*f));
  net_rig_init(&f->n, NET_TCP);
  irpc_tls_options o;
  kit_tls_options(&o, &server_cert, ca);
  o.on_handshake_error = on_hs_error;
  o.user_data = f;
  assert_irpc_ok(irpc_tls_server_new(&f->server, &o));
  kit_tls_options(&o, NULL, ca);
  o.session_cache_size = 0; /* every connection does a full handshake */
  assert_irpc_ok(irpc_tls_client_new(&f->client, &o));
  f->n.sopts.connection.tls_server = f->server;
  f->n.copts.tls_client = f->client;
  net_map(&f->n, "/echo", &kit_echo_oom_ops, NULL);
  net_rig_start(&f->n);
}

static void fx_fini(fx *f) {
  net_rig_fini(&f->n);
  irpc_tls_client_free(f->client);
  irpc_tls_server_free(f->server);
}

/* Runs the loop until the server holds no connection. */
static void drain(fx *f) {
  while (irpc_server_connections(f->n.server, NULL, 0) > 0)
    uv_run(&f->n.loop, UV_RUN_ONCE);
}

#define SIZE (40 << 10) /* several records each way */

static const uint8_t *payload(void) {
  static uint8_t data[SIZE];
  for (size_t i = 0; i < SIZE; i++)
    data[i] = (uint8_t)(i * 7 + i / 1000);
  return data;
}

/* What the failing calls ended with. */
typedef struct tally {
  long ok, refused, enomem, reset, closed, tls, truncated, status, other;
} tally;

/* Checks one call's end: exactly one completion, and an error that names
 * a cause. */
static void check_end(tally *t, int rc, const net_result *o, int untouched) {
  if (rc != 0) {
    assert_int_equal(rc, IRPC_ENOMEM); /* refused before it started */
    assert_int_equal(o->done, 0);
    t->refused++;
    return;
  }
  assert_int_equal(o->done, 1);
  if (untouched) {
    assert_irpc_ok(o->err);
    assert_int_equal(o->status, IRPC_STATUS_OK);
  }
  switch (o->err) {
  case 0:
    if (o->status == IRPC_STATUS_OK) {
      assert_int_equal(irpc_buf_len(o->payload), SIZE);
      assert_true(irpc_buf_equals(o->payload, payload(), SIZE));
      t->ok++;
    } else {
      t->status++;
    }
    break;
  case IRPC_ENOMEM:
    t->enomem++;
    break;
  case UV_ECONNRESET:
  case UV_ECONNABORTED:
  case UV_EOF:
  case UV_EPIPE:
    t->reset++;
    break;
  case IRPC_ECLOSED:
  case IRPC_ECLOSEDBYPEER:
  case IRPC_EABORTED:
  case IRPC_ENOCONN:
  case IRPC_EREFUSED:
    t->closed++;
    break;
  case IRPC_ETLS:
    t->tls++;
    break;
  case IRPC_ETRUNCATED: /* the peer's side of a stream ended early */
    t->truncated++;
    break;
  default:
    print_message("unexpected error %d (%s)\n", o->err, irpc_strerror(o->err));
    t->other++;
    break;
  }
}

/* One call of SIZE bytes on `inv` with the Nth allocation from the invoke
 * failing (0: none); returns what the invoke returned, and in *untouched
 * whether no allocation failed. */
static int call_at(fx *f, irpc_invoker *inv, long n, net_result *o,
                   int *untouched) {
  irpc_outgoing_request *req = kit_request("/echo", payload(), SIZE);
  if (getenv("TLS_ALLOC_TRACE"))
    fprintf(stderr, "call with allocation %ld failing\n", n);
  test_alloc.fail_at = n;
  int rc = irpc_invoke(inv, req, net_on_result, o, NULL);
  if (rc == 0)
    kit_run_until(&f->n.loop, &o->done);
  *untouched = n == 0 || test_alloc.fail_at > 0;
  test_alloc.fail_at = 0;
  irpc_outgoing_request_free(req);
  return rc;
}

/* Checks the end of a call with the Nth allocation failing; returns 1 when
 * none failed (the sweep is over). */
static int call_failing_at(fx *f, irpc_invoker *inv, long n, tally *t) {
  net_result o = {0};
  assert_irpc_ok(irpc_buf_new(&o.payload));
  int untouched;
  int rc = call_at(f, inv, n, &o, &untouched);
  check_end(t, rc, &o, untouched);
  irpc_buf_free(o.payload);
  return untouched;
}

/* A call that may fail (a connection a failure has cost); 1 when it
 * echoed. */
static int call_works(fx *f, irpc_invoker *inv) {
  net_result o = {0};
  assert_irpc_ok(irpc_buf_new(&o.payload));
  int untouched;
  int rc = call_at(f, inv, 0, &o, &untouched);
  int ok = rc == 0 && o.done == 1 && o.err == 0 && o.status == IRPC_STATUS_OK &&
           irpc_buf_len(o.payload) == SIZE;
  irpc_buf_free(o.payload);
  return ok;
}

/* A call on a new connection that must succeed. */
static void call_ok(fx *f) {
  irpc_invoker *inv = net_client(&f->n);
  tally t = {0};
  assert_int_equal(call_failing_at(f, inv, 0, &t), 1);
  assert_int_equal(t.ok, 1);
  net_client_close(&f->n, inv);
}

static void report(const char *what, long n, const tally *t) {
  print_message("%s: %ld allocations (1 in %ld) failed in turn (%s): "
                "refused %ld, "
                "ENOMEM %ld, connection reset/closed %ld/%ld, ETLS %ld, "
                "truncated %ld, error status %ld, succeeded anyway %ld\n",
                what, n, stride,
                route_openssl ? "irpc's and OpenSSL's" : "irpc's", t->refused,
                t->enomem, t->reset, t->closed, t->tls, t->truncated, t->status,
                t->ok);
  assert_int_equal(t->other, 0);
}

/* A new connection each time: connect, both handshakes, the call. */
static void test_handshake_and_call(void **state) {
  (void)state;
  long live = test_alloc.live;
  fx f;
  fx_init(&f);
  call_ok(&f); /* what is made once (the contexts' transports) is made */
  tally t = {0};
  long n = 1;
  for (;; n += stride) {
    assert_true(n < 100000);
    irpc_invoker *inv = net_client(&f.n);
    int over = call_failing_at(&f, inv, n, &t);
    irpc_invoker_free(inv); /* aborts whatever is left of it */
    drain(&f);
    if (over)
      break;
    call_ok(&f);
  }
  report("a TLS connection's first call", n - stride, &t);
  fx_fini(&f);
  if (!route_openssl)
    assert_int_equal(test_alloc.live, live);
}

/* One established connection: the call alone. A failure may cost the
 * connection; a new one replaces it. */
static void test_call_on_connection(void **state) {
  (void)state;
  long live = test_alloc.live;
  fx f;
  fx_init(&f);
  irpc_invoker *inv = net_client(&f.n);
  tally t = {0};
  assert_true(call_works(&f, inv)); /* connected, warm */
  long n = 1;
  for (;; n += stride) {
    assert_true(n < 100000);
    int over = call_failing_at(&f, inv, n, &t);
    if (over)
      break;
    /* Still usable, or replaced by a new connection. */
    if (!call_works(&f, inv)) {
      irpc_invoker_free(inv);
      drain(&f);
      inv = net_client(&f.n);
      assert_true(call_works(&f, inv));
    }
  }
  report("a call on an established TLS connection", n - stride, &t);
  net_client_close(&f.n, inv);
  fx_fini(&f);
  if (!route_openssl)
    assert_int_equal(test_alloc.live, live);
}

int main(int argc, char **argv) {
  /* --openssl [STRIDE]: OpenSSL's allocations too, every STRIDE-th. */
  route_openssl = argc > 1 && strcmp(argv[1], "--openssl") == 0;
  if (route_openssl && argc > 2)
    stride = atol(argv[2]) > 0 ? atol(argv[2]) : 1;
  /* Before OpenSSL's first allocation, or it refuses. */
  if (route_openssl &&
      !CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
    fprintf(stderr, "OpenSSL's allocator cannot be set any more\n");
    return 1;
  }
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_and_call),
      cmocka_unit_test(test_call_on_connection),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
