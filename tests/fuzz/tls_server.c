/* libFuzzer target: arbitrary bytes against a TLS server connection.
 *
 * A TLS listener (irpc_tls_server_transport over the memory transport,
 * certificate made once with the OpenSSL API) accepts one raw client per
 * input; the client writes the input in pieces (the first byte picks the
 * piece size and how the client ends: FIN, close or abort), reads what
 * the server answers, and ends. The record layer and the handshake are
 * OpenSSL's; what this checks is the glue around them:
 *   - the server ends every connection exactly once: a handshake failure
 *     (on_handshake_error) or an accepted duplex, never both, never
 *     neither (no hang: the client's end always reaches the engine);
 *   - an accepted duplex gets the bytes that follow the handshake, and
 *     closes;
 *   - nothing leaks (LeakSanitizer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <irpc/irpc.h>

static uv_loop_t loop;
static irpc_transport *memory;
static irpc_tls_server *server;
static irpc_listener *listener;
static irpc_server_address *addr;

static int failures, accepted;
static int client_done;

static char *to_pem(int cert, void *obj) {
  BIO *b = BIO_new(BIO_s_mem());
  if (cert)
    PEM_write_bio_X509(b, obj);
  else
    PEM_write_bio_PrivateKey(b, obj, NULL, NULL, 0, NULL, NULL);
  char *p;
  long n = BIO_get_mem_data(b, &p);
  char *s = malloc((size_t)n + 1);
  memcpy(s, p, (size_t)n);
  s[n] = 0;
  BIO_free(b);
  return s;
}

static void make_identity(char **cert_pem, char **key_pem) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, k);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             (const unsigned char *)"fuzz", -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_sign(x, k, EVP_sha256());
  *cert_pem = to_pem(1, x);
  *key_pem = to_pem(0, k);
  X509_free(x);
  EVP_PKEY_free(k);
}

static void on_error(int err, const char *remote, void *ud) {
  (void)err;
  (void)remote;
  (void)ud;
  failures++;
}

/* ---- The accepted side: read until the end, then close ---- */

static void server_read(irpc_duplex *d, int status, const uint8_t *data,
                        size_t len, void *ud) {
  (void)data;
  (void)len;
  (void)ud;
  if (status < 0)
    irpc_duplex_close(d, NULL, NULL);
}

static void on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l;
  (void)ud;
  accepted++;
  if (!irpc_duplex_tls_info(d))
    abort(); /* accepted before its handshake completed */
  if (irpc_duplex_read_start(d, server_read, NULL) != 0)
    irpc_duplex_close(d, NULL, NULL);
}

static int init(void) {
  if (uv_loop_init(&loop) || irpc_transport_memory_new(&memory))
    abort();
  char *cert, *key;
  make_identity(&cert, &key);
  irpc_tls_options o;
  irpc_tls_options_init(&o);
  o.cert_pem = cert;
  o.key_pem = key;
  o.on_handshake_error = on_error;
  o.client_auth = IRPC_TLS_CLIENT_AUTH_OPTIONAL;
  if (irpc_tls_server_new(&server, &o))
    abort();
  free(cert);
  free(key);
  if (irpc_server_address_parse(&addr, "icerpc://fz?transport=memory") ||
      irpc_transport_listen(irpc_tls_server_transport(server, memory, 5000),
                            &loop, addr, on_accept, NULL, &listener))
    abort();
  return 0;
}

/* ---- The raw client ---- */

typedef struct client {
  irpc_duplex *d;
  const uint8_t *data;
  size_t len, off, piece;
  int ending; /* 0 FIN, 1 close, 2 abort */
  int connected, ended;
} client;

static void client_read(irpc_duplex *d, int status, const uint8_t *data,
                        size_t len, void *ud) {
  (void)d;
  (void)data;
  (void)len;
  client *c = ud;
  if (status < 0)
    c->ended = 1;
}

static void client_closed(irpc_duplex *d, int status, void *ud) {
  (void)d;
  (void)status;
  (void)ud;
  client_done = 1;
}

static void client_send(client *c);

static void client_wrote(irpc_duplex *d, int status, void *ud) {
  (void)d;
  client *c = ud;
  if (status < 0)
    c->off = c->len;
  client_send(c);
}

static void client_send(client *c) {
  if (c->off < c->len) {
    size_t n = c->len - c->off < c->piece ? c->len - c->off : c->piece;
    irpc_buf *b;
    if (irpc_buf_new(&b) || irpc_buf_append(b, c->data + c->off, n))
      abort();
    c->off += n;
    if (irpc_duplex_write(c->d, b, client_wrote, c) != 0) {
      c->off = c->len;
      irpc_buf_free(b);
      client_send(c);
      return;
    }
    irpc_buf_free(b);
    return;
  }
  if (c->ending == 0 && irpc_duplex_shutdown(c->d, NULL, NULL) == 0)
    return; /* close once the server ended too */
  if (c->ending == 2)
    irpc_duplex_abort(c->d, client_closed, c);
  else
    irpc_duplex_close(c->d, client_closed, c);
}

static void client_connected(irpc_duplex *d, int status, void *ud) {
  client *c = ud;
  if (status) {
    c->d = NULL;
    client_done = 1;
    return;
  }
  c->connected = 1;
  if (irpc_duplex_read_start(d, client_read, c) != 0)
    abort();
  client_send(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready)
    ready = !init();
  if (size < 1)
    return 0;
  client c;
  memset(&c, 0, sizeof c);
  c.piece = 1 + (size_t)(data[0] & 0x3f) * 37;
  c.ending = (data[0] >> 6) % 3;
  c.data = data + 1;
  c.len = size - 1;
  failures = accepted = client_done = 0;
  if (irpc_transport_connect(memory, &loop, addr, &c.d, client_connected, &c))
    abort();
  /* The server ends the connection (failure or accept) and the client
   * closes. A FIN-ending client closes once the server's end came back. */
  for (long turns = 0; !client_done; turns++) {
    if (c.connected && c.ending == 0 && c.off == c.len && c.ended &&
        !irpc_duplex_closing(c.d)) {
      irpc_duplex_close(c.d, client_closed, &c);
    }
    if (turns > 200000)
      abort(); /* a hang */
    uv_run(&loop, UV_RUN_ONCE);
  }
  for (long turns = 0; failures + accepted == 0; turns++) {
    if (turns > 200000)
      abort();
    uv_run(&loop, UV_RUN_ONCE);
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  if (failures + accepted != 1)
    abort(); /* a connection ended twice */
  return 0;
}
