/* irpc: payloads as reference-counted buffer chains.
 *
 * An irpc_buf is an ordered chain of segments; each segment is a view into a
 * reference-counted memory block. Blocks are shared, never copied, when a
 * chain is handed from one layer to another (irpc_buf_move) or when a range
 * is viewed twice (irpc_buf_append_ref). Fresh blocks keep IRPC_BUF_HEADROOM
 * free bytes in front, so a protocol header is prepended without a copy.
 *
 * Writing into a block is only done while the chain holds the only reference
 * to it; a shared block is never modified (copy-on-write by construction).
 *
 * Threading: a chain is used by one thread at a time. Block reference counts
 * are atomic, so chains sharing blocks may live on different threads. */
#ifndef IRPC_BUF_H
#define IRPC_BUF_H

#include "irpc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Free bytes kept in front of a block the chain allocates itself. */
#define IRPC_BUF_HEADROOM 64
/* Usable size of a block the chain allocates itself (larger requests get a
 * block of their own size). */
#define IRPC_BUF_BLOCK_SIZE 4096

typedef struct irpc_buf irpc_buf;

/* Releases external memory handed to irpc_buf_append_external once the last
 * segment referring to it is gone. */
typedef void (*irpc_buf_release_fn)(void *data, void *user_data);

/* Creates an empty chain.
 * Errors: IRPC_EINVAL (out is NULL), IRPC_ENOMEM. */
IRPC_API int irpc_buf_new(irpc_buf **out);

/* Drops the chain and its block references. NULL is a no-op. */
IRPC_API void irpc_buf_free(irpc_buf *b);

/* Total bytes in the chain. */
IRPC_API size_t irpc_buf_len(const irpc_buf *b);

/* Removes every byte (drops block references); the chain stays usable. */
IRPC_API void irpc_buf_clear(irpc_buf *b);

/* Appends a copy of `len` bytes, filling the tail room of the last block
 * when the chain owns it alone.
 * Errors: IRPC_EINVAL (b NULL, or data NULL with len > 0), IRPC_ENOMEM. */
IRPC_API int irpc_buf_append(irpc_buf *b, const void *data, size_t len);

/* Prepends a copy of `len` bytes, into the headroom of the first block when
 * the chain owns it alone and there is room, else into a new block.
 * Errors: as irpc_buf_append. */
IRPC_API int irpc_buf_prepend(irpc_buf *b, const void *data, size_t len);

/* Returns contiguous writable space at the tail of at least `min` bytes
 * (min 0 means "whatever room is left, or a new block"): *out points to it,
 * *avail says how much there is. The bytes become part of the chain only
 * with irpc_buf_commit. The space stays valid until the next call that
 * modifies the chain.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_buf_reserve(irpc_buf *b, size_t min, uint8_t **out,
                              size_t *avail);

/* Adds `n` bytes written into the space returned by the last
 * irpc_buf_reserve to the chain.
 * Errors: IRPC_EINVAL (b NULL, or n larger than the reserved space),
 * IRPC_ENOMEM (the chain could not grow to take a new block: nothing is
 * added, and the reserved space is still reserved). */
IRPC_API int irpc_buf_commit(irpc_buf *b, size_t n);

/* Appends `len` bytes of memory the chain does not own, without copying.
 * `release(data, user_data)` is called once the last reference is dropped
 * (release may be NULL for static memory). The memory must stay valid and
 * unchanged until then. On error, release is NOT called: the caller keeps
 * ownership.
 * Errors: IRPC_EINVAL (b NULL, or data NULL with len > 0), IRPC_ENOMEM. */
IRPC_API int irpc_buf_append_external(irpc_buf *b, void *data, size_t len,
                                      irpc_buf_release_fn release,
                                      void *user_data);

/* Moves every segment of `src` to the end of `dst` without copying bytes;
 * `src` is left empty. dst == src is an error.
 * Errors: IRPC_EINVAL, IRPC_ENOMEM (dst unchanged, src unchanged). */
IRPC_API int irpc_buf_move(irpc_buf *dst, irpc_buf *src);

/* Appends to `dst` a shared view of bytes [off, off + len) of `src`, without
 * copying (the blocks' reference counts are raised). dst may equal src.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ERANGE (range past the end of
 * src), IRPC_ENOMEM. */
IRPC_API int irpc_buf_append_ref(irpc_buf *dst, const irpc_buf *src, size_t off,
                                 size_t len);

/* Drops `n` bytes from the front.
 * Errors: IRPC_EINVAL (b NULL), IRPC_ERANGE (n > length; nothing dropped). */
IRPC_API int irpc_buf_consume(irpc_buf *b, size_t n);

/* Keeps only the first `len` bytes.
 * Errors: IRPC_EINVAL (b NULL), IRPC_ERANGE (len > length). */
IRPC_API int irpc_buf_truncate(irpc_buf *b, size_t len);

/* Number of segments, and a view of segment `i` (empty view when out of
 * range). The view is valid until the chain is next modified. Segments are
 * never empty. */
IRPC_API size_t irpc_buf_segment_count(const irpc_buf *b);
IRPC_API irpc_bytes irpc_buf_segment(const irpc_buf *b, size_t i);

/* Copies bytes [off, off + len) out to `dst`.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ERANGE (range past the end). */
IRPC_API int irpc_buf_copyout(const irpc_buf *b, size_t off, void *dst,
                              size_t len);

/* Makes the chain one contiguous segment (copying only if it has more than
 * one) and returns it in *out (NULL for an empty chain).
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM (chain unchanged). */
IRPC_API int irpc_buf_pullup(irpc_buf *b, irpc_bytes *out);

/* 1 if the chain's bytes equal `len` bytes at `data`, else 0. */
IRPC_API int irpc_buf_equals(const irpc_buf *b, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
