/* The ice protocol's internals shared by its files. Never installed. */
#ifndef IRPC_CORE_ICE_INTERNAL_H
#define IRPC_CORE_ICE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "irpc/buf.h"
#include "irpc/error.h"

/* Ice's message header: magic, protocol 1.0, protocol encoding 1.0, type,
 * compression status, size (header included). */
#define IRPC__ICE_HEADER 14
/* Ice compresses only messages of at least this many bytes. */
#define IRPC__ICE_COMPRESS_MIN 100
#define IRPC__ICE_MIN_MESSAGE_SIZE 256u
#define IRPC__ICE_MAX_MESSAGE_SIZE 2147483647u
#define IRPC__ICE_DEFAULT_MAX_MESSAGE_SIZE 1048576u
#define IRPC__ICE_DEFAULT_IDLE_TIMEOUT_MS 60000u

enum {
  IRPC__ICE_REQUEST = 0,
  IRPC__ICE_BATCH = 1,
  IRPC__ICE_REPLY = 2,
  IRPC__ICE_VALIDATE = 3,
  IRPC__ICE_CLOSE = 4
};

/* Compresses all of `in` with bzip2 (100k blocks, as Ice) into `out`
 * (`cap` bytes). Errors: IRPC_ELIMIT (the output would not fit: it does
 * not shrink enough), IRPC_ENOMEM, IRPC_EDATA. */
int irpc__ice_bz_compress(const irpc_buf *in, uint8_t *out, size_t cap,
                          size_t *out_len);

/* Decompresses the bzip2 stream at [off, off + len) of `in` into exactly
 * `out_len` bytes at `out`; never writes more. Errors: IRPC_ELIMIT (the
 * stream holds more), IRPC_EDATA (corrupt, truncated, shorter, bytes after
 * the stream), IRPC_ENOMEM. */
int irpc__ice_bz_decompress(const irpc_buf *in, size_t off, size_t len,
                            uint8_t *out, size_t out_len);

#endif
