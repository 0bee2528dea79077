/* The Slice encoder: values go straight into the tail room of the chain's
 * last block. The encoder keeps one reserved span [base, end) and commits
 * what it wrote there only when the span fills up or at flush, so a run of
 * small values costs one reserve and one commit. */
#include <stdatomic.h>

#include "base/buf_internal.h"
#include "slice_internal.h"

int irpc_slice_encoder_init(irpc_slice_encoder *e, irpc_buf *out,
                            irpc_slice_encoding encoding) {
  if (!e)
    return IRPC_EINVAL;
  *e = (irpc_slice_encoder){.out = out, .encoding = (int)encoding};
  if (!out || (encoding != IRPC_SLICE_ENCODING_1_1 &&
               encoding != IRPC_SLICE_ENCODING_2)) {
    e->err = IRPC_EINVAL;
    return IRPC_EINVAL;
  }
  return 0;
}

int irpc_slice_encoder_init_span(irpc_slice_encoder *e, void *mem, size_t cap,
                                 irpc_slice_encoding encoding) {
  if (!e)
    return IRPC_EINVAL;
  uint8_t *p = mem;
  *e = (irpc_slice_encoder){
      .base = p, .cur = p, .end = p + cap, .encoding = (int)encoding};
  if (!mem || (encoding != IRPC_SLICE_ENCODING_1_1 &&
               encoding != IRPC_SLICE_ENCODING_2)) {
    e->err = IRPC_EINVAL;
    return IRPC_EINVAL;
  }
  return 0;
}

/* Adds the bytes written in the span to the chain and forgets the span; a
 * fixed span (no chain) keeps its bytes where they are. */
static int enc_commit(irpc_slice_encoder *e) {
  if (!e->out)
    return 0;
  size_t n = (size_t)(e->cur - e->base);
  e->base = e->cur = e->end = NULL;
  if (n == 0)
    return 0;
  int rc = irpc_buf_commit(e->out, n);
  return rc ? irpc__slice_enc_fail(e, rc) : 0;
}

static int enc_reserve(irpc_slice_encoder *e, size_t min) {
  if (!e->out) /* a fixed span is full */
    return irpc__slice_enc_fail(e, IRPC_ELIMIT);
  uint8_t *at;
  size_t avail;
  int rc = irpc_buf_reserve(e->out, min, &at, &avail);
  if (rc)
    return irpc__slice_enc_fail(e, rc);
  e->base = e->cur = at;
  e->end = at + avail;
  return 0;
}

int irpc__slice_enc_grow(irpc_slice_encoder *e, size_t n) {
  int rc = enc_commit(e);
  return rc ? rc : enc_reserve(e, n);
}

/* Room for a bulk write of `n` more bytes: whatever tail room is left (the
 * value then continues in the next block), except for values larger than a
 * block, which get one block of their own size so they stay in one piece. */
static int enc_grow_bulk(irpc_slice_encoder *e, size_t n) {
  int rc = enc_commit(e);
  return rc ? rc : enc_reserve(e, n > IRPC_BUF_BLOCK_SIZE ? n : 0);
}

int irpc__slice_enc_write(irpc_slice_encoder *e, const void *p, size_t n) {
  const uint8_t *src = p;
  while (n > 0) {
    if (e->cur == e->end) {
      int rc = enc_grow_bulk(e, n);
      if (rc)
        return rc;
    }
    size_t take = (size_t)(e->end - e->cur);
    take = take < n ? take : n;
    memcpy(e->cur, src, take);
    e->cur += take;
    src += take;
    n -= take;
  }
  return 0;
}

int irpc_slice_encoder_flush(irpc_slice_encoder *e) {
  if (!e)
    return IRPC_EINVAL;
  if (e->err)
    return e->err;
  return enc_commit(e);
}

size_t irpc_slice_encoder_pos(const irpc_slice_encoder *e) {
  if (!e)
    return 0;
  return (e->out ? irpc_buf_len(e->out) : 0) + (size_t)(e->cur - e->base);
}

/* ---- back-patching ---- */

/* Index of the committed segment holding chain offset `pos`, walking back
 * from the end (placeholders are usually recent), and its start offset. */
