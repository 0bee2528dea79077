/* The Slice decoder: reads a byte span or an irpc_buf chain in place.
 *
 * [p, e) is what may be read from the current segment without crossing
 * either the segment's end or the current scope's limit; a value that does
 * not fit there takes the slow path, which checks the bytes remaining in
 * the scope first and then walks the segments. */
#include "irpc/alloc.h"
#include "slice_internal.h"

/* Copies of strings that were split across segments, freed at fini. */
typedef struct dec_scratch {
  struct dec_scratch *next;
  uint8_t data[];
} dec_scratch;

static void dec_reset(irpc_slice_decoder *d, irpc_slice_encoding encoding) {
  *d = (irpc_slice_decoder){
      .max_segment = IRPC_SLICE_DEFAULT_MAX_SEGMENT_SIZE,
      .max_alloc = IRPC_SLICE_DEFAULT_MAX_COLLECTION_ALLOCATION,
      .encoding = (int)encoding,
  };
  if (encoding != IRPC_SLICE_ENCODING_1_1 && encoding != IRPC_SLICE_ENCODING_2)
    d->err = IRPC_EINVAL;
}

/* Recomputes e after a segment or limit change. */
static void dec_clamp(irpc_slice_decoder *d) {
  size_t avail = d->limit > d->seg_pos ? d->limit - d->seg_pos : 0;
  if (d->seg)
    d->e = d->seg + (avail < d->seg_len ? avail : d->seg_len);
}

static void dec_load_seg(irpc_slice_decoder *d, size_t i) {
  irpc_bytes s = irpc_buf_segment(d->src, i);
  d->seg_index = i;
  d->seg = d->p = d->e = s.base;
  d->seg_len = s.len;
  dec_clamp(d);
}

int irpc_slice_decoder_init_bytes(irpc_slice_decoder *d, const void *data,
                                  size_t len, irpc_slice_encoding encoding) {
  if (!d)
    return IRPC_EINVAL;
  dec_reset(d, encoding);
  if (!data && len > 0)
    d->err = IRPC_EINVAL;
  if (d->err)
    return d->err;
  d->seg = d->p = d->e = data;
  d->seg_len = d->limit = len;
  dec_clamp(d);
  return 0;
}

int irpc_slice_decoder_init_buf(irpc_slice_decoder *d, const irpc_buf *in,
                                irpc_slice_encoding encoding) {
  if (!d)
    return IRPC_EINVAL;
  dec_reset(d, encoding);
  if (!in)
    d->err = IRPC_EINVAL;
  if (d->err)
    return d->err;
  d->src = in;
  d->limit = irpc_buf_len(in);
  if (irpc_buf_segment_count(in) > 0)
    dec_load_seg(d, 0);
  return 0;
}

void irpc_slice_decoder_fini(irpc_slice_decoder *d) {
  if (!d)
    return;
  dec_scratch *s = d->scratch;
  while (s) {
    dec_scratch *next = s->next;
    irpc_free(s);
    s = next;
  }
  d->scratch = NULL;
}

int irpc_slice_decoder_set_limits(irpc_slice_decoder *d,
                                  size_t max_segment_size,
                                  size_t max_collection_allocation) {
  if (!d)
    return IRPC_EINVAL;
  if (max_segment_size)
    d->max_segment = max_segment_size;
  if (max_collection_allocation)
    d->max_alloc = max_collection_allocation;
  return 0;
}

int irpc_slice_decoder_error(const irpc_slice_decoder *d) {
  return d ? d->err : IRPC_EINVAL;
}

size_t irpc_slice_decoder_pos(const irpc_slice_decoder *d) {
  return d ? irpc__slice_dec_pos(d) : 0;
}

size_t irpc_slice_decoder_remaining(const irpc_slice_decoder *d) {
  return d ? irpc__slice_dec_remaining(d) : 0;
}

