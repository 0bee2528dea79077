/* irpc: payload continuations (streaming), over the icerpc protocol.
 *
 * After a request's or a response's payload, more bytes can keep flowing on
 * the same icerpc stream, with the stream's flow control, while the call is
 * already answered: uploads, downloads, feeds. The peer sees one payload
 * followed by the continuation's bytes, with no seam between them (as with
 * IceRPC).
 *
 * Sending: an irpc_stream_writer, attached to an outgoing request or
 * response, takes chunks as the application produces them and says when it
 * can take more (on_writable); it holds at most `max_queued` bytes besides
 * the stream's flow-control window, so memory stays bounded whatever the
 * speed of the peer.
 *
 * Receiving: an irpc_stream_reader hands over the bytes as they arrive
 * (on_data); the peer gets flow-control credit for them once on_data
 * returned, so a reader that pauses stops the writer after one window.
 *
 * Ends, each reported once (on_end) with the reason on both sides:
 *   - the writer ends (irpc_stream_writer_end): its reader gets 0 once it
 *     read every byte;
 *   - the writer aborts (irpc_stream_writer_abort, or its frame's call was
 *     canceled, its deadline expired): Slic's StreamWritesClosed, and the
 *     reader gets IRPC_ETRUNCATED;
 *   - the reader stops (irpc_stream_reader_free before its end): Slic's
 *     StreamReadsClosed, and the writer gets IRPC_ESTOPPED;
 *   - the connection dies: both get the connection's error;
 *   - a deadline set on the writer or the reader passes first
 *     (irpc_stream_writer_set_deadline, irpc_stream_reader_set_deadline):
 *     it gets IRPC_EDEADLINE, and the peer sees an abort (the writer's
 *     deadline: its reader gets IRPC_ETRUNCATED) or a stop (the reader's:
 *     its writer gets IRPC_ESTOPPED).
 * Callbacks run on the loop of the connection, never inside the irpc
 * function that caused them.
 *
 * A one-way request with a continuation completes (its call's callback,
 * with an Ok response) once its header and payload were sent, as IceRPC's
 * one-way invocation; the continuation goes on in the background and only
 * its writer's on_end tells how it ended. A two-way request's call
 * completes with its response, whether its continuation ended or not.
 * Once the call completed, nothing but the writer's or the reader's own
 * deadline bounds how long a stalled peer holds the continuation.
 *
 * The ice protocol has no continuation: a request with a continuation or
 * asking for a streamed response fails there with IRPC_ENOTSUP, and the
 * continuation writer of a response gets on_end(IRPC_ENOTSUP) (the response
 * is sent without it). The coloc invoker refuses them likewise. */
#ifndef IRPC_STREAM_H
#define IRPC_STREAM_H

#include <uv.h>

#include "irpc/buf.h"
#include "irpc/common.h"
#include "irpc/frames.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_stream_writer irpc_stream_writer;
typedef struct irpc_stream_reader irpc_stream_reader;

/* ---- Writer (the sending side) ---- */

/* Write `.struct_size = sizeof(irpc_stream_writer_ops)` in the initializer
 * (irpc/version.h). */
typedef struct irpc_stream_writer_ops {
  size_t struct_size; /* sizeof(irpc_stream_writer_ops) */
  /* The writer takes more (irpc_stream_writer_room() > 0) after a write
   * returned IRPC_EAGAIN. Called once per IRPC_EAGAIN. May be NULL. */
  void (*on_writable)(irpc_stream_writer *w, void *user_data);
  /* The end, exactly once unless the writer is freed first: 0 (every byte
   * and the end were handed to the transport), IRPC_ESTOPPED (the peer
   * stopped reading), IRPC_ECANCELED (aborted by irpc_stream_writer_abort,
   * or the frame holding it was freed before it was sent), IRPC_EDEADLINE
   * (its own deadline passed, irpc_stream_writer_set_deadline), the error
   * its call was canceled with before the call completed (IRPC_EDEADLINE,
   * IRPC_ECANCELED, ...), the error a one-way call failed with before its
   * payload was sent, the error of its transform or, with a transform,
   * of handing its output to the stream (IRPC_ENOMEM), IRPC_ENOTSUP (the
   * protocol has no continuation), or the connection's error. */
  void (*on_end)(irpc_stream_writer *w, int err, void *user_data);
} irpc_stream_writer_ops;