static size_t enc_seg_find(const irpc_buf *b, size_t pos, size_t *start) {
  size_t i = b->nsegs;
  size_t s = b->len;
  do {
    i--;
    s -= b->segs[i].len;
  } while (s > pos);
  *start = s;
  return i;
}

/* Writes the part of a patch that falls in committed segments; returns the
 * number of bytes written. */
static int enc_patch_committed(irpc_buf *b, size_t pos, const uint8_t *src,
                               size_t n, size_t *done) {
  size_t start;
  size_t i = enc_seg_find(b, pos, &start);
  *done = 0;
  while (n > 0 && i < b->nsegs) {
    irpc__seg *s = &b->segs[i];
    if (s->blk->external ||
        atomic_load_explicit(&s->blk->refs, memory_order_acquire) != 1)
      return IRPC_EBUSY;
    size_t inner = pos - start;
    size_t take = s->len - inner < n ? s->len - inner : n;
    memcpy(s->blk->data + s->off + inner, src, take);
    src += take;
    pos += take;
    n -= take;
    *done += take;
    start += s->len;
    i++;
  }
  return 0;
}

int irpc__slice_enc_patch(irpc_slice_encoder *e, size_t pos, const void *p,
                          size_t n) {
  size_t committed = e->out ? irpc_buf_len(e->out) : 0;
  size_t total = committed + (size_t)(e->cur - e->base);
  if (pos > total || n > total - pos)
    return irpc__slice_enc_fail(e, IRPC_ERANGE);
  const uint8_t *src = p;
  if (pos < committed) {
    size_t done;
    int rc = enc_patch_committed(e->out, pos, src, n, &done);
    if (rc)
      return irpc__slice_enc_fail(e, rc);
    src += done;
    pos += done;
    n -= done;
  }
  if (n > 0)
    memcpy(e->base + (pos - committed), src, n);
  return 0;
}

/* ---- fixed-size values ---- */

static int enc_fixed(irpc_slice_encoder *e, uint64_t v, size_t n) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc == 0)
    rc = irpc__slice_enc_room(e, n);
  if (rc)
    return rc;
  irpc__slice_put_le(e->cur, v, n);
  e->cur += n;
  return 0;
}

int irpc_slice_encode_bool(irpc_slice_encoder *e, bool v) {
  return enc_fixed(e, v ? 1 : 0, 1);
}

int irpc_slice_encode_int8(irpc_slice_encoder *e, int8_t v) {
  return enc_fixed(e, (uint8_t)v, 1);
}

int irpc_slice_encode_uint8(irpc_slice_encoder *e, uint8_t v) {
  return enc_fixed(e, v, 1);
}

int irpc_slice_encode_int16(irpc_slice_encoder *e, int16_t v) {
  return enc_fixed(e, (uint16_t)v, 2);
}

int irpc_slice_encode_uint16(irpc_slice_encoder *e, uint16_t v) {
  return enc_fixed(e, v, 2);
}

int irpc_slice_encode_int32(irpc_slice_encoder *e, int32_t v) {
  return enc_fixed(e, (uint32_t)v, 4);
}

int irpc_slice_encode_uint32(irpc_slice_encoder *e, uint32_t v) {
  return enc_fixed(e, v, 4);
}

int irpc_slice_encode_int64(irpc_slice_encoder *e, int64_t v) {
  return enc_fixed(e, (uint64_t)v, 8);
}

int irpc_slice_encode_uint64(irpc_slice_encoder *e, uint64_t v) {
  return enc_fixed(e, v, 8);
}

int irpc_slice_encode_float32(irpc_slice_encoder *e, float v) {
  uint32_t bits;
  memcpy(&bits, &v, 4);
  return enc_fixed(e, bits, 4);
}

int irpc_slice_encode_float64(irpc_slice_encoder *e, double v) {
  uint64_t bits;
  memcpy(&bits, &v, 8);
  return enc_fixed(e, bits, 8);
}

/* ---- variable-length integers ---- */

/* log2 of a var-integer width (1, 2, 4, 8); 4 for any other width. */
static unsigned width_code(size_t width) {
  if (width == 0 || width > 8 || (width & (width - 1)))
    return 4;
  return (unsigned)(width > 1) + (width > 2) + (width > 4);
}

