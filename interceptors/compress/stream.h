/* Compression over buffer chains, shared by stream.c and the payload
 * writer (writer.c). Never installed. */
#ifndef IRPC_COMPRESS_STREAM_H
#define IRPC_COMPRESS_STREAM_H

#include "codec.h"
#include "irpc/stream.h"

/* A consuming compression of a payload bigger than this releases its input
 * as it goes (smaller ones are held to the end: nothing to gain). It is
 * also the first point (in input bytes) where it checks whether the result
 * is sure to shrink; the next checks are at twice, four times, ... */
#define RELEASE_CHECK ((size_t)256 << 10)

/* A compression into a chain, fed piece by piece. */
typedef struct cstream {
  irpc__codec c;
  irpc_buf *out;
  size_t left;          /* room left in the last output block */
  size_t start;         /* len(out) on entry */
  size_t hint;          /* output block size */
  size_t give_up_above; /* output bytes; SIZE_MAX = never give up */
} cstream;

/* Starts compressing about `total` bytes with `format` at `level` into
 * `out` (appended to). Errors: those of irpc__codec_init. */
int irpc__cstream_init(cstream *cs, int format, int level, size_t total,
                       irpc_buf *out, size_t give_up_above);

/* Output bytes written so far. */
size_t irpc__cstream_produced(const cstream *cs);

/* Feeds [p, p + len) to the codec with `op` (IRPC__OP_*), writing the
 * output into blocks of the output chain. Returns 0, 1 (the output passed
 * give_up_above: stop) or a negative error. */
int irpc__cstream_feed(cstream *cs, const uint8_t *p, size_t len, int op);

/* A checkpoint of a compression that may still fall back to the payload as
 * it is: flushes the codec and sets *sure when the output so far plus the
 * most the `remaining` input bytes can add stays below `total`. Returns
 * irpc__cstream_feed's result. */
int irpc__cstream_checkpoint(cstream *cs, size_t total, size_t remaining,
                             int *sure);

/* Compresses `in` (left unchanged) into `out`. Gives up with 1 (nothing
 * useful) as soon as the output exceeds `give_up_above` bytes. */
int irpc__compress_chain(int format, int level, const irpc_buf *in,
                         irpc_buf *out, size_t give_up_above);

/* The same, consuming `in` as it goes; a payload that does not shrink is
 * restored into `in` (returns 1). */
int irpc__compress_chain_consume(int format, int level, irpc_buf *in,
                                 irpc_buf *out, size_t give_up_above);

/* A payload followed by a continuation: compresses and flushes `payload`
 * into `out` and returns the transform (and its state) that compresses the
 * continuation chunk by chunk in the same stream. Errors: those of
 * irpc__codec_init, IRPC_ENOMEM. */
int irpc__compress_begin_cont(int format, int level, const irpc_buf *payload,
                              irpc_buf *out,
                              const irpc_stream_transform_ops **xf,
                              void **state);

/* Installs on reader `r` the transform that decompresses what arrives,
 * each chunk to at most `max_chunk` bytes (more: IRPC_ELIMIT).
 * Errors: IRPC_ENOMEM, IRPC_ENOTSUP (no codec), IRPC_EBUSY (the reader
 * delivered bytes already). */
int irpc__decompress_cont(int format, uint64_t max_chunk,
                          irpc_stream_reader *r);

#endif
