/* Internals shared by the Slice encoder and decoder files. */
#ifndef IRPC_SLICE_INTERNAL_H
#define IRPC_SLICE_INTERNAL_H

#include <string.h>

#include "irpc/error.h"
#include "irpc/slice.h"
#include "base/utf8.h"
#include "base/varuint62.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define IRPC__SLICE_LE_HOST 1
#else
#define IRPC__SLICE_LE_HOST 0
#endif

/* Ice 1.1 sizes: one byte below this value, else this byte + int32. */
#define IRPC__SLICE1_SIZE_ESCAPE 255

static inline void irpc__slice_put_le(uint8_t *p, uint64_t v, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (n <= sizeof(v)) { /* one copy instead of a loop */
    memcpy(p, &v, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t irpc__slice_get_le(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Minimal varuint62 length of v (1, 2, 4 or 8), or 0 past the range. */
static inline size_t irpc__slice_varuint62_len(uint64_t v) {
  return v > IRPC_VARUINT62_MAX ? 0 : irpc__varuint62_size(v);
}

/* Wire size of one fixed-size element (0 for a variable-size type) and the
 * smallest wire size of any element (0 for an unknown type). */
size_t irpc__slice_wire_size(irpc_slice_type type);
size_t irpc__slice_min_wire_size(irpc_slice_type type);

/* ---- encoder ---- */

/* Records the first error and returns the sticky one. */
static inline int irpc__slice_enc_fail(irpc_slice_encoder *e, int err) {
  if (e->err == 0)
    e->err = err;
  return e->err;
}

/* Slow path of irpc__slice_enc_room: commits the span and reserves at least
 * `n` contiguous bytes. */
int irpc__slice_enc_grow(irpc_slice_encoder *e, size_t n);

/* Ensures `n` contiguous writable bytes at e->cur (n <= 8 in practice). */
static inline int irpc__slice_enc_room(irpc_slice_encoder *e, size_t n) {
  if (e->err)
    return e->err;
  if ((size_t)(e->end - e->cur) >= n)
    return 0;
  return irpc__slice_enc_grow(e, n);
}

/* Appends `n` bytes, filling blocks as they come. */
int irpc__slice_enc_write(irpc_slice_encoder *e, const void *p, size_t n);

/* Overwrites `n` bytes at chain offset `pos`, flushed or not. */
int irpc__slice_enc_patch(irpc_slice_encoder *e, size_t pos, const void *p,
                          size_t n);

/* Common checks at the top of every encode function. */
static inline int irpc__slice_enc_check(irpc_slice_encoder *e, int slice2) {
  if (!e)
    return IRPC_EINVAL;
  if (e->err)
    return e->err;
  if (slice2 >= 0 && (e->encoding == IRPC_SLICE_ENCODING_2) != slice2)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  return 0;
}

/* Writes a placeholder of `width` bytes and fills in the mark. */
int irpc__slice_enc_mark(irpc_slice_encoder *e, size_t width,
                         irpc_slice_mark *m);

/* Patches the int32 placeholder of `m` with the number of bytes written
 * from it on, the placeholder included (Ice encapsulation and slice sizes). */
int irpc__slice_enc_patch_int32_since(irpc_slice_encoder *e,
                                      const irpc_slice_mark *m);

/* ---- decoder ---- */

static inline int irpc__slice_dec_fail(irpc_slice_decoder *d, int err) {
  if (d->err == 0)
    d->err = err;
  return d->err;
}

static inline int irpc__slice_dec_check(irpc_slice_decoder *d, int slice2) {
  if (!d)
    return IRPC_EINVAL;
  if (d->err)
    return d->err;
  if (slice2 >= 0 && (d->encoding == IRPC_SLICE_ENCODING_2) != slice2)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  return 0;
}

static inline size_t irpc__slice_dec_pos(const irpc_slice_decoder *d) {
  return d->seg_pos + (size_t)(d->p - d->seg);
}

static inline size_t irpc__slice_dec_remaining(const irpc_slice_decoder *d) {
  return d->limit - irpc__slice_dec_pos(d);
}

/* Slow path of irpc__slice_dec_read: crosses segments. dst NULL skips. */
int irpc__slice_dec_read_slow(irpc_slice_decoder *d, uint8_t *dst, size_t n);

/* Copies the next `n` bytes to dst (NULL: skip them). */
static inline int irpc__slice_dec_read(irpc_slice_decoder *d, void *dst,
                                       size_t n) {
  if ((size_t)(d->e - d->p) >= n) {
    if (dst && n)
      memcpy(dst, d->p, n);
    d->p += n;
    return 0;
  }
  return irpc__slice_dec_read_slow(d, dst, n);
}

/* A string's bytes as a view (copied into scratch memory if split),
 * validated as UTF-8, after its size was read. */
int irpc__slice_dec_string_body(irpc_slice_decoder *d, size_t n, irpc_bytes *s);

/* Adds count x size to the collection allocation (IRPC_ELIMIT past the
 * max). */
int irpc__slice_dec_charge(irpc_slice_decoder *d, size_t count, size_t size);

/* Narrows the decoder to the next `n` bytes, saving the current limit. */
int irpc__slice_dec_push(irpc_slice_decoder *d, size_t n,
                         irpc_slice_scope *scope);

#endif
