/* irpc: server addresses and service addresses (IceRPC's URI model).
 *
 * A server address says where a server listens and how to reach it:
 *
 *   icerpc://host[:port][?transport=name&name=value...]
 *   ice://host[:port][?...]
 *
 * The protocol is "icerpc" (default port 4062) or "ice" (default port 4061);
 * the scheme is matched without regard to case. Both parse; this build
 * speaks icerpc only: connecting to or listening on an ice address fails
 * with IRPC_EPROTONOSUPPORT (irpc_client_connection_new,
 * irpc_connection_cache calls, irpc_server_listen). The host is a DNS name, an
 * IPv4 literal or an IPv6 literal in brackets ("[::1]"); DNS names are
 * stored in lower case, IPv6 literals without their brackets. The query
 * holds the transport name (the reserved `transport` parameter; absent means
 * "unspecified": the default transport is used) and transport parameters
 * `name=value`, kept in order. A name without `=` has the empty value; a
 * repeated name has its values joined with commas. A server address URI may
 * not have a path (a lone "/" is accepted), a fragment, user-info or an
 * `alt-server` parameter. Nothing is percent-decoded.
 *
 * Transports and their address forms:
 *
 *   tcp     icerpc://host:port?transport=tcp
 *   uds     icerpc://localhost?transport=uds&path=/run/app.sock
 *           Unix domain socket. The `path` parameter is required; the host
 *           is informative only. A path that starts with '@' names a Linux
 *           abstract socket ("@app" is the abstract name "app").
 *           The shorthands unix:/run/app.sock, unix:///run/app.sock and
 *           unix-abstract:app parse to the same address (protocol icerpc,
 *           host localhost).
 *   memory  icerpc://name?transport=memory
 *           In-process transport: the host is the listener's name.
 *
 * A service address names a service and, optionally, the servers that host
 * it:
 *
 *   icerpc://host[:port]/path[?name=value&...][&alt-server=...]
 *   ice://host[:port]/path[?...][#facet]
 *   icerpc:/path[?name=value...]       no server address
 *   ice:/path[?adapter-id=x]           no server address
 *   /path                              relative (protocol NULL)
 *
 * With a server address, the query parameters other than `alt-server`
 * belong to that (main) server address. `alt-server` lists alternative
 * servers, comma-separated, each `host[:port][?name=value$name=value]` with
 * `$` between its own parameters; they have the main server's protocol.
 * Without a server address the parameters belong to the service address;
 * `transport` and `alt-server` are then not allowed, and for ice the only
 * allowed parameter is a non-empty `adapter-id`. The path is checked with
 * irpc_path_check and kept as written; for ice it has at most two segments
 * (an Ice identity). Only ice service addresses have a fragment (facet).
 *
 * Addresses are immutable values once parsed; they may be shared between
 * threads for reading. */
#ifndef IRPC_ADDRESS_H
#define IRPC_ADDRESS_H

#include "irpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IRPC_ICERPC_DEFAULT_PORT 4062
#define IRPC_ICE_DEFAULT_PORT 4061

typedef struct irpc_server_address irpc_server_address;
typedef struct irpc_service_address irpc_service_address;

/* ---- Server addresses ---- */

/* Parses a server address URI (see above).
 * Errors: IRPC_EINVAL (NULL argument; not a server address URI: unknown
 * scheme, no host, bad port, path, fragment, user-info, alt-server, empty
 * parameter name, repeated or empty transport, uds without path),
 * IRPC_ENOMEM. */
IRPC_API int irpc_server_address_parse(irpc_server_address **out,
                                       const char *uri);

/* Makes a server address from its parts: `protocol` "icerpc" or "ice",
 * `port` 0..65535, `transport` NULL for unspecified. No parameters.
 * Errors: IRPC_EINVAL (NULL protocol or host, unknown protocol, empty host,
 * port out of range, empty transport), IRPC_ENOMEM. */
IRPC_API int irpc_server_address_new(irpc_server_address **out,
                                     const char *protocol, const char *host,
                                     int port, const char *transport);

/* Adds parameter `name`=`value` (a repeated name has its values joined with
 * commas). Meant for building an address before sharing it.
 * Errors: IRPC_EINVAL (NULL argument, empty name, or a reserved name:
 * transport, alt-server), IRPC_ENOMEM. */
