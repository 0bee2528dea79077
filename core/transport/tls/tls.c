/* TLS over OpenSSL: contexts, the TLS duplex (memory BIOs over an inner
 * duplex), the TLS listener and transport. See irpc/tls.h and
 * docs/internals/TLS.md. */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/buf_internal.h"
#include "base/list.h"
#include "base/scheduler.h"
#include "base/struct_size.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/tls.h"
#include "transport/tls/tls_internal.h"
#include "transport/transport_internal.h"

/* Plaintext bytes gathered into one record before encryption. */
#define STAGE_SIZE 16384

static char *sdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = irpc_malloc(n);
  if (p)
    memcpy(p, s, n);
  return p;
}

/* ---- Contexts ---- */

typedef struct cached_transport {
  irpc_transport *inner;
  uint64_t timeout_ms;
  irpc_transport *t;
} cached_transport;

typedef struct session_entry {
  char *key;
  SSL_SESSION *session;
} session_entry;

typedef struct tls_ctx {
  atomic_int refs;
  int is_server;
  SSL_CTX *ssl_ctx;
  uv_mutex_t mu; /* the certificate, the sessions, the transports */
  X509 *cert;
  EVP_PKEY *key;
  STACK_OF(X509) * chain;
  int verify_peer, verify_host;
  char *server_name;
  irpc_tls_client_auth client_auth;
  uint64_t handshake_timeout_ms;
  void (*on_error)(int err, const char *remote, void *ud);
  void *ud;
  session_entry *sessions;
  size_t nsessions, next_session;
  cached_transport *transports;
  size_t ntransports;
} tls_ctx;

struct irpc_tls_client {
  tls_ctx c;
};
struct irpc_tls_server {
  tls_ctx c;
};

void irpc_tls_options_init_sized(irpc_tls_options *o, size_t size) {
  irpc_tls_options d;
  memset(&d, 0, sizeof(d));
  d.verify_peer = 1;
  d.verify_host = 1;
  d.min_version = IRPC_TLS_1_2;
  d.session_cache_size = 64;
  d.handshake_timeout_ms = 10000;
  irpc__struct_export(o, size, &d, sizeof(d));
}

int irpc_tls_available(void) {
  return 1;
}

static int pem_source(const char *file, const char *pem, size_t len,
                      BIO **out) {
  *out = NULL;
  if (file && pem)
    return IRPC_EINVAL;
  if (file)
    *out = BIO_new_file(file, "r");
  else if (pem)
    *out = BIO_new_mem_buf(pem, len ? (int)len : -1);
  else
    return 0;
  return *out ? 1 : IRPC_ETLSCONFIG;
}

/* Reads the chain and key of `o` into *cert, *key, *chain. Returns 0 (both
 * read), 1 (neither given) or an error. */
static int load_identity(const irpc_tls_options *o, X509 **cert, EVP_PKEY **key,
                         STACK_OF(X509) * *chain) {
  BIO *cb, *kb;
  int rc = pem_source(o->cert_file, o->cert_pem, o->cert_pem_len, &cb);
  if (rc < 0)
    return rc;
  int rk = pem_source(o->key_file, o->key_pem, o->key_pem_len, &kb);
  if (rk < 0) {
    BIO_free(cb);
    return rk;
  }
  if (!rc && !rk)
    return 1;
  if (!rc || !rk) {
    BIO_free(cb);
    BIO_free(kb);
    return IRPC_EINVAL;
  }
  *cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
  *key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
  *chain = sk_X509_new_null();
  int err = !*cert || !*key || !*chain;
  X509 *x;
  while (!err && (x = PEM_read_bio_X509(cb, NULL, NULL, NULL)))
    if (!sk_X509_push(*chain, x)) {
      X509_free(x);
      err = 1;
    }
  if (!err && X509_check_private_key(*cert, *key) != 1)
    err = 1;
  BIO_free(cb);
  BIO_free(kb);
  ERR_clear_error();
  if (err) {
    X509_free(*cert);
    EVP_PKEY_free(*key);
    sk_X509_pop_free(*chain, X509_free);
    *cert = NULL;
    *key = NULL;
    *chain = NULL;
    return IRPC_ETLSCONFIG;
  }
  return 0;
}

static int load_roots(SSL_CTX *ctx, const irpc_tls_options *o, int *any) {
  BIO *b;
  int rc = pem_source(o->ca_file, o->ca_pem, o->ca_pem_len, &b);
  *any = rc == 1;
  if (rc <= 0)
    return rc;
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  int n = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
    if (X509_STORE_add_cert(store, x) == 1)
      n++;
    X509_free(x);
  }
  BIO_free(b);
  ERR_clear_error();
  return n ? 0 : IRPC_ETLSCONFIG;
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess);
static int alpn_select_cb(SSL *ssl, const unsigned char **out,
                          unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg);

static void ctx_fini(tls_ctx *c) {
  for (size_t i = 0; i < c->ntransports; i++)
    irpc_transport_free(c->transports[i].t);
  irpc_free(c->transports);
  for (size_t i = 0; i < c->nsessions; i++) {
    irpc_free(c->sessions[i].key);
    SSL_SESSION_free(c->sessions[i].session);
  }
  irpc_free(c->sessions);
  X509_free(c->cert);
  EVP_PKEY_free(c->key);
  sk_X509_pop_free(c->chain, X509_free);
  SSL_CTX_free(c->ssl_ctx);
  irpc_free(c->server_name);
  uv_mutex_destroy(&c->mu);
}

static void ctx_ref(tls_ctx *c) {
  atomic_fetch_add(&c->refs, 1);
}

static void ctx_unref(tls_ctx *c) {
  if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
    ctx_fini(c);
    irpc_free(c);
  }
}

