/* irpc: TLS (1.2 and 1.3, OpenSSL) for every protocol and transport.
 *
 * TLS is a duplex-transport layer: a TLS duplex runs the TLS engine over
 * another duplex (TCP, a Unix domain socket, memory, a decorator), so the
 * icerpc and ice protocols run over it unchanged. Two ways to use it:
 *
 *   - Through the options. A client connection or connection cache whose
 *     irpc_connection_options carry a `tls_client` context, and a server
 *     whose options carry a `tls_server` context, speak TLS on every
 *     connection they make or accept, over the transport the address names
 *     (tcp, uds) or the one the options give. An ice address with
 *     `?transport=ssl` (Ice's `ssl -h ... -p ...` endpoints) requires TLS:
 *     it connects or listens over TCP, with the options' context, and fails
 *     with IRPC_EINVAL when the options carry none. The handshake is part of
 *     the connection establishment: connect_timeout_ms bounds it on both
 *     sides (a server drops a client that has not finished its handshake in
 *     time; nobody above the transport ever sees it).
 *   - As a transport object (irpc_transport_tls_new), to stack it with the
 *     decorators of irpc/transport.h and irpc/link.h in any order.
 *
 * What it negotiates:
 *   - TLS 1.2 or 1.3 only (min_version), no renegotiation, no compression;
 *   - ALPN: the client offers the protocol name of the address ("icerpc" or
 *     "ice"), as IceRPC does; a server accepts a client that offers it or
 *     offers no ALPN at all (ZeroC Ice's IceSSL offers none), and refuses
 *     one that offers only other names (IRPC_ETLSALPN on both sides);
 *   - SNI: the client sends the address's host (or `server_name`) unless
 *     it is an IP literal;
 *   - server authentication: the client verifies the server's chain against
 *     its trust roots and, by default, the address's host (or
 *     `server_name`) against the certificate's subject alternative names
 *     (an IP literal against its IP addresses);
 *   - client authentication (mutual TLS): none, optional (a certificate the
 *     client sends must verify) or required;
 *   - session resumption: a client context keeps the latest session of
 *     each server address it connected to (session_cache_size of them) and
 *     offers it on the next connection; irpc_tls_info.resumed says whether
 *     the server took it.
 *
 * Errors of a handshake, on the side that detects them (a client: the
 * connect or the connection's establishment ends with it; a server: the
 * connection is dropped and on_handshake_error receives it):
 *   IRPC_ETLSUNKNOWNCA  the peer's certificate chain does not lead to a
 *                       trusted root;
 *   IRPC_ETLSEXPIRED    the peer's certificate has expired or is not yet
 *                       valid;
 *   IRPC_ETLSHOSTNAME   the server's certificate does not name the host;
 *   IRPC_ETLSNOCERT     the server requires a client certificate and the
 *                       client sent none (the client sees it too, from the
 *                       server's alert: with TLS 1.3 on its first read,
 *                       since a 1.3 client finishes before the server
 *                       checks);
 *   IRPC_ETLSBADCERT    the peer rejected this side's certificate (its
 *                       alert: unknown CA, expired, bad certificate);
 *   IRPC_ETLSPLAINTEXT  the peer sent bytes that are not TLS (a plain-text
 *                       client on a TLS port; an ice server without TLS,
 *                       which speaks first);
 *   IRPC_ETLSPEER       (a plain-text connection) the peer's first bytes
 *                       are a TLS record: a TLS client on a plain port, or
 *                       a TLS server's alert to a plain client;
 *   IRPC_ETLSALPN       no application protocol in common;
 *   IRPC_ETLSTIMEDOUT   the handshake did not finish in time: a server
 *                       (connect_timeout_ms), a client connection or
 *                       cache (connect_timeout_ms, which covers the
 *                       transport connect and the handshake together: a
 *                       transport that does not connect in time ends with
 *                       IRPC_ETIMEDOUT, a handshake with this), a client of
 *                       the transport object (handshake_timeout_ms);
 *   IRPC_ETLS           any other handshake failure.
 * A peer that closes the connection during the handshake ends it with
 * UV_ECONNRESET (a TLS client talking to a plain icerpc server sees this:
 * that server reports IRPC_ETLSPEER and closes).
 *
 * After the handshake: the peer's close_notify reads as UV_EOF; an end of
 * the connection without it (a truncation) as UV_ECONNRESET. Closing a TLS
 * duplex sends close_notify first, unless aborting.
 *
 * Threading: contexts may be shared by loops on several threads (their
 * certificate and session cache are locked); each duplex belongs to its
 * loop. */
