/* irpc: which connection a call used, for logs and metrics.
 *
 * Terminals (connections, the coloc invoker) set the feature
 * irpc_connection_info_feature on each outgoing request they send, and on
 * each incoming request they create, to an irpc_connection_info that
 * describes the connection: its local and remote address and, over a Unix
 * domain socket, the peer process's credentials. The coloc invoker reports
 * "coloc" for both addresses. The logger interceptor and middleware read it.
 *
 * The value is borrowed from the terminal: read it while the call or
 * dispatch is in progress (in invoke, dispatch or on_complete), do not keep
 * it. The collection never releases it. */
#ifndef IRPC_CONNECTION_INFO_H
#define IRPC_CONNECTION_INFO_H

#include "irpc/frames.h"
#include "irpc/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_connection_info {
  const char *local_address;  /* "127.0.0.1:53412", a path, "coloc"; */
  const char *remote_address; /* never NULL when set ("" when unknown) */
  /* Over a Unix domain socket, who the peer is: its process id, user id
   * and group id (SO_PEERCRED; see irpc_peer_credentials). NULL over TCP,
   * in memory, coloc, or when the system does not tell. */
  const irpc_peer_credentials *peer_credentials;
  /* Over TLS, what was negotiated and the peer's certificate: subject,
   * subject alternative names, SHA-256 fingerprint (irpc/tls.h). NULL
   * without TLS. */
  const struct irpc_tls_info *tls;
} irpc_connection_info;

/* The feature key; its value is a `const irpc_connection_info *`. */
IRPC_API extern const irpc_feature_key irpc_connection_info_feature;

/* The connection the last attempt of `r` went through, or NULL when no
 * terminal has reported one. */
IRPC_API const irpc_connection_info *
irpc_outgoing_request_connection_info(irpc_outgoing_request *r);

/* The connection `r` arrived on, or NULL when unknown. */
IRPC_API const irpc_connection_info *
irpc_incoming_request_connection_info(irpc_incoming_request *r);

#ifdef __cplusplus
}
#endif
#endif