static int ctx_init(tls_ctx *c, const irpc_tls_options *opts, int server) {
  irpc_tls_options o;
  if (!opts || IRPC__IMPORT(&o, opts, irpc_tls_options) < 0)
    return IRPC_EINVAL;
  if (o.min_version != IRPC_TLS_1_2 && o.min_version != IRPC_TLS_1_3)
    return IRPC_EINVAL;
  if (server && (o.client_auth < IRPC_TLS_CLIENT_AUTH_NONE ||
                 o.client_auth > IRPC_TLS_CLIENT_AUTH_REQUIRED))
    return IRPC_EINVAL;
  if (uv_mutex_init(&c->mu))
    return IRPC_ENOMEM;
  atomic_init(&c->refs, 1);
  c->is_server = server;
  int rc = load_identity(&o, &c->cert, &c->key, &c->chain);
  if (rc == 1)
    rc = server ? IRPC_EINVAL : 0;
  if (rc == 0 && o.server_name && !(c->server_name = sdup(o.server_name)))
    rc = IRPC_ENOMEM;
  if (rc == 0) {
    c->ssl_ctx =
        SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ssl_ctx)
      rc = IRPC_ENOMEM;
  }
  int any_roots = 0;
  if (rc == 0)
    rc = load_roots(c->ssl_ctx, &o, &any_roots);
  if (rc == 0 && (o.system_roots || (!server && !any_roots)) &&
      SSL_CTX_set_default_verify_paths(c->ssl_ctx) != 1)
    rc = IRPC_ETLSCONFIG;
  if (rc) {
    ERR_clear_error();
    ctx_fini(c);
    return rc;
  }
  SSL_CTX *s = c->ssl_ctx;
  SSL_CTX_set_min_proto_version(
      s, o.min_version == IRPC_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  /* TLS 1.3: AES-128-GCM first (as Go and BoringSSL order them), a little
   * faster than AES-256-GCM for the same security margin in practice. */
  SSL_CTX_set_ciphersuites(s, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                              "TLS_CHACHA20_POLY1305_SHA256");
  c->verify_peer =
      server ? o.client_auth != IRPC_TLS_CLIENT_AUTH_NONE : o.verify_peer != 0;
  c->verify_host = !server && o.verify_host;
  c->client_auth = o.client_auth;
  c->handshake_timeout_ms =
      o.handshake_timeout_ms ? o.handshake_timeout_ms : 10000;
  c->on_error = o.on_handshake_error;
  c->ud = o.user_data;
  if (server) {
    int mode = SSL_VERIFY_NONE;
    if (o.client_auth == IRPC_TLS_CLIENT_AUTH_OPTIONAL)
      mode = SSL_VERIFY_PEER;
    else if (o.client_auth == IRPC_TLS_CLIENT_AUTH_REQUIRED)
      mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(s, mode, NULL);
    SSL_CTX_set_session_id_context(s, (const unsigned char *)"irpc", 4);
    /* This side's order of the suites above, not the client's: OpenSSL's
     * own clients (and so IceSSL's) list AES-256-GCM first. */
    SSL_CTX_set_options(s, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_alpn_select_cb(s, alpn_select_cb, NULL);
  } else {
    SSL_CTX_set_verify(s, c->verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       NULL);
    if (o.session_cache_size) {
      c->sessions = irpc_calloc(o.session_cache_size, sizeof(session_entry));
      if (!c->sessions) {
        ctx_fini(c);
        return IRPC_ENOMEM;
      }
      c->nsessions = o.session_cache_size;
      SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_CLIENT |
                                            SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_new_cb(s, new_session_cb);
    } else {
      SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    }
  }
  return 0;
}

int irpc_tls_client_new(irpc_tls_client **out, const irpc_tls_options *o) {
  if (!out || !o)
    return IRPC_EINVAL;
  irpc_tls_client *c = irpc_calloc(1, sizeof(*c));
  if (!c)
    return IRPC_ENOMEM;
  int rc = ctx_init(&c->c, o, 0);
  if (rc) {
    irpc_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

void irpc_tls_client_free(irpc_tls_client *c) {
  if (c)
    ctx_unref(&c->c);
}

int irpc_tls_server_new(irpc_tls_server **out, const irpc_tls_options *o) {
  if (!out || !o)
    return IRPC_EINVAL;
  irpc_tls_server *s = irpc_calloc(1, sizeof(*s));
  if (!s)
    return IRPC_ENOMEM;
  int rc = ctx_init(&s->c, o, 1);
  if (rc) {
    irpc_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void irpc_tls_server_free(irpc_tls_server *s) {
  if (s)
    ctx_unref(&s->c);
}

int irpc_tls_server_set_certificate(irpc_tls_server *s,
                                    const irpc_tls_options *opts) {
  irpc_tls_options o;
  if (!s || !opts || IRPC__IMPORT(&o, opts, irpc_tls_options) < 0)
    return IRPC_EINVAL;
  X509 *cert = NULL;
  EVP_PKEY *key = NULL;
  STACK_OF(X509) *chain = NULL;
  int rc = load_identity(&o, &cert, &key, &chain);
  if (rc)
    return rc == 1 ? IRPC_EINVAL : rc;
  tls_ctx *c = &s->c;
  uv_mutex_lock(&c->mu);
  X509 *oc = c->cert;
  EVP_PKEY *ok = c->key;
  STACK_OF(X509) *och = c->chain;
  c->cert = cert;
  c->key = key;
  c->chain = chain;
  uv_mutex_unlock(&c->mu);
  X509_free(oc);
  EVP_PKEY_free(ok);
  sk_X509_pop_free(och, X509_free);
  return 0;
}

/* Puts the context's current certificate on `ssl`. */
static int use_identity(tls_ctx *c, SSL *ssl) {
  int ok = 1;
  uv_mutex_lock(&c->mu);
  if (c->cert)
    ok = SSL_use_cert_and_key(ssl, c->cert, c->key, c->chain, 1) == 1;
  uv_mutex_unlock(&c->mu);
  return ok ? 0 : IRPC_ETLSCONFIG;
}

/* ---- The TLS duplex ---- */

typedef struct tls_listener tls_listener;

typedef struct tdx {
  irpc_duplex *self;
  irpc_duplex *inner;
  tls_ctx *ctx;
  irpc__sched *sched;
  SSL *ssl;
  BIO *bio;          /* the engine's network side (bio_method) */
  irpc_buf out;      /* what the engine wrote, not sent yet */
  const uint8_t *in; /* the inner read being fed, not copied */
  size_t in_len;
  irpc_buf stash;    /* what the engine has not read of earlier reads */
  irpc__timer timer; /* the handshake timeout */
  uint64_t timeout_ms;
  tls_listener *ls;   /* a server's, while handshaking */
  irpc__link ls_link; /* in ls->handshaking */
  char alpn[16];      /* the protocol name offered or expected */
  char *session_key;  /* a client's: the server address */
  int is_client;
  int handshaking; /* the engine is running the handshake */
  int open;        /* the handshake completed */
  int got_bytes;   /* a byte was received */
  int reading;     /* the outer duplex is reading */
  int inner_reading;
  int read_ended; /* a negative status was delivered */
  int outer_closing, inner_closing;
  int shut;  /* close_notify sent */
  int ended; /* the inner duplex ended: its read status */
  irpc_tls_info info;
  char *strings; /* subject, issuer, version, ... */
  char **sans;
} tdx;

/* A TLS listener, or the handshaker of a multi-loop server's loop
 * (irpc__tls_handshaker: no listener of its own, `done` set). */
struct tls_listener {
  irpc_listener *self; /* NULL for a handshaker */
  irpc_listener *inner;
  tls_ctx *ctx;
  uint64_t timeout_ms;
  irpc__list handshaking; /* tdx */
  int closing;
  char alpn[16]; /* the protocol name accepted */
  irpc__tls_done_cb done;
  void *done_ud;
};

static const irpc_duplex_ops tls_duplex_ops;

static tdx *tdx_of(irpc_duplex *d) {
  return irpc_duplex_data(d);
}

static void on_inner_closed(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  (void)status;
  tdx *t = ud;
  t->inner = NULL;
  if (t->outer_closing)
    irpc_duplex_close_done(t->self);
}

static void on_ctl_write(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  (void)status;
  (void)ud; /* a failure shows on the reads */
}

static void on_data_write(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  tdx *t = ud;
  irpc_duplex_write_done(t->self, status);
}

/* ---- The engine's network side ----
 *
 * A memory BIO of our own: what the engine writes is appended to t->out,
 * an irpc_buf handed to the inner duplex as it is (no copy out of a BIO);
 * what it reads comes straight from the inner read being delivered
 * (t->in), and from t->stash, where the bytes of a read it has not taken
 * are kept until it asks again. */

static int bio_write_ex(BIO *b, const char *data, size_t len, size_t *done) {
  tdx *t = BIO_get_data(b);
  size_t n = 0;
  while (n < len) {
    uint8_t *p;
    size_t avail;
    if (irpc_buf_reserve(&t->out, len - n, &p, &avail) != 0)
      return 0;
    size_t k = avail < len - n ? avail : len - n;
    memcpy(p, data + n, k);
    if (irpc_buf_commit(&t->out, k) != 0)
      return 0;
    n += k;
  }
  *done = len;
  return 1;
}

static int bio_read_ex(BIO *b, char *dst, size_t len, size_t *done) {
  tdx *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  size_t got = 0, stashed = irpc_buf_len(&t->stash);
  if (stashed) {
    got = stashed < len ? stashed : len;
    irpc_buf_copyout(&t->stash, 0, dst, got);
    irpc_buf_consume(&t->stash, got);
  }
  if (got < len && t->in_len) {
    size_t k = t->in_len < len - got ? t->in_len : len - got;
    memcpy(dst + got, t->in, k);
    t->in += k;
    t->in_len -= k;
    got += k;
  }
  *done = got;
  if (got)
    return 1;
  BIO_set_retry_read(b);
  return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num;
  (void)ptr;
  tdx *t = BIO_get_data(b);
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1;
  case BIO_CTRL_PENDING:
    return (long)(irpc_buf_len(&t->stash) + t->in_len);
  case BIO_CTRL_WPENDING:
    return (long)irpc_buf_len(&t->out);
  default:
    return 0;
  }
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

/* The BIO method, made on first use; a failure (out of memory) is not
 * kept: the next connection tries again. */
static BIO_METHOD *bio_method;
static uv_mutex_t bio_mu;
static uv_once_t bio_once = UV_ONCE_INIT;

static void bio_mu_init(void) {
  if (uv_mutex_init(&bio_mu) != 0)
    abort();
}

static BIO_METHOD *get_bio_method(void) {
  uv_once(&bio_once, bio_mu_init);
  uv_mutex_lock(&bio_mu);
  if (!bio_method) {
    BIO_METHOD *m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "irpc duplex");
    if (m && BIO_meth_set_write_ex(m, bio_write_ex) &&
        BIO_meth_set_read_ex(m, bio_read_ex) &&
        BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create))
      bio_method = m;
    else
      BIO_meth_free(m);
  }
  BIO_METHOD *m = bio_method;
  uv_mutex_unlock(&bio_mu);
  return m;
}

/* Keeps what the engine has not read of the inner read being fed. */
static int stash_rest(tdx *t) {
  int rc = 0;
  if (t->in_len)
    rc = irpc_buf_append(&t->stash, t->in, t->in_len);
  t->in = NULL;
  t->in_len = 0;
  return rc;
}

/* Sends what the engine wrote (handshake messages, alerts, tickets). */
static int flush_ctl(tdx *t) {
  if (!t->inner || t->inner_closing || irpc_buf_len(&t->out) == 0)
    return 0;
  int rc = irpc_duplex_write(t->inner, &t->out, on_ctl_write, t);
  if (rc)
    irpc_buf_clear(&t->out);
  return rc;
}

static int verify_error(long v) {
  switch (v) {
  case X509_V_ERR_CERT_HAS_EXPIRED:
  case X509_V_ERR_CERT_NOT_YET_VALID:
    return IRPC_ETLSEXPIRED;
  case X509_V_ERR_HOSTNAME_MISMATCH:
  case X509_V_ERR_IP_ADDRESS_MISMATCH:
    return IRPC_ETLSHOSTNAME;
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
  case X509_V_ERR_CERT_UNTRUSTED:
    return IRPC_ETLSUNKNOWNCA;
  default:
    return IRPC_ETLS;
  }
}

/* The error of a failed engine call that returned `ret`. */
static int engine_error(tdx *t, int ret) {
  int e = SSL_get_error(t->ssl, ret);
  int err = IRPC_ETLS;
  if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
    err = UV_ECONNRESET;
  } else if (e == SSL_ERROR_SSL) {
    unsigned long code = ERR_peek_error();
    int reason = ERR_GET_REASON(code);
    switch (reason) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      err = verify_error(SSL_get_verify_result(t->ssl));
      break;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      err = IRPC_ETLSNOCERT;
      break;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
      err = IRPC_ETLSBADCERT;
      break;
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
      err = IRPC_ETLSALPN;
      break;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_UNKNOWN_PROTOCOL:
      err = IRPC_ETLSPLAINTEXT;
      break;
    default:
      break;
    }
  }
  /* OpenSSL out of memory (when it says so). */
  unsigned long code;
  while (err == IRPC_ETLS && (code = ERR_get_error()) != 0)
    if (ERR_GET_REASON(code) == ERR_GET_REASON(ERR_R_MALLOC_FAILURE))
      err = IRPC_ENOMEM;
  ERR_clear_error();
  return err;
}

static char *dup_bio(BIO *b) {
  char *p;
  long n = BIO_get_mem_data(b, &p);
  if (n < 0)
    return NULL;
  char *s = irpc_malloc((size_t)n + 1);
  if (s) {
    if (n > 0)
      memcpy(s, p, (size_t)n);
    s[n] = 0;
  }
  return s;
}

static char *name_string(const X509_NAME *name) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b)
    return NULL;
  char *s =
      X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0 ? dup_bio(b) : NULL;
  BIO_free(b);
  return s;
}

