/* Slic v1, sans-I/O: bytes in (irpc__slic_feed), bytes out
 * (irpc__slic_take_output), time in (irpc__slic_tick with the clock given at
 * creation). No libuv, no sockets: the connection layer moves the bytes.
 *
 * Frame layout, parameters, stream ids, flow control, Ping/Pong and Close
 * follow IceRPC's Slic (icerpc-csharp src/IceRpc/Transports/Slic).
 *
 * No function calls the owner back. Events are queued (without
 * allocation: each stream carries its own node, the connection its own)
 * and delivered, in the order they happened, through the irpc__slic_events
 * callbacks by irpc__slic_drain, which the owner calls after each
 * irpc__slic_* call that may raise one returns: irpc__slic_feed,
 * _feed_eof, _take_output (a remote stream is released when its StreamLast
 * is framed; an allocation failure ends the connection), _tick, _close,
 * _abort and the stream functions. A callback may call any irpc__slic_*
 * function except irpc__slic_free: what that raises joins the queue being
 * drained (irpc__slic_drain from a callback does nothing). Every callback
 * may be NULL.
 *
 * A failure found inside any function (an allocation failing in
 * irpc__slic_stream_write, say) fails the engine at once (further stream
 * calls return IRPC_ECLOSED) and queues on_stream_error and
 * on_stream_released for every stream, then on_closed; the streams stay
 * valid for the caller until those are drained.
 *
 * Streams are released (on_stream_released) once both directions are
 * closed, following IceRPC:
 *   - reads close when StreamLast was received and every byte read (for a
 *     remote stream this sends StreamReadsClosed; a remote bidirectional
 *     stream sends it with its own last frame), on the peer's
 *     StreamWritesClosed, or on irpc__slic_stream_abort_read;
 *   - writes of a remote stream close when its StreamLast or
 *     StreamWritesClosed is framed; writes of a local stream close on the
 *     peer's StreamReadsClosed (so the peer has freed its slot), or at once
 *     on irpc__slic_stream_abort_write;
 *   - a unidirectional stream starts with its other direction closed.
 * A released stream must not be used after on_stream_released returns;
 * until then (its release queued, not yet delivered) functions on it are
 * harmless no-ops. */
#ifndef IRPC_CORE_SLIC_H
#define IRPC_CORE_SLIC_H

#include <stddef.h>
#include <stdint.h>

#include "irpc/buf.h"

#define IRPC__SLIC_VERSION 1

/* Frame types. */
enum {
  IRPC__SLIC_INITIALIZE = 1,
  IRPC__SLIC_INITIALIZE_ACK = 2,
  IRPC__SLIC_VERSION_FRAME = 3,
  IRPC__SLIC_CLOSE = 4,
  IRPC__SLIC_PING = 5,
  IRPC__SLIC_PONG = 6,
  IRPC__SLIC_STREAM = 7,
  IRPC__SLIC_STREAM_LAST = 8,
  IRPC__SLIC_STREAM_READS_CLOSED = 9,
  IRPC__SLIC_STREAM_WINDOW_UPDATE = 10,
  IRPC__SLIC_STREAM_WRITES_CLOSED = 11
};

/* Parameter keys. */
enum {
  IRPC__SLIC_P_MAX_BIDI = 0,
  IRPC__SLIC_P_MAX_UNI = 1,
  IRPC__SLIC_P_IDLE_TIMEOUT = 2,
  IRPC__SLIC_P_INITIAL_WINDOW = 3,
  IRPC__SLIC_P_MAX_FRAME = 4
};

/* Close codes (MultiplexedConnectionCloseError). */
enum {
  IRPC__SLIC_CLOSE_NO_ERROR = 0,
  IRPC__SLIC_CLOSE_ABORTED = 1,
  IRPC__SLIC_CLOSE_REFUSED = 2,
  IRPC__SLIC_CLOSE_SERVER_BUSY = 3
};

#define IRPC__SLIC_MAX_CONTROL_BODY 16383
#define IRPC__SLIC_MIN_WINDOW 1024
#define IRPC__SLIC_MAX_WINDOW 2147483647u
#define IRPC__SLIC_MIN_FRAME 1024
#define IRPC__SLIC_MAX_FRAME 16777215u

/* Stream ids: bit 0 is set on the ids the server opens, bit 1 on
 * unidirectional streams; a side's ids of one kind go up by
 * IRPC__SLIC_ID_STEP. */