#ifndef IRPC_TLS_H
#define IRPC_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "irpc/common.h"
#include "irpc/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_tls_client irpc_tls_client;
typedef struct irpc_tls_server irpc_tls_server;
typedef struct irpc_connection irpc_connection;

typedef enum irpc_tls_client_auth {
  IRPC_TLS_CLIENT_AUTH_NONE = 0,     /* the server asks for no certificate */
  IRPC_TLS_CLIENT_AUTH_OPTIONAL = 1, /* asked for; verified when sent */
  IRPC_TLS_CLIENT_AUTH_REQUIRED = 2  /* asked for, required and verified */
} irpc_tls_client_auth;

#define IRPC_TLS_1_2 0x0303
#define IRPC_TLS_1_3 0x0304

/* Options of a TLS context, client or server; irpc_tls_options_init sets
 * the defaults. Every PEM source is either a file (`*_file`) or bytes in
 * memory (`*_pem`, `*_pem_len` bytes, or up to a NUL when 0), never both.
 * Strings and bytes are copied or parsed by the function that takes the
 * options. */
typedef struct irpc_tls_options {
  size_t struct_size; /* set by irpc_tls_options_init */
  /* This side's certificate chain (leaf first, then intermediates) and its
   * private key (unencrypted PEM). Required for a server; optional for a
   * client (mutual TLS). */
  const char *cert_file;
  const char *cert_pem;
  size_t cert_pem_len;
  const char *key_file;
  const char *key_pem;
  size_t key_pem_len;
  /* Trust roots for the peer's certificate (one or more PEM
   * certificates), and whether the system's default roots are trusted as
   * well: default 0, and used by a client that gives no roots. */
  const char *ca_file;
  const char *ca_pem;
  size_t ca_pem_len;
  int system_roots;
  /* Client: verify the server's certificate (1, default) and its name (1,
   * default). Turning them off is for tests and trusted networks only: the
   * peer is then not authenticated. */
  int verify_peer;
  int verify_host;
  /* Client: the name sent as SNI and verified instead of the address's
   * host; NULL = the host. */
  const char *server_name;
  /* Server: client authentication (default none). */
  irpc_tls_client_auth client_auth;
  /* Lowest version accepted: IRPC_TLS_1_2 (default) or IRPC_TLS_1_3. */
  int min_version;
  /* Client: sessions kept for resumption (one per server address): 64; 0
   * disables resumption. */
  uint32_t session_cache_size;
  /* Handshake timeout of the transport object (irpc_transport_tls_new):
   * 10,000 ms. Connections made through the options use connect_timeout_ms
   * instead. */
  uint64_t handshake_timeout_ms;
  /* Server: called on the connection's loop (the listener's, or the loop
   * a multi-loop server gave the socket) for each handshake that fails,
   * with its error (the list above) and the client's address; may be
   * NULL. */
  void (*on_handshake_error)(int err, const char *remote_address,
                             void *user_data);
  void *user_data;
} irpc_tls_options;

/* Sets `o` to the defaults and o->struct_size. Call irpc_tls_options_init,
 * which passes this header's sizeof (irpc/version.h). */
IRPC_API void irpc_tls_options_init_sized(irpc_tls_options *o, size_t size);
static inline void irpc_tls_options_init(irpc_tls_options *o) {
  irpc_tls_options_init_sized(o, sizeof(*o));
}

/* Creates a client context. Free it with irpc_tls_client_free; the
 * connections made with it keep what they need.
 * Errors: IRPC_EINVAL (NULL argument, a bad struct_size, a PEM source given
 * twice, a key without a certificate or the reverse, min_version other
 * than the two above), IRPC_ETLSCONFIG (a file that cannot be read, PEM
 * that does not parse, a key that does not match the certificate),
 * IRPC_ENOTSUP (a build without TLS), IRPC_ENOMEM. */
IRPC_API int irpc_tls_client_new(irpc_tls_client **out,
                                 const irpc_tls_options *o);
