/* The protocol seam: what a protocol (icerpc over Slic, later ice)
 * implements so that the generic connection (connection.c) can run it.
 * Never installed. docs/internals/PROTOCOL.md explains the rules.
 *
 * A protocol is sans-I/O: it takes bytes (feed), gives bytes to write
 * (take_output), and takes time (next_deadline, tick, with the clock of
 * irpc__conn_now_ms). It never touches libuv, sockets, tasks or timers: the
 * generic connection owns the transport, the timers, the calls, the
 * dispatches and the owner callbacks.
 *
 * Downcalls: the generic connection calls the ops below. Upcalls: a
 * protocol never calls back into the generic layer's logic from inside an
 * op. It posts events (irpc__conn_post_*), which the generic connection
 * queues (an intrusive FIFO: the event nodes live in the records, nothing
 * is allocated) and delivers once the op has returned. A protocol may also
 * call the services at the end of this file at any time: they change no
 * state of the protocol's and run no user code. */
#ifndef IRPC_CORE_PROTOCOL_H
#define IRPC_CORE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "irpc/buf.h"
#include "irpc/connection.h"
#include "model/model.h"

/* The protocol's private state, allocated and zeroed by the generic
 * connection: conn_size bytes per connection, call_size per call (inside
 * the call's state: no allocation per call), disp_size per dispatch
 * record (reused from one dispatch to the next). */
typedef struct irpc__pconn irpc__pconn;
typedef struct irpc__pcall irpc__pcall;
typedef struct irpc__pdisp irpc__pdisp;

/* The most a protocol may ask for its per-call state (call_size). */
#define IRPC__PCALL_SIZE_MAX 256

/* Why a server refuses a connection it accepted; the protocol tells the
 * peer in its own words (Slic Close codes for icerpc). */
typedef enum irpc__refuse_reason {
  IRPC__REFUSE_CLOSING = 1, /* the server is shutting down */
  IRPC__REFUSE_SERVER_BUSY  /* over the server's max_connections */
} irpc__refuse_reason;

/* send_request's answer when the peer's limit of requests at once is
 * reached: the call waits for irpc__conn_post_slot. */
#define IRPC__PROTO_NO_SLOT 1

typedef struct irpc__protocol_ops {
  /* The address scheme that selects it: "icerpc", "ice". */
  const char *name;
  size_t conn_size, call_size, disp_size;
  /* 1 when the protocol carries payload continuations (irpc/stream.h);
   * the generic layer refuses them on the others (IRPC_ENOTSUP). */
  int continuations;

  /* Checks the protocol's part of the options (icerpc: o->icerpc, NULL
   * for its defaults). Errors: IRPC_EINVAL. */
  int (*options_check)(const irpc_connection_options *o);
  /* Starts the handshake (a client queues its first frame). `o` is
   * checked and stays valid for the connection's life; the protocol
   * copies its own part (o->icerpc), which may not.
   * Errors: IRPC_EINVAL, IRPC_ENOMEM. */
  int (*init)(irpc__pconn *pc, irpc_connection *c,
              const irpc_connection_options *o, int is_client);
  /* Frees what init and the life of the connection allocated; no event. */
  void (*fini)(irpc__pconn *pc);

  /* ---- Bytes and time ---- */
  void (*feed)(irpc__pconn *pc, const uint8_t *p, size_t n);
  /* The peer's FIN. */
  void (*feed_eof)(irpc__pconn *pc);
  /* Every byte read in this loop turn was fed. */
  void (*input_done)(irpc__pconn *pc);
  /* Appends pending output to `out`; returns the bytes appended (0: none).
   * Called until it returns 0 or the transport holds enough. */
  size_t (*take_output)(irpc__pconn *pc, irpc_buf *out);
  /* 1 once the write side of the transport should be shut down (FIN),
   * after the output taken so far is written. */
  int (*want_fin)(const irpc__pconn *pc);
  /* 1 once the transport may be closed: the protocol is done with it. */
  int (*finished)(const irpc__pconn *pc);
  /* The next deadline (irpc__conn_now_ms clock) or UINT64_MAX; tick runs
   * what is due. */
  uint64_t (*next_deadline)(const irpc__pconn *pc);
  void (*tick)(irpc__pconn *pc);

  /* ---- Calls (our requests) ---- */
  /* Sends `req` (its connection-information feature is set). Returns 0
   * (the protocol holds the call until it posts its response),
   * IRPC__PROTO_NO_SLOT (nothing done: try again after
   * irpc__conn_post_slot), or an error that fails the call at once
   * (IRPC_ENOREQUESTS: the peer takes no such request; IRPC_ECLOSED,
   * IRPC_ENOMEM, the payload writer's). */
  int (*send_request)(irpc__pconn *pc, irpc__pcall *k,
                      irpc_outgoing_request *req);
  /* On a later loop turn after irpc__conn_resume_later(k): write more of
   * a payload sent in pieces. */
  void (*send_more)(irpc__pconn *pc, irpc__pcall *k);
  /* The generic layer completes a call the protocol holds (canceled, the
   * connection ends): the protocol lets go of it, and tells the peer it
   * is abandoned when the request was under way. No event for it follows. */
  void (*abandon_request)(irpc__pconn *pc, irpc__pcall *k);

  /* ---- Dispatches (the peer's requests) ---- */
  /* The dispatch of `d` completed with `resp` (borrowed, NULL: no
   * response to send, for a one-way request or a failed dispatch): the
   * protocol sends it, or abandons the request when it cannot. */
  void (*send_response)(irpc__pconn *pc, irpc__pdisp *d,
                        irpc_outgoing_response *resp);

  /* ---- Lifecycle ---- */
  /* Starts the graceful shutdown: the peer learns that no new request is
   * accepted (icerpc: GoAway). */
  void (*shutdown)(irpc__pconn *pc);
  /* While shutting down: no call or dispatch is left. The protocol ends
   * the connection once the peer is done too. Called again each time it
   * may matter; idempotent. */
  void (*drained)(irpc__pconn *pc);
  /* A server refuses the connection: after the handshake, the protocol
   * closes it telling the peer why. Called once, right after init. */
  void (*refuse)(irpc__pconn *pc, irpc__refuse_reason why);
  /* Abortive end: no more frames; every request and dispatch held is let
   * go of (posted), then irpc__conn_post_closed(err). Idempotent. */
  void (*abort)(irpc__pconn *pc, int err);
} irpc__protocol_ops;