#define IRPC__SLIC_ID_STEP 4

/* The first id of the streams of one kind that a side opens. */
static inline uint64_t irpc__slic_first_id(int client, int bidi) {
  return (uint64_t)(client ? 0 : 1) | (uint64_t)(bidi ? 0 : 2);
}

/* The id after `id` among the streams of its side and kind. */
static inline uint64_t irpc__slic_next_id(uint64_t id) {
  return id + IRPC__SLIC_ID_STEP;
}

typedef struct irpc__slic_params {
  uint64_t max_bidi_streams;      /* the peer may open this many; 0 = none */
  uint64_t max_uni_streams;       /* idem, unidirectional */
  uint64_t idle_timeout_ms;       /* 0 = infinite (parameter not sent) */
  uint64_t initial_window;        /* default 65536, >= 1024 */
  uint64_t max_frame_size;        /* default 32768, 1024..16777215 */
  uint64_t max_pending_output;    /* stream data is framed into the output only
                                     while it holds less; default 65536 */
  uint64_t max_outstanding_pongs; /* server: default 100 */
} irpc__slic_params;

/* IceRPC's defaults, for a side that has a dispatcher (100 bidirectional and
 * 100 + 1 unidirectional streams). */
void irpc__slic_params_default(irpc__slic_params *p);

typedef struct irpc__slic irpc__slic;
typedef struct irpc__slic_stream irpc__slic_stream;

typedef struct irpc__slic_events {
  /* The handshake finished (client: InitializeAck received; server:
   * InitializeAck queued). The peer's parameters are readable from now. */
  void (*on_connected)(void *ud);
  /* The peer opened a stream (the header of its first Stream or
   * StreamLast frame came with a new id). Its data follows through
   * on_readable. */
  void (*on_stream)(void *ud, irpc__slic_stream *s);
  /* New data, or the end of the data (StreamLast), is readable. If the
   * end came and nothing is left to read when this returns, reads close
   * (and the stream may be released) right after. Not delivered once the
   * stream's input was dropped (an error ends it). */
  void (*on_readable)(void *ud, irpc__slic_stream *s);
  /* - UV_EPIPE: the peer closed our writes (StreamReadsClosed) before our
   *   StreamLast went out; queued data is dropped and writes fail with
   *   IRPC_ECLOSED. In icerpc this is "the peer stopped reading", not a
   *   failure of the call by itself.
   * - IRPC_ETRUNCATED: the peer aborted its writes (StreamWritesClosed);
   *   buffered data is dropped, read_done stays 0.
   * - the connection's error (as given to on_closed): the connection ended
   *   with this stream still open; on_stream_released follows at once. */
  void (*on_stream_error)(void *ud, irpc__slic_stream *s, int err);
  /* Both directions are closed: the stream is freed after this returns. */
  void (*on_stream_released)(void *ud, irpc__slic_stream *s);
  /* A local stream of this kind can be opened again (a slot freed): called
   * after on_stream_released of a local stream released while the
   * connection was open. */
  void (*on_stream_slot)(void *ud, int bidi);
  /* A stream that asked for it (irpc__slic_stream_notify_writable) has
   * less queued data than its low watermark: the owner may write more.
   * Called once per request, by irpc__slic_drain once the queue is empty;
   * not once the stream's writes are ended or closed. */
  void (*on_stream_writable)(void *ud, irpc__slic_stream *s);
  /* The connection is over: the peer's Close (code mapped: 0
   * IRPC_ECLOSEDBYPEER, 1 UV_ECONNABORTED, 2 UV_ECONNREFUSED, 3
   * IRPC_ESERVERBUSY, other UV_ECONNABORTED), a protocol error (IRPC_EPROTO),
   * a frame or parameter over a limit (IRPC_ELIMIT: a control frame body
   * over 16383 bytes, a frame size over 2^31-1, a stream frame over our
   * max_frame_size, a parameter over its maximum, more than
   * max_outstanding_pongs Pongs queued), the idle timeout (IRPC_EIDLE),
   * version refusal (UV_ECONNREFUSED), the transport's EOF before Close
   * (UV_ECONNRESET: the peer vanished; during the handshake
   * UV_ECONNABORTED, or UV_ECONNREFUSED on a server that answered Version),
   * an allocation failure (IRPC_ENOMEM), irpc__slic_close (IRPC_ECLOSED) or
   * irpc__slic_abort (its error). Called exactly once; every stream is
   * released before it (on_stream_error, then on_stream_released). */
  void (*on_closed)(void *ud, int err);
  /* Output is pending (irpc__slic_take_output has bytes). Called once
   * each time the output goes from empty to non-empty, at the end of
   * irpc__slic_drain; not for irpc__slic_new (a client has its Initialize
   * frame pending from the start). */
  void (*on_output)(void *ud);
  /* Monotonic milliseconds; injectable for tests (NULL: uv_hrtime). */
  uint64_t (*now_ms)(void *ud);
} irpc__slic_events;