typedef struct irpc_stream_writer_options {
  size_t struct_size; /* set by irpc_stream_writer_options_init */
  /* The writer takes a chunk while fewer than this many bytes wait to be
   * framed (default 262,144; at least 1). */
  size_t max_queued;
} irpc_stream_writer_options;

IRPC_API void
irpc_stream_writer_options_init_sized(irpc_stream_writer_options *o,
                                      size_t size);
static inline void
irpc_stream_writer_options_init(irpc_stream_writer_options *o) {
  irpc_stream_writer_options_init_sized(o, sizeof(*o));
}

/* Creates a writer whose callbacks run on `loop`. `o` NULL: the defaults.
 * Errors: IRPC_EINVAL (NULL out, loop or ops, ops->on_end NULL, a bad
 * struct_size, max_queued 0), IRPC_ENOMEM. */
IRPC_API int irpc_stream_writer_new(irpc_stream_writer **out, uv_loop_t *loop,
                                    const irpc_stream_writer_options *o,
                                    const irpc_stream_writer_ops *ops,
                                    void *user_data);

/* Queues the bytes of `data` (moved: `data` is left empty). Before the
 * frame is sent they wait in the writer.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_EAGAIN (max_queued bytes wait
 * already: nothing taken; on_writable follows), IRPC_ECLOSED (ended,
 * aborted, or on_end due), IRPC_ENOMEM (nothing taken; but see below).
 * A writer with a transform (the compress interceptor's or middleware's)
 * cannot take the bytes back once the transform consumed them: when the
 * transform or the stream fails (IRPC_ENOMEM, or the transform's error),
 * the write returns that error, `data` is left empty and the writer fails
 * with it: on_end gets it and the peer's reader IRPC_ETRUNCATED. */
IRPC_API int irpc_stream_writer_write(irpc_stream_writer *w, irpc_buf *data);

/* Bytes the writer takes before it answers IRPC_EAGAIN (0: wait for
 * on_writable; also once ended). */
IRPC_API size_t irpc_stream_writer_room(const irpc_stream_writer *w);

/* Asks for one on_writable once the writer has room: on a later loop turn
 * when it has room now. For a producer that checks irpc_stream_writer_room
 * before it produces a chunk.
 * Errors: IRPC_EINVAL (w NULL), IRPC_ECLOSED (ended, aborted, or on_end
 * due). */
IRPC_API int irpc_stream_writer_wait(irpc_stream_writer *w);

/* Ends the continuation after the bytes written (Slic's StreamLast). With
 * a transform, when it fails or its last output cannot be handed to the
 * stream, the writer fails: on_end gets the error (IRPC_ENOMEM, or the
 * transform's) and the peer's reader IRPC_ETRUNCATED.
 * Errors: IRPC_EINVAL (w NULL), IRPC_ECLOSED (ended or aborted already, or
 * on_end due: its deadline passed, the peer stopped, ...). */
IRPC_API int irpc_stream_writer_end(irpc_stream_writer *w);

/* Aborts the continuation (Slic's StreamWritesClosed; the reader gets
 * IRPC_ETRUNCATED); on_end(IRPC_ECANCELED) follows unless it was due
 * already. No-op once ended. */
IRPC_API void irpc_stream_writer_abort(irpc_stream_writer *w);

/* Bounds the life of the continuation: unless on_end is due within
 * `timeout_ms` milliseconds from now (the end framed, or another end), the
 * writer is aborted as by irpc_stream_writer_abort, except that on_end
 * gets IRPC_EDEADLINE (the peer's reader IRPC_ETRUNCATED), and the
 * connection lets go of the stream. Meant for the time after the call
 * completed, which nothing else bounds (before, the call's cancellation or
 * deadline ends the writer too, whichever comes first); it may be set at
 * any time before on_end, even on a writer not sent yet, and keeps
 * running after irpc_stream_writer_free. Setting it again replaces it;
 * `timeout_ms` 0 removes it. The timer runs on the writer's loop.
 * Errors: IRPC_EINVAL (w NULL), IRPC_ECLOSED (on_end is due already),
 * IRPC_ENOMEM (the timer could not be armed: no deadline). */
