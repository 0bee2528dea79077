/* The connection's side of payload continuations (irpc/stream.h): a writer
 * is bound to a sink (the protocol's stream) once its frame is sent, a
 * reader is created by the protocol over a source. Neither calls the
 * application from inside these functions: callbacks go through the
 * object's task on its loop. Never installed. */
#ifndef IRPC_CORE_STREAM_INTERNAL_H
#define IRPC_CORE_STREAM_INTERNAL_H

#include <stddef.h>

#include "base/scheduler.h"
#include "irpc/stream.h"

/* Where a writer's bytes go once its frame is sent. */
typedef struct irpc__stream_sink {
  /* Moves `data` (may be NULL) to the stream; `last` ends it. Returns 0 or
   * an error (IRPC_ECLOSED, IRPC_ENOMEM). */
  int (*write)(void *ctx, irpc_buf *data, int last);
  /* Bytes written and not framed yet. */
  size_t (*queued)(void *ctx);
  /* Asks for one irpc__stream_writer_writable once fewer than `low` bytes
   * are queued. */
  void (*want_writable)(void *ctx, size_t low);
  /* The writer aborts: the sink forgets it (no finish follows) and ends
   * the stream's writes abortively. */
  void (*abort)(void *ctx);
} irpc__stream_sink;

/* Binds `w` to a sink: the bytes waiting in the writer (and its end) go to
 * it. The sink holds a reference until it calls irpc__stream_writer_finish
 * or the writer aborts. Errors: IRPC_EBUSY (started already), or the
 * sink's write error (with a transform, that or the transform's error
 * failed the writer: the sink was aborted already). */
int irpc__stream_writer_attach(irpc_stream_writer *w,
                               const irpc__stream_sink *sink, void *ctx);
/* The sink took bytes: on_writable is due if the application waits. */
void irpc__stream_writer_writable(irpc_stream_writer *w);
/* The sink is done with the writer: `err` 0 when the end went out, else
 * why the stream ended; the sink's reference is dropped. */
void irpc__stream_writer_finish(irpc_stream_writer *w, int err);
/* Fails a writer that no sink took (the protocol has no continuation). */
void irpc__stream_writer_refuse(irpc_stream_writer *w, int err);
/* A frame holding `w` lets go of it (freed, or another writer set). */
void irpc__stream_writer_frame_release(irpc_stream_writer *w);
int irpc__stream_writer_ended(const irpc_stream_writer *w);
/* The error a writer's end reported or is about to report (aborted, its
 * deadline passed, ...), or 0 while it has not ended. */
int irpc__stream_writer_end_error(const irpc_stream_writer *w);

/* Where a reader's bytes come from. */
typedef struct irpc__stream_source {
  /* Moves up to `max` received bytes into `out`, crediting the peer; sets
   * *end once the writer's end was read (the source then forgets the
   * reader, and the reader drops the source's reference). Returning 0
   * while bytes are readable means it could not allocate: the reader then
   * ends with IRPC_ENOMEM and stops the source. */
  size_t (*read)(void *ctx, irpc_buf *out, size_t max, int *end);
  /* Bytes received and not read. */
  size_t (*readable)(void *ctx);
  /* The reader stops before its end: the source forgets it and tells the
   * peer (StreamReadsClosed). */
  void (*stop)(void *ctx);
} irpc__stream_source;

/* A reader over `source`, with the bytes of `first` (moved) before what
 * the source gives. Two references: the frame's (handed to the
 * application by take_continuation) and the source's.
 * Errors: IRPC_ENOMEM. */
int irpc__stream_reader_new(irpc_stream_reader **out, uv_loop_t *loop,
                            const irpc__stream_source *source, void *ctx,
                            irpc_buf *first);
/* The source has bytes, or its end. */
void irpc__stream_reader_readable(irpc_stream_reader *r);
/* The scheduler of the loop `r` delivers on. */
irpc__sched *irpc__stream_reader_sched(const irpc_stream_reader *r);
/* The source ends the reader with `err` (not 0): it forgets the reader and
 * its reference is dropped. */
void irpc__stream_reader_finish(irpc_stream_reader *r, int err);

#endif