/* Writes `v` (already shifted into place, code bits clear) on `width`
 * bytes with the width code in the two low bits. With 8 bytes of room on a
 * little-endian host, all 8 are stored and only `width` kept: the bytes
 * past them are scratch that the next value overwrites. */
static int enc_var(irpc_slice_encoder *e, uint64_t shifted, size_t width) {
  uint64_t v = shifted | width_code(width);
  if (IRPC__SLICE_LE_HOST && e->err == 0 && e->end - e->cur >= 8) {
    v &= UINT64_MAX >> (64 - 8 * width); /* branch-free: width is random */
    memcpy(e->cur, &v, 8);
    e->cur += width;
    return 0;
  }
  int rc = irpc__slice_enc_room(e, width);
  if (rc)
    return rc;
  irpc__slice_put_le(e->cur, v, width);
  e->cur += width;
  return 0;
}

static int enc_varuint(irpc_slice_encoder *e, uint64_t v) {
  size_t width = irpc__slice_varuint62_len(v);
  if (width == 0)
    return irpc__slice_enc_fail(e, IRPC_EOVERFLOW);
  return enc_var(e, v << 2, width);
}

static size_t varint62_len(int64_t v) {
  if (v >= -(INT64_C(1) << 5) && v < (INT64_C(1) << 5))
    return 1;
  if (v >= -(INT64_C(1) << 13) && v < (INT64_C(1) << 13))
    return 2;
  if (v >= -(INT64_C(1) << 29) && v < (INT64_C(1) << 29))
    return 4;
  if (v >= -(INT64_C(1) << 61) && v < (INT64_C(1) << 61))
    return 8;
  return 0;
}

static int enc_varint(irpc_slice_encoder *e, int64_t v) {
  size_t width = varint62_len(v);
  if (width == 0)
    return irpc__slice_enc_fail(e, IRPC_EOVERFLOW);
  return enc_var(e, (uint64_t)v << 2, width);
}

int irpc_slice_encode_varuint62(irpc_slice_encoder *e, uint64_t v) {
  int rc = irpc__slice_enc_check(e, 1);
  return rc ? rc : enc_varuint(e, v);
}

int irpc_slice_encode_varint62(irpc_slice_encoder *e, int64_t v) {
  int rc = irpc__slice_enc_check(e, 1);
  return rc ? rc : enc_varint(e, v);
}

int irpc_slice_encode_varuint32(irpc_slice_encoder *e, uint32_t v) {
  return irpc_slice_encode_varuint62(e, v);
}

int irpc_slice_encode_varint32(irpc_slice_encoder *e, int32_t v) {
  return irpc_slice_encode_varint62(e, v);
}

/* Checks that `v` fits a varuint62 of exactly `width` bytes. */
static int fixed_width_check(uint64_t v, size_t width) {
  if (width_code(width) > 3)
    return IRPC_EINVAL;
  if (width < 8 && v >= (UINT64_C(1) << (8 * width - 2)))
    return IRPC_EOVERFLOW;
  if (v > IRPC_VARUINT62_MAX)
    return IRPC_EOVERFLOW;
  return 0;
}

int irpc_slice_encode_varuint62_fixed(irpc_slice_encoder *e, uint64_t v,
                                      size_t width) {
  int rc = irpc__slice_enc_check(e, 1);
  if (rc)
    return rc;
  rc = fixed_width_check(v, width);
  return rc ? irpc__slice_enc_fail(e, rc) : enc_var(e, v << 2, width);
}

/* ---- sizes, strings, bytes ---- */

static int enc_size(irpc_slice_encoder *e, size_t n) {
  if (n < IRPC__VARUINT62_ONE_BYTE_LIMIT &&
      e->encoding == IRPC_SLICE_ENCODING_2 && e->cur < e->end &&
      !e->err) { /* a one-byte size, the common case */
    *e->cur++ = (uint8_t)(n << 2);
    return 0;
  }
  if (n > IRPC_SLICE_MAX_SIZE)
    return irpc__slice_enc_fail(e, IRPC_EOVERFLOW);
  if (e->encoding == IRPC_SLICE_ENCODING_2)
    return enc_varuint(e, n);
  int rc = irpc__slice_enc_room(e, 5);
  if (rc)
    return rc;
  if (n < IRPC__SLICE1_SIZE_ESCAPE) {
    *e->cur++ = (uint8_t)n;
    return 0;
  }
  e->cur[0] = IRPC__SLICE1_SIZE_ESCAPE;
  irpc__slice_put_le(e->cur + 1, n, 4);
  e->cur += 5;
  return 0;
}

