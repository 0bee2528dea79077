/* irpc: connections speaking the icerpc protocol over Slic, or ZeroC
 * Ice's ice protocol (irpc/ice.h: how requests map onto it, and the errors
 * of its own an ice connection ends with).
 *
 * An irpc_connection is one transport connection (TCP, Unix domain socket,
 * in memory) carrying calls in both directions: its invoker sends requests
 * to the peer, and its dispatcher (optional on the client side) answers the
 * peer's requests. Servers create connections for the clients they accept;
 * client connections (irpc_client_connection_new) and the connection cache
 * create them on demand.
 *
 * Calling back: a dispatch reaches the connection its request arrived on
 * with irpc_incoming_request_connection (or its invoker with
 * irpc_incoming_request_invoker) and may call the peer now, or keep a
 * reference (irpc_connection_ref) to call it later. Once the connection is
 * gone, its invoker fails every call at once with the error the connection
 * closed with (irpc_connection_close_error).
 *
 * How a connection ends: the error its close callbacks
 * (irpc_connection_on_close) and irpc_connection_close_error give, which
 * is also the error of the calls and dispatches the end cuts short:
 *   IRPC_ECLOSED        this side shut it down gracefully
 *                       (irpc_connection_shutdown, the client connection's,
 *                       connection cache's or server's shutdown, the
 *                       inactivity timeout);
 *   IRPC_ECLOSEDBYPEER  the peer shut it down gracefully (its GoAway
 *                       started the shutdown), or closed it (Slic Close,
 *                       code 0);
 *   UV_ECONNRESET       the peer vanished: the transport ended (EOF, reset,
 *                       a write to a closed socket) without a Slic Close: a
 *                       process that crashed or aborted its connection, a
 *                       link that went down;
 *   UV_ECONNABORTED     this side aborted it (irpc_connection_abort with 0,
 *                       irpc_server_free, freeing a client connection, a
 *                       graceful shutdown past shutdown_timeout_ms), or the
 *                       peer's Close said so (code 1 or unknown);
 *   IRPC_EIDLE          nothing was received for idle_timeout_ms;
 *   UV_ECONNREFUSED, IRPC_ESERVERBUSY   the server refused the connection
 *                       (Close codes 2 and 3; also a Slic version refusal);
 *   IRPC_ETIMEDOUT      the handshake took longer than connect_timeout_ms;
 *   IRPC_EPROTO, IRPC_ELIMIT   the peer broke the protocol, or a limit;
 *   IRPC_ETLS...        over TLS, a handshake failure this side detected
 *                       or the peer's alert reported (irpc/tls.h lists
 *                       them); IRPC_ETLSPEER on a plain-text connection
 *                       whose peer speaks TLS;
 *   IRPC_ENOMEM         an allocation failed;
 *   any other error     given to irpc_connection_abort, or a transport
 *                       error passed through (UV_ETIMEDOUT, ...).
 *
 * A call under way on a connection ends with, besides its response:
 *   - the connection's error above, when the connection ends under it;
 *   - IRPC_EINVCANCELED: the peer's GoAway did not accept it: it was not
 *     dispatched and is safe to retry (the retry interceptor does);
 *   - IRPC_EREFUSED: it was never sent: made while the connection shuts
 *     down, or still waiting for a stream (or with no frame written) when
 *     the connection ended; the client connection sends it again on a new
 *     connection;
 *   - IRPC_ETRUNCATED: the peer reset its stream before answering (its
 *     dispatch failed or was canceled);
 *   - IRPC_EPROTO, IRPC_ELIMIT: a bad or too large response (that stream
 *     only);
 *   - IRPC_ENOREQUESTS: the peer accepts no requests (see
 *     irpc_connection_invoker);
 *   - its own cancel error (irpc_call_cancel, IRPC_EDEADLINE).
 * In a graceful shutdown, by either side, the calls the peer accepted and
 * the dispatches under way complete normally.
 *
 * A dispatch is canceled (irpc_dispatch_on_cancel) with IRPC_ECANCELED
 * when the peer canceled the call (it reset the stream), and with the
 * connection's error above when the connection ends under it.
 *
 * Threading: a connection belongs to its loop. */
#ifndef IRPC_CONNECTION_H
#define IRPC_CONNECTION_H

#include <uv.h>

