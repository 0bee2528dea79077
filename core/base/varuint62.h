/* The varuint62 of IceRPC's Slice2 encoding and of Slic: a little-endian
 * value shifted left by two, whose low two bits give its width (1, 2, 4 or
 * 8 bytes). The one implementation of its size, encoder, decoder and a
 * bounded reader over contiguous bytes. Never installed. */
#ifndef IRPC_VARUINT62_H
#define IRPC_VARUINT62_H

#include <stddef.h>
#include <stdint.h>

/* The widest varuint62, in bytes. */
#define IRPC__VARUINT62_WIDTH_MAX 8

/* Values below this fit in one byte. */
#define IRPC__VARUINT62_ONE_BYTE_LIMIT (UINT64_C(1) << 6)

/* Minimal width of `v` (1, 2, 4 or 8). A value past 2^62 - 1 gets 8 and
 * does not fit; callers that may see one check IRPC_VARUINT62_MAX first. */
static inline size_t irpc__varuint62_size(uint64_t v) {
  /* Computed without branches: widths of random values are not
   * predictable. */
  unsigned code = (unsigned)(v >= (UINT64_C(1) << 6)) +
                  (v >= (UINT64_C(1) << 14)) + (v >= (UINT64_C(1) << 30));
  return (size_t)1 << code;
}

/* Writes `v` in exactly `width` bytes (1, 2, 4 or 8, wide enough for v) at
 * p. Returns width. */
static inline size_t irpc__varuint62_put(uint8_t *p, uint64_t v, size_t width) {
  uint64_t code = width == 1 ? 0 : width == 2 ? 1 : width == 4 ? 2 : 3;
  uint64_t e = (v << 2) | code;
  for (size_t i = 0; i < width; i++)
    p[i] = (uint8_t)(e >> (8 * i));
  return width;
}

/* Writes `v` in its minimal width at p (room for 8 bytes). Returns the
 * width. */
static inline size_t irpc__varuint62_put_min(uint8_t *p, uint64_t v) {
  return irpc__varuint62_put(p, v, irpc__varuint62_size(v));
}

/* The width of the varuint62 whose first byte is `first`. */
static inline size_t irpc__varuint62_width(uint8_t first) {
  return (size_t)1 << (first & 3);
}

/* Reads a varuint62 of any width from the `len` bytes at p. Returns the
 * bytes used, or 0 when they do not hold the whole value. */
static inline size_t irpc__varuint62_get(const uint8_t *p, size_t len,
                                         uint64_t *v) {
  if (len == 0)
    return 0;
  size_t width = irpc__varuint62_width(p[0]);
  if (len < width)
    return 0;
  uint64_t e = 0;
  for (size_t i = 0; i < width; i++)
    e |= (uint64_t)p[i] << (8 * i);
  *v = e >> 2;
  return width;
}

/* A bounded reader over contiguous bytes; the first failure sticks in
 * `bad` and every later read returns 0 (or NULL). */
typedef struct irpc__vu_reader {
  const uint8_t *p;
  size_t left;
  int bad;
} irpc__vu_reader;

static inline uint64_t irpc__vu_read(irpc__vu_reader *r) {
  uint64_t v = 0;
  size_t n = r->bad ? 0 : irpc__varuint62_get(r->p, r->left, &v);
  if (n == 0) {
    r->bad = 1;
    return 0;
  }
  r->p += n;
  r->left -= n;
  return v;
}

/* A size-prefixed byte sequence: its varuint62 size, then its bytes. */
static inline const uint8_t *irpc__vu_read_bytes(irpc__vu_reader *r,
                                                 size_t *len) {
  uint64_t n = irpc__vu_read(r);
  if (r->bad || n > r->left) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t *s = r->p;
  r->p += n;
  r->left -= (size_t)n;
  *len = (size_t)n;
  return s;
}

#endif
