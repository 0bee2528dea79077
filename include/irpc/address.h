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
 * Errors: IRPC_EINVAL (NULL argument, empty name, a reserved name:
 * transport, alt-server; a name or value the URI form cannot carry: a
 * space, a control or non-ASCII byte, '&', '#', '?', ',' or '$' (the
 * separator of an alt-server's parameters), and in a name
 * '=' or '/'), IRPC_ENOMEM. */
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

/* ---- Ice identities, facets and stringified proxies ----
 *
 * An ice service address carries an Ice identity in its path, as IceRPC
 * does: "/name" (empty category) or "/category/name", each part
 * percent-escaped as IceRPC does: every byte but the unreserved ones
 * (A-Z a-z 0-9 - . _ ~) is written %XX (upper-case hex) by irpc, and the
 * ice protocol writes dispatch paths the same way; in parsed paths any
 * byte may be escaped, and unescaped ones are taken as they are. The
 * facet is the
 * fragment, escaped the same way. irpc_service_address_parse checks that
 * every '%' of an ice path or fragment starts a valid escape.
 *
 * Ice 3.7 stringified proxies are a second syntax, parsed by
 * irpc_service_address_parse_ice_proxy into the same ice service addresses
 * (irpc_service_address_parse takes URIs only: "icerpc:ssl -h h -p 1" is
 * both a URI prefix and an Ice proxy whose identity is "icerpc"):
 *
 *   identity [options] [:endpoint[:endpoint...]]
 *   identity [options] @ adapter-id
 *
 *   identity   an Ice identity string: "name" or "category/name", with Ice's
 *              escapes (\\ \/ \" \' \a \b \f \n \r \t \v \?, octal
 *              \ooo, \xHH, \uXXXX, \UXXXXXXXX); in double quotes when it
 *              holds blanks, ':' or '@' ("\"my id\":tcp -p 4000").
 *   options    -f facet (quoted when it holds blanks), -t twoway, -o oneway,
 *              -O batch oneway, -d datagram, -D batch datagram, -s secure,
 *              -e major.minor encoding (1.0 or 1.1), -p 1.0 protocol (the
 *              only one of Ice's protocol versions).
 *   endpoint   type, then options:
 *                tcp|ssl|default  -h host, -p port, -t timeout_ms|infinite,
 *                                 -z, --sourceAddress ip
 *                ws|wss           the same and -r resource
 *                udp              -h, -p, -z, -c, --ttl n, --interface i
 *              The host may be quoted ("-h \"::1\""); "*" and a missing -h
 *              mean any address ("::0"); a missing -p means 4061.
 *
 * What the parts become:
 *   - the identity the path, the facet the fragment (percent-escaped);
 *   - each endpoint a server address of protocol ice, in order (the first
 *     is the main one, the others its alt-servers), with transport "tcp",
 *     "ssl", "ws", "wss" or "udp" (NULL for "default", which means the
 *     default transport, TCP), and its Ice options as parameters: t=timeout
 *     (as written), z (no value) for compression, resource=, source-address=,
 *     c, ttl=, interface=. As in IceRPC, t and z are the ice protocol's and
 *     are not given to the transport. irpc speaks tcp, and ssl (TLS over
 *     TCP, irpc/tls.h): a ws, wss or udp server address is kept (it formats
 * back) but connecting to it fails as for any transport irpc does not know, and
 * a connection cache moves on to the next server address;
 *   - @ adapter-id: the service address parameter adapter-id (escaped
 *     as a path segment, irpc_service_address_ice_adapter_id), with no
 *     server address ("ice:/hello?adapter-id=X"), resolved by a locator
 *     (irpc/locator.h); with neither endpoints nor adapter id the proxy is
 *     a well-known object ("ice:/hello"), also resolved by a locator;
 *   - the mode, -s, -e and whether an endpoint had -z go into an
 *     irpc_ice_proxy_info, when one is given: irpc requests carry their own
 *     one-way flag (irpc_outgoing_request_set_oneway), and irpc sends no
 *     batches or datagrams: a caller that needs them refuses such proxies. */

/* An Ice identity from an ice path ("/name" or "/category/name",
 * percent-escapes decoded): two new strings (irpc_malloc; free them with
 * irpc_free), *category "" for "/name".
 * Errors: IRPC_EINVAL (NULL argument, a path not starting with '/', more
 * than two segments, an empty name, a bad escape, a part that is not
 * UTF-8 once decoded), IRPC_ENOMEM. */
IRPC_API int irpc_ice_identity_from_path(const char *path, char **name,
                                         char **category);

/* The ice path of an identity (`category` NULL or "" for none), written
 * NUL-terminated into `buf`, escaped as above.
 * Errors: IRPC_EINVAL (NULL name, empty name, buf NULL with len > 0),
 * UV_ENOBUFS (as irpc_server_address_format). */
IRPC_API int irpc_ice_identity_to_path(const char *name, const char *category,
                                       char *buf, size_t len);

/* The facet of an ice service address: its fragment with percent-escapes
 * decoded, as a new string (irpc_free), "" when it has none.
 * Errors: IRPC_EINVAL (NULL argument, a bad escape), IRPC_ENOMEM. */
IRPC_API int irpc_service_address_ice_facet(const irpc_service_address *s,
                                            char **facet);

/* The adapter id of an ice service address (its adapter-id parameter,
 * which is escaped as a path segment is) as a new string (irpc_free).
 * Errors: IRPC_EINVAL (NULL argument, a bad escape, empty once decoded),
 * IRPC_ENOTFOUND (no adapter-id parameter), IRPC_ENOMEM. */
IRPC_API int irpc_service_address_ice_adapter_id(const irpc_service_address *s,
                                                 char **adapter_id);

/* How an Ice proxy is invoked (its mode option). */
typedef enum irpc_ice_proxy_mode {
  IRPC_ICE_PROXY_TWOWAY = 0,         /* -t, the default */
  IRPC_ICE_PROXY_ONEWAY = 1,         /* -o */
  IRPC_ICE_PROXY_BATCH_ONEWAY = 2,   /* -O */
  IRPC_ICE_PROXY_DATAGRAM = 3,       /* -d */
  IRPC_ICE_PROXY_BATCH_DATAGRAM = 4, /* -D */
} irpc_ice_proxy_mode;

/* What an Ice proxy says beyond its service address. */
typedef struct irpc_ice_proxy_info {
  size_t struct_size;
  irpc_ice_proxy_mode mode; /* default IRPC_ICE_PROXY_TWOWAY */
  int secure;               /* -s given */
  int compress;             /* an endpoint had -z */
  uint8_t encoding_major;   /* -e, default 1.1 */
  uint8_t encoding_minor;
} irpc_ice_proxy_info;

/* Sets `info` to the defaults and its struct_size. Call
 * irpc_ice_proxy_info_init. */
IRPC_API void irpc_ice_proxy_info_init_sized(irpc_ice_proxy_info *info,
                                             size_t size);
static inline void irpc_ice_proxy_info_init(irpc_ice_proxy_info *info) {
  irpc_ice_proxy_info_init_sized(info, sizeof(*info));
}

/* Parses an Ice 3.7 stringified proxy (see above) into an ice service
 * address. `info` may be NULL; else it must have been initialised
 * (irpc_ice_proxy_info_init) and receives the proxy's mode and options.
 * Leading and trailing blanks are ignored.
 * Errors: IRPC_EINVAL (NULL argument; a malformed proxy: empty, an
 * unterminated quote, a bad identity escape, an empty identity name, an
 * identity with two unescaped '/', an unknown or repeated-argument option,
 * an option missing its argument or given one it does not take, -e other
 * than 1.0/1.1, -p other than 1.0, an empty endpoint, an unknown endpoint
 * type, an unknown endpoint option, a bad port or timeout, a bad host, an
 * empty adapter id, both endpoints and an adapter id; info with a
 * struct_size of 0), IRPC_ENOTSUP (an "opaque" endpoint), IRPC_ELIMIT
 * (more than 32 endpoints), IRPC_ENOMEM. */
IRPC_API int irpc_service_address_parse_ice_proxy(irpc_service_address **out,
                                                  const char *proxy,
                                                  irpc_ice_proxy_info *info);

/* Writes the Ice stringified proxy of an ice service address,
 * NUL-terminated, into `buf`: the identity (quoted when needed), -f facet
 * when there is one, the mode (-t, -o ...; from `info`, twoway when NULL),
 * -s when info says so, "-e 1.1" (or info's encoding), then ":endpoint" for
 * each server address ("tcp" for an unspecified transport) or
 * " @ adapter-id". Ice 3.7 and the parser above read it back to the same
 * address.
 * Errors: IRPC_EINVAL (NULL s, buf NULL with len > 0, an address that is
 * not ice or has no identity, info with a struct_size of 0), IRPC_ENOTSUP (a
 * server address Ice cannot name: a uds or memory transport, a parameter
 * that is not an Ice endpoint option), UV_ENOBUFS (as
 * irpc_server_address_format). */
IRPC_API int
irpc_service_address_format_ice_proxy(const irpc_service_address *s,
                                      const irpc_ice_proxy_info *info,
                                      char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
