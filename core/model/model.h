/* Internal layout of the model: field dictionaries, features and the four
 * frames, and the terminals' hooks that prepare a payload. Never installed. */
#ifndef IRPC_CORE_MODEL_H
#define IRPC_CORE_MODEL_H

#include <stdalign.h>
#include <stddef.h>

#include "base/buf_internal.h"
#include "irpc/dispatcher.h"
#include "irpc/error.h"
#include "irpc/invoker.h"
#include "irpc/stream.h"

#define IRPC__ALIGN(n) (((n) + 15) & ~(size_t)15)

/* ---- Fields and features ---- */

#define IRPC__FIELDS_INLINE 4
#define IRPC__FIELDS_ARENA 64

typedef struct irpc__field {
  uint64_t key;
  size_t off;
  size_t len;
} irpc__field;

struct irpc_fields {
  irpc__field *entries;
  size_t count;
  size_t cap;
  uint8_t *arena;
  size_t used;
  size_t arena_cap;
  irpc__field inline_entries[IRPC__FIELDS_INLINE];
  uint8_t inline_arena[IRPC__FIELDS_ARENA];
};

void irpc__fields_init(irpc_fields *f);
void irpc__fields_fini(irpc_fields *f);

#define IRPC__FEATURES_INLINE 4

typedef struct irpc__feature {
  const irpc_feature_key *key;
  void *value;
} irpc__feature;

struct irpc_features {
  irpc__feature *entries;
  size_t count;
  size_t cap;
  irpc__feature inline_entries[IRPC__FEATURES_INLINE];
};

void irpc__features_init(irpc_features *f);
void irpc__features_fini(irpc_features *f);

/* ---- Frames ---- */

typedef struct irpc__writer {
  const irpc_payload_writer_ops *ops;
  union {
    max_align_t align;
    uint8_t bytes[IRPC_PAYLOAD_WRITER_CONFIG_MAX];
  } config;
} irpc__writer;

typedef struct irpc__writers {
  unsigned count;
  irpc__writer w[IRPC_PAYLOAD_WRITERS_MAX];
} irpc__writers;

/* Each frame is one allocation, its strings after the struct; from the
 * loop's pool (base/pool.h) when they fit (frames.c), which `pooled`
 * records. */
struct irpc_outgoing_request {
  int pooled;
  const char *path;
  const char *operation;
  int oneway;
  irpc_fields fields;
  irpc_features features;
  irpc_buf payload;
  irpc__writers writers;
  irpc_stream_writer *cont; /* its continuation, or NULL */
  int stream_response;      /* the response's payload comes as a stream */
};

struct irpc_incoming_request {
  int pooled;
  const char *path;
  const char *operation;
  int oneway;
  irpc_invoker *invoker; /* connection back to the peer, or NULL */
  irpc_fields fields;
  irpc_features features;
  irpc_buf payload;
  irpc_stream_reader *cont; /* a request dispatched as a stream, or NULL */
};

/* Incoming and outgoing responses share one layout. */
typedef struct irpc__response {
  int pooled;
  uint64_t status;
  const char *message;
  irpc_fields fields;
  irpc_buf payload;
  irpc__writers writers;     /* outgoing responses only */
  irpc_stream_writer *wcont; /* outgoing: its continuation, or NULL */
  irpc_stream_reader *rcont; /* incoming: a streamed payload, or NULL */
} irpc__response;

struct irpc_incoming_response {
  irpc__response r;
};

struct irpc_outgoing_response {
  irpc__response r;
};

/* A new incoming response from an outgoing one (the coloc hand-off):
 * irpc__response_prepare runs with `peer_formats`, then status, message
 * and fields are copied and the prepared payload moved in. */
int irpc__response_convert(irpc_outgoing_response *from, uint64_t peer_formats,
                           irpc_incoming_response **to);

/* An incoming request built from an outgoing one (the coloc hand-off):
 * irpc__request_prepare runs with `peer_formats`, then strings and fields
 * are copied and the prepared payload moved in (blocks shared, no copy
 * when no writer is attached). */
int irpc__request_convert(irpc_outgoing_request *from, uint64_t peer_formats,
                          irpc_incoming_request **to);

/* Run by every terminal just before it encodes a request header: runs the
 * writers attached to `req` (which may set or remove fields of `req`, and
 * do so again on each attempt) and appends the payload to send to
 * `payload_out`; with no writer, shared references to the payload blocks
 * (no copy). The request's own payload is never modified (a retry sends it
 * again). `peer_formats`: bit n set = the peer can read compression format
 * n (see irpc/compress.h).
 * Errors: IRPC_ENOMEM, or the error a writer returned; payload_out is then
 * left empty. */
int irpc__request_prepare(irpc_outgoing_request *req, uint64_t peer_formats,
                          irpc_buf *payload_out);

/* A request payload pulled piece by piece from its writer (see the
 * streaming operations of irpc_payload_writer_ops). */
typedef struct irpc__payload_stream {
  const irpc_payload_writer_ops *ops; /* NULL: not streaming */
  void *state;
} irpc__payload_stream;

/* As irpc__request_prepare, but when the payload is larger than
 * IRPC_PAYLOAD_STREAM_THRESHOLD and exactly one writer is attached, which
 * has the streaming operations, runs its `begin` instead: on success `st`
 * is streaming (st->ops set), payload_out is left empty and the payload
 * comes from irpc__payload_stream_next; irpc__payload_stream_end must
 * follow. In every other case (also when `begin` declines) `st` is not
 * streaming and payload_out holds the whole payload, as with
 * irpc__request_prepare.
 * Errors: as irpc__request_prepare (st is then not streaming). */
int irpc__request_prepare_stream(irpc_outgoing_request *req,
                                 uint64_t peer_formats, irpc_buf *payload_out,
                                 irpc__payload_stream *st);

/* Appends about `want` more bytes of a streaming payload to `out`; *done
 * becomes 1 with the last of them. Errors: the writer's. */
int irpc__payload_stream_next(irpc__payload_stream *st, irpc_buf *out,
                              size_t want, int *done);

/* Ends a streaming payload (its writer's `end`); a no-op when `st` is not
 * streaming. Idempotent. */
void irpc__payload_stream_end(irpc__payload_stream *st);

/* As irpc__request_prepare, for a request with a continuation: only a
 * single writer that has begin_continuation runs, and the transform it
 * returns is installed on the continuation's writer.
 * Errors: IRPC_ENOMEM, the writer's, or the transform's installation
 * (IRPC_EBUSY). */
int irpc__request_prepare_cont(irpc_outgoing_request *req,
                               uint64_t peer_formats, irpc_buf *payload_out);
/* The same for a response with a continuation (its payload consumed). */
int irpc__response_prepare_cont(irpc_outgoing_response *resp,
                                uint64_t peer_formats, irpc_buf *payload_out);

/* The same for a response just before its header is encoded; the
 * response's payload is consumed (moved into payload_out, or read by the
 * writers). peer_formats is the mask the client announced.
 * Errors: as irpc__request_prepare. */
int irpc__response_prepare(irpc_outgoing_response *resp, uint64_t peer_formats,
                           irpc_buf *payload_out);

#endif