IRPC_API int irpc_stream_writer_set_deadline(irpc_stream_writer *w,
                                             uint64_t timeout_ms);

/* 1 while no byte of the writer reached a connection: a request holding it
 * may still be sent again (the retry interceptor checks it), else 0. */
IRPC_API int irpc_stream_writer_replayable(const irpc_stream_writer *w);

/* The application lets go of the writer: no callback after this returns;
 * a writer not ended is aborted. The connection keeps what it needs. NULL
 * is a no-op. */
IRPC_API void irpc_stream_writer_free(irpc_stream_writer *w);

/* Attaches `w` as the continuation of the request (the request holds a
 * reference until it is freed or another writer replaces it; w NULL
 * detaches). A writer goes to one frame only. A two-way request whose
 * writer ended before the request was sent (aborted, its deadline passed)
 * fails with the writer's error (IRPC_ECANCELED, IRPC_EDEADLINE, ...) and
 * nothing is sent; a one-way one is sent with its continuation aborted
 * (the peer's reader gets IRPC_ETRUNCATED).
 * Errors: IRPC_EINVAL (r NULL), IRPC_EBUSY (w attached elsewhere or
 * started). */
IRPC_API int irpc_outgoing_request_set_continuation(irpc_outgoing_request *r,
                                                    irpc_stream_writer *w);
IRPC_API irpc_stream_writer *
irpc_outgoing_request_continuation(const irpc_outgoing_request *r);

/* The same for a response: the dispatch completes with it, and its
 * continuation keeps streaming after the response header went out.
 * Errors: as irpc_outgoing_request_set_continuation. */
IRPC_API int irpc_outgoing_response_set_continuation(irpc_outgoing_response *r,
                                                     irpc_stream_writer *w);

/* ---- Reader (the receiving side) ---- */

/* Write `.struct_size = sizeof(irpc_stream_reader_ops)` in the initializer
 * (irpc/version.h). */
typedef struct irpc_stream_reader_ops {
  size_t struct_size; /* sizeof(irpc_stream_reader_ops) */
  /* Bytes arrived, in order: `data` is the reader's; the callback moves
   * what it keeps out of it (irpc_buf_move, irpc_buf_consume), the rest is
   * dropped when it returns, and the peer gets the credit. */
  void (*on_data)(irpc_stream_reader *r, irpc_buf *data, void *user_data);
  /* The end, exactly once unless the reader is freed first, after the last
   * on_data: 0 (the writer ended and every byte was delivered),
   * IRPC_ETRUNCATED (the writer aborted), IRPC_EDEADLINE (its deadline
   * passed, irpc_stream_reader_set_deadline), IRPC_ENOMEM (received bytes
   * could not be taken), the error of its transform, or the connection's
   * error. Like on_data, it comes only while the reader is started and not
   * paused. */
  void (*on_end)(irpc_stream_reader *r, int err, void *user_data);
} irpc_stream_reader_ops;

/* Starts delivering (on the connection's loop, never inside this call).
 * Errors: IRPC_EINVAL (NULL r or ops, ops->on_data or on_end NULL, a bad
 * struct_size), IRPC_EBUSY (started already). */
IRPC_API int irpc_stream_reader_start(irpc_stream_reader *r,
                                      const irpc_stream_reader_ops *ops,
                                      void *user_data);

/* Stops and resumes delivery: while paused, no on_data comes and the peer
 * gets no credit, so it stops after one flow-control window. */
IRPC_API void irpc_stream_reader_pause(irpc_stream_reader *r);
IRPC_API void irpc_stream_reader_resume(irpc_stream_reader *r);

/* Bytes received and not delivered yet (held by the reader and its
 * stream). */
IRPC_API size_t irpc_stream_reader_buffered(const irpc_stream_reader *r);

/* Bounds the life of the continuation: unless the writer's end arrived
 * within `timeout_ms` milliseconds from now (every byte received, or
 * another end), the reader ends with IRPC_EDEADLINE: what it holds is
 * dropped, the peer is stopped as by irpc_stream_reader_free (its writer
 * gets IRPC_ESTOPPED), and the connection lets go of the stream. Meant for
 * the time after the call completed, which nothing else bounds; it may be
 * set at any time before the end arrived. Setting it again replaces it;
 * `timeout_ms` 0 removes it. The timer runs on the connection's loop.
 * Errors: IRPC_EINVAL (r NULL), IRPC_ECLOSED (the end arrived already),
 * IRPC_ENOMEM (the timer could not be armed: no deadline). */