int irpc_slice_encode_size(irpc_slice_encoder *e, size_t n) {
  int rc = irpc__slice_enc_check(e, -1);
  return rc ? rc : enc_size(e, n);
}

int irpc_slice_encode_string(irpc_slice_encoder *e, const char *s, size_t len) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc)
    return rc;
  if (!s && len > 0)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  if (len > 0 && !irpc__utf8_valid((const uint8_t *)s, len))
    return irpc__slice_enc_fail(e, IRPC_EUTF8);
  rc = enc_size(e, len);
  if (rc == 0 && len > 0 && (size_t)(e->end - e->cur) >= len) {
    memcpy(e->cur, s, len); /* the common short string */
    e->cur += len;
    return 0;
  }
  return rc ? rc : irpc__slice_enc_write(e, s, len);
}

int irpc_slice_encode_bytes(irpc_slice_encoder *e, const void *p, size_t n) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc)
    return rc;
  if (!p && n > 0)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  return irpc__slice_enc_write(e, p, n);
}

int irpc_slice_encode_buf(irpc_slice_encoder *e, const irpc_buf *src) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc)
    return rc;
  if (!src || src == e->out)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  if (!e->out) { /* a fixed span: copied */
    for (size_t i = 0; i < irpc_buf_segment_count(src) && rc == 0; i++) {
      irpc_bytes seg = irpc_buf_segment(src, i);
      rc = irpc__slice_enc_write(e, seg.base, seg.len);
    }
    return rc;
  }
  rc = enc_commit(e);
  if (rc)
    return rc;
  rc = irpc_buf_append_ref(e->out, src, 0, irpc_buf_len(src));
  return rc ? irpc__slice_enc_fail(e, rc) : 0;
}

/* ---- sequences and enums ---- */

/* One element of `type` read from `p`. */
static int enc_elem(irpc_slice_encoder *e, irpc_slice_type type,
                    const uint8_t *p) {
  int32_t i32;
  uint32_t u32;
  int64_t i64;
  uint64_t u64;
  switch (type) {
  case IRPC_SLICE_VARINT32:
    memcpy(&i32, p, 4);
    return enc_varint(e, i32);
  case IRPC_SLICE_VARUINT32:
    memcpy(&u32, p, 4);
    return enc_varuint(e, u32);
  case IRPC_SLICE_VARINT62:
    memcpy(&i64, p, 8);
    return enc_varint(e, i64);
  case IRPC_SLICE_VARUINT62:
    memcpy(&u64, p, 8);
    return enc_varuint(e, u64);
  default:
    break;
  }
  size_t n = irpc__slice_wire_size(type);
  int rc = irpc__slice_enc_room(e, n);
  if (rc)
    return rc;
  uint64_t v = 0;
  memcpy(&v, p, n); /* host order; only reached on big-endian hosts */
#if !IRPC__SLICE_LE_HOST
  v >>= 8 * (8 - n);
#endif
  irpc__slice_put_le(e->cur, v, n);
  e->cur += n;
  return 0;
}

static int enc_elems(irpc_slice_encoder *e, irpc_slice_type type,
                     const uint8_t *p, size_t count) {
  size_t wire = irpc__slice_wire_size(type);
  if (IRPC__SLICE_LE_HOST && wire > 0)
    return irpc__slice_enc_write(e, p, count * wire);
  size_t csize = irpc_slice_type_size(type);
  for (size_t i = 0; i < count; i++) {
    int rc = enc_elem(e, type, p + i * csize);
    if (rc)
      return rc;
  }
  return 0;
}

static int type_ok(const irpc_slice_encoder *e, irpc_slice_type type) {
  size_t min = irpc__slice_min_wire_size(type);
  if (min == 0)
    return 0;
  return irpc__slice_wire_size(type) > 0 ||
         e->encoding == IRPC_SLICE_ENCODING_2;
}

int irpc_slice_encode_seq(irpc_slice_encoder *e, irpc_slice_type type,
                          const void *elems, size_t count) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc)
    return rc;
  if (!type_ok(e, type) || (!elems && count > 0))
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  rc = enc_size(e, count);
  return rc ? rc : enc_elems(e, type, elems, count);
}

