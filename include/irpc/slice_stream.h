/* irpc: Slice `stream T` over payload continuations (irpc/stream.h).
 *
 * The elements of a Slice2 stream follow the operation's payload on the
 * same icerpc stream, framed as IceRPC frames them:
 *   - `stream uint8`: raw bytes;
 *   - a fixed-size element type: the elements back to back, no framing;
 *   - a variable-size element type: a series of segments (a varuint62 byte
 *     count, then the bytes), each holding at least one whole element; an
 *     empty segment is invalid.
 * The typed producer writes items through an irpc_stream_writer, the typed
 * consumer decodes items from an irpc_stream_reader as they arrive. */
#ifndef IRPC_SLICE_STREAM_H
#define IRPC_SLICE_STREAM_H

#include "irpc/slice.h"
#include "irpc/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

struct irpc_slice_in;

/* How one element is encoded and decoded. Write `.struct_size =
 * sizeof(irpc_slice_stream_elem)` in the initializer (irpc/version.h). */
typedef struct irpc_slice_stream_elem {
  size_t struct_size; /* sizeof(irpc_slice_stream_elem) */
  size_t item_size;   /* sizeof the C item */
  /* > 0: a fixed-size element of this many bytes on the wire; 0: a
   * variable-size element (framed in segments). */
  size_t wire_size;
  /* Encodes `item`; Slice2 encoding. Returns 0 or the encoder's error. */
  int (*encode)(irpc_slice_encoder *e, const void *item);
  /* Decodes into `item` (item_size bytes, zeroed); views (strings, byte
   * sequences) point into the received bytes and stay valid during the
   * on_items call only. Returns 0 or the decoder's error. */
  int (*decode)(irpc_slice_decoder *d, void *item);
  /* Instead of decode (which is then NULL), for elements that need memory
   * (sequences, dictionaries, structs holding them...): decodes into
   * `item` through `in` (irpc/slice_gen.h), whose arena holds what the
   * item points to. Views point into the received bytes, arena memory is
   * freed after on_items: either stays valid during the on_items call
   * only. What generated code emits for every `stream T` other than
   * `stream uint8`. */
  int (*decode_in)(struct irpc_slice_in *in, void *item);
} irpc_slice_stream_elem;

/* `stream uint8`: items are bytes, sent raw (encode/decode unused). So
 * is any element with item_size and wire_size 1 and neither encode nor
 * decode (what generated code emits for `stream uint8`). */
IRPC_API extern const irpc_slice_stream_elem irpc_slice_stream_uint8;

/* ---- Producer ---- */

typedef struct irpc_slice_stream_writer irpc_slice_stream_writer;

/* A producer of `elem` items over `w` (borrowed: it must outlive the
 * producer; the application keeps receiving w's on_writable and on_end).
 * Errors: IRPC_EINVAL (NULL argument, a bad struct_size, item_size 0,
 * encode NULL for an element other than raw bytes),
 * IRPC_ENOMEM. */
IRPC_API int irpc_slice_stream_writer_new(irpc_slice_stream_writer **out,
                                          irpc_stream_writer *w,
                                          const irpc_slice_stream_elem *elem);

/* Writes `n` items (at `items`, n * item_size bytes): fixed-size ones back
 * to back, variable-size ones as one segment holding the n items (n >= 1),
 * or several when one would pass the 1 MiB readers accept (IceRPC's
 * limit), each of as many whole items as fit.
 * A batch is written whole or not at all: every segment is encoded before
 * any is written, then the batch goes to the writer in one
 * irpc_stream_writer_write (taken whole while the writer has any room).
 * So on every error below none of the batch was written, whichever
 * segment failed: the reader sees none of its items, and the stream goes
 * on with the next write (write the batch again to send it).
 * Errors: IRPC_EINVAL (NULL argument, n 0), IRPC_EAGAIN (the writer has no
 * room; the writer's on_writable follows), IRPC_ELIMIT (one item alone
 * encodes to more than 1 MiB), an encoder's error, IRPC_ENOMEM,
 * IRPC_ECLOSED (the stream was ended or aborted, or its end is due), or
 * the error of the writer's transform (a compressed stream), which ends
 * the writer: its on_end follows with that error. */
IRPC_API int irpc_slice_stream_write(irpc_slice_stream_writer *s,
                                     const void *items, size_t n);

/* Ends the stream (irpc_stream_writer_end). */
IRPC_API int irpc_slice_stream_end(irpc_slice_stream_writer *s);

/* Asks for the writer's on_writable once it has room
 * (irpc_stream_writer_wait). */
IRPC_API int irpc_slice_stream_wait(irpc_slice_stream_writer *s);

/* NULL is a no-op; the irpc_stream_writer is not freed. */
IRPC_API void irpc_slice_stream_writer_free(irpc_slice_stream_writer *s);

/* ---- Consumer ---- */

typedef struct irpc_slice_stream_reader irpc_slice_stream_reader;

/* Write `.struct_size = sizeof(irpc_slice_stream_handler)`. */
typedef struct irpc_slice_stream_handler {
  size_t struct_size; /* sizeof(irpc_slice_stream_handler) */
  /* Items decoded, in order: an array of n items of item_size bytes
   * (bytes for `stream uint8`). The array, and everything an item points
   * to (strings and byte sequences are views into the received bytes;
   * sequences, dictionaries and the like live in an arena), are valid
   * during the call only: copy what must outlive it. A fixed-size element
   * type comes in runs of as many whole elements as arrived, a
   * variable-size one a segment at a time. */
  void (*on_items)(void *user_data, const void *items, size_t n);
  /* The end, once: 0 (every item delivered), IRPC_ETRUNCATED (the stream
   * ended inside an element, or the writer aborted), IRPC_EDATA (an
   * element that does not decode, an element that does not fill its
   * segment exactly, an empty segment), IRPC_EENUM (an enumerator out of
   * range, in a checked enum), IRPC_EUTF8 (a string that is not UTF-8),
   * IRPC_ELIMIT (a segment over 1 MiB, or the decoded values of one
   * segment over the decoder's max collection allocation, 8 MiB),
   * IRPC_ENOMEM, or the reader's error (irpc_stream_reader on_end). After
   * a decode error the peer is stopped (its writer ends with
   * IRPC_ESTOPPED), and the items before the bad one in its segment or
   * run are not delivered. */
  void (*on_end)(void *user_data, int err);
} irpc_slice_stream_handler;

/* Starts decoding `elem` items from `r`, which the consumer takes (it is
 * freed with the consumer).
 * Errors: IRPC_EINVAL (NULL argument, a bad struct_size, decode and
 * decode_in NULL for an element other than raw bytes), IRPC_ENOMEM, the
 * reader's (irpc_stream_reader_start); on error `r` is not taken. */
IRPC_API int irpc_slice_stream_reader_new(irpc_slice_stream_reader **out,
                                          irpc_stream_reader *r,
                                          const irpc_slice_stream_elem *elem,
                                          const irpc_slice_stream_handler *h,
                                          void *user_data);

/* Stops (the peer is stopped when the end did not come yet) and frees; no
 * callback after this returns. May be called from the reader's own
 * on_items or on_end: the items after those delivered are dropped, on_end
 * does not follow, and the memory is released once the callback returns.
 * NULL is a no-op. */
IRPC_API void irpc_slice_stream_reader_free(irpc_slice_stream_reader *s);

#ifdef __cplusplus
}
#endif
#endif