int irpc_slice_decoder_end(irpc_slice_decoder *d) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  return irpc__slice_dec_remaining(d) ? irpc__slice_dec_fail(d, IRPC_EDATA) : 0;
}

int irpc__slice_dec_read_slow(irpc_slice_decoder *d, uint8_t *dst, size_t n) {
  if (n > irpc__slice_dec_remaining(d))
    return irpc__slice_dec_fail(d, IRPC_ETRUNCATED);
  while (n > 0) {
    size_t avail = (size_t)(d->e - d->p);
    if (avail == 0) {
      /* Only a chain has more segments; the remaining-bytes check above
       * guarantees the next one exists. */
      if (!d->src || d->seg_index + 1 >= irpc_buf_segment_count(d->src))
        return irpc__slice_dec_fail(d, IRPC_ETRUNCATED);
      d->seg_pos += d->seg_len;
      dec_load_seg(d, d->seg_index + 1);
      continue;
    }
    size_t take = avail < n ? avail : n;
    if (dst) {
      memcpy(dst, d->p, take);
      dst += take;
    }
    d->p += take;
    n -= take;
  }
  return 0;
}

int irpc_slice_decoder_skip(irpc_slice_decoder *d, size_t n) {
  int rc = irpc__slice_dec_check(d, -1);
  return rc ? rc : irpc__slice_dec_read(d, NULL, n);
}

int irpc_slice_decode_bytes(irpc_slice_decoder *d, void *dst, size_t n) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!dst && n > 0)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  return irpc__slice_dec_read(d, dst, n);
}

int irpc_slice_decode_buf(irpc_slice_decoder *d, size_t n, irpc_buf *dst) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!dst || dst == d->src)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  if (n > irpc__slice_dec_remaining(d))
    return irpc__slice_dec_fail(d, IRPC_ETRUNCATED);
  if (d->src)
    rc = irpc_buf_append_ref(dst, d->src, irpc__slice_dec_pos(d), n);
  else
    rc = irpc_buf_append(dst, d->p, n);
  if (rc)
    return irpc__slice_dec_fail(d, rc);
  return irpc__slice_dec_read(d, NULL, n);
}

/* ---- scopes ---- */

int irpc__slice_dec_push(irpc_slice_decoder *d, size_t n,
                         irpc_slice_scope *scope) {
  if (n > irpc__slice_dec_remaining(d))
    return irpc__slice_dec_fail(d, IRPC_ETRUNCATED);
  scope->outer_limit = d->limit;
  d->limit = irpc__slice_dec_pos(d) + n;
  scope->limit = d->limit;
  dec_clamp(d);
  return 0;
}

static int dec_pop(irpc_slice_decoder *d, const irpc_slice_scope *scope,
                   int skip) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!scope || scope->limit != d->limit || scope->outer_limit < d->limit)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  size_t left = irpc__slice_dec_remaining(d);
  if (left && !skip)
    return irpc__slice_dec_fail(d, IRPC_EDATA);
  rc = irpc__slice_dec_read(d, NULL, left);
  if (rc)
    return rc;
  d->limit = scope->outer_limit;
  dec_clamp(d);
  return 0;
}

int irpc_slice_decode_scope_end(irpc_slice_decoder *d,
                                const irpc_slice_scope *scope) {
  return dec_pop(d, scope, 0);
}

int irpc_slice_decode_scope_skip(irpc_slice_decoder *d,
                                 const irpc_slice_scope *scope) {
  return dec_pop(d, scope, 1);
}

/* ---- fixed-size values ---- */

static int dec_fixed(irpc_slice_decoder *d, size_t n, uint64_t *v) {
  if ((size_t)(d->e - d->p) >= n) {
    *v = irpc__slice_get_le(d->p, n);
    d->p += n;
    return 0;
  }
  uint8_t tmp[8];
  int rc = irpc__slice_dec_read_slow(d, tmp, n);
  if (rc == 0)
    *v = irpc__slice_get_le(tmp, n);
  return rc;
}