/* Range of the integral `type`, as int64; 0 for a non-integral type. */
static int int_range(irpc_slice_type type, int64_t *lo, uint64_t *hi) {
  size_t n = irpc__slice_wire_size(type);
  int is_signed = type == IRPC_SLICE_INT8 || type == IRPC_SLICE_INT16 ||
                  type == IRPC_SLICE_INT32 || type == IRPC_SLICE_INT64;
  switch (type) {
  case IRPC_SLICE_BOOL:
  case IRPC_SLICE_FLOAT32:
  case IRPC_SLICE_FLOAT64:
    return 0;
  case IRPC_SLICE_VARINT32:
    *lo = INT32_MIN;
    *hi = INT32_MAX;
    return 1;
  case IRPC_SLICE_VARUINT32:
    *lo = 0;
    *hi = UINT32_MAX;
    return 1;
  case IRPC_SLICE_VARINT62:
    *lo = -(INT64_C(1) << 61);
    *hi = (UINT64_C(1) << 61) - 1;
    return 1;
  case IRPC_SLICE_VARUINT62:
    *lo = 0;
    *hi = IRPC_VARUINT62_MAX;
    return 1;
  default:
    break;
  }
  if (n == 0)
    return 0;
  *lo = is_signed ? -(int64_t)((UINT64_C(1) << (8 * n - 1)) - 1) - 1 : 0;
  *hi = is_signed ? (UINT64_C(1) << (8 * n - 1)) - 1
                  : (n == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * n)) - 1);
  return 1;
}

int irpc_slice_encode_enum(irpc_slice_encoder *e, irpc_slice_type type,
                           int64_t v) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc)
    return rc;
  int64_t lo;
  uint64_t hi;
  if (!type_ok(e, type) || !int_range(type, &lo, &hi))
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  if (v < lo || (v >= 0 && (uint64_t)v > hi))
    return irpc__slice_enc_fail(e, IRPC_EOVERFLOW);
  if (type >= IRPC_SLICE_VARINT32)
    return type == IRPC_SLICE_VARINT32 || type == IRPC_SLICE_VARINT62
               ? enc_varint(e, v)
               : enc_varuint(e, (uint64_t)v);
  rc = irpc__slice_enc_room(e, irpc__slice_wire_size(type));
  if (rc)
    return rc;
  irpc__slice_put_le(e->cur, (uint64_t)v, irpc__slice_wire_size(type));
  e->cur += irpc__slice_wire_size(type);
  return 0;
}

/* ---- placeholders, marks, bit sequences ---- */

static int enc_zeros(irpc_slice_encoder *e, size_t n) {
  while (n > 0) {
    if (e->cur == e->end) {
      int rc = enc_grow_bulk(e, n);
      if (rc)
        return rc;
    }
    size_t take = (size_t)(e->end - e->cur);
    take = take < n ? take : n;
    memset(e->cur, 0, take);
    e->cur += take;
    n -= take;
  }
  return 0;
}

int irpc_slice_encode_placeholder(irpc_slice_encoder *e, size_t n,
                                  size_t *pos) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc)
    return rc;
  if (!pos || n > 8)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  rc = irpc__slice_enc_room(e, n);
  if (rc)
    return rc;
  *pos = irpc_slice_encoder_pos(e);
  memset(e->cur, 0, n);
  e->cur += n;
  return 0;
}

int irpc__slice_enc_mark(irpc_slice_encoder *e, size_t width,
                         irpc_slice_mark *m) {
  size_t pos;
  int rc = irpc_slice_encode_placeholder(e, width, &pos);
  if (rc == 0)
    *m = (irpc_slice_mark){.pos = pos, .width = width};
  return rc;
}

int irpc_slice_patch_varuint62(irpc_slice_encoder *e, size_t pos, size_t width,
                               uint64_t v) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc)
    return rc;
  rc = fixed_width_check(v, width);
  if (rc)
    return irpc__slice_enc_fail(e, rc);
  uint8_t tmp[8];
  irpc__slice_put_le(tmp, (v << 2) | width_code(width), width);
  return irpc__slice_enc_patch(e, pos, tmp, width);
}