static char *san_string(const GENERAL_NAME *g) {
  char buf[512];
  buf[0] = 0;
  int type;
  const ASN1_STRING *v = GENERAL_NAME_get0_value(g, &type);
  const unsigned char *d = ASN1_STRING_get0_data(v);
  int len = ASN1_STRING_length(v);
  switch (type) {
  case GEN_DNS:
    snprintf(buf, sizeof buf, "DNS:%.*s", len, (const char *)d);
    break;
  case GEN_URI:
    snprintf(buf, sizeof buf, "URI:%.*s", len, (const char *)d);
    break;
  case GEN_EMAIL:
    snprintf(buf, sizeof buf, "email:%.*s", len, (const char *)d);
    break;
  case GEN_IPADD: {
    char ip[INET6_ADDRSTRLEN] = "";
    if (len == 4 || len == 16)
      inet_ntop(len == 4 ? AF_INET : AF_INET6, d, ip, sizeof ip);
    snprintf(buf, sizeof buf, "IP:%s", ip);
    break;
  }
  default:
    return NULL;
  }
  return sdup(buf);
}

static const char *keep(tdx *t, char *s, size_t *used, size_t cap) {
  /* strings are packed in t->strings; `s` is freed */
  if (!s)
    return "";
  size_t n = strlen(s) + 1;
  const char *r = "";
  if (*used + n <= cap) {
    memcpy(t->strings + *used, s, n);
    r = t->strings + *used;
    *used += n;
  }
  irpc_free(s);
  return r;
}