#include "irpc/address.h"
#include "irpc/common.h"
#include "irpc/dispatcher.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_connection irpc_connection;
typedef struct irpc_transport irpc_transport;
typedef struct irpc_peer_credentials irpc_peer_credentials;
typedef struct irpc_ice_options irpc_ice_options; /* irpc/ice.h */
typedef struct irpc_tls_client irpc_tls_client;   /* irpc/tls.h */
typedef struct irpc_tls_server irpc_tls_server;   /* irpc/tls.h */

/* Answers of irpc_icerpc_options.stream_request. */
#define IRPC_STREAM_REQUEST_WHOLE 0   /* read to its end, then dispatched */
#define IRPC_STREAM_REQUEST_STREAM 1  /* dispatched at once, with a reader */
#define IRPC_STREAM_REQUEST_SEGMENT 2 /* one segment, the rest not read */

/* The icerpc protocol's part of a connection's options (IceRPC's
 * ConnectionOptions and SlicTransportOptions); irpc_icerpc_options_init
 * sets IceRPC's defaults. A value of 0 where "0 = infinite" is noted
 * disables that limit. Handed over through irpc_connection_options'
 * `icerpc` member and copied when the client connection, connection cache
 * or server is created. A value out of range makes that creation fail
 * with IRPC_EINVAL. */
typedef struct irpc_icerpc_options {
  size_t struct_size; /* set by irpc_icerpc_options_init */
  /* Largest request or response header accepted: 16,383 (63..1,048,575).
   */
  uint64_t max_header_size;
  /* Streams the peer may open at once: 100 bidirectional, 100
   * unidirectional (plus the control stream); at least 1 each. */
  uint64_t max_bidirectional_streams;
  uint64_t max_unidirectional_streams;
  /* Slic: the connection dies (IRPC_EIDLE) after this long without
   * receiving a byte; the client pings at half of it. 30,000 ms; 0 =
   * infinite. */
  uint64_t idle_timeout_ms;
  /* Slic flow control: the window of each stream, 65,536 (1,024..
   * 2,147,483,647), and the largest stream frame, 32,768 (1,024..
   * 16,777,215). */
  uint64_t initial_stream_window_size;
  uint64_t max_stream_frame_size;
  /* The compression formats this side accepts in requests, as a mask of
   * IRPC_COMPRESSION_BIT(format) (irpc/compress.h). The side announces, in
   * its Settings frame under IRPC_SETTING_COMPRESSION_FORMATS, those of
   * them its dispatcher chain decompresses
   * (irpc_compress_formats_decompressed_by: a compress middleware in front
   * of it or on its router), and answers a request compressed in any other
   * format NotSupported without dispatching it; a side without a
   * dispatcher or without the middleware announces none. Default
   * irpc_compress_formats_readable() (Deflate, Brotli, zstd); clear a bit
   * to keep peers from sending that format. Responses do not depend on
   * it: each call lists what it decompresses. A format this build does not
   * read is IRPC_EINVAL. */
  uint64_t compression_formats;
  /* Which requests are dispatched as streams (irpc/stream.h): called with
   * the path and operation of each request once its header arrived; a
   * non-zero answer dispatches it at once, with an empty payload, its
   * payload and continuation coming through the request's reader
   * (irpc_incoming_request_take_continuation) as they arrive. NULL (the
   * default): every request is dispatched once its payload ended.
   * IRPC_STREAM_REQUEST_SEGMENT: the payload is one Slice segment (a
   * varuint62 size, then that many bytes), dispatched once it arrived;
   * what follows it on the stream (a continuation the operation does not
   * take) is not read: the peer learns it (StreamReadsClosed, its writer
   * ends with IRPC_ESTOPPED) and the response goes out as usual, as
   * IceRPC's generated dispatch reads its arguments. A compressed
   * payload is read to its end. */
  int (*stream_request)(void *user_data, const char *path,
                        const char *operation);
  void *stream_request_user_data;
} irpc_icerpc_options;

/* Sets `o` to IceRPC's defaults (above) and o->struct_size. Call
 * irpc_icerpc_options_init, which passes this header's sizeof
 * (irpc/version.h). */
IRPC_API void irpc_icerpc_options_init_sized(irpc_icerpc_options *o,
                                             size_t size);
static inline void irpc_icerpc_options_init(irpc_icerpc_options *o) {
  irpc_icerpc_options_init_sized(o, sizeof(*o));
}

