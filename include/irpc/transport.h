/* irpc: duplex transports (connected byte streams) on libuv.
 *
 * A duplex (irpc_duplex) is one connected, ordered, reliable byte stream:
 * a TCP connection, a Unix domain socket connection, or one end of an
 * in-memory pair. A transport (irpc_transport) connects duplexes to server
 * addresses (irpc/address.h) and listens for them (irpc_listener).
 *
 * Built in: TCP ("tcp"), Unix domain sockets ("uds"), in-memory ("memory",
 * one namespace of listeners per transport object) and a fault-injecting
 * decorator for tests. All of them are written on the implementation
 * interface at the end of this header, which users can implement too.
 *
 * Callbacks:
 *   - Every completion callback (connect, write, shutdown, close, accept,
 *     listener close) runs on the duplex's loop, never inside the call that
 *     started the operation.
 *   - Read callbacks receive bytes that are valid only during the callback
 *     (TCP and UDS reads share one 64 KiB buffer per loop).
 *   - Any function of this header may be called from inside any callback,
 *     including irpc_duplex_close on the duplex whose callback is running.
 *
 * Lifetime: a duplex is freed after its close callback has run; closing is
 * the only way to release one (irpc_duplex_close, or the library itself
 * after a failed connect, see irpc_connect_cb).
 *
 * Threading: a duplex, listener and their callbacks belong to one loop and
 * are used on that loop's thread only. Transport objects may be shared by
 * loops on different threads (the memory transport's listener table is
 * locked), but the duplexes of one memory transport must all run on one
 * loop. */
#ifndef IRPC_TRANSPORT_H
#define IRPC_TRANSPORT_H

#include <uv.h>

#include "irpc/address.h"
#include "irpc/buf.h"
#include "irpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_duplex irpc_duplex;
typedef struct irpc_transport irpc_transport;
typedef struct irpc_listener irpc_listener;

/* Read callback. status 0: `len` > 0 bytes at `data`, valid only during the
 * call. UV_EOF: the peer shut down its side (FIN); no more data will come.
 * Another negative error (UV_ECONNRESET, ...): the connection failed. After
 * a negative status reading stops: no more read callbacks. */
typedef void (*irpc_duplex_read_cb)(irpc_duplex *d, int status,
                                    const uint8_t *data, size_t len,
                                    void *user_data);

/* Completion of a write, shutdown or close. */
typedef void (*irpc_duplex_cb)(irpc_duplex *d, int status, void *user_data);

/* Completion of irpc_transport_connect. status 0: `d` is connected and is
 * yours to use and, eventually, to close. status < 0 (UV_ECONNREFUSED,
 * UV_ETIMEDOUT, a getaddrinfo error such as UV_EAI_NONAME, UV_ECANCELED
 * after irpc_duplex_close, ...): the library closes and frees `d` after the
 * callback returns; do not use it after that. Calling irpc_duplex_close on
 * it from inside this callback is allowed (its callback then runs later, as
 * usual) but not needed. */
typedef void (*irpc_connect_cb)(irpc_duplex *d, int status, void *user_data);

/* A new connection accepted by `l`; the callee owns `d` (connected) and
 * must close it eventually. */
typedef void (*irpc_accept_cb)(irpc_listener *l, irpc_duplex *d,
                               void *user_data);

typedef void (*irpc_listener_close_cb)(irpc_listener *l, void *user_data);

/* ---- Using a duplex ---- */

/* Starts delivering received bytes to `cb`. Calling it again while reading
 * replaces the callback. Data that arrived while not reading is kept (by
 * the kernel or the memory transport) and delivered after the next start.
 * Errors: IRPC_EINVAL (NULL d or cb), UV_ENOTCONN (connect not completed),
 * IRPC_ECLOSED (closing, or reading already ended with a negative status),
 * or the transport's error. */
IRPC_API int irpc_duplex_read_start(irpc_duplex *d, irpc_duplex_read_cb cb,
                                    void *user_data);