/* Checks the arguments, then reads an n-byte little-endian value. */
static int dec_fixed_checked(irpc_slice_decoder *d, const void *out, size_t n,
                             uint64_t *v) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!out)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  return dec_fixed(d, n, v);
}

int irpc_slice_decode_bool(irpc_slice_decoder *d, bool *v) {
  uint64_t x;
  int rc = dec_fixed_checked(d, v, 1, &x);
  if (rc)
    return rc;
  if (x > 1)
    return irpc__slice_dec_fail(d, IRPC_EDATA);
  *v = x != 0;
  return 0;
}

/* The integer decoders differ only in width and C type. */
#define DEC_INT(name, ctype, utype, n)                                         \
  int irpc_slice_decode_##name(irpc_slice_decoder *d, ctype *v) {              \
    uint64_t x;                                                                \
    int rc = dec_fixed_checked(d, v, n, &x);                                   \
    if (rc == 0)                                                               \
      *v = (ctype)(utype)x;                                                    \
    return rc;                                                                 \
  }

DEC_INT(int8, int8_t, uint8_t, 1)
DEC_INT(uint8, uint8_t, uint8_t, 1)
DEC_INT(int16, int16_t, uint16_t, 2)
DEC_INT(uint16, uint16_t, uint16_t, 2)
DEC_INT(int32, int32_t, uint32_t, 4)
DEC_INT(uint32, uint32_t, uint32_t, 4)
DEC_INT(int64, int64_t, uint64_t, 8)
DEC_INT(uint64, uint64_t, uint64_t, 8)
#undef DEC_INT

int irpc_slice_decode_float32(irpc_slice_decoder *d, float *v) {
  uint64_t x;
  int rc = dec_fixed_checked(d, v, 4, &x);
  if (rc == 0) {
    uint32_t bits = (uint32_t)x;
    memcpy(v, &bits, 4);
  }
  return rc;
}

int irpc_slice_decode_float64(irpc_slice_decoder *d, double *v) {
  uint64_t x;
  int rc = dec_fixed_checked(d, v, 8, &x);
  if (rc == 0)
    memcpy(v, &x, 8);
  return rc;
}

/* ---- variable-length integers ---- */

/* Reads a var-integer's raw little-endian bytes and its width (1, 2, 4,
 * 8): the width code is in the two low bits of the first byte. */
static int dec_var(irpc_slice_decoder *d, uint64_t *raw, size_t *width) {
  if (IRPC__SLICE_LE_HOST && d->e - d->p >= 8) {
    /* Load 8 bytes at once and keep the first `w`. */
    uint64_t v;
    size_t w = (size_t)1 << (*d->p & 3);
    memcpy(&v, d->p, 8);
    *raw = v & (UINT64_MAX >> (64 - 8 * w));
    *width = w;
    d->p += w;
    return 0;
  }
  if (d->p < d->e) {
    size_t w = (size_t)1 << (*d->p & 3);
    if ((size_t)(d->e - d->p) >= w) {
      *raw = irpc__slice_get_le(d->p, w);
      *width = w;
      d->p += w;
      return 0;
    }
  }
  uint8_t tmp[8];
  int rc = irpc__slice_dec_read_slow(d, tmp, 1);
  if (rc)
    return rc;
  size_t w = (size_t)1 << (tmp[0] & 3);
  rc = irpc__slice_dec_read_slow(d, tmp + 1, w - 1);
  if (rc == 0) {
    *raw = irpc__slice_get_le(tmp, w);
    *width = w;
  }
  return rc;
}

static int dec_varuint(irpc_slice_decoder *d, uint64_t *v) {
  uint64_t raw;
  size_t w;
  int rc = dec_var(d, &raw, &w);
  if (rc == 0)
    *v = raw >> 2;
  return rc;
}