IRPC_API void irpc_tls_client_free(irpc_tls_client *c);

/* Creates a server context; a certificate and key are required.
 * Errors: as irpc_tls_client_new, and IRPC_EINVAL without a certificate
 * or with client_auth out of range. */
IRPC_API int irpc_tls_server_new(irpc_tls_server **out,
                                 const irpc_tls_options *o);
IRPC_API void irpc_tls_server_free(irpc_tls_server *s);

/* Certificate rotation: replaces the server's certificate chain and key
 * with those of `o` (its other members are ignored). Handshakes that start
 * afterwards use them; connections already established keep theirs.
 * Nothing changes on error.
 * Errors: IRPC_EINVAL (NULL argument, bad struct_size, no certificate or
 * key), IRPC_ETLSCONFIG (as irpc_tls_server_new), IRPC_ENOMEM. */
IRPC_API int irpc_tls_server_set_certificate(irpc_tls_server *s,
                                             const irpc_tls_options *o);

/* What a TLS duplex negotiated, and who the peer is. Filled once the
 * handshake has completed; owned by the duplex (and by the connection over
 * it): valid as long as it. */
typedef struct irpc_tls_info {
  const char *version;     /* "TLSv1.3", "TLSv1.2" */
  const char *cipher;      /* "TLS_AES_256_GCM_SHA384", ... */
  const char *alpn;        /* "icerpc", "ice", or "" when none */
  const char *server_name; /* the SNI the client sent, or "" */
  int resumed;             /* 1 when an earlier session was resumed */
  /* The peer's certificate: present when the peer sent one, verified when
   * this side checked it against its trust roots (always, except on a
   * client with verify_peer 0). Its subject and issuer in RFC 2253 form
   * ("CN=alice,O=Example"), its subject alternative names as "DNS:name",
   * "IP:127.0.0.1", "URI:...", "email:...", its SHA-256 fingerprint (raw
   * and as 64 lowercase hex digits), its expiry (seconds since 1970). All
   * empty when absent. */
  int peer_certificate;
  int peer_verified;
  const char *subject;
  const char *issuer;
  const char *const *sans;
  size_t sans_count;
  uint8_t sha256[32];
  char sha256_hex[65];
  int64_t not_after;
} irpc_tls_info;

/* The TLS information of `d` (a TLS duplex, or a decorator over one), or
 * NULL (not TLS, or the handshake has not completed). */
IRPC_API const irpc_tls_info *irpc_duplex_tls_info(const irpc_duplex *d);
/* The TLS information of a connection, or NULL when it does not run over
 * TLS. Also in its irpc_connection_info (irpc/connection_info.h). */
IRPC_API const irpc_tls_info *
irpc_connection_tls_info(const irpc_connection *c);

/* A TLS transport over `inner` (borrowed; NULL = the transport each
 * address names: tcp, uds, and tcp for "ssl"): it connects with `client`
 * and listens with `server` (either may be NULL: that direction then fails
 * with IRPC_EINVAL). Contexts are borrowed and must outlive the transport.
 * Free with irpc_transport_free.
 * Errors: IRPC_EINVAL (NULL out, both contexts NULL), IRPC_ENOTSUP (a
 * build without TLS), IRPC_ENOMEM. */
IRPC_API int irpc_transport_tls_new(irpc_transport **out, irpc_transport *inner,
                                    irpc_tls_client *client,
                                    irpc_tls_server *server);

/* The context's own TLS transport over `inner` (NULL: by the address's
 * name, as above), whose handshakes time out after handshake_timeout_ms
 * (0: the context's): what client connections, caches and servers use
 * for the contexts of their options. Made on first use, owned by the
 * context (never free it); NULL when out of memory or for a NULL
 * context. */
IRPC_API irpc_transport *
irpc_tls_client_transport(irpc_tls_client *c, irpc_transport *inner,
                          uint64_t handshake_timeout_ms);
IRPC_API irpc_transport *
irpc_tls_server_transport(irpc_tls_server *s, irpc_transport *inner,
                          uint64_t handshake_timeout_ms);

/* 1 when this build has TLS. */
IRPC_API int irpc_tls_available(void);

#ifdef __cplusplus
}
#endif
#endif
