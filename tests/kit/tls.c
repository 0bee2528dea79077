#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "kit/tls.h"

struct kit_ca {
  EVP_PKEY *key;
  X509 *cert;
  char *pem;
};

static long serial = 1;

static EVP_PKEY *new_key(void) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  assert_non_null(k);
  return k;
}

static char *bio_string(BIO *b) {
  char *p;
  long n = BIO_get_mem_data(b, &p);
  char *s = malloc((size_t)n + 1);
  assert_non_null(s);
  memcpy(s, p, (size_t)n);
  s[n] = 0;
  BIO_free(b);
  return s;
}

static char *cert_pem(X509 *x) {
  BIO *b = BIO_new(BIO_s_mem());
  assert_int_equal(PEM_write_bio_X509(b, x), 1);
  return bio_string(b);
}

static void add_ext(X509 *issuer, X509 *x, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  assert_non_null(e);
  assert_int_equal(X509_add_ext(x, e, -1), 1);
  X509_EXTENSION_free(e);
}

static X509 *new_cert(const char *cn, EVP_PKEY *key, long nb, long na) {
  X509 *x = X509_new();
  assert_non_null(x);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), nb);
  X509_gmtime_adj(X509_getm_notAfter(x), na);
  X509_set_pubkey(x, key);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             (const unsigned char *)"irpc tests", -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)cn, -1, -1, 0);
  return x;
}

kit_ca *kit_ca_new(const char *cn) {
  kit_ca *ca = calloc(1, sizeof(*ca));
  assert_non_null(ca);
  ca->key = new_key();
  ca->cert = new_cert(cn, ca->key, -3600, 7 * 86400);
  X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert));
  add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash");
  assert_true(X509_sign(ca->cert, ca->key, EVP_sha256()) > 0);
  ca->pem = cert_pem(ca->cert);
  return ca;
}

void kit_ca_free(kit_ca *ca) {
  if (!ca)
    return;
  EVP_PKEY_free(ca->key);
  X509_free(ca->cert);
  free(ca->pem);
  free(ca);
}

const char *kit_ca_pem(const kit_ca *ca) {
  return ca->pem;
}

kit_cert kit_ca_issue(kit_ca *ca, const char *cn, const char *sans,
                      long not_before_s, long not_after_s) {
  EVP_PKEY *key = new_key();
  X509 *x = new_cert(cn, key, not_before_s, not_after_s);
  X509_set_issuer_name(x, X509_get_subject_name(ca->cert));
  add_ext(ca->cert, x, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(ca->cert, x, NID_key_usage, "critical,digitalSignature");
  add_ext(ca->cert, x, NID_ext_key_usage, "serverAuth,clientAuth");
  add_ext(ca->cert, x, NID_authority_key_identifier, "keyid:always");
  if (sans)
    add_ext(ca->cert, x, NID_subject_alt_name, sans);
  assert_true(X509_sign(x, ca->key, EVP_sha256()) > 0);
  kit_cert c;
  c.cert_pem = cert_pem(x);
  BIO *b = BIO_new(BIO_s_mem());
  assert_int_equal(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL),
                   1);
  c.key_pem = bio_string(b);
  X509_free(x);
  EVP_PKEY_free(key);
  return c;
}

void kit_cert_free(kit_cert *c) {
  free(c->cert_pem);
  free(c->key_pem);
  c->cert_pem = c->key_pem = NULL;
}

kit_cert kit_ca_server(kit_ca *ca, const char *cn) {
  return kit_ca_issue(ca, cn, "DNS:localhost,IP:127.0.0.1,IP:::1", -60, 86400);
}

void kit_tls_options(irpc_tls_options *o, const kit_cert *c, const kit_ca *ca) {
  irpc_tls_options_init(o);
  if (c) {
    o->cert_pem = c->cert_pem;
    o->key_pem = c->key_pem;
  }
  if (ca)
    o->ca_pem = kit_ca_pem(ca);
}

int kit_tls_env_contexts(irpc_tls_server **server, irpc_tls_client **client,
                         int uds) {
  const char *v = getenv("IRPC_TEST_TLS");
  if (!v || !*v || strcmp(v, "0") == 0)
    return 0;
  /* One CA and one server certificate per process, kept until it exits. */
  static kit_ca *env_ca;
  static kit_cert env_cert;
  if (!env_ca) {
    env_ca = kit_ca_new("IRPC_TEST_TLS CA");
    env_cert = kit_ca_server(env_ca, "server");
  }
  irpc_tls_options o;
  kit_tls_options(&o, &env_cert, env_ca);
  assert_irpc_ok(irpc_tls_server_new(server, &o));
  kit_tls_options(&o, NULL, env_ca);
  if (uds)
    o.server_name = "localhost";
  assert_irpc_ok(irpc_tls_client_new(client, &o));
  return 1;
}