static int dec_varint(irpc_slice_decoder *d, int64_t *v) {
  uint64_t raw;
  size_t w;
  int rc = dec_var(d, &raw, &w);
  if (rc == 0) {
    /* Sign-extend from 8*w bits, then drop the width code. */
    unsigned shift = (unsigned)(64 - 8 * w);
    int64_t s = (int64_t)(raw << shift);
    *v = (s >> shift) >> 2;
  }
  return rc;
}

/* Checks the arguments of a Slice2-only decoder taking one out pointer. */
static int dec_check2(irpc_slice_decoder *d, const void *out) {
  int rc = irpc__slice_dec_check(d, 1);
  if (rc == 0 && !out)
    rc = irpc__slice_dec_fail(d, IRPC_EINVAL);
  return rc;
}

int irpc_slice_decode_varuint62(irpc_slice_decoder *d, uint64_t *v) {
  int rc = dec_check2(d, v);
  return rc ? rc : dec_varuint(d, v);
}

int irpc_slice_decode_varint62(irpc_slice_decoder *d, int64_t *v) {
  int rc = dec_check2(d, v);
  return rc ? rc : dec_varint(d, v);
}

static int dec_varuint32(irpc_slice_decoder *d, uint32_t *v) {
  uint64_t x;
  int rc = dec_varuint(d, &x);
  if (rc == 0 && x > UINT32_MAX)
    rc = irpc__slice_dec_fail(d, IRPC_EOVERFLOW);
  if (rc == 0)
    *v = (uint32_t)x;
  return rc;
}

static int dec_varint32(irpc_slice_decoder *d, int32_t *v) {
  int64_t x;
  int rc = dec_varint(d, &x);
  if (rc == 0 && (x < INT32_MIN || x > INT32_MAX))
    rc = irpc__slice_dec_fail(d, IRPC_EOVERFLOW);
  if (rc == 0)
    *v = (int32_t)x;
  return rc;
}

int irpc_slice_decode_varuint32(irpc_slice_decoder *d, uint32_t *v) {
  int rc = dec_check2(d, v);
  return rc ? rc : dec_varuint32(d, v);
}

int irpc_slice_decode_varint32(irpc_slice_decoder *d, int32_t *v) {
  int rc = dec_check2(d, v);
  return rc ? rc : dec_varint32(d, v);
}

/* ---- sizes, counts, strings ---- */

static int dec_size(irpc_slice_decoder *d, size_t *n) {
  uint64_t v;
  int rc;
  if (d->encoding == IRPC_SLICE_ENCODING_2) {
    rc = dec_varuint(d, &v);
  } else {
    rc = dec_fixed(d, 1, &v);
    if (rc == 0 && v == IRPC__SLICE1_SIZE_ESCAPE) {
      rc = dec_fixed(d, 4, &v);
      if (rc == 0 && (v & 0x80000000u))
        rc = irpc__slice_dec_fail(d, IRPC_EDATA);
    }
  }
  if (rc == 0 && v > IRPC_SLICE_MAX_SIZE)
    rc = irpc__slice_dec_fail(d, IRPC_EOVERFLOW);
  if (rc == 0)
    *n = (size_t)v;
  return rc;
}

int irpc_slice_decode_size(irpc_slice_decoder *d, size_t *n) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!n)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  return dec_size(d, n);
}

int irpc__slice_dec_charge(irpc_slice_decoder *d, size_t count, size_t size) {
  if (size == 0 || count == 0)
    return 0;
  size_t left = d->max_alloc > d->alloc_used ? d->max_alloc - d->alloc_used : 0;
  if (count > left / size)
    return irpc__slice_dec_fail(d, IRPC_ELIMIT);
  d->alloc_used += count * size;
  return 0;
}

/* Reads a count and rejects it, before any allocation, when the remaining
 * bytes cannot hold that many elements or the allocation would pass the
 * limit. */