/* Fills t->info from the finished handshake. */
static int fill_info(tdx *t) {
  irpc_tls_info *in = &t->info;
  X509 *peer = SSL_get0_peer_certificate(t->ssl);
  char *subject = NULL, *issuer = NULL;
  const unsigned char *alpn = NULL;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
  const char *sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
  const char *version = SSL_get_version(t->ssl);
  const char *cipher = SSL_get_cipher_name(t->ssl);
  GENERAL_NAMES *gens = NULL;
  int ngens = 0;
  if (peer) {
    subject = name_string(X509_get_subject_name(peer));
    issuer = name_string(X509_get_issuer_name(peer));
    if (!subject || !issuer) {
      irpc_free(subject);
      irpc_free(issuer);
      return IRPC_ENOMEM;
    }
    gens = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
    ngens = gens ? sk_GENERAL_NAME_num(gens) : 0;
    unsigned n = 0;
    X509_digest(peer, EVP_sha256(), in->sha256, &n);
    for (unsigned i = 0; i < 32; i++)
      snprintf(in->sha256_hex + 2 * i, 3, "%02x", in->sha256[i]);
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(peer), &tm) == 1)
      in->not_after = (int64_t)timegm(&tm);
    in->peer_certificate = 1;
    in->peer_verified =
        t->ctx->verify_peer && SSL_get_verify_result(t->ssl) == X509_V_OK;
  }
  size_t cap = strlen(version) + strlen(cipher ? cipher : "") + alpn_len +
               (sni ? strlen(sni) : 0) + (subject ? strlen(subject) : 0) +
               (issuer ? strlen(issuer) : 0) + 8;
  t->strings = irpc_malloc(cap);
  t->sans = ngens ? irpc_calloc((size_t)ngens, sizeof(char *)) : NULL;
  if (!t->strings || (ngens && !t->sans)) {
    irpc_free(subject);
    irpc_free(issuer);
    GENERAL_NAMES_free(gens);
    return IRPC_ENOMEM;
  }
  size_t used = 0;
  in->version = keep(t, sdup(version), &used, cap);
  in->cipher = keep(t, sdup(cipher ? cipher : ""), &used, cap);
  char *a = irpc_malloc(alpn_len + 1);
  if (a) {
    if (alpn_len)
      memcpy(a, alpn, alpn_len);
    a[alpn_len] = 0;
  }
  in->alpn = keep(t, a, &used, cap);
  in->server_name = keep(t, sdup(sni ? sni : ""), &used, cap);
  in->subject = keep(t, subject, &used, cap);
  in->issuer = keep(t, issuer, &used, cap);
  size_t ns = 0;
  for (int i = 0; i < ngens; i++) {
    char *s = san_string(sk_GENERAL_NAME_value(gens, i));
    if (s)
      t->sans[ns++] = s;
  }
  GENERAL_NAMES_free(gens);
  in->sans = (const char *const *)t->sans;
  in->sans_count = ns;
  in->resumed = SSL_session_reused(t->ssl);
  return 0;
}

static void report_error(tdx *t, int err) {
  if (t->ctx->on_error) {
    char remote[128] = "";
    if (t->inner)
      irpc_duplex_remote_address(t->inner, remote, sizeof remote);
    t->ctx->on_error(err, remote, t->ctx->ud);
  }
}

static void set_inner_reading(tdx *t, int on);
static void pump_reads(tdx *t);

/* The handshake ended with `err` (0: success). */
static void handshake_end(tdx *t, int err) {
  t->handshaking = 0;
  irpc__timer_stop(t->sched, &t->timer);
  if (err == 0)
    err = fill_info(t);
  if (err == 0)
    t->open = 1;
  flush_ctl(t); /* the last flight, or the alert */
  tls_listener *ls = t->ls;
  if (ls) {
    irpc__list_remove(&ls->handshaking, &t->ls_link);
    t->ls = NULL;
  }
  if (err == 0)
    set_inner_reading(t, t->reading);
  if (t->is_client) {
    irpc_duplex_connect_done(t->self, err);
    return;
  }
  if (err || !ls) {
    report_error(t, err ? err : IRPC_ECLOSED);
    irpc_duplex_close(t->self, NULL, NULL);
    if (ls && ls->done)
      ls->done(NULL, err, ls->done_ud);
    return;
  }
  if (ls->done)
    ls->done(t->self, 0, ls->done_ud);
  else
    irpc_listener_accepted(ls->self, t->self);
}

static void handshake_step(tdx *t) {
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    handshake_end(t, 0);
    return;
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ) {
    int rc = flush_ctl(t);
    if (rc)
      handshake_end(t, rc);
    return;
  }
  handshake_end(t, engine_error(t, r));
}

static void deliver_end(tdx *t, int status) {
  if (t->read_ended)
    return;
  t->read_ended = 1;
  set_inner_reading(t, 0);
  irpc_duplex_read_done(t->self, status, NULL, 0);
}

/* Plaintext is decrypted here, one record (at most 16 KiB) at a time, and
 * handed up from here: valid during the read callback only, as TCP's
 * bytes are; one buffer per thread, so an idle connection holds none. */
static _Thread_local uint8_t plain[65536];

/* Decrypts what is buffered and hands it up while the reader reads: the
 * records available, gathered up to 64 KiB a read (as a TCP read), so
 * that the reader handles as many reads as over TCP. */
static void pump_reads(tdx *t) {
  while (t->reading && !t->read_ended && !t->outer_closing) {
    size_t got = 0;
    int n = 0;
    while (got + 16384 <= sizeof plain &&
           (n = SSL_read(t->ssl, plain + got, (int)(sizeof plain - got))) > 0)
      got += (size_t)n;
    if (got) {
      irpc_duplex_read_done(t->self, 0, plain, got);
      if (n > 0)
        continue;
      if (!t->reading || t->read_ended || t->outer_closing)
        break;
    }
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ) {
      ERR_clear_error();
      if (t->ended) /* the inner duplex ended without close_notify */
        deliver_end(t, t->ended == UV_EOF ? UV_ECONNRESET : t->ended);
      break;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      ERR_clear_error();
      deliver_end(t, UV_EOF);
      break;
    }
    deliver_end(t, engine_error(t, n));
    break;
  }
  flush_ctl(t); /* key updates */
  if (!t->read_ended)
    set_inner_reading(t, t->reading);
}

/* Tells a plain-text client that this is TLS: a fatal protocol_version
 * alert record, which a plain irpc peer reports as IRPC_ETLSPEER. */
