/* irpc: the four frames.
 *
 * Client side: the application builds an irpc_outgoing_request and gets an
 * irpc_incoming_response back. Server side: a dispatcher receives an
 * irpc_incoming_request and answers with an irpc_outgoing_response.
 *
 * Every frame has a fields dictionary (sent), a payload (an irpc_buf chain),
 * and requests also have features (local, never sent). Strings returned by
 * accessors live as long as their frame.
 *
 * Payload ownership: invoking a request reads its payload without consuming
 * it (the terminal invoker shares the blocks), so the same request can be
 * sent again by a retry without a copy. The payload must not be modified
 * while an invocation of the request is in flight. */
#ifndef IRPC_FRAMES_H
#define IRPC_FRAMES_H

#include "irpc/buf.h"
#include "irpc/common.h"
#include "irpc/features.h"
#include "irpc/fields.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_outgoing_request irpc_outgoing_request;
typedef struct irpc_incoming_response irpc_incoming_response;
typedef struct irpc_incoming_request irpc_incoming_request;
typedef struct irpc_outgoing_response irpc_outgoing_response;
typedef struct irpc_invoker irpc_invoker;
typedef struct irpc_stream_transform_ops irpc_stream_transform_ops;

/* Checks a service path as IceRPC does: it starts with '/', and every byte
 * is printable ASCII (0x21..0x7E) other than " < > # ? \ ^ ` { | }.
 * Errors: IRPC_EINVAL (NULL), IRPC_EPATH. */
IRPC_API int irpc_path_check(const char *path);

/* ---- Outgoing request (client side) ---- */

/* Creates a two-way request for `operation` on the service at `path`.
 * Errors: IRPC_EINVAL (NULL argument, or an empty operation), IRPC_EPATH
 * (see irpc_path_check), IRPC_ENOMEM. */
IRPC_API int irpc_outgoing_request_new(irpc_outgoing_request **out,
                                       const char *path, const char *operation);

/* Frees the request, its payload, fields and features. The request must not
 * be in flight. NULL is a no-op. */
IRPC_API void irpc_outgoing_request_free(irpc_outgoing_request *r);

IRPC_API const char *irpc_outgoing_request_path(const irpc_outgoing_request *r);
IRPC_API const char *
irpc_outgoing_request_operation(const irpc_outgoing_request *r);

/* One-way requests complete with an empty Ok response as soon as they are
 * handed to the peer; the dispatch's response is discarded. */
IRPC_API void irpc_outgoing_request_set_oneway(irpc_outgoing_request *r,
                                               int oneway);
IRPC_API int irpc_outgoing_request_oneway(const irpc_outgoing_request *r);

/* Marks the request idempotent (idempotent != 0: running it twice has the
 * effect of running it once) or not, by setting or removing the idempotent
 * field (IRPC_REQUEST_FIELD_IDEMPOTENT, an empty value: presence is the
 * flag; the peer sees it too). The retry interceptor (irpc/retry.h) retries
 * an idempotent request after the connection died under it.
 * Errors: IRPC_EINVAL (r NULL), IRPC_ENOMEM. */
IRPC_API int irpc_outgoing_request_set_idempotent(irpc_outgoing_request *r,
                                                  int idempotent);
/* 1 when the request carries the idempotent field, else 0 (also for r
 * NULL). */
IRPC_API int irpc_outgoing_request_idempotent(const irpc_outgoing_request *r);

IRPC_API irpc_fields *irpc_outgoing_request_fields(irpc_outgoing_request *r);
IRPC_API irpc_features *
irpc_outgoing_request_features(irpc_outgoing_request *r);
IRPC_API irpc_buf *irpc_outgoing_request_payload(irpc_outgoing_request *r);

/* ---- Incoming response (client side) ---- */

/* Creates a response, for terminal invokers and for interceptors that answer
 * without calling further. `error_message` must be NULL when status is Ok;
 * when status is not Ok and error_message is NULL, IceRPC's default message
 * "The dispatch failed with status code <Name>." is used.
 * Errors: IRPC_EINVAL (out NULL, or a message with status Ok),
 *         IRPC_EOVERFLOW (status > IRPC_VARUINT62_MAX), IRPC_ENOMEM. */
IRPC_API int irpc_incoming_response_new(irpc_incoming_response **out,
                                        uint64_t status,
                                        const char *error_message);

/* NULL is a no-op. */
IRPC_API void irpc_incoming_response_free(irpc_incoming_response *r);

IRPC_API uint64_t
irpc_incoming_response_status(const irpc_incoming_response *r);
/* NULL when the status is Ok, never NULL otherwise. */
IRPC_API const char *
irpc_incoming_response_error_message(const irpc_incoming_response *r);
IRPC_API irpc_fields *irpc_incoming_response_fields(irpc_incoming_response *r);
IRPC_API irpc_buf *irpc_incoming_response_payload(irpc_incoming_response *r);