static int dec_count(irpc_slice_decoder *d, size_t min_wire, size_t alloc,
                     size_t *count) {
  size_t n;
  int rc = dec_size(d, &n);
  if (rc)
    return rc;
  if (n > irpc__slice_dec_remaining(d) / min_wire)
    return irpc__slice_dec_fail(d, IRPC_ETRUNCATED);
  rc = irpc__slice_dec_charge(d, n, alloc);
  if (rc == 0)
    *count = n;
  return rc;
}

int irpc_slice_decode_count(irpc_slice_decoder *d, size_t min_wire_size,
                            size_t alloc_size, size_t *count) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!count || min_wire_size == 0)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  return dec_count(d, min_wire_size, alloc_size, count);
}

int irpc__slice_dec_string_body(irpc_slice_decoder *d, size_t n,
                                irpc_bytes *s) {
  if (n > irpc__slice_dec_remaining(d))
    return irpc__slice_dec_fail(d, IRPC_ETRUNCATED);
  int rc = irpc__slice_dec_charge(d, n, 1);
  if (rc)
    return rc;
  if (n == 0) {
    *s = (irpc_bytes){.base = (const uint8_t *)"", .len = 0};
    return 0;
  }
  const uint8_t *base = d->p;
  if ((size_t)(d->e - d->p) >= n) {
    d->p += n;
  } else {
    dec_scratch *copy = irpc_malloc(sizeof(*copy) + n);
    if (!copy)
      return irpc__slice_dec_fail(d, IRPC_ENOMEM);
    copy->next = d->scratch;
    d->scratch = copy;
    base = copy->data;
    rc = irpc__slice_dec_read_slow(d, copy->data, n);
    if (rc)
      return rc;
  }
  if (!irpc__utf8_valid(base, n))
    return irpc__slice_dec_fail(d, IRPC_EUTF8);
  *s = (irpc_bytes){.base = base, .len = n};
  return 0;
}

int irpc_slice_decode_string(irpc_slice_decoder *d, irpc_bytes *s) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!s)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  size_t n;
  rc = dec_size(d, &n);
  return rc ? rc : irpc__slice_dec_string_body(d, n, s);
}

int irpc_slice_decode_string_copy(irpc_slice_decoder *d, char **s,
                                  size_t *len) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!s)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  size_t n;
  rc = dec_size(d, &n);
  if (rc == 0 && n > irpc__slice_dec_remaining(d))
    rc = irpc__slice_dec_fail(d, IRPC_ETRUNCATED);
  if (rc == 0)
    rc = irpc__slice_dec_charge(d, n, 1);
  if (rc)
    return rc;
  char *copy = irpc_malloc(n + 1);
  if (!copy)
    return irpc__slice_dec_fail(d, IRPC_ENOMEM);
  rc = irpc__slice_dec_read(d, copy, n);
  if (rc == 0 && !irpc__utf8_valid((const uint8_t *)copy, n))
    rc = irpc__slice_dec_fail(d, IRPC_EUTF8);
  if (rc) {
    irpc_free(copy);
    return rc;
  }
  copy[n] = '\0';
  *s = copy;
  if (len)
    *len = n;
  return 0;
}

/* ---- sequences and enums ---- */

static int dec_type_ok(const irpc_slice_decoder *d, irpc_slice_type type) {
  if (irpc__slice_min_wire_size(type) == 0)
    return 0;
  return irpc__slice_wire_size(type) > 0 ||
         d->encoding == IRPC_SLICE_ENCODING_2;
}

/* Stores the low `n` bytes of `v` at `out` as a host-order integer. */
static void store_host(uint8_t *out, uint64_t v, size_t n) {
  uint8_t u8 = (uint8_t)v;
  uint16_t u16 = (uint16_t)v;
  uint32_t u32 = (uint32_t)v;
  switch (n) {
  case 1:
    memcpy(out, &u8, 1);
    break;
  case 2:
    memcpy(out, &u16, 2);
    break;
  case 4:
    memcpy(out, &u32, 4);
    break;
  default:
    memcpy(out, &v, 8);
    break;
  }
}