IRPC_API int irpc_server_address_set_param(irpc_server_address *a,
                                           const char *name, const char *value);

/* A deep copy. Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_server_address_clone(irpc_server_address **out,
                                       const irpc_server_address *a);

/* NULL is a no-op. */
IRPC_API void irpc_server_address_free(irpc_server_address *a);

/* "icerpc" or "ice". Strings returned by the accessors live as long as the
 * address. */
IRPC_API const char *irpc_server_address_protocol(const irpc_server_address *a);
/* The host: a lower-case DNS name, an IPv4 literal, or an IPv6 literal
 * without brackets. */
IRPC_API const char *irpc_server_address_host(const irpc_server_address *a);
/* The port (the protocol's default when the URI had none). */
IRPC_API uint16_t irpc_server_address_port(const irpc_server_address *a);
/* The transport name, or NULL when unspecified. */
IRPC_API const char *
irpc_server_address_transport(const irpc_server_address *a);
/* The value of parameter `name` (not `transport`), or NULL if absent. */
IRPC_API const char *irpc_server_address_param(const irpc_server_address *a,
                                               const char *name);
/* The number of parameters (not counting `transport`), and parameter `i`
 * (NULL when out of range). */
IRPC_API size_t irpc_server_address_param_count(const irpc_server_address *a);
IRPC_API const char *
irpc_server_address_param_name(const irpc_server_address *a, size_t i);
IRPC_API const char *
irpc_server_address_param_value(const irpc_server_address *a, size_t i);

/* Writes the canonical URI, NUL-terminated, into `buf`:
 * protocol://host[:port][?transport=t][&name=value...], the port only when
 * it is not the protocol's default, IPv6 hosts in brackets. The result
 * parses back to an equal address.
 * Errors: IRPC_EINVAL (NULL argument), UV_ENOBUFS (`len` too small; `buf`
 * then holds as much as fits, NUL-terminated, when len > 0). */
IRPC_API int irpc_server_address_format(const irpc_server_address *a, char *buf,
                                        size_t len);

/* 1 when the addresses are equal under IceRPC's OptionalTransport rule:
 * same protocol, host (without regard to case), port and parameters (in any
 * order), and same transport unless either transport is NULL (unspecified
 * matches any). 0 otherwise, and when either is NULL. */
IRPC_API int irpc_server_address_equal(const irpc_server_address *a,
                                       const irpc_server_address *b);

/* ---- Service addresses ---- */

/* Parses a service address URI (see above).
 * Errors: IRPC_EINVAL (NULL argument, unknown scheme, bad server address or
 * alt-server, fragment with icerpc, parameters not allowed without a
 * server address, ice identity with more than two segments), IRPC_EPATH
 * (see irpc_path_check), IRPC_ENOMEM. */
IRPC_API int irpc_service_address_parse(irpc_service_address **out,
                                        const char *uri);

/* NULL is a no-op. */
IRPC_API void irpc_service_address_free(irpc_service_address *s);

/* "icerpc", "ice", or NULL for a relative service address. */
IRPC_API const char *
irpc_service_address_protocol(const irpc_service_address *s);
IRPC_API const char *irpc_service_address_path(const irpc_service_address *s);
/* The fragment (ice facet) without '#', or NULL when there is none. */
IRPC_API const char *
irpc_service_address_fragment(const irpc_service_address *s);
/* The service address's own parameters (only without a server address),
 * or NULL when absent. */
IRPC_API const char *irpc_service_address_param(const irpc_service_address *s,
                                                const char *name);
/* The number of server addresses: 0 without one, else 1 + alt-servers. */
IRPC_API size_t
irpc_service_address_server_count(const irpc_service_address *s);
/* Server address `i`: the main one first, then the alt-servers in order;
 * NULL when out of range. Lives as long as the service address. */
IRPC_API const irpc_server_address *
irpc_service_address_server(const irpc_service_address *s, size_t i);

/* Writes the canonical URI (alt-servers as one alt-server parameter).
 * Errors: IRPC_EINVAL (NULL argument), UV_ENOBUFS (as
 * irpc_server_address_format). */
IRPC_API int irpc_service_address_format(const irpc_service_address *s,
                                         char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