static void send_raw_alert(tdx *t) {
  static const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46};
  irpc_buf out;
  irpc__buf_init(&out);
  if (irpc_buf_append(&out, alert, sizeof alert) == 0)
    irpc_duplex_write(t->inner, &out, on_ctl_write, t);
  irpc__buf_fini(&out);
}

static void on_inner_read(irpc_duplex *inner, int status, const uint8_t *data,
                          size_t len, void *ud) {
  (void)inner;
  tdx *t = ud;
  if (status < 0) {
    t->inner_reading = 0;
    t->ended = status;
    if (t->handshaking)
      handshake_end(t, status == UV_EOF ? UV_ECONNRESET : status);
    else if (t->open)
      pump_reads(t);
    return;
  }
  if (!t->got_bytes && len > 0) {
    t->got_bytes = 1;
    /* A TLS peer's first record is a handshake message or an alert. */
    if (t->handshaking && data[0] != 0x16 && data[0] != 0x15) {
      if (!t->is_client)
        send_raw_alert(t);
      handshake_end(t, IRPC_ETLSPLAINTEXT);
      return;
    }
  }
  t->in = data;
  t->in_len = len;
  /* Bytes in the buffer this layer decrypts into (a TLS duplex under this
   * one) are copied first: decrypting would overwrite them. */
  if (data >= plain && data < plain + sizeof plain && stash_rest(t) != 0) {
    if (t->handshaking)
      handshake_end(t, IRPC_ENOMEM);
    else
      deliver_end(t, IRPC_ENOMEM);
    return;
  }
  if (t->handshaking)
    handshake_step(t);
  else if (t->open)
    pump_reads(t);
  if (stash_rest(t) != 0) {
    if (t->handshaking)
      handshake_end(t, IRPC_ENOMEM);
    else
      deliver_end(t, IRPC_ENOMEM);
  }
}

static void set_inner_reading(tdx *t, int on) {
  if (!t->inner || t->inner_closing || t->ended || on == t->inner_reading)
    return;
  if (on) {
    if (irpc_duplex_read_start(t->inner, on_inner_read, t) == 0)
      t->inner_reading = 1;
  } else {
    irpc_duplex_read_stop(t->inner);
    t->inner_reading = 0;
  }
}

static void on_timeout(irpc__timer *tm) {
  tdx *t = IRPC__CONTAINER_OF(tm, tdx, timer);
  if (t->handshaking)
    handshake_end(t, IRPC_ETLSTIMEDOUT);
}