/* One element of `type`, stored in its C representation at `out` (left
 * untouched on error). */
static int dec_elem(irpc_slice_decoder *d, irpc_slice_type type, uint8_t *out) {
  uint64_t v;
  int64_t i64;
  int32_t i32;
  uint32_t u32;
  int rc;
  switch (type) {
  case IRPC_SLICE_VARINT32:
    rc = dec_varint32(d, &i32);
    if (rc == 0)
      memcpy(out, &i32, 4);
    return rc;
  case IRPC_SLICE_VARUINT32:
    rc = dec_varuint32(d, &u32);
    if (rc == 0)
      memcpy(out, &u32, 4);
    return rc;
  case IRPC_SLICE_VARINT62:
    rc = dec_varint(d, &i64);
    if (rc == 0)
      memcpy(out, &i64, 8);
    return rc;
  case IRPC_SLICE_VARUINT62:
    rc = dec_varuint(d, &v);
    if (rc == 0)
      memcpy(out, &v, 8);
    return rc;
  default:
    break;
  }
  rc = dec_fixed(d, irpc__slice_wire_size(type), &v);
  if (rc == 0 && type == IRPC_SLICE_BOOL && v > 1)
    rc = irpc__slice_dec_fail(d, IRPC_EDATA);
  if (rc == 0)
    store_host(out, v, irpc__slice_wire_size(type));
  return rc;
}

static int dec_bools_valid(const uint8_t *p, size_t n) {
  uint8_t any = 0;
  for (size_t i = 0; i < n; i++)
    any |= p[i];
  return any <= 1;
}

static int dec_elems(irpc_slice_decoder *d, irpc_slice_type type, uint8_t *out,
                     size_t count) {
  size_t wire = irpc__slice_wire_size(type);
  if (IRPC__SLICE_LE_HOST && wire > 0) {
    int rc = irpc__slice_dec_read(d, out, count * wire);
    if (rc == 0 && type == IRPC_SLICE_BOOL && !dec_bools_valid(out, count)) {
      memset(out, 0, count); /* never leave invalid bool objects behind */
      rc = irpc__slice_dec_fail(d, IRPC_EDATA);
    }
    return rc;
  }
  size_t csize = irpc_slice_type_size(type);
  for (size_t i = 0; i < count; i++) {
    int rc = dec_elem(d, type, out + i * csize);
    if (rc)
      return rc;
  }
  return 0;
}

int irpc_slice_decode_seq(irpc_slice_decoder *d, irpc_slice_type type,
                          void **elems, size_t *count) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!elems || !count || !dec_type_ok(d, type))
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  size_t csize = irpc_slice_type_size(type);
  size_t n;
  rc = dec_count(d, irpc__slice_min_wire_size(type), csize, &n);
  if (rc)
    return rc;
  uint8_t *arr = NULL;
  if (n > 0) {
    arr = irpc_malloc(n * csize); /* n * csize <= max allocation */
    if (!arr)
      return irpc__slice_dec_fail(d, IRPC_ENOMEM);
    rc = dec_elems(d, type, arr, n);
  }
  if (rc) {
    irpc_free(arr);
    return rc;
  }
  *elems = arr;
  *count = n;
  return 0;
}

int irpc_slice_decode_seq_into(irpc_slice_decoder *d, irpc_slice_type type,
                               void *elems, size_t cap, size_t *count) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!count || (!elems && cap > 0) || !dec_type_ok(d, type))
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  size_t n;
  rc = dec_count(d, irpc__slice_min_wire_size(type), 0, &n);
  if (rc == 0 && n > cap)
    rc = irpc__slice_dec_fail(d, IRPC_ERANGE);
  if (rc == 0 && n > 0)
    rc = dec_elems(d, type, elems, n);
  if (rc == 0)
    *count = n;
  return rc;
}