/* Stops delivering reads (none are delivered after it returns, even from
 * inside a read callback). Stopping twice is fine.
 * Errors: IRPC_EINVAL (NULL d). */
IRPC_API int irpc_duplex_read_stop(irpc_duplex *d);

/* Moves every byte of `data` into the write queue (`data` is left empty and
 * stays the caller's). `cb` (may be NULL) runs once, never inside this
 * call: status 0 when the bytes were written, or a negative error
 * (UV_ECANCELED when the duplex was closed first, UV_ECONNRESET, UV_EPIPE,
 * ...). Writes complete in order. An empty write is allowed.
 * Errors (nothing queued, `data` unchanged, cb will not run): IRPC_EINVAL
 * (NULL d or data), UV_ENOTCONN (connect not completed), UV_EPIPE (after
 * irpc_duplex_shutdown), IRPC_ECLOSED (closing), IRPC_ENOMEM. */
IRPC_API int irpc_duplex_write(irpc_duplex *d, irpc_buf *data,
                               irpc_duplex_cb cb, void *user_data);

/* Bytes given to irpc_duplex_write whose callback has not run yet. */
IRPC_API size_t irpc_duplex_write_queue_size(const irpc_duplex *d);

/* Sends FIN after the queued writes: the peer reads UV_EOF once it has read
 * everything. `cb` (may be NULL) runs once, never inside this call. Later
 * writes fail with UV_EPIPE.
 * Errors (cb will not run): IRPC_EINVAL (NULL d), UV_ENOTCONN (connect not
 * completed), UV_EPIPE (already shut down), IRPC_ECLOSED (closing). */
IRPC_API int irpc_duplex_shutdown(irpc_duplex *d, irpc_duplex_cb cb,
                                  void *user_data);

/* Closes the duplex at once. A pending connect, the pending writes (in
 * order) and a pending shutdown complete with UV_ECANCELED, then `cb`
 * (may be NULL) runs as cb(d, 0, user_data) on a later loop turn, and `d`
 * is freed after it returns. No read callback runs after this call. Safe
 * from inside any callback. Closing again is a no-op (the second callback
 * never runs); NULL is a no-op. A TCP peer sees FIN (or a reset when
 * received data was left unread), a memory peer UV_ECONNRESET once it has
 * read what was sent before. */
IRPC_API void irpc_duplex_close(irpc_duplex *d, irpc_duplex_cb cb,
                                void *user_data);

/* As irpc_duplex_close (pending writes complete with UV_ECANCELED), but
 * abrupt. What the peer reads: UV_ECONNRESET over TCP (an RST, through
 * uv_tcp_close_reset when possible) and over the memory transport; over a
 * Unix domain socket, which has no reset, UV_EOF as after a close. */
IRPC_API void irpc_duplex_abort(irpc_duplex *d, irpc_duplex_cb cb,
                                void *user_data);

/* The local and the remote address, NUL-terminated: "127.0.0.1:4062",
 * "[::1]:5000", "/run/app.sock", "@abstract", or the memory listener's name
 * (the client end of a memory connection has "" locally, as has a UDS
 * client).
 * Errors: IRPC_EINVAL (NULL argument), UV_ENOTCONN (not connected),
 * UV_ENOBUFS (`len` too small), or the system's error. */
IRPC_API int irpc_duplex_local_address(const irpc_duplex *d, char *buf,
                                       size_t len);
IRPC_API int irpc_duplex_remote_address(const irpc_duplex *d, char *buf,
                                        size_t len);

IRPC_API uv_loop_t *irpc_duplex_loop(const irpc_duplex *d);

/* The process at the other end of a Unix domain socket, as the kernel
 * recorded it when the connection was made (SO_PEERCRED): the peer cannot
 * forge it. For a server, the client process; for a client, the server
 * process (at the time it called listen). */
typedef struct irpc_peer_credentials {
  int64_t pid;
  uint32_t uid;
  uint32_t gid;
} irpc_peer_credentials;