/* ---- Incoming request (server side) ----
 * Created by the connection (or the coloc invoker) and owned by the
 * dispatch it travels with; a dispatcher borrows it until it completes. */

IRPC_API const char *irpc_incoming_request_path(const irpc_incoming_request *r);
IRPC_API const char *
irpc_incoming_request_operation(const irpc_incoming_request *r);
IRPC_API int irpc_incoming_request_oneway(const irpc_incoming_request *r);
IRPC_API irpc_fields *irpc_incoming_request_fields(irpc_incoming_request *r);
IRPC_API irpc_features *
irpc_incoming_request_features(irpc_incoming_request *r);
IRPC_API irpc_buf *irpc_incoming_request_payload(irpc_incoming_request *r);

/* The invoker of the connection the request arrived on, to call the peer
 * back (reverse RPC); NULL when the transport has no way back. Borrowed: it
 * lives as long as the connection. */
IRPC_API irpc_invoker *
irpc_incoming_request_invoker(const irpc_incoming_request *r);

/* ---- Outgoing response (server side) ---- */

/* Creates a response; the same rules for status and message as
 * irpc_incoming_response_new.
 * Errors: IRPC_EINVAL, IRPC_EOVERFLOW, IRPC_ENOMEM. */
IRPC_API int irpc_outgoing_response_new(irpc_outgoing_response **out,
                                        uint64_t status,
                                        const char *error_message);

/* Frees a response that was not handed to irpc_dispatch_complete. NULL is a
 * no-op. */
IRPC_API void irpc_outgoing_response_free(irpc_outgoing_response *r);

IRPC_API uint64_t
irpc_outgoing_response_status(const irpc_outgoing_response *r);
IRPC_API const char *
irpc_outgoing_response_error_message(const irpc_outgoing_response *r);
IRPC_API irpc_fields *irpc_outgoing_response_fields(irpc_outgoing_response *r);
IRPC_API irpc_buf *irpc_outgoing_response_payload(irpc_outgoing_response *r);

/* ---- Payload writers ----
 *
 * A payload writer transforms the payload of an outgoing frame at the last
 * moment: the terminal (a connection, the coloc invoker) runs the writers
 * attached to a request just before it encodes the request header, once per
 * attempt, when it knows what the peer can read; the server runs those of a
 * response the same way. The compress interceptor and middleware are
 * writers (IceRPC's payload writer interceptors).
 *
 * A writer type is a static const ops table; attaching copies up to
 * IRPC_PAYLOAD_WRITER_CONFIG_MAX bytes of configuration into the frame, so
 * a writer needs no allocation and does not depend on the lifetime of the
 * interceptor that attached it. */

#define IRPC_PAYLOAD_WRITER_CONFIG_MAX 48
/* Writers a frame can hold. */
#define IRPC_PAYLOAD_WRITERS_MAX 2
/* Returned by a writer to send its input as is. */
#define IRPC_PAYLOAD_UNCHANGED 1

/* Write `.struct_size = sizeof(irpc_payload_writer_ops)` in the initializer
 * (irpc/version.h). */