static int alpn_select_cb(SSL *ssl, const unsigned char **out,
                          unsigned char *outlen, const unsigned char *in,
                          unsigned int inlen, void *arg) {
  (void)arg;
  tdx *t = SSL_get_app_data(ssl);
  size_t want = strlen(t->alpn);
  for (unsigned i = 0; i < inlen;) {
    unsigned n = in[i];
    if (i + 1 + n > inlen)
      break;
    if (n == want && memcmp(in + i + 1, t->alpn, n) == 0) {
      *out = in + i + 1;
      *outlen = (unsigned char)n;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess) {
  tdx *t = SSL_get_app_data(ssl);
  tls_ctx *c = t->ctx;
  if (!t->session_key || !c->nsessions)
    return 0;
  uv_mutex_lock(&c->mu);
  session_entry *slot = NULL;
  for (size_t i = 0; i < c->nsessions && !slot; i++)
    if (c->sessions[i].key && strcmp(c->sessions[i].key, t->session_key) == 0)
      slot = &c->sessions[i];
  if (!slot) {
    slot = &c->sessions[c->next_session];
    c->next_session = (c->next_session + 1) % c->nsessions;
    irpc_free(slot->key);
    slot->key = sdup(t->session_key);
  }
  SSL_SESSION_free(slot->session);
  slot->session = slot->key ? sess : NULL;
  uv_mutex_unlock(&c->mu);
  return slot->key ? 1 : 0; /* 1: the cache keeps the reference */
}

static void offer_session(tdx *t) {
  tls_ctx *c = t->ctx;
  uv_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->nsessions; i++)
    if (c->sessions[i].key && c->sessions[i].session &&
        strcmp(c->sessions[i].key, t->session_key) == 0) {
      SSL_set_session(t->ssl, c->sessions[i].session);
      break;
    }
  uv_mutex_unlock(&c->mu);
}

static int is_ip(const char *host) {
  unsigned char b[16];
  return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

/* Creates the engine of `t` and starts the handshake over t->inner. */
static int tdx_start(tdx *t, const irpc_server_address *addr) {
  BIO_METHOD *method = get_bio_method();
  SSL *ssl = SSL_new(t->ctx->ssl_ctx);
  BIO *b = method ? BIO_new(method) : NULL;
  if (!ssl || !b) {
    SSL_free(ssl);
    BIO_free(b);
    return IRPC_ENOMEM;
  }
  BIO_set_data(b, t);
  SSL_set_bio(ssl, b, b); /* one reference, read and write */
  t->ssl = ssl;
  t->bio = b;
  if (SSL_set_app_data(ssl, t) != 1) /* ex_data may need memory */
    return IRPC_ENOMEM;
  int rc = use_identity(t->ctx, ssl);
  if (rc)
    return rc;
  if (t->is_client) {
    char host[256];
    const char *h = t->ctx->server_name ? t->ctx->server_name
                                        : irpc_server_address_host(addr);
    snprintf(host, sizeof host, "%s", h ? h : "");
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
      memmove(host, host + 1, hl - 2);
      host[hl - 2] = 0;
    }
    int ip = is_ip(host);
    /* The host is at most 255 bytes and, when `ip`, a valid literal: these
     * fail only when OpenSSL runs out of memory. */
    if (host[0] && !ip && SSL_set_tlsext_host_name(ssl, host) != 1)
      return IRPC_ENOMEM;
    if (t->ctx->verify_host && host[0]) {
      X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
      int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(p, host)
                  : X509_VERIFY_PARAM_set1_host(p, host, 0);
      if (ok != 1)
        return IRPC_ENOMEM;
    }
    unsigned char proto[17];
    size_t n = strlen(t->alpn);
    proto[0] = (unsigned char)n;
    memcpy(proto + 1, t->alpn, n);
    if (SSL_set_alpn_protos(ssl, proto, (unsigned)n + 1) != 0)
      return IRPC_ENOMEM;
    if (t->ctx->nsessions) {
      char key[512];
      if (irpc_server_address_format(addr, key, sizeof key) == 0) {
        size_t kl = strlen(key) + 1 + strlen(host) + 1;
        t->session_key = irpc_malloc(kl);
        if (t->session_key) {
          snprintf(t->session_key, kl, "%s|%s", host, key);
          offer_session(t);
        }
      }
    }
    SSL_set_connect_state(ssl);
  } else {
    SSL_set_accept_state(ssl);
  }
  ERR_clear_error();
  t->handshaking = 1;
  rc = irpc__timer_start(t->sched, &t->timer, t->timeout_ms);
  if (rc)
    return rc;
  set_inner_reading(t, 1);
  if (!t->inner_reading)
    return UV_ECONNRESET;
  handshake_step(t);
  return 0;
}

static void tdx_run(irpc_duplex *d) {
  tdx *t = tdx_of(d);
  if (t->open)
    pump_reads(t);
}

static int tdx_read_start(irpc_duplex *d) {
  tdx *t = tdx_of(d);
  t->reading = 1;
  irpc_duplex_schedule(d); /* what the engine holds comes first */
  return 0;
}

static void tdx_read_stop(irpc_duplex *d) {
  tdx *t = tdx_of(d);
  t->reading = 0;
  set_inner_reading(t, 0);
}

static int encrypt(tdx *t, const uint8_t *p, size_t n) {
  while (n > 0) {
    size_t w = 0;
    if (SSL_write_ex(t->ssl, p, n, &w) != 1 || w == 0) {
      int rc = engine_error(t, 0);
      return rc;
    }
    p += w;
    n -= w;
  }
  return 0;
}

static int tdx_write(irpc_duplex *d, irpc_buf *data, void *req) {
  (void)req;
  tdx *t = tdx_of(d);
  if (!t->inner || t->inner_closing)
    return UV_ECONNRESET;
  uint8_t stage[STAGE_SIZE];
  size_t staged = 0;
  /* One block for the whole ciphertext (records of at most 16 KiB, each
   * with at most 64 bytes of header, tag and padding). */
  size_t len = irpc_buf_len(data);
  uint8_t *p;
  size_t avail;
  int rc = irpc_buf_reserve(&t->out, len + (len / 16384 + 2) * 64, &p, &avail);
  size_t nseg = irpc_buf_segment_count(data);
  for (size_t i = 0; i < nseg && rc == 0; i++) {
    irpc_bytes s = irpc_buf_segment(data, i);
    if (s.len >= STAGE_SIZE / 2) {
      if (staged)
        rc = encrypt(t, stage, staged);
      staged = 0;
      if (rc == 0)
        rc = encrypt(t, s.base, s.len);
      continue;
    }
    if (staged + s.len > STAGE_SIZE) {
      rc = encrypt(t, stage, staged);
      staged = 0;
    }
    memcpy(stage + staged, s.base, s.len);
    staged += s.len;
  }
  if (rc == 0 && staged)
    rc = encrypt(t, stage, staged);
  if (rc == 0)
    rc = irpc_duplex_write(t->inner, &t->out, on_data_write, t);
  if (rc)
    irpc_buf_clear(&t->out);
  return rc;
}

static void on_inner_shutdown(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  tdx *t = ud;
  irpc_duplex_shutdown_done(t->self, status);
}

static void send_close_notify(tdx *t) {
  if (t->shut || !t->open || !t->inner || t->inner_closing)
    return;
  t->shut = 1;
  SSL_shutdown(t->ssl);
  ERR_clear_error();
  flush_ctl(t);
}

static int tdx_shutdown(irpc_duplex *d) {
  tdx *t = tdx_of(d);
  if (!t->inner || t->inner_closing)
    return UV_ECONNRESET;
  send_close_notify(t);
  return irpc_duplex_shutdown(t->inner, on_inner_shutdown, t);
}

static void tdx_close(irpc_duplex *d, int abort) {
  tdx *t = tdx_of(d);
  t->outer_closing = 1;
  t->handshaking = 0;
  irpc__timer_stop(t->sched, &t->timer);
  if (t->ls) {
    irpc__list_remove(&t->ls->handshaking, &t->ls_link);
    t->ls = NULL;
  }
  if (!t->inner) {
    irpc_duplex_close_done(d);
    return;
  }
  if (!t->inner_closing) {
    if (!abort && irpc_duplex_write_queue_size(t->inner) == 0)
      send_close_notify(t);
    t->inner_closing = 1;
    if (abort)
      irpc_duplex_abort(t->inner, on_inner_closed, t);
    else
      irpc_duplex_close(t->inner, on_inner_closed, t);
  }
}

static void tdx_destroy(irpc_duplex *d) {
  tdx *t = tdx_of(d);
  SSL_free(t->ssl);
  irpc__buf_fini(&t->out);
  irpc__buf_fini(&t->stash);
  for (size_t i = 0; i < t->info.sans_count; i++)
    irpc_free(t->sans[i]);
  irpc_free(t->sans);
  irpc_free(t->strings);
  irpc_free(t->session_key);
  if (t->sched)
    irpc__sched_release(t->sched);
  ctx_unref(t->ctx);
}

static int tdx_local(const irpc_duplex *d, char *buf, size_t len) {
  const tdx *t = irpc_duplex_cdata(d);
  return t->inner ? irpc_duplex_local_address(t->inner, buf, len) : UV_ENOTCONN;
}

static int tdx_remote(const irpc_duplex *d, char *buf, size_t len) {
  const tdx *t = irpc_duplex_cdata(d);
  return t->inner ? irpc_duplex_remote_address(t->inner, buf, len)
                  : UV_ENOTCONN;
}

static int tdx_cred(const irpc_duplex *d, irpc_peer_credentials *out) {
  const tdx *t = irpc_duplex_cdata(d);
  return t->inner ? irpc_duplex_peer_credentials(t->inner, out) : UV_ENOTCONN;
}

static const irpc_tls_info *tdx_tls(const irpc_duplex *d) {
  const tdx *t = irpc_duplex_cdata(d);
  return t->open ? &t->info : NULL;
}

static const irpc_duplex_ops tls_duplex_ops = {
    .struct_size = sizeof(irpc_duplex_ops),
    .name = "tls",
    .data_size = sizeof(tdx),
    .read_start = tdx_read_start,
    .read_stop = tdx_read_stop,
    .write = tdx_write,
    .shutdown = tdx_shutdown,
    .close = tdx_close,
    .destroy = tdx_destroy,
    .run = tdx_run,
    .local_address = tdx_local,
    .remote_address = tdx_remote,
    .peer_credentials = tdx_cred,
    .tls_info = tdx_tls,
};

static int tdx_new(irpc_duplex **out, uv_loop_t *loop, tls_ctx *ctx,
                   const char *proto, uint64_t timeout_ms, int connecting) {
  irpc_duplex *d;
  int rc = irpc_duplex_new(&d, loop, &tls_duplex_ops, connecting);
  if (rc)
    return rc;
  tdx *t = tdx_of(d);
  t->self = d;
  irpc__buf_init(&t->out);
  irpc__buf_init(&t->stash);
  t->sched = irpc__sched_acquire(loop);
  ctx_ref(ctx);
  t->ctx = ctx;
  if (!t->sched) {
    irpc_duplex_discard(d);
    return IRPC_ENOMEM;
  }
  t->is_client = !ctx->is_server;
  t->timeout_ms = timeout_ms;
  irpc__timer_init(&t->timer, on_timeout);
  snprintf(t->alpn, sizeof t->alpn, "%s", proto ? proto : "icerpc");
  *out = d;
  return 0;
}

/* ---- The transport ---- */

typedef struct ttr {
  irpc_transport *inner; /* NULL: by the address's name */
  tls_ctx *client, *server;
  uint64_t timeout_ms; /* 0: the context's */
  int owned;           /* a context's own: holds no reference to it */
} ttr;

typedef struct pending_connect {
  tdx *t;
  irpc_server_address *addr;
} pending_connect;

/* `a` with transport `transport` (a copy, parameters included). */
static int with_transport(const irpc_server_address *a, const char *transport,
                          irpc_server_address **out) {
  int rc = irpc_server_address_new(out, irpc_server_address_protocol(a),
                                   irpc_server_address_host(a),
                                   irpc_server_address_port(a), transport);
  for (size_t i = 0; rc == 0 && i < irpc_server_address_param_count(a); i++)
    rc = irpc_server_address_set_param(*out,
                                       irpc_server_address_param_name(a, i),
                                       irpc_server_address_param_value(a, i));
  if (rc && *out) {
    irpc_server_address_free(*out);
    *out = NULL;
  }
  return rc;
}

/* The address to give the inner transport: "ssl" means TLS over TCP, and
 * the inner transport sees "tcp" (*out NULL: `a` itself). */
static int inner_address(const irpc_server_address *a,
                         irpc_server_address **out) {
  const char *name = irpc_server_address_transport(a);
  *out = NULL;
  if (!name || strcmp(name, "ssl") != 0)
    return 0;
  return with_transport(a, "tcp", out);
}

static irpc_transport *inner_for(const ttr *tt,
                                 const irpc_server_address *addr) {
  if (tt->inner)
    return tt->inner;
  const char *name = irpc_server_address_transport(addr);
  if (!name || strcmp(name, "ssl") == 0)
    name = "tcp";
  return irpc_transport_by_name(name);
}

static void on_inner_connect(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  pending_connect *pc = ud;
  tdx *t = pc->t;
  irpc_server_address *addr = pc->addr;
  irpc_free(pc);
  if (status != 0 && !t->inner_closing)
    t->inner = NULL; /* the library frees it */
  if (t->outer_closing) {
    irpc_server_address_free(addr);
    return;
  }
  if (status == 0)
    status = tdx_start(t, addr);
  irpc_server_address_free(addr);
  if (status)
    irpc_duplex_connect_done(t->self, status);
}

static int ttr_connect(irpc_transport *tr, uv_loop_t *loop,
                       const irpc_server_address *addr, irpc_duplex **out) {
  ttr *tt = irpc_transport_data(tr);
  if (!tt->client)
    return IRPC_EINVAL;
  irpc_transport *inner = inner_for(tt, addr);
  if (!inner)
    return IRPC_EINVAL;
  irpc_duplex *d;
  int rc = tdx_new(
      &d, loop, tt->client, irpc_server_address_protocol(addr),
      tt->timeout_ms ? tt->timeout_ms : tt->client->handshake_timeout_ms, 1);
  if (rc)
    return rc;
  tdx *t = tdx_of(d);
  pending_connect *pc = irpc_calloc(1, sizeof(*pc));
  rc = pc ? irpc_server_address_clone(&pc->addr, addr) : IRPC_ENOMEM;
  irpc_server_address *ia = NULL;
  if (rc == 0)
    rc = inner_address(addr, &ia);
  if (rc == 0) {
    pc->t = t;
    rc = irpc_transport_connect(inner, loop, ia ? ia : addr, &t->inner,
                                on_inner_connect, pc);
  }
  irpc_server_address_free(ia);
  if (rc) {
    if (pc)
      irpc_server_address_free(pc->addr);
    irpc_free(pc);
    t->inner = NULL;
    irpc_duplex_discard(d);
    return rc;
  }
  *out = d;
  return 0;
}

/* A listener's or handshaker's part shared by both: the server context of
 * `tt` (a reference), its handshake timeout and `protocol` as the ALPN
 * accepted. */
static void ls_init(tls_listener *ls, const ttr *tt, const char *protocol) {
  ctx_ref(tt->server);
  ls->ctx = tt->server;
  ls->timeout_ms =
      tt->timeout_ms ? tt->timeout_ms : tt->server->handshake_timeout_ms;
  snprintf(ls->alpn, sizeof ls->alpn, "%s", protocol ? protocol : "icerpc");
}

/* Takes no more handshakes and closes those under way; a handshaker's
 * `done` learns IRPC_ECLOSED for each. */
static void ls_close_handshakes(tls_listener *ls) {
  ls->closing = 1;
  irpc__link *k;
  while ((k = irpc__list_pop_front(&ls->handshaking))) {
    tdx *t = IRPC__CONTAINER_OF(k, tdx, ls_link);
    t->ls = NULL;
    irpc_duplex_close(t->self, NULL, NULL);
    if (ls->done)
      ls->done(NULL, IRPC_ECLOSED, ls->done_ud);
  }
}

static void on_inner_listener_closed(irpc_listener *inner, void *ud) {
  (void)inner;
  tls_listener *ls = ud;
  irpc_listener_close_done(ls->self);
}

static void tls_close(irpc_listener *l) {
  tls_listener *ls = irpc_listener_data(l);
  ls_close_handshakes(ls);
  irpc_listener_close(ls->inner, on_inner_listener_closed, ls);
}

static void tls_listener_destroy(irpc_listener *l) {
  tls_listener *ls = irpc_listener_data(l);
  ctx_unref(ls->ctx);
}

static const irpc_listener_ops tls_listener_ops = {
    .struct_size = sizeof(irpc_listener_ops),
    .name = "tls",
    .data_size = sizeof(tls_listener),
    .close = tls_close,
    .destroy = tls_listener_destroy,
};

/* Runs the server handshake over the accepted inner duplex `d`. */
static void accept_inner(tls_listener *ls, irpc_duplex *d) {
  irpc_duplex *w;
  int rc = ls->closing ? IRPC_ECLOSED
                       : tdx_new(&w, irpc_duplex_loop(d), ls->ctx, ls->alpn,
                                 ls->timeout_ms, 0);
  if (rc) {
    irpc_duplex_close(d, NULL, NULL);
    if (ls->done)
      ls->done(NULL, rc, ls->done_ud);
    return;
  }
  tdx *t = tdx_of(w);
  t->inner = d;
  t->ls = ls;
  irpc__list_push_back(&ls->handshaking, &t->ls_link);
  rc = tdx_start(t, NULL);
  if (rc && t->ls) { /* not ended by the start itself */
    report_error(t, rc);
    irpc_duplex_close(w, NULL, NULL); /* leaves ls->handshaking */
    if (ls->done)
      ls->done(NULL, rc, ls->done_ud);
  }
}

static void on_inner_accept(irpc_listener *inner, irpc_duplex *d, void *ud) {
  (void)inner;
  accept_inner(ud, d);
}

static int ttr_listen(irpc_transport *tr, uv_loop_t *loop,
                      const irpc_server_address *addr, irpc_accept_cb cb,
                      void *ud, irpc_listener **out) {
  ttr *tt = irpc_transport_data(tr);
  if (!tt->server)
    return IRPC_EINVAL;
  irpc_transport *inner = inner_for(tt, addr);
  if (!inner)
    return IRPC_EINVAL;
  irpc_listener *l;
  int rc = irpc_listener_new(&l, loop, &tls_listener_ops, addr, cb, ud);
  if (rc)
    return rc;
  tls_listener *ls = irpc_listener_data(l);
  ls->self = l;
  ls_init(ls, tt, irpc_server_address_protocol(addr));
  irpc_server_address *ia = NULL, *bound = NULL;
  rc = inner_address(addr, &ia);
  if (!rc)
    rc = irpc_transport_listen(inner, loop, ia ? ia : addr, on_inner_accept, ls,
                               &ls->inner);
  if (!rc && ia) /* the bound address says "ssl" again */
    rc = with_transport(irpc_listener_address(ls->inner), "ssl", &bound);
  if (!rc)
    rc = irpc_listener_set_address(l, bound ? bound
                                            : irpc_listener_address(ls->inner));
  irpc_server_address_free(ia);
  irpc_server_address_free(bound);
  if (rc) {
    if (ls->inner)
      irpc_listener_close(ls->inner, NULL, NULL);
    irpc_listener_discard(l);
    return rc;
  }
  *out = l;
  return 0;
}

static void ttr_destroy(irpc_transport *tr) {
  ttr *tt = irpc_transport_data(tr);
  if (tt->owned)
    return;
  ctx_unref(tt->client);
  ctx_unref(tt->server);
}

static const irpc_transport_ops tls_transport_ops = {
    .struct_size = sizeof(irpc_transport_ops),
    .name = "tls",
    .data_size = sizeof(ttr),
    .connect = ttr_connect,
    .listen = ttr_listen,
    .destroy = ttr_destroy,
};

int irpc_transport_tls_new(irpc_transport **out, irpc_transport *inner,
                           irpc_tls_client *client, irpc_tls_server *server) {
  if (!out || (!client && !server))
    return IRPC_EINVAL;
  irpc_transport *t;
  int rc = irpc_transport_new(&t, &tls_transport_ops);
  if (rc)
    return rc;
  ttr *tt = irpc_transport_data(t);
  tt->inner = inner;
  tt->client = client ? &client->c : NULL;
  tt->server = server ? &server->c : NULL;
  if (tt->client)
    ctx_ref(tt->client);
  if (tt->server)
    ctx_ref(tt->server);
  *out = t;
  return 0;
}

/* The context's TLS transport over `inner` with this handshake timeout,
 * made on first use and kept until the context is freed. */
static irpc_transport *ctx_transport(tls_ctx *c, irpc_transport *inner,
                                     uint64_t timeout_ms) {
  if (!timeout_ms)
    timeout_ms = c->handshake_timeout_ms;
  irpc_transport *t = NULL;
  uv_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->ntransports && !t; i++)
    if (c->transports[i].inner == inner &&
        c->transports[i].timeout_ms == timeout_ms)
      t = c->transports[i].t;
  if (!t) {
    cached_transport *v = irpc_realloc(
        c->transports, (c->ntransports + 1) * sizeof(cached_transport));
    if (v) {
      c->transports = v;
      if (irpc_transport_new(&t, &tls_transport_ops) == 0) {
        ttr *tt = irpc_transport_data(t);
        tt->inner = inner;
        tt->timeout_ms = timeout_ms;
        tt->owned = 1;
        if (c->is_server)
          tt->server = c;
        else
          tt->client = c;
        v[c->ntransports++] = (cached_transport){inner, timeout_ms, t};
      }
    }
  }
  uv_mutex_unlock(&c->mu);
  return t;
}