/* The peer's credentials (Unix domain sockets on Linux).
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOTSUP (a transport that has
 * none: TCP, memory, or a system without SO_PEERCRED), UV_ENOTCONN (not
 * connected), or the system's error. */
IRPC_API int irpc_duplex_peer_credentials(const irpc_duplex *d,
                                          irpc_peer_credentials *out);
/* The name of the duplex's implementation ("tcp", "uds", "memory",
 * "fault"). */
IRPC_API const char *irpc_duplex_type(const irpc_duplex *d);

/* ---- Transports and listeners ---- */

/* Connects to `addr` on `loop`. On success *out is the new duplex, valid at
 * once (close it to cancel the connect), and `cb` runs exactly once, never
 * inside this call (see irpc_connect_cb for ownership on failure).
 * Errors (cb will not run, *out untouched): IRPC_EINVAL (NULL argument, or
 * an address the transport cannot use, such as uds without a path),
 * IRPC_ENOMEM, or the transport's error. Connection failures (refused,
 * unknown host) are reported through cb, not here. */
IRPC_API int irpc_transport_connect(irpc_transport *t, uv_loop_t *loop,
                                    const irpc_server_address *addr,
                                    irpc_duplex **out, irpc_connect_cb cb,
                                    void *user_data);

/* Listens on `addr`: each accepted connection goes to `cb`. TCP: the host
 * must be an IP literal, "localhost" (resolved now, the first address
 * wins) or empty/"::0"/"0.0.0.0" for any address; port 0 picks a free port;
 * backlog 511. UDS: a socket file at `path` that nobody listens on any
 * more (left by a process that died: connecting to it is refused) is
 * unlinked before binding; a socket file a live listener answers on is
 * never touched (UV_EADDRINUSE; that listener sees one connection opened
 * and closed at once), nor is any other kind of file (UV_EADDRINUSE). The
 * file is unlinked again on close. A path starting with '@' is a Linux
 * abstract socket. Memory: the host is the listener's name within the
 * transport object.
 * Errors: IRPC_EINVAL (NULL argument, unusable address), UV_EADDRINUSE,
 * UV_EACCES, UV_ENAMETOOLONG (UDS path), IRPC_ENOMEM, or another system
 * error. */
IRPC_API int irpc_transport_listen(irpc_transport *t, uv_loop_t *loop,
                                   const irpc_server_address *addr,
                                   irpc_accept_cb cb, void *user_data,
                                   irpc_listener **out);

/* The bound address as a server address (TCP port 0 resolved), owned by
 * the listener. */
IRPC_API const irpc_server_address *
irpc_listener_address(const irpc_listener *l);

IRPC_API uv_loop_t *irpc_listener_loop(const irpc_listener *l);

/* Stops listening. Accepted connections not yet handed to the accept
 * callback are closed. `cb` (may be NULL) runs on a later loop turn, then
 * the listener is freed. Closing again is a no-op; NULL is a no-op. */
IRPC_API void irpc_listener_close(irpc_listener *l, irpc_listener_close_cb cb,
                                  void *user_data);

/* The built-in transports: static singletons, never freed.
 *
 * SIGPIPE: a write to a TCP or Unix socket whose peer is gone raises
 * SIGPIPE, whose default action ends the process. While SIGPIPE has that
 * default action, these transports set it to ignored (SIG_IGN) when they
 * connect, accept or listen, so such a write fails with UV_EPIPE and ends
 * that connection only. A handler or disposition the application installed
 * is left as it is: it then receives the signal. */
IRPC_API irpc_transport *irpc_transport_tcp(void);
IRPC_API irpc_transport *irpc_transport_uds(void);
/* The built-in transport named `name` ("tcp", "uds"), or NULL. */
IRPC_API irpc_transport *irpc_transport_by_name(const char *name);

IRPC_API const char *irpc_transport_name(const irpc_transport *t);

/* Frees a transport made with a _new function once no duplex or listener
 * of it is left. NULL and the built-in singletons are no-ops. */
IRPC_API void irpc_transport_free(irpc_transport *t);

/* ---- In-memory transport ---- */