typedef struct irpc_payload_writer_ops {
  size_t struct_size; /* sizeof(irpc_payload_writer_ops) */
  const char *name;
  /* Transforms `in` into `out` (empty on entry). `config` is the copy made
   * at attach time (aligned for any type). `fields` are the frame's fields:
   * the writer may set or remove entries (it runs again on every attempt,
   * so it must also undo what a previous attempt set when it now declines).
   * `peer_formats`: bit n set = the peer can read compression format n;
   * with IRPC_COMPRESSION_UNANNOUNCED set, the peer said nothing and the
   * other bits are what it reads if the contract is kept (irpc/compress.h).
   * `may_consume` is 1 when `in` may be consumed (irpc_buf_consume) as it
   * is read, 0 when it must be left unchanged (the application's request
   * payload, which a retry sends again).
   * Returns 0 when `out` holds the payload to send, IRPC_PAYLOAD_UNCHANGED
   * to send `in` (out left empty), or a negative error that fails the
   * attempt (the call completes with it; a response becomes InternalError).
   * Never blocks; runs on the frame's loop. */
  int (*write)(const void *config, irpc_fields *fields, uint64_t peer_formats,
               irpc_buf *in, int may_consume, irpc_buf *out);

  /* Optional streaming (all three, or none: NULL). A connection sends a
   * request payload larger than IRPC_PAYLOAD_STREAM_THRESHOLD through its
   * only writer this way when the writer has them, pulling the output
   * piece by piece as the transport takes it, so the whole output is never
   * held at once; every other case uses `write`.
   *
   * `begin` decides as `write` does (same config, fields, peer_formats,
   * and the same rule: it sets or removes fields on every attempt) but
   * produces nothing yet: it returns 0 with its state in *state,
   * IRPC_PAYLOAD_UNCHANGED to send `in` as is (*state untouched), or a
   * negative error that fails the attempt. `in` is borrowed, unchanged,
   * until `end`; the writer may read ahead in it to decide (the compress
   * writer compresses a prefix).
   * `next` appends about `want` bytes of output to `out` (it may append
   * more, or less at the end) and sets *done to 1 with the last of them;
   * it appends at least one byte unless it sets *done. Returns 0 or a
   * negative error, which fails the attempt (the stream is aborted).
   * `end` frees the state; it is called exactly once after a successful
   * `begin`, whether the output was all pulled or not (completion,
   * cancellation, a closed connection, an error). Each attempt of a retry
   * starts with a new `begin`. Never block; run on the frame's loop. */
  int (*begin)(const void *config, irpc_fields *fields, uint64_t peer_formats,
               const irpc_buf *in, void **state);
  int (*next)(void *state, irpc_buf *out, size_t want, int *done);
  void (*end)(void *state);

  /* Optional: the payload of a frame followed by a continuation
   * (irpc/stream.h). Decides as `write` does (same config, fields,
   * peer_formats and rule for fields) and returns 0 with the payload to
   * send appended to `out` and, in *xf and *state, the transform its
   * continuation then goes through chunk by chunk (the continuation's
   * writer owns the state from then on), IRPC_PAYLOAD_UNCHANGED to send
   * the payload and its continuation as they are, or a negative error
   * that fails the attempt. `in` is left unchanged. A frame with a
   * continuation runs only a single writer that has it; other writers
   * are not run on such a frame. */
  int (*begin_continuation)(const void *config, irpc_fields *fields,
                            uint64_t peer_formats, const irpc_buf *in,
                            irpc_buf *out, const irpc_stream_transform_ops **xf,
                            void **state);
} irpc_payload_writer_ops;

/* Request payloads larger than this many bytes (1 MiB) are streamed by the
 * icerpc connection when exactly one writer is attached and it has the
 * streaming operations. */
#define IRPC_PAYLOAD_STREAM_THRESHOLD ((size_t)1 << 20)

/* Attaches a writer of type `ops` with a copy of `config_len` bytes of
 * `config` to an outgoing request. Writers run in the order attached, each
 * on the output of the previous one. Attaching an ops table already
 * attached replaces its config (an interceptor that runs on every retry
 * attempt attaches once).
 * Errors: IRPC_EINVAL (NULL r or ops, ops->struct_size 0, smaller than the
 * first irpc_payload_writer_ops or larger with non-zero unknown members,
 * ops->write NULL, some but not all
 * of the streaming operations set, config NULL with config_len > 0),
 * IRPC_ERANGE (config_len > IRPC_PAYLOAD_WRITER_CONFIG_MAX),
 * IRPC_ELIMIT (IRPC_PAYLOAD_WRITERS_MAX writers already attached). */
IRPC_API int
irpc_outgoing_request_use_writer(irpc_outgoing_request *r,
                                 const irpc_payload_writer_ops *ops,
                                 const void *config, size_t config_len);

/* The same for an outgoing response (server side).
 * Errors: as irpc_outgoing_request_use_writer. */
IRPC_API int
irpc_outgoing_response_use_writer(irpc_outgoing_response *r,
                                  const irpc_payload_writer_ops *ops,
                                  const void *config, size_t config_len);

/* 1 when a writer of type `ops` is attached, else 0. */
IRPC_API int
irpc_outgoing_request_has_writer(const irpc_outgoing_request *r,
                                 const irpc_payload_writer_ops *ops);
IRPC_API int
irpc_outgoing_response_has_writer(const irpc_outgoing_response *r,
                                  const irpc_payload_writer_ops *ops);

/* Runs the writers attached to a request, as a terminal does just before
 * it encodes the request header, and appends the payload to send to `out`
 * (with no writer: shared references to the payload blocks, no copy). The
 * writers may set or remove fields of `r`; the request's payload is left
 * unchanged. For custom terminal invokers and tests. `peer_formats`: bit n
 * set = the peer can read compression format n (irpc/compress.h). This
 * always uses the writers' `write` (the whole output at once), never their
 * streaming operations.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM, or a writer's error
 * (out is then left as it was). */
IRPC_API int irpc_outgoing_request_write_payload(irpc_outgoing_request *r,
                                                 uint64_t peer_formats,
                                                 irpc_buf *out);

/* The same for a response; its payload is consumed (moved to `out`).
 * Errors: as irpc_outgoing_request_write_payload. */
IRPC_API int irpc_outgoing_response_write_payload(irpc_outgoing_response *r,
                                                  uint64_t peer_formats,
                                                  irpc_buf *out);

#ifdef __cplusplus
}
#endif
#endif