/* An integral value of `type` as an int64 (IRPC_EENUM for a uint64 above
 * INT64_MAX, which no enumerator can have). */
static int dec_integral(irpc_slice_decoder *d, irpc_slice_type type,
                        int64_t *v) {
  uint8_t tmp[8];
  int rc = dec_elem(d, type, tmp);
  if (rc)
    return rc;
  int32_t i32;
  uint32_t u32;
  uint64_t u64;
  switch (type) {
  case IRPC_SLICE_INT8:
    *v = (int8_t)tmp[0];
    return 0;
  case IRPC_SLICE_UINT8:
    *v = tmp[0];
    return 0;
  case IRPC_SLICE_INT16: {
    int16_t x;
    memcpy(&x, tmp, 2);
    *v = x;
    return 0;
  }
  case IRPC_SLICE_UINT16: {
    uint16_t x;
    memcpy(&x, tmp, 2);
    *v = x;
    return 0;
  }
  case IRPC_SLICE_INT32:
  case IRPC_SLICE_VARINT32:
    memcpy(&i32, tmp, 4);
    *v = i32;
    return 0;
  case IRPC_SLICE_UINT32:
  case IRPC_SLICE_VARUINT32:
    memcpy(&u32, tmp, 4);
    *v = u32;
    return 0;
  default:
    memcpy(&u64, tmp, 8);
    if (type == IRPC_SLICE_UINT64 && u64 > INT64_MAX)
      return irpc__slice_dec_fail(d, IRPC_EENUM);
    *v = (int64_t)u64;
    return 0;
  }
}

static int dec_enum_check(irpc_slice_decoder *d, irpc_slice_type type,
                          const void *out) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!out || !dec_type_ok(d, type) || type == IRPC_SLICE_BOOL ||
      type == IRPC_SLICE_FLOAT32 || type == IRPC_SLICE_FLOAT64)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  return 0;
}

int irpc_slice_decode_enum_range(irpc_slice_decoder *d, irpc_slice_type type,
                                 int64_t min, int64_t max, int64_t *v) {
  int64_t x;
  int rc = dec_enum_check(d, type, v);
  if (rc == 0)
    rc = dec_integral(d, type, &x);
  if (rc == 0 && (x < min || x > max))
    rc = irpc__slice_dec_fail(d, IRPC_EENUM);
  if (rc == 0)
    *v = x;
  return rc;
}

int irpc_slice_decode_enum_fn(irpc_slice_decoder *d, irpc_slice_type type,
                              irpc_slice_enum_valid_fn valid, void *user_data,
                              int64_t *v) {
  int64_t x;
  int rc = dec_enum_check(d, type, v);
  if (rc == 0 && !valid)
    rc = irpc__slice_dec_fail(d, IRPC_EINVAL);
  if (rc == 0)
    rc = dec_integral(d, type, &x);
  if (rc == 0 && !valid(x, user_data))
    rc = irpc__slice_dec_fail(d, IRPC_EENUM);
  if (rc == 0)
    *v = x;
  return rc;
}

/* ---- bit sequences ---- */

/* The byte at input offset `pos`, which lies before the current position:
 * the bit sequence was skipped over, and is read back here. */
static uint8_t dec_byte_at(const irpc_slice_decoder *d, size_t pos) {
  if (!d->src)
    return d->seg[pos];
  size_t i = d->seg_index;
  size_t start = d->seg_pos;
  while (pos < start) {
    i--;
    start -= irpc_buf_segment(d->src, i).len;
  }
  return irpc_buf_segment(d->src, i).base[pos - start];
}