/* A transport whose listeners are named by the address host, within this
 * transport object. Connecting to a name nobody listens on fails with
 * UV_ECONNREFUSED; listening twice on a name fails with UV_EADDRINUSE.
 * Bytes move without copies. A write completes once the peer has read all
 * its bytes (so a peer that does not read holds writes back: the queue
 * size grows); a shutdown completes once every earlier write has.
 * Errors: IRPC_EINVAL (NULL out), IRPC_ENOMEM. */
IRPC_API int irpc_transport_memory_new(irpc_transport **out);

/* Two connected in-memory duplexes on `loop` (*a's remote address is "b"
 * and the reverse). Deterministic: reads are delivered on a later loop turn
 * (never inside irpc_duplex_write), one read callback per written segment,
 * in write order. A FIN reaches the peer as UV_EOF after the data; a close
 * reaches it as UV_ECONNRESET after the data sent before it, unless a FIN
 * was sent first; an abort discards the peer's unread data. Writes towards
 * a closed peer fail with UV_ECONNRESET.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_duplex_pair(uv_loop_t *loop, irpc_duplex **a,
                              irpc_duplex **b);

/* ---- Fault injection (tests) ----
 *
 * The fault decorator wraps a transport or a duplex and breaks operations on
 * demand. A fault (irpc_fault) is a set of rules, one per operation:
 *
 *   op                     actions
 *   IRPC_FAULT_CONNECT     FAIL(arg = error), HOLD
 *   IRPC_FAULT_LISTEN      FAIL(arg = error)
 *   IRPC_FAULT_ACCEPT      FAIL (the accepted connection is reset and never
 *                          reaches the accept callback), HOLD (accepted
 *                          connections wait until released)
 *   IRPC_FAULT_READ        FAIL(arg = error: delivered as the read status,
 *                          the inner connection is reset), HOLD (the read is
 *                          kept and delivery paused), TRUNCATE(arg = n: only
 *                          the first n bytes of the read are delivered, then
 *                          UV_ECONNRESET), RESET
 *   IRPC_FAULT_WRITE       FAIL(arg = error: that write fails, nothing is
 *                          sent, the connection stays up), HOLD (this and
 *                          later writes wait), TRUNCATE(arg = n: the first n
 *                          bytes are sent, then the connection is reset and
 *                          the write fails with UV_ECONNRESET), RESET
 *   IRPC_FAULT_SHUTDOWN    FAIL(arg = error), HOLD, RESET (instead of FIN)
 *
 * RESET resets the connection: the inner duplex is aborted (the peer sees
 * UV_ECONNRESET), the operation fails with UV_ECONNRESET, a reader gets
 * UV_ECONNRESET, and later operations fail with UV_ECONNRESET until the
 * duplex is closed. HOLD keeps the operation pending until
 * irpc_fault_release or irpc_fault_clear of that op (it then proceeds) or
 * until the duplex (listener) is closed (it then fails with UV_ECANCELED).
 *
 * Triggers: a rule applies to operations number skip+1 .. skip+count of its
 * op counted from when it is set (count 0: all from skip+1 on); after that
 * the operations pass. A read operation is one delivery from the inner
 * duplex, a write one irpc_duplex_write call.
 *
 * A fault transport's rules apply to every duplex and listener it makes,
 * counting their operations together; a duplex also has rules (and
 * counters) of its own, which win over the transport's for an op where they
 * are set. CONNECT, LISTEN and ACCEPT rules only act on a transport. */

typedef struct irpc_fault irpc_fault;

typedef enum irpc_fault_op {
  IRPC_FAULT_CONNECT = 0,
  IRPC_FAULT_LISTEN,
  IRPC_FAULT_ACCEPT,
  IRPC_FAULT_READ,
  IRPC_FAULT_WRITE,
  IRPC_FAULT_SHUTDOWN,
  IRPC_FAULT_OP_COUNT
} irpc_fault_op;