/* Options of a connection, whatever its protocol; irpc_connection_options_init
 * sets the defaults. A value of 0 where "0 = infinite/unlimited" is noted
 * disables that limit. The client connection, connection cache and server
 * copy them (and the protocol parts they point to) when created: the
 * caller's structs need not outlive that call. */
typedef struct irpc_connection_options {
  /* Set by irpc_connection_options_init. Inside irpc_server_options and
   * irpc_connection_cache_options it is not read: the outer struct's
   * struct_size covers this one. */
  size_t struct_size;
  /* Answers the peer's requests; NULL on a client means the peer may open
   * no request streams (IceRPC's rule). Borrowed. */
  irpc_dispatcher *dispatcher;
  /* Dispatches running at once: 100; 0 = unlimited. Further requests wait
   * (their streams are accepted and read). */
  uint64_t max_dispatches;
  /* Largest payload received (request or response): 256 MiB; 0 =
   * unlimited. A bigger payload fails that stream (the dispatch is not run
   * / the call fails with IRPC_ELIMIT). */
  uint64_t max_payload_size;
  /* Shutdown requested after this long without calls or dispatches:
   * 300,000 ms; 0 = infinite. */
  uint64_t inactivity_timeout_ms;
  /* Connection establishment and graceful shutdown: 10,000 ms each; 0 is
   * IRPC_EINVAL. The shutdown timeout also bounds how long a connection the
   * peer closed waits for the peer's end of the transport. */
  uint64_t connect_timeout_ms;
  uint64_t shutdown_timeout_ms;
  /* The transport; NULL picks it from the address (`transport=` "tcp" by
   * default, "uds"). Borrowed. */
  irpc_transport *transport;
  /* The icerpc protocol's options (irpc_icerpc_options_init); NULL means
   * IceRPC's defaults. Copied at creation (see above). */
  const irpc_icerpc_options *icerpc;
  /* The ice protocol's options (irpc/ice.h, irpc_ice_options_init); NULL
   * means the defaults. Copied at creation (see above). */
  const irpc_ice_options *ice;
  /* TLS (irpc/tls.h). A client connection or connection cache with
   * `tls_client` speaks TLS on every connection it makes; a server with
   * `tls_server` on every connection it accepts (the other member is not
   * read). NULL: plain text, except for an ice address with
   * `transport=ssl`, which then fails with IRPC_EINVAL. Borrowed: the
   * context must outlive the object created with these options. */
  irpc_tls_client *tls_client;
  irpc_tls_server *tls_server;
} irpc_connection_options;

/* Sets `o` to the defaults (above, `icerpc` and `ice` NULL) and o->struct_size.
 * Call irpc_connection_options_init, which passes this header's sizeof
 * (irpc/version.h). */
IRPC_API void irpc_connection_options_init_sized(irpc_connection_options *o,
                                                 size_t size);
static inline void irpc_connection_options_init(irpc_connection_options *o) {
  irpc_connection_options_init_sized(o, sizeof(*o));
}

/* ---- A connection ---- */

/* Takes and drops a reference. A connection lives while referenced or
 * open. */
IRPC_API irpc_connection *irpc_connection_ref(irpc_connection *c);
IRPC_API void irpc_connection_unref(irpc_connection *c);

/* The invoker that calls the peer over this connection. Borrowed: valid
 * while the caller holds a reference or the connection is open. Invoking it
 * once the connection is closed fails at once (see the header comment).
 *
 * Request streams: a two-way call takes a bidirectional stream of the
 * peer's, a one-way call a unidirectional one.
 *   - A peer that accepts no requests of that kind fails the call at once
 *     with IRPC_ENOREQUESTS (nothing is sent, and retrying cannot help): a
 *     client connection without a dispatcher announces 0 bidirectional
 *     streams and 1 unidirectional stream (its control stream), as IceRPC
 *     does.
 *   - When the peer's limit of streams at once is reached (its
 *     max_bidirectional_streams / max_unidirectional_streams), the call
 *     waits, in order, until a stream is released. The wait is bounded only
 *     by the call itself: irpc_call_cancel ends it at once with the cancel
 *     error, and so does the deadline interceptor (IRPC_EDEADLINE, see
 *     irpc/deadline.h); the connection closing ends it too (see the list
 *     of errors in the header comment). */