int irpc_slice_patch_int32(irpc_slice_encoder *e, size_t pos, int32_t v) {
  int rc = irpc__slice_enc_check(e, -1);
  if (rc)
    return rc;
  uint8_t tmp[4];
  irpc__slice_put_le(tmp, (uint32_t)v, 4);
  return irpc__slice_enc_patch(e, pos, tmp, 4);
}

int irpc__slice_enc_patch_int32_since(irpc_slice_encoder *e,
                                      const irpc_slice_mark *m) {
  size_t now = irpc_slice_encoder_pos(e);
  if (m->width != 4 || now < m->pos + 4)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  if (now - m->pos > (size_t)INT32_MAX)
    return irpc__slice_enc_fail(e, IRPC_EOVERFLOW);
  return irpc_slice_patch_int32(e, m->pos, (int32_t)(now - m->pos));
}

int irpc_slice_encode_size_begin(irpc_slice_encoder *e, size_t width,
                                 irpc_slice_mark *m) {
  int rc = irpc__slice_enc_check(e, 1);
  if (rc)
    return rc;
  if (!m || width_code(width) > 3)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  return irpc__slice_enc_mark(e, width, m);
}

int irpc_slice_encode_size_end(irpc_slice_encoder *e,
                               const irpc_slice_mark *m) {
  int rc = irpc__slice_enc_check(e, 1);
  if (rc)
    return rc;
  size_t now = irpc_slice_encoder_pos(e);
  if (!m || width_code(m->width) > 3 || now < m->pos + m->width)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  return irpc_slice_patch_varuint62(e, m->pos, m->width,
                                    now - m->pos - m->width);
}

int irpc_slice_encode_segment_begin(irpc_slice_encoder *e, irpc_slice_mark *m) {
  return irpc_slice_encode_size_begin(e, 4, m);
}

int irpc_slice_encode_segment_end(irpc_slice_encoder *e,
                                  const irpc_slice_mark *m) {
  return irpc_slice_encode_size_end(e, m);
}

int irpc_slice_encode_tag_begin(irpc_slice_encoder *e, int32_t tag,
                                irpc_slice_mark *m) {
  int rc = irpc__slice_enc_check(e, 1);
  if (rc)
    return rc;
  if (!m || tag < 0)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  rc = enc_varint(e, tag);
  return rc ? rc : irpc__slice_enc_mark(e, 4, m);
}

int irpc_slice_encode_tag_end(irpc_slice_encoder *e, const irpc_slice_mark *m) {
  return irpc_slice_encode_size_end(e, m);
}

int irpc_slice_encode_tag_sized(irpc_slice_encoder *e, int32_t tag,
                                size_t size) {
  int rc = irpc__slice_enc_check(e, 1);
  if (rc)
    return rc;
  if (tag < 0)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  rc = enc_varint(e, tag);
  return rc ? rc : enc_size(e, size);
}

int irpc_slice_encode_tag_end_marker(irpc_slice_encoder *e) {
  int rc = irpc__slice_enc_check(e, 1);
  return rc ? rc : enc_varint(e, IRPC_SLICE_TAG_END_MARKER);
}

int irpc_slice_encode_bitseq(irpc_slice_encoder *e, size_t nbits,
                             irpc_slice_bit_writer *w) {
  int rc = irpc__slice_enc_check(e, 1);
  if (rc)
    return rc;
  if (!w)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  *w =
      (irpc_slice_bit_writer){.pos = irpc_slice_encoder_pos(e), .nbits = nbits};
  return enc_zeros(e, nbits / 8 + (nbits % 8 != 0));
}

int irpc_slice_bit_writer_put(irpc_slice_encoder *e, irpc_slice_bit_writer *w,
                              bool present) {
  int rc = irpc__slice_enc_check(e, 1);
  if (rc)
    return rc;
  if (!w || w->next >= w->nbits)
    return irpc__slice_enc_fail(e, IRPC_EINVAL);
  size_t bit = w->next % 8;
  if (bit == 0)
    w->byte = 0;
  if (present) {
    w->byte |= (uint8_t)(1u << bit);
    rc = irpc__slice_enc_patch(e, w->pos + w->next / 8, &w->byte, 1);
  }
  w->next++;
  return rc;
}