typedef enum irpc_fault_action {
  IRPC_FAULT_NONE = 0, /* the operation passes */
  IRPC_FAULT_FAIL,
  IRPC_FAULT_HOLD,
  IRPC_FAULT_TRUNCATE,
  IRPC_FAULT_RESET
} irpc_fault_action;

/* A transport that forwards to `inner` (borrowed: it must outlive the fault
 * transport) and applies its fault's rules. Free it with
 * irpc_transport_free. Its duplexes are fault duplexes (irpc_duplex_fault).
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_transport_fault_new(irpc_transport **out,
                                      irpc_transport *inner);

/* Wraps the connected duplex `inner` in a fault duplex, which takes it over
 * (closing the wrapper closes `inner`; do not use `inner` directly any
 * more, nor start reading on it before wrapping).
 * Errors: IRPC_EINVAL (NULL argument, or inner not connected or closing),
 * IRPC_ENOMEM. */
IRPC_API int irpc_duplex_fault_wrap(irpc_duplex **out, irpc_duplex *inner);

/* The rules of a fault transport or a fault duplex, or NULL when it is not
 * one. Owned by it. */
IRPC_API irpc_fault *irpc_transport_fault(irpc_transport *t);
IRPC_API irpc_fault *irpc_duplex_fault(irpc_duplex *d);

/* Sets the rule for `op`: `action` on every next operation; `arg` is the
 * error for FAIL (negative) or the byte count for TRUNCATE. Setting NONE
 * is irpc_fault_clear. Held operations of `op` are not released.
 * Errors: IRPC_EINVAL (NULL f, op or action out of range, FAIL with arg >=
 * 0, TRUNCATE with arg < 0), IRPC_ENOTSUP (action not supported for op). */
IRPC_API int irpc_fault_set(irpc_fault *f, irpc_fault_op op,
                            irpc_fault_action action, int arg);

/* As irpc_fault_set, applying to operations skip+1 .. skip+count from now
 * (count 0: no end). */
IRPC_API int irpc_fault_set_nth(irpc_fault *f, irpc_fault_op op,
                                irpc_fault_action action, int arg,
                                unsigned skip, unsigned count);

/* Removes the rule for `op` and releases its held operations.
 * Errors: IRPC_EINVAL. */
IRPC_API int irpc_fault_clear(irpc_fault *f, irpc_fault_op op);

/* Releases the held operations of `op` (they proceed, in order) without
 * changing the rule. For a transport's fault, releases them in all its
 * duplexes and listeners.
 * Errors: IRPC_EINVAL. */
IRPC_API int irpc_fault_release(irpc_fault *f, irpc_fault_op op);

/* Operations of `op` seen by this fault's duplexes and listeners since
 * creation; 0 for a bad argument. */
IRPC_API uint64_t irpc_fault_count(const irpc_fault *f, irpc_fault_op op);

/* Operations of `op` being held now. */
IRPC_API size_t irpc_fault_held(const irpc_fault *f, irpc_fault_op op);

/* ---- Implementing a transport ----
 *
 * A duplex type is a static const irpc_duplex_ops table. The implementation
 * creates instances with irpc_duplex_new (its private data, data_size
 * bytes, is irpc_duplex_data) and reports progress with the irpc_duplex_*
 * completion functions below. The framework keeps the callbacks, the write
 * queue and the closing rules, so implementations only move bytes.
 *
 * Rules for implementations:
 *   - Ops are called on the loop thread and may call any completion
 *     function, but must not call the user's callbacks themselves.
 *   - Never call irpc_duplex_read_done from inside read_start or write (use
 *     irpc_duplex_schedule, or the I/O callbacks of libuv).
 *   - Complete writes in order, each exactly once, with
 *     irpc_duplex_write_done (also with an error, and also during close:
 *     writes still incomplete when irpc_duplex_close_done is called are
 *     completed with UV_ECANCELED by the framework).
 *   - After close, no op but `destroy` is called; the implementation calls
 *     irpc_duplex_close_done exactly once when it has released its I/O
 *     resources (libuv handles closed), possibly inside close itself. */

