/* Throwaway certificates for the TLS tests, made at test time with the
 * OpenSSL API: a CA, and leaf certificates it issues (EC P-256 keys), all
 * as PEM strings. Nothing is read from or written to files, nothing
 * expires between runs. Built when the library has TLS. */
#ifndef IRPC_TESTS_KIT_TLS_H
#define IRPC_TESTS_KIT_TLS_H

#include "kit/kit.h"

typedef struct kit_ca kit_ca;

/* A self-signed CA named `cn`. */
kit_ca *kit_ca_new(const char *cn);
void kit_ca_free(kit_ca *ca);
/* The CA's certificate (owned by the CA). */
const char *kit_ca_pem(const kit_ca *ca);

/* A certificate and key issued by `ca`. */
typedef struct kit_cert {
  char *cert_pem; /* the leaf (then `ca`'s certificate when chain is set) */
  char *key_pem;
} kit_cert;

/* Issues a certificate for `cn` with the subject alternative names `sans`
 * (OpenSSL's syntax, "DNS:localhost,IP:127.0.0.1"; NULL for none), valid
 * from now + not_before_s to now + not_after_s (seconds, may be
 * negative: an expired certificate has both negative). */
kit_cert kit_ca_issue(kit_ca *ca, const char *cn, const char *sans,
                      long not_before_s, long not_after_s);
void kit_cert_free(kit_cert *c);

/* The usual server certificate: CN `cn`, valid a day, for localhost and
 * 127.0.0.1. */
kit_cert kit_ca_server(kit_ca *ca, const char *cn);

/* Options with `c` as this side's certificate (NULL: none) and `ca` as
 * the trust roots (NULL: none). */
void kit_tls_options(irpc_tls_options *o, const kit_cert *c, const kit_ca *ca);

/* The network tests over TLS: when the environment variable
 * IRPC_TEST_TLS is set (to anything but "0"), makes a server context and a
 * client context trusting it (certificates made once per process, for
 * localhost and 127.0.0.1; `uds`: the client names "localhost", a Unix
 * domain socket's address naming no host) and returns 1; else 0. kit/net.h's
 * rig uses it for TCP and Unix domain sockets. */
int kit_tls_env_contexts(irpc_tls_server **server, irpc_tls_client **client,
                         int uds);

#endif