int irpc_slice_decode_bitseq(irpc_slice_decoder *d, size_t nbits,
                             irpc_slice_bit_reader *r) {
  int rc = dec_check2(d, r);
  if (rc)
    return rc;
  size_t nbytes = nbits / 8 + (nbits % 8 != 0);
  size_t pos = irpc__slice_dec_pos(d);
  rc = irpc__slice_dec_read(d, NULL, nbytes);
  if (rc)
    return rc;
  if (nbits % 8 && dec_byte_at(d, pos + nbytes - 1) >> (nbits % 8))
    return irpc__slice_dec_fail(d, IRPC_EDATA);
  *r = (irpc_slice_bit_reader){.pos = pos, .nbits = nbits};
  return 0;
}

int irpc_slice_bit_reader_get(irpc_slice_decoder *d, irpc_slice_bit_reader *r,
                              bool *present) {
  int rc = dec_check2(d, r);
  if (rc)
    return rc;
  if (!present || r->next >= r->nbits)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  if (r->next % 8 == 0)
    r->byte = dec_byte_at(d, r->pos + r->next / 8);
  *present = (r->byte >> (r->next % 8)) & 1;
  r->next++;
  return 0;
}

/* ---- segments and tagged fields ---- */

int irpc_slice_decode_segment_begin(irpc_slice_decoder *d,
                                    irpc_slice_scope *scope) {
  int rc = dec_check2(d, scope);
  uint64_t n = 0;
  if (rc == 0)
    rc = dec_varuint(d, &n);
  if (rc)
    return rc;
  if (n == 0)
    return irpc__slice_dec_fail(d, IRPC_EDATA);
  if (n > d->max_segment)
    return irpc__slice_dec_fail(d, IRPC_ELIMIT);
  return irpc__slice_dec_push(d, (size_t)n, scope);
}

int irpc_slice_decode_sized_begin(irpc_slice_decoder *d,
                                  irpc_slice_scope *scope) {
  int rc = irpc__slice_dec_check(d, -1);
  if (rc)
    return rc;
  if (!scope)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  size_t n;
  rc = dec_size(d, &n);
  return rc ? rc : irpc__slice_dec_push(d, n, scope);
}

static int dec_tag_number(irpc_slice_decoder *d, int32_t *tag) {
  int rc = dec_varint32(d, tag);
  if (rc == 0 && *tag < IRPC_SLICE_TAG_END_MARKER)
    rc = irpc__slice_dec_fail(d, IRPC_ETAG);
  return rc;
}

/* Skips the size-prefixed value of an unknown tagged field. */
static int dec_skip_sized(irpc_slice_decoder *d) {
  size_t n;
  int rc = dec_size(d, &n);
  return rc ? rc : irpc__slice_dec_read(d, NULL, n);
}

int irpc_slice_decode_tag(irpc_slice_decoder *d, int32_t tag, bool *found,
                          irpc_slice_scope *scope) {
  int rc = dec_check2(d, found);
  if (rc)
    return rc;
  if (!scope || tag < 0)
    return irpc__slice_dec_fail(d, IRPC_EINVAL);
  for (;;) {
    irpc__slice_dec_at at = irpc__slice_dec_save(d);
    int32_t t;
    size_t n;
    rc = dec_tag_number(d, &t);
    if (rc)
      return rc;
    if (t == IRPC_SLICE_TAG_END_MARKER || t > tag) {
      irpc__slice_dec_restore(d, &at);
      *found = false;
      return 0;
    }
    if (t < tag) {
      rc = dec_skip_sized(d);
      if (rc)
        return rc;
      continue;
    }
    rc = dec_size(d, &n);
    if (rc == 0)
      rc = irpc__slice_dec_push(d, n, scope);
    *found = rc == 0;
    return rc;
  }
}

int irpc_slice_decode_tags_end(irpc_slice_decoder *d) {
  int rc = irpc__slice_dec_check(d, 1);
  while (rc == 0) {
    int32_t t;
    rc = dec_tag_number(d, &t);
    if (rc == 0 && t == IRPC_SLICE_TAG_END_MARKER)
      return 0;
    if (rc == 0)
      rc = dec_skip_sized(d);
  }
  return rc;
}