/* Each ops table of this section starts with `.struct_size =
 * sizeof(irpc_duplex_ops)` (irpc_listener_ops, irpc_transport_ops), checked
 * once by irpc_duplex_new (irpc_listener_new, irpc_transport_new); a table
 * from an older header is kept as a zero-extended copy, which the _get_ops
 * function then returns (irpc/version.h). */
typedef struct irpc_duplex_ops {
  size_t struct_size; /* sizeof(irpc_duplex_ops) */
  const char *name;
  size_t data_size;      /* private bytes per duplex (irpc_duplex_data) */
  size_t write_req_size; /* private bytes per write (the `req` of write) */
  /* Start or stop delivering reads with irpc_duplex_read_done. */
  int (*read_start)(irpc_duplex *d);
  void (*read_stop)(irpc_duplex *d);
  /* Sends `data` (owned by the framework, kept alive and unchanged by it
   * until irpc_duplex_write_done completes this write; the implementation
   * may consume bytes from it). `req` is write_req_size private bytes
   * (NULL when 0), alive until the write completes. A negative return
   * fails irpc_duplex_write with that error (the write is then not
   * queued). */
  int (*write)(irpc_duplex *d, irpc_buf *data, void *req);
  /* Sends FIN after the writes given so far; completes with
   * irpc_duplex_shutdown_done. A negative return fails irpc_duplex_shutdown
   * with that error. */
  int (*shutdown)(irpc_duplex *d);
  /* Stops all I/O and releases the I/O resources, `abort` true for an
   * abrupt close (reset). Calls irpc_duplex_close_done, now or later. */
  void (*close)(irpc_duplex *d, int abort);
  /* Optional: frees what remains, just before the duplex is freed. */
  void (*destroy)(irpc_duplex *d);
  /* Optional: runs on a later loop turn after irpc_duplex_schedule. */
  void (*run)(irpc_duplex *d);
  /* Optional (IRPC_ENOTSUP when NULL): as irpc_duplex_local_address. */
  int (*local_address)(const irpc_duplex *d, char *buf, size_t len);
  int (*remote_address)(const irpc_duplex *d, char *buf, size_t len);
  /* Optional (IRPC_ENOTSUP when NULL): as irpc_duplex_peer_credentials;
   * decorators forward to the duplex they wrap. */
  int (*peer_credentials)(const irpc_duplex *d, irpc_peer_credentials *out);
  /* Optional (NULL when absent): as irpc_duplex_tls_info (irpc/tls.h);
   * decorators forward to the duplex they wrap. */
  const struct irpc_tls_info *(*tls_info)(const irpc_duplex *d);
} irpc_duplex_ops;

/* Creates a duplex of type `ops` on `loop`: connected, or connecting when
 * `connecting` is non-zero (it then ends with irpc_duplex_connect_done).
 * Errors: IRPC_EINVAL (NULL out, loop or ops, ops->struct_size 0, smaller
 * than the first irpc_duplex_ops or larger with non-zero unknown members,
 * or ops without read_start, read_stop, write, shutdown or close),
 * IRPC_ENOMEM. */
IRPC_API int irpc_duplex_new(irpc_duplex **out, uv_loop_t *loop,
                             const irpc_duplex_ops *ops, int connecting);

/* Frees a duplex made by irpc_duplex_new that was never handed out (an
 * implementation's own error path; calls destroy). */
IRPC_API void irpc_duplex_discard(irpc_duplex *d);

/* The private data (data_size bytes, zeroed at creation, aligned for any
 * type). */
IRPC_API void *irpc_duplex_data(irpc_duplex *d);
IRPC_API const void *irpc_duplex_cdata(const irpc_duplex *d);
IRPC_API const irpc_duplex_ops *irpc_duplex_get_ops(const irpc_duplex *d);

/* 1 between irpc_duplex_close (or abort) and the free. */
IRPC_API int irpc_duplex_closing(const irpc_duplex *d);

/* Delivers a read (status 0 with bytes, or a negative status, see
 * irpc_duplex_read_cb) to the reader. Ignored while not reading or once
 * closing. */