IRPC_API irpc_invoker *irpc_connection_invoker(irpc_connection *c);

/* A number unique among the connections of this process. */
IRPC_API uint64_t irpc_connection_id(const irpc_connection *c);
/* "127.0.0.1:4062", "[::1]:5000", a socket path, or a memory name; "" when
 * unknown. Valid as long as the connection. */
IRPC_API const char *irpc_connection_remote_address(const irpc_connection *c);
IRPC_API const char *irpc_connection_local_address(const irpc_connection *c);
/* Over a Unix domain socket, the process at the other end: pid, uid, gid
 * (SO_PEERCRED, recorded by the kernel when the connection was made: a
 * server can trust it to decide who may call). NULL over TCP, in memory,
 * or when the system does not tell. Valid as long as the connection. */
IRPC_API const irpc_peer_credentials *
irpc_connection_peer_credentials(const irpc_connection *c);
/* 1 when the connection is established and not shutting down. */
IRPC_API int irpc_connection_is_active(const irpc_connection *c);
/* 0 while open; the error it closed with afterwards (see the header
 * comment: IRPC_ECLOSED after a graceful shutdown this side started,
 * IRPC_ECLOSEDBYPEER after one the peer started, UV_ECONNRESET when the
 * peer vanished, ...). */
IRPC_API int irpc_connection_close_error(const irpc_connection *c);

/* Runs `cb` once when the connection closes (immediately on a later loop
 * turn if it is already closed), with the error it closed with (see the
 * header comment). Several may be registered; returns a token for
 * irpc_connection_off_close.
 * Errors (negative): IRPC_EINVAL, IRPC_ENOMEM. */
typedef void (*irpc_connection_close_cb)(irpc_connection *c, int err,
                                         void *user_data);
IRPC_API long irpc_connection_on_close(irpc_connection *c,
                                       irpc_connection_close_cb cb,
                                       void *user_data);
IRPC_API void irpc_connection_off_close(irpc_connection *c, long token);

/* Graceful shutdown: no new calls (they fail with IRPC_ECLOSED), GoAway to
 * the peer, calls and dispatches under way complete, then the connection
 * closes. Calls the peer did not accept fail with IRPC_EINVCANCELED (safe
 * to retry). `cb` (may be NULL) runs once with 0, or IRPC_ETIMEDOUT if
 * shutdown_timeout_ms passed first (the connection is then aborted).
 * Errors: IRPC_EINVAL, IRPC_ECLOSED (already closing or closed). */
typedef void (*irpc_connection_shutdown_cb)(irpc_connection *c, int status,
                                            void *user_data);
IRPC_API int irpc_connection_shutdown(irpc_connection *c,
                                      irpc_connection_shutdown_cb cb,
                                      void *user_data);
/* Abortive close, without a Slic Close: calls fail and dispatches are
 * canceled with `err` (UV_ECONNABORTED if 0), the close callbacks get it;
 * the peer sees its transport end: UV_ECONNRESET. */
IRPC_API void irpc_connection_abort(irpc_connection *c, int err);

/* The connection a request arrived on (borrowed; NULL for coloc). */
IRPC_API irpc_connection *
irpc_incoming_request_connection(const irpc_incoming_request *r);

/* ---- Client connection: an invoker bound to one server address ----
 *
 * Connects on the first call (later calls wait for it), reconnects on the
 * next call after the connection closed for any reason other than
 * irpc_client_connection_shutdown, and retries a call the closing
 * connection refused before sending it. Put it at the end of a pipeline
 * (irpc_pipeline_into) or invoke it directly.
 *
 * Errors of its calls: the connect error (UV_ECONNREFUSED, ...),
 * IRPC_ETIMEDOUT (connect timeout), what the connection fails them with,
 * IRPC_ECLOSED after shutdown. A connect error is not retried by the retry
 * interceptor (irpc/retry.h): while the server is down every call fails at
 * once, and the application decides when to call again.
 *
 * `opts` NULL means the defaults; it and opts->icerpc are copied.
 * Errors: IRPC_EINVAL (NULL out, loop or server_address, opts->struct_size
 * or opts->icerpc->struct_size 0, smaller than the first version or larger
 * with non-zero unknown members, options or icerpc options out of
 * range, an address irpc_server_address_parse rejects -- it needs a
 * scheme: "icerpc://127.0.0.1:4062", not "127.0.0.1:4062" -- or an
 * unknown transport), IRPC_EPROTONOSUPPORT (a protocol this build does
 * not speak: "ice://..." when built without the ice protocol; nothing is
 * created and no connect is made),
 * IRPC_ENOMEM. */