/* Creates an endpoint. A client queues its Initialize frame at once.
 * `params` NULL means the defaults. Errors: IRPC_EINVAL (a parameter out of
 * range), IRPC_ENOMEM. */
int irpc__slic_new(irpc__slic **out, int is_client,
                   const irpc__slic_params *params, const irpc__slic_events *ev,
                   void *ud);
/* Frees the endpoint and its streams without any callback. */
void irpc__slic_free(irpc__slic *c);

/* Bytes read from the transport (any split). Reading stops before the
 * next byte once a frame raised events: *used tells how many bytes were
 * taken; drain, then feed the rest (the owner handles each frame's events
 * before the next frame is read). Returns 0, or the error the connection
 * failed with in this call (on_closed is queued). Once the connection is
 * closing (Close sent or received) bytes are taken and ignored and 0
 * returned; after a failure feeds return IRPC_ECLOSED. */
int irpc__slic_feed(irpc__slic *c, const uint8_t *data, size_t len,
                    size_t *used);
/* The transport reached end of file (the peer's FIN). While open it fails
 * the connection (UV_ECONNRESET); while closing it completes the close
 * handshake (the server now wants its FIN, irpc__slic_finished). */
void irpc__slic_feed_eof(irpc__slic *c);

/* Frames more stream data if flow control allows, then moves the pending
 * output into `out` (appended). Returns the number of bytes moved. Stream
 * data is framed only while less than max_pending_output is pending, so
 * after writing what was taken, call again until it returns 0. Taking
 * output counts as a write for the client's ping timer. */
size_t irpc__slic_take_output(irpc__slic *c, irpc_buf *out);
/* The owner's loop turn, counted from 1 (0, the default: no pacing). Once
 * set, a stream frames at most one quantum of max_pending_output a turn
 * while another stream had output in the last 16 turns, 16 quanta while
 * it is alone; the rest waits for a later turn, so that the input is read
 * between two shares and a stream written later goes out in its own
 * turn. */
void irpc__slic_set_turn(irpc__slic *c, uint64_t turn);
/* 1 while a stream waits for the next turn to send more. */
int irpc__slic_paced(const irpc__slic *c);
/* 1 once the connection wants its transport's write side shut down (FIN),
 * after the output taken so far is written: the client after sending or
 * receiving Close, the server after the client's FIN that followed a Close
 * (the client always sends FIN first). 0 after a failure: the transport is
 * just closed then. */
int irpc__slic_want_shutdown(const irpc__slic *c);
/* 1 once the connection is closed (on_closed was called) and every output
 * was taken. */
int irpc__slic_closed(const irpc__slic *c);
/* 1 once the transport can be closed (after its FIN, if want_shutdown):
 * closed, and either failed or the peer's FIN was fed. */
int irpc__slic_finished(const irpc__slic *c);

/* Timers: the absolute time (now_ms clock) of the next deadline, or
 * UINT64_MAX; and the call to make when it is reached (or any time). The
 * deadlines (idle timeout = min(ours, peer's), 0 meaning "the other one"):
 * no byte read for the idle timeout fails with IRPC_EIDLE; a client pings
 * at half of it after a read and at 0.6 of it after taking output. */
uint64_t irpc__slic_next_deadline(const irpc__slic *c);
void irpc__slic_tick(irpc__slic *c);

/* Starts the Close handshake with `code` (IRPC__SLIC_CLOSE_*): queues Close,
 * releases the streams still open and calls on_closed, with IRPC_ECLOSED.
 * Before the handshake ended it fails the connection with IRPC_ECLOSED
 * instead. Idempotent; nothing after a failure or the peer's Close. */