IRPC_API void irpc_duplex_read_done(irpc_duplex *d, int status,
                                    const uint8_t *data, size_t len);
/* Completes the oldest incomplete write with `status`. */
IRPC_API void irpc_duplex_write_done(irpc_duplex *d, int status);
IRPC_API void irpc_duplex_shutdown_done(irpc_duplex *d, int status);
/* Ends connecting with `status`: 0 connected, else the error. */
IRPC_API void irpc_duplex_connect_done(irpc_duplex *d, int status);
/* The implementation has released its I/O resources after close. */
IRPC_API void irpc_duplex_close_done(irpc_duplex *d);
/* Calls ops->run(d) on a later loop turn (several calls before it runs
 * make one call). Not after close_done. */
IRPC_API void irpc_duplex_schedule(irpc_duplex *d);

/* A listener type. */
typedef struct irpc_listener_ops {
  size_t struct_size; /* sizeof(irpc_listener_ops) */
  const char *name;
  size_t data_size;
  /* Stops accepting and releases I/O resources; calls
   * irpc_listener_close_done, now or later. */
  void (*close)(irpc_listener *l);
  /* Optional: frees what remains, just before the listener is freed. */
  void (*destroy)(irpc_listener *l);
} irpc_listener_ops;

/* Creates a listener bound to `address` (copied), delivering to `cb`.
 * Errors: IRPC_EINVAL (NULL argument, ops->struct_size as for
 * irpc_duplex_new, ops without close), IRPC_ENOMEM. */
IRPC_API int irpc_listener_new(irpc_listener **out, uv_loop_t *loop,
                               const irpc_listener_ops *ops,
                               const irpc_server_address *address,
                               irpc_accept_cb cb, void *user_data);
/* Frees a listener never handed out (calls destroy). */
IRPC_API void irpc_listener_discard(irpc_listener *l);
IRPC_API void *irpc_listener_data(irpc_listener *l);
IRPC_API const irpc_listener_ops *irpc_listener_get_ops(const irpc_listener *l);
/* Replaces the listener's address (copied). Errors: IRPC_EINVAL,
 * IRPC_ENOMEM. */
IRPC_API int irpc_listener_set_address(irpc_listener *l,
                                       const irpc_server_address *address);
/* Hands a connected duplex to the accept callback on a later loop turn
 * (closed instead when the listener is closing). */
IRPC_API void irpc_listener_accepted(irpc_listener *l, irpc_duplex *d);
IRPC_API void irpc_listener_close_done(irpc_listener *l);

/* A transport type. */
typedef struct irpc_transport_ops {
  size_t struct_size; /* sizeof(irpc_transport_ops) */
  const char *name;
  size_t data_size;
  /* Creates a connecting duplex (irpc_duplex_new with connecting = 1) and
   * starts connecting; see irpc_transport_connect. */
  int (*connect)(irpc_transport *t, uv_loop_t *loop,
                 const irpc_server_address *addr, irpc_duplex **out);
  /* See irpc_transport_listen; the listener's accept callback and user
   * data are given. */
  int (*listen)(irpc_transport *t, uv_loop_t *loop,
                const irpc_server_address *addr, irpc_accept_cb cb,
                void *user_data, irpc_listener **out);
  /* Optional: releases the private data, from irpc_transport_free. */
  void (*destroy)(irpc_transport *t);
} irpc_transport_ops;

/* Creates a transport of type `ops`, freed with irpc_transport_free.
 * Errors: IRPC_EINVAL (NULL out or ops, ops->struct_size as for
 * irpc_duplex_new, ops without connect or listen), IRPC_ENOMEM. */
IRPC_API int irpc_transport_new(irpc_transport **out,
                                const irpc_transport_ops *ops);
IRPC_API void *irpc_transport_data(irpc_transport *t);
IRPC_API const irpc_transport_ops *
irpc_transport_get_ops(const irpc_transport *t);

#ifdef __cplusplus
}
#endif
#endif