IRPC_API int irpc_client_connection_new(irpc_invoker **out, uv_loop_t *loop,
                                        const char *server_address,
                                        const irpc_connection_options *opts);
/* Starts connecting now (calls would do it anyway). `cb` (may be NULL) runs
 * once with 0 or the connect error.
 * Errors: IRPC_EINVAL (not a client connection), IRPC_ECLOSED. */
typedef void (*irpc_client_connection_cb)(irpc_invoker *inv, int status,
                                          void *user_data);
IRPC_API int irpc_client_connection_connect(irpc_invoker *inv,
                                            irpc_client_connection_cb cb,
                                            void *user_data);
/* The current connection, or NULL when not connected (borrowed). */
IRPC_API irpc_connection *irpc_client_connection_connection(irpc_invoker *inv);
/* Shuts the connection down gracefully and stops reconnecting; `cb` (may be
 * NULL) runs once with 0 or IRPC_ETIMEDOUT. irpc_invoker_free may follow at
 * any time (it aborts what is left).
 * Errors: IRPC_EINVAL, IRPC_ECLOSED (already shut down). */
IRPC_API int irpc_client_connection_shutdown(irpc_invoker *inv,
                                             irpc_client_connection_cb cb,
                                             void *user_data);

/* ---- Knowing when a connection was made again ----
 *
 * A client connection (and a connection cache, irpc/connection_cache.h)
 * connects again, on the next call, after its connection was lost. The
 * server may have restarted meanwhile and lost the state the application
 * built there (subscriptions, registrations, a callback connection it
 * kept): a connect hook tells the application each time a connection to
 * the server is established, so it can build that state again.
 *
 * The hook runs on the loop, once per established connection (the
 * handshake succeeded), before the calls that waited for that connection
 * are sent: a call the hook makes on the same invoker goes first. It does
 * not run for connects that fail, nor once the invoker is shut down, and
 * never once it is freed (a connection still handshaking then is abandoned
 * without a hook). To learn
 * when the connection is lost, register irpc_connection_on_close on
 * ev->connection from the hook; to reconnect without waiting for the next
 * call, call irpc_client_connection_connect then (with a delay of your own
 * when the server may be down for a while).
 *
 * Inside the hook the application may call through the invoker, shut it
 * down, add or remove hooks (a hook added there runs from the next
 * connection on), but must not free the invoker (irpc_invoker_free):
 * shut it down instead, and free it later. */
typedef struct irpc_connect_event {
  /* The new connection, active (borrowed: take a reference to keep it). */
  irpc_connection *connection;
  /* The server address it is connected to (borrowed, valid during the
   * hook). */
  const irpc_server_address *server_address;
  /* Connections established to this server address by this invoker,
   * this one included: 1 on the first connection, 2 on the first
   * reconnection, ... */
  uint64_t count;
  /* 1 when count > 1: a connection to this address existed before and was
   * lost or closed; state kept by the server may be gone. */
  int reconnected;
  /* How the previous connection to this address ended (the error it
   * closed with: IRPC_ECLOSEDBYPEER, UV_ECONNRESET, IRPC_EIDLE, ...); 0 on
   * the first connection. */
  int previous_error;
} irpc_connect_event;

typedef void (*irpc_connect_hook)(irpc_invoker *inv,
                                  const irpc_connect_event *ev,
                                  void *user_data);

/* Registers a connect hook on a client connection; hooks run in the order
 * registered. Returns a token (> 0) for irpc_client_connection_off_connect.
 * Errors (negative): IRPC_EINVAL (not a client connection, or cb NULL),
 * IRPC_ENOMEM. */
IRPC_API long irpc_client_connection_on_connect(irpc_invoker *inv,
                                                irpc_connect_hook cb,
                                                void *user_data);
/* Removes a hook (it does not run again, even when removed from inside a
 * hook of the same event). An unknown token is ignored. */
IRPC_API void irpc_client_connection_off_connect(irpc_invoker *inv, long token);

#ifdef __cplusplus
}
#endif
#endif