IRPC_API int irpc_stream_reader_set_deadline(irpc_stream_reader *r,
                                             uint64_t timeout_ms);

/* The application lets go of the reader: no callback after this returns.
 * A reader not at its end stops the peer (Slic's StreamReadsClosed: the
 * peer's writer gets IRPC_ESTOPPED). NULL is a no-op. */
IRPC_API void irpc_stream_reader_free(irpc_stream_reader *r);

/* Client: asks for the response's payload as a stream. The call then
 * completes as soon as the response header arrived, with an empty payload,
 * and every byte of the response's payload and continuation comes through
 * the reader of irpc_incoming_response_take_continuation.
 * Errors: IRPC_EINVAL (r NULL). */
IRPC_API int irpc_outgoing_request_set_stream_response(irpc_outgoing_request *r,
                                                       int stream);
IRPC_API int
irpc_outgoing_request_stream_response(const irpc_outgoing_request *r);

/* Takes the reader of a streamed response (the caller frees it), or NULL
 * when the response has none (it was not asked for, or taken already). A
 * reader not taken is freed with the response, which stops the peer. */
IRPC_API irpc_stream_reader *
irpc_incoming_response_take_continuation(irpc_incoming_response *r);

/* Server: the reader of a request dispatched as a stream (see
 * irpc_icerpc_options.stream_request): its payload is empty and every byte
 * comes through the reader, which may be taken and read after the dispatch
 * completed. NULL when none (or taken already). A reader not taken is
 * freed with the request, when the dispatch ends, which stops the peer. */
IRPC_API irpc_stream_reader *
irpc_incoming_request_take_continuation(irpc_incoming_request *r);

/* The reader of a request dispatched as a stream, or of a streamed
 * response, without taking it (NULL when none): for middleware and
 * interceptors that install a transform on it. */
IRPC_API irpc_stream_reader *
irpc_incoming_request_continuation(const irpc_incoming_request *r);
IRPC_API irpc_stream_reader *
irpc_incoming_response_continuation(const irpc_incoming_response *r);

/* ---- Transforms ----
 *
 * A chunk transform rewrites a continuation chunk by chunk: on a writer,
 * what the application writes goes through it before it is queued; on a
 * reader, what arrives goes through it before on_data. The compress
 * payload writer installs one on the continuation of the payload it
 * compresses (irpc_payload_writer_ops.begin_continuation), the compress
 * middleware and interceptor install the decompressing one on a streamed
 * request or response. */

/* Write `.struct_size = sizeof(irpc_stream_transform_ops)` in the
 * initializer (irpc/version.h). */
typedef struct irpc_stream_transform_ops {
  size_t struct_size; /* sizeof(irpc_stream_transform_ops) */
  const char *name;
  /* Appends the transform of `in` to `out` (`in` may be consumed; what is
   * left of it is dropped). `last` is 1 on the final call (with `in`
   * empty), after which nothing follows. Returns 0 or a negative error,
   * which ends the stream: a writer is aborted (on_end with the error), a
   * reader stops the peer and ends with it. */
  int (*feed)(void *state, irpc_buf *in, int last, irpc_buf *out);
  /* Frees the state; called once, when the object lets go of it. */
  void (*free)(void *state);
} irpc_stream_transform_ops;

/* Installs a transform with its state (which the object then owns),
 * replacing one installed before (freed). A writer's transform applies to
 * the bytes not yet handed to a connection; a reader's to the bytes not
 * yet delivered.
 * Errors: IRPC_EINVAL (NULL w or ops, a bad struct_size, feed or free
 * NULL), IRPC_EBUSY (a writer already sent some bytes, or ended; a reader
 * already delivered some). On error the state is not taken. */
IRPC_API int irpc_stream_writer_set_transform(
    irpc_stream_writer *w, const irpc_stream_transform_ops *ops, void *state);
IRPC_API int irpc_stream_reader_set_transform(
    irpc_stream_reader *r, const irpc_stream_transform_ops *ops, void *state);

#ifdef __cplusplus
}
#endif
#endif