/* The protocols this build speaks. */
extern const irpc__protocol_ops irpc__icerpc_protocol;
#ifdef IRPC_WITH_ICE
extern const irpc__protocol_ops irpc__ice_protocol;
#endif

/* Checks the part of `o` of every protocol this build speaks (a
 * connection's options hold them all). Errors: the first protocol's
 * IRPC_EINVAL. */
int irpc__protocol_options_check(const irpc_connection_options *o);

/* The protocol named `name` (an address's scheme), or NULL when this
 * build does not speak it. */
const irpc__protocol_ops *irpc__protocol_find(const char *name);

/* ---- Events: queued, delivered after the current op returns ---- */

/* The handshake succeeded: calls may be sent. */
void irpc__conn_post_connected(irpc_connection *c);
/* The protocol lets go of call `k` (held since send_request): it completes
 * with `err` and `resp` (owned, may be NULL), once delivered. */
void irpc__conn_post_response(irpc_connection *c, irpc__pcall *k, int err,
                              irpc_incoming_response *resp);
/* The whole request of dispatch `d` arrived: dispatch it (now, or once
 * max_dispatches allows). `req` is owned. */
void irpc__conn_post_request(irpc_connection *c, irpc__pdisp *d,
                             irpc_incoming_request *req);
/* The protocol lets go of dispatch `d` (nothing else is posted for it):
 * a dispatch still running is canceled with `cancel_err` (0: not). */
void irpc__conn_post_dispatch_end(irpc_connection *c, irpc__pdisp *d,
                                  int cancel_err);
/* The peer started a graceful shutdown: no call starts any more (from now
 * on); the owner is told, then the calls the peer refused are posted. */
void irpc__conn_post_peer_shutdown(irpc_connection *c);
/* A request slot freed: waiting calls are sent again. */
void irpc__conn_post_slot(irpc_connection *c);
/* The connection ends with `err` (raw: as the protocol found it): it stops
 * being active from now on, before the protocol posts the ends of its
 * requests and dispatches. */
void irpc__conn_post_closing(irpc_connection *c, int err);
/* The connection is closed with `err`, after the protocol let go of every
 * request and dispatch. The end of a graceful shutdown is named after the
 * side that started it (IRPC_ECLOSED / IRPC_ECLOSEDBYPEER). */
void irpc__conn_post_closed(irpc_connection *c, int err);
/* take_output has bytes (or want_fin / finished changed). */
void irpc__conn_post_output(irpc_connection *c);

/* ---- Services: no upcall, callable from anywhere in the protocol ---- */

/* A record for a request the peer opened: 0 with *out zeroed, IRPC_EREFUSED
 * (the connection takes no request now: not established, shutting down,
 * no dispatcher), IRPC_ENOMEM. The protocol holds it until it posts
 * irpc__conn_post_dispatch_end. */
int irpc__conn_dispatch_open(irpc_connection *c, irpc__pdisp **out);
/* Calls send_more(k) on a later loop turn (once, however often asked). */
void irpc__conn_resume_later(irpc_connection *c, irpc__pcall *k);
/* The loop turn, counted from 1: it changes each time the loop polled for
 * input and runs tasks again. */
uint64_t irpc__conn_turn(irpc_connection *c);
/* Asks for take_output again on a later loop turn (output paced per turn
 * waits). */
void irpc__conn_flush_later(irpc_connection *c);
/* The compression formats requests may use (a mask of
 * IRPC_COMPRESSION_BIT), further narrowed to what the dispatcher chain
 * decompresses; a request compressed otherwise is answered NotSupported
 * without dispatching it. irpc_compress_formats_readable() until set
 * (icerpc sets it in init, from its options). */
void irpc__conn_set_accepted_formats(irpc_connection *c, uint64_t formats);
/* The error the generic layer completes call `k` with, while it runs the
 * protocol's abandon_request for it (IRPC_ECANCELED, the deadline's, the
 * connection's). */
int irpc__conn_call_err(irpc__pcall *k);
/* Continuations still flowing after their call or dispatch ended (delta
 * +1 / -1): the connection is not inactive while any flows. */
void irpc__conn_streams(irpc_connection *c, int delta);
/* The loop of the connection. */
uv_loop_t *irpc__conn_loop(irpc_connection *c);
/* The features of the request dispatch `d` answers, while send_response
 * runs for it with the dispatcher's response (a dispatcher may have set
 * one there, e.g. the compress feature); NULL otherwise. */
const irpc_features *irpc__conn_dispatch_features(const irpc__pdisp *d);
/* Monotonic milliseconds, the clock of next_deadline. */
uint64_t irpc__conn_now_ms(irpc_connection *c);
/* The error a dispatch is canceled with when the connection ends under it
 * with the protocol's `err`: the connection's error once known. */
int irpc__conn_end_err(const irpc_connection *c, int err);

#endif