irpc_transport *irpc_tls_client_transport(irpc_tls_client *c,
                                          irpc_transport *inner,
                                          uint64_t handshake_timeout_ms) {
  return c ? ctx_transport(&c->c, inner, handshake_timeout_ms) : NULL;
}

irpc_transport *irpc_tls_server_transport(irpc_tls_server *s,
                                          irpc_transport *inner,
                                          uint64_t handshake_timeout_ms) {
  return s ? ctx_transport(&s->c, inner, handshake_timeout_ms) : NULL;
}

/* ---- For the connector and the multi-loop server (tls_internal.h) ---- */

int irpc__tls_handshaking(const irpc_duplex *d) {
  if (!d || irpc_duplex_get_ops(d) != &tls_duplex_ops)
    return 0;
  const tdx *t = irpc_duplex_cdata(d);
  return t->handshaking;
}

int irpc__tls_server_unwrap(irpc_transport *t, const irpc_server_address *a,
                            irpc_transport **inner,
                            irpc_server_address **inner_addr) {
  *inner = NULL;
  *inner_addr = NULL;
  if (!t || irpc_transport_get_ops(t) != &tls_transport_ops)
    return 0;
  ttr *tt = irpc_transport_data(t);
  irpc_transport *in = inner_for(tt, a);
  if (!tt->server || !in)
    return IRPC_EINVAL;
  int rc = inner_address(a, inner_addr);
  if (rc == 0)
    *inner = in;
  return rc;
}