void irpc__slic_close(irpc__slic *c, uint64_t code);
/* Abortive: no more frames, pending output dropped; every stream released,
 * on_closed(err) (err 0 means IRPC_ECLOSED). While closing it only stops the
 * close handshake (no second on_closed). Idempotent. */
void irpc__slic_abort(irpc__slic *c, int err);

/* Delivers the queued events, then the due on_stream_writable calls, then
 * on_output if output became pending. Does nothing from a callback. */
void irpc__slic_drain(irpc__slic *c);

/* 1 once the connection is closing or failed (on_closed queued or
 * delivered). */
int irpc__slic_ended(const irpc__slic *c);

/* The peer's parameters (after on_connected). */
const irpc__slic_params *irpc__slic_peer_params(const irpc__slic *c);

/* ---- Streams ---- */

/* Opens a local stream. It takes no id until its first frame is framed.
 * Errors: IRPC_EBUSY (the peer's limit of streams of this kind is reached:
 * wait for on_stream_slot; also before on_connected), IRPC_ECLOSED,
 * IRPC_ENOMEM. */
int irpc__slic_stream_open(irpc__slic *c, int bidi, irpc__slic_stream **out);

/* Queues `data` (moved out of the buffer; may be NULL) for sending; `last`
 * ends the writes (StreamLast). Data is framed as flow control allows.
 * Errors: IRPC_ECLOSED (writes already closed or ended, or the connection
 * closed), IRPC_ENOMEM (nothing queued, data left in the buffer). */
int irpc__slic_stream_write(irpc__slic_stream *s, irpc_buf *data, int last);

/* Frames every byte queued on `s` now (as far as the peer's window allows),
 * ahead of the other streams and whatever the size of the pending output:
 * for a control frame that must reach the peer before the frames emitted
 * after it (icerpc's GoAway before the resets of the streams it refuses). */
void irpc__slic_stream_flush(irpc__slic_stream *s);

/* Asks for one on_stream_writable call once fewer than `low` bytes written
 * to `s` are still queued (not yet framed into the output); `low` 0
 * withdraws the request. For a producer that writes a long stream piece by
 * piece as the transport takes it, holding only about `low` bytes queued.
 * The call never comes from inside this function: when fewer than `low`
 * bytes are queued already, it comes from the next irpc__slic_drain (so an
 * owner that asks again from on_stream_writable without writing more is
 * called again at once). */
void irpc__slic_stream_notify_writable(irpc__slic_stream *s, size_t low);
/* 1 once the writes were ended (irpc__slic_stream_write with `last`) and
 * StreamLast was framed into the output. */
int irpc__slic_stream_write_done(const irpc__slic_stream *s);
/* Bytes written to `s` and not yet framed into the output. */
size_t irpc__slic_stream_queued(const irpc__slic_stream *s);

/* Moves up to `max` readable bytes into `out` and credits the peer's window
 * (StreamWindowUpdate once half the window was read). Returns the number of
 * bytes moved (0 on allocation failure: the bytes stay readable); after the
 * last byte was read, the read side closes (the stream's release may be
 * queued when this returns). */
size_t irpc__slic_stream_read(irpc__slic_stream *s, irpc_buf *out, size_t max);
size_t irpc__slic_stream_readable(const irpc__slic_stream *s);
/* 1 when StreamLast was received and every byte was read (0 if data was
 * dropped by an abort or an error). */
int irpc__slic_stream_read_done(const irpc__slic_stream *s);

/* Abortive ends: StreamReadsClosed / StreamWritesClosed (no frame for a
 * stream that has no id yet; abort_write after StreamLast was framed sends
 * nothing and closes the writes at once). Buffered data is dropped.
 * No-ops on a closed direction. */
void irpc__slic_stream_abort_read(irpc__slic_stream *s);
void irpc__slic_stream_abort_write(irpc__slic_stream *s);

/* The id, or UINT64_MAX for a local stream that has not written yet. */
uint64_t irpc__slic_stream_id(const irpc__slic_stream *s);
int irpc__slic_stream_bidi(const irpc__slic_stream *s);
int irpc__slic_stream_remote(const irpc__slic_stream *s);
/* 1 once the stream's release is queued (delivered by the next drain). */
int irpc__slic_stream_released(const irpc__slic_stream *s);
void irpc__slic_stream_set_user(irpc__slic_stream *s, void *user);
void *irpc__slic_stream_user(const irpc__slic_stream *s);

#endif