int irpc__tls_outer_address(const irpc_server_address *a,
                            const irpc_server_address *inner_bound,
                            irpc_server_address **out) {
  *out = NULL;
  const char *name = irpc_server_address_transport(a);
  if (!name || strcmp(name, "ssl") != 0)
    return 0;
  return with_transport(inner_bound, "ssl", out);
}

struct irpc__tls_handshaker {
  tls_listener ls;
};

int irpc__tls_handshaker_new(irpc__tls_handshaker **out, uv_loop_t *loop,
                             irpc_transport *tls, const char *protocol,
                             irpc__tls_done_cb done, void *ud) {
  (void)loop; /* each handshake runs on its inner duplex's loop */
  if (!tls || irpc_transport_get_ops(tls) != &tls_transport_ops)
    return IRPC_EINVAL;
  ttr *tt = irpc_transport_data(tls);
  if (!tt->server)
    return IRPC_EINVAL;
  irpc__tls_handshaker *h = irpc_calloc(1, sizeof(*h));
  if (!h)
    return IRPC_ENOMEM;
  tls_listener *ls = &h->ls;
  ls_init(ls, tt, protocol);
  ls->done = done;
  ls->done_ud = ud;
  *out = h;
  return 0;
}

void irpc__tls_handshaker_start(irpc__tls_handshaker *h, irpc_duplex *inner) {
  accept_inner(&h->ls, inner);
}

void irpc__tls_handshaker_free(irpc__tls_handshaker *h) {
  if (!h)
    return;
  ls_close_handshakes(&h->ls);
  ctx_unref(h->ls.ctx);
  irpc_free(h);
}
