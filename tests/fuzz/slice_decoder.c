/* libFuzzer target for the Slice decoder.
 *
 * The input drives a mixed schema: its first byte picks the encoding, a
 * segment size and the limits; after that the decoder reads an operation
 * byte, then whatever that operation decodes (its parameters, such as an
 * element type or a tag number, come from the input too), and so on until
 * an error or the end of the input.
 *
 * Checks, beyond the sanitizers:
 *   - the same input decoded from one contiguous span and from a chain cut
 *     into small segments gives the same error, position and values;
 *   - decoded varints, strings and sequences re-encode and decode back to
 *     the same value. */
#include <stdlib.h>
#include <string.h>

#include "irpc/irpc.h"

enum op {
  OP_BOOL,
  OP_U8,
  OP_I16,
  OP_I32,
  OP_I64,
  OP_F32,
  OP_F64,
  OP_VARU62,
  OP_VARI62,
  OP_VARU32,
  OP_VARI32,
  OP_SIZE,
  OP_STRING,
  OP_STRING_COPY,
  OP_SEQ,
  OP_SEQ_INTO,
  OP_DICT,
  OP_BITSEQ,
  OP_SEGMENT,
  OP_SIZED,
  OP_POP_END,
  OP_POP_SKIP,
  OP_TAG,
  OP_TAGS_END,
  OP_ENUM_RANGE,
  OP_ENUM_FN,
  OP_BUF,
  OP_SKIP,
  OP_ENCAPS,
  OP_IDENTITY,
  OP_CONTEXT,
  OP_EXCEPTION,
  OP_COUNT
};

#define MAX_OPS 512
#define MAX_SCOPES 16

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      __builtin_trap();                                                        \
  } while (0)

typedef struct run {
  irpc_slice_decoder d;
  irpc_slice_encoding enc;
  irpc_slice_scope scopes[MAX_SCOPES];
  int nscopes;
  uint64_t digest;
} run;

static void mix(run *r, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    r->digest = (r->digest ^ b[i]) * UINT64_C(0x100000001b3);
}

static void mix_view(run *r, irpc_bytes v) {
  mix(r, &v.len, sizeof(v.len));
  if (v.len)
    mix(r, v.base, v.len);
}

/* A parameter byte from the input; 0 once the decoder has failed. */
static uint8_t param(run *r) {
  uint8_t v = 0;
  irpc_slice_decode_uint8(&r->d, &v);
  return v;
}

static irpc_slice_type pick_type(run *r) {
  int n = r->enc == IRPC_SLICE_ENCODING_2 ? 15 : 11;
  return (irpc_slice_type)(1 + param(r) % n);
}

/* ---- round trips through the encoder ---- */

static void encode_to(irpc_buf *b, irpc_slice_encoding enc,
                      irpc_slice_encoder *e) {
  irpc_buf_clear(b);
  CHECK(irpc_slice_encoder_init(e, b, enc) == 0);
}

static void round_trip_varu62(uint64_t v) {
  irpc_buf *b;
  irpc_slice_encoder e;
  irpc_slice_decoder d;
  uint64_t back = ~v;
  CHECK(irpc_buf_new(&b) == 0);
  encode_to(b, IRPC_SLICE_ENCODING_2, &e);
  CHECK(irpc_slice_encode_varuint62(&e, v) == 0);
  CHECK(irpc_slice_encoder_flush(&e) == 0);
  CHECK(irpc_buf_len(b) == irpc_slice_varuint62_len(v));
  CHECK(irpc_slice_decoder_init_buf(&d, b, IRPC_SLICE_ENCODING_2) == 0);
  CHECK(irpc_slice_decode_varuint62(&d, &back) == 0 && back == v);
  irpc_slice_decoder_fini(&d);
  irpc_buf_free(b);
}

static void round_trip_vari62(int64_t v) {
  irpc_buf *b;
  irpc_slice_encoder e;
  irpc_slice_decoder d;
  int64_t back = ~v;
  CHECK(irpc_buf_new(&b) == 0);
  encode_to(b, IRPC_SLICE_ENCODING_2, &e);
  CHECK(irpc_slice_encode_varint62(&e, v) == 0);
  CHECK(irpc_slice_encoder_flush(&e) == 0);
  CHECK(irpc_slice_decoder_init_buf(&d, b, IRPC_SLICE_ENCODING_2) == 0);
  CHECK(irpc_slice_decode_varint62(&d, &back) == 0 && back == v);
  irpc_slice_decoder_fini(&d);
  irpc_buf_free(b);
}

static void round_trip_string(irpc_slice_encoding enc, irpc_bytes s) {
  irpc_buf *b;
  irpc_slice_encoder e;
  irpc_slice_decoder d;
  irpc_bytes back;
  CHECK(irpc_buf_new(&b) == 0);
  encode_to(b, enc, &e);
  CHECK(irpc_slice_encode_string(&e, (const char *)s.base, s.len) == 0);
  CHECK(irpc_slice_encoder_flush(&e) == 0);
  CHECK(irpc_slice_decoder_init_buf(&d, b, enc) == 0);
  CHECK(irpc_slice_decode_string(&d, &back) == 0 && back.len == s.len);
  CHECK(s.len == 0 || memcmp(back.base, s.base, s.len) == 0);
  CHECK(irpc_slice_decoder_end(&d) == 0);
  irpc_slice_decoder_fini(&d);
  irpc_buf_free(b);
}

static void round_trip_seq(irpc_slice_encoding enc, irpc_slice_type t,
                           const void *arr, size_t n) {
  irpc_buf *b;
  irpc_slice_encoder e;
  irpc_slice_decoder d;
  void *back = NULL;
  size_t m = 0;
  CHECK(irpc_buf_new(&b) == 0);
  encode_to(b, enc, &e);
  CHECK(irpc_slice_encode_seq(&e, t, arr, n) == 0);
  CHECK(irpc_slice_encoder_flush(&e) == 0);
  CHECK(irpc_slice_decoder_init_buf(&d, b, enc) == 0);
  CHECK(irpc_slice_decoder_set_limits(&d, 0, SIZE_MAX) == 0);
  CHECK(irpc_slice_decode_seq(&d, t, &back, &m) == 0 && m == n);
  CHECK(n == 0 || memcmp(back, arr, n * irpc_slice_type_size(t)) == 0);
  irpc_free(back);
  irpc_slice_decoder_fini(&d);
  irpc_buf_free(b);
}

/* ---- operations ---- */

static void op_fixed(run *r, int op) {
  bool b;
  uint8_t u8;
  int16_t i16;
  int32_t i32;
  uint64_t u64;
  float f;
  double g;
  if (op == OP_BOOL && irpc_slice_decode_bool(&r->d, &b) == 0)
    mix(r, &b, 1);
  else if (op == OP_U8 && irpc_slice_decode_uint8(&r->d, &u8) == 0)
    mix(r, &u8, 1);
  else if (op == OP_I16 && irpc_slice_decode_int16(&r->d, &i16) == 0)
    mix(r, &i16, 2);
  else if (op == OP_I32 && irpc_slice_decode_int32(&r->d, &i32) == 0)
    mix(r, &i32, 4);
  else if (op == OP_I64 && irpc_slice_decode_uint64(&r->d, &u64) == 0)
    mix(r, &u64, 8);
  else if (op == OP_F32 && irpc_slice_decode_float32(&r->d, &f) == 0)
    mix(r, &f, 4);
  else if (op == OP_F64 && irpc_slice_decode_float64(&r->d, &g) == 0)
    mix(r, &g, 8);
}

static void op_var(run *r, int op) {
  uint64_t u;
  int64_t i;
  uint32_t u32;
  int32_t i32;
  size_t n;
  switch (op) {
  case OP_VARU62:
    if (irpc_slice_decode_varuint62(&r->d, &u) == 0) {
      mix(r, &u, 8);
      round_trip_varu62(u);
    }
    break;
  case OP_VARI62:
    if (irpc_slice_decode_varint62(&r->d, &i) == 0) {
      mix(r, &i, 8);
      round_trip_vari62(i);
    }
    break;
  case OP_VARU32:
    if (irpc_slice_decode_varuint32(&r->d, &u32) == 0)
      mix(r, &u32, 4);
    break;
  case OP_VARI32:
    if (irpc_slice_decode_varint32(&r->d, &i32) == 0)
      mix(r, &i32, 4);
    break;
  default:
    if (irpc_slice_decode_size(&r->d, &n) == 0)
      mix(r, &n, sizeof(n));
    break;
  }
}

static void op_string(run *r, int copy) {
  irpc_bytes s;
  char *c;
  size_t len;
  if (!copy) {
    if (irpc_slice_decode_string(&r->d, &s) == 0) {
      mix_view(r, s);
      round_trip_string(r->enc, s);
    }
  } else if (irpc_slice_decode_string_copy(&r->d, &c, &len) == 0) {
    CHECK(c[len] == '\0');
    mix_view(r, (irpc_bytes){.base = (const uint8_t *)c, .len = len});
    irpc_free(c);
  }
}

static void op_seq(run *r, int into) {
  irpc_slice_type t = pick_type(r);
  void *arr = NULL;
  size_t n;
  uint64_t storage[32];
  if (into) {
    size_t cap = param(r) % 33;
    if (irpc_slice_decode_seq_into(&r->d, t, storage, cap, &n) == 0)
      mix(r, storage, n * irpc_slice_type_size(t));
    return;
  }
  if (irpc_slice_decode_seq(&r->d, t, &arr, &n) == 0) {
    mix(r, &n, sizeof(n));
    mix(r, arr, n * irpc_slice_type_size(t));
    round_trip_seq(r->enc, t, arr, n);
    irpc_free(arr);
  }
}

/* Dictionary<string, string> decoded entry by entry. */
static void op_dict(run *r) {
  size_t n;
  irpc_bytes k, v;
  if (irpc_slice_decode_count(&r->d, 2, 2 * sizeof(irpc_bytes), &n))
    return;
  for (size_t i = 0; i < n; i++) {
    if (irpc_slice_decode_string(&r->d, &k) ||
        irpc_slice_decode_string(&r->d, &v))
      return;
    mix_view(r, k);
    mix_view(r, v);
  }
}

static void op_bitseq(run *r) {
  size_t nbits = param(r);
  irpc_slice_bit_reader br;
  bool present;
  if (irpc_slice_decode_bitseq(&r->d, nbits, &br))
    return;
  for (size_t i = 0; i < nbits; i++) {
    CHECK(irpc_slice_bit_reader_get(&r->d, &br, &present) == 0);
    mix(r, &present, 1);
  }
}

static void push(run *r, int op) {
  irpc_slice_scope sc;
  uint8_t major, minor;
  bool found = false;
  int rc;
  if (r->nscopes == MAX_SCOPES)
    return;
  if (op == OP_SEGMENT)
    rc = irpc_slice_decode_segment_begin(&r->d, &sc);
  else if (op == OP_SIZED)
    rc = irpc_slice_decode_sized_begin(&r->d, &sc);
  else if (op == OP_ENCAPS)
    rc = irpc_slice_decode_encaps_begin(&r->d, &major, &minor, &sc);
  else
    rc = irpc_slice_decode_tag(&r->d, param(r) % 16, &found, &sc);
  if (rc == 0 && (op != OP_TAG || found))
    r->scopes[r->nscopes++] = sc;
  mix(r, &found, 1);
}

static void pop(run *r, int skip) {
  if (r->nscopes == 0)
    return;
  const irpc_slice_scope *sc = &r->scopes[--r->nscopes];
  if (skip)
    irpc_slice_decode_scope_skip(&r->d, sc);
  else
    irpc_slice_decode_scope_end(&r->d, sc);
}

static int valid_enum(int64_t v, void *user_data) {
  (void)user_data;
  return v % 3 == 0;
}

static void op_enum(run *r, int fn) {
  irpc_slice_type t;
  do
    t = pick_type(r);
  while (irpc_slice_decoder_error(&r->d) == 0 &&
         (t == IRPC_SLICE_BOOL || t == IRPC_SLICE_FLOAT32 ||
          t == IRPC_SLICE_FLOAT64));
  int64_t v;
  int rc = fn ? irpc_slice_decode_enum_fn(&r->d, t, valid_enum, NULL, &v)
              : irpc_slice_decode_enum_range(&r->d, t, -100, 100, &v);
  if (rc == 0)
    mix(r, &v, 8);
}

static void op_bytes(run *r, int op) {
  size_t n = param(r);
  irpc_buf *b;
  if (op == OP_SKIP) {
    irpc_slice_decoder_skip(&r->d, n);
    return;
  }
  CHECK(irpc_buf_new(&b) == 0);
  if (irpc_slice_decode_buf(&r->d, n, b) == 0) {
    uint8_t tmp[256];
    CHECK(irpc_buf_len(b) == n && irpc_buf_copyout(b, 0, tmp, n) == 0);
    mix(r, tmp, n);
  }
  irpc_buf_free(b);
}

static void op_slice1(run *r, int op) {
  irpc_slice_identity id;
  irpc_slice_string_pair *ctx = NULL;
  irpc_slice_exception_slice ex;
  size_t n;
  if (op == OP_IDENTITY) {
    if (irpc_slice_decode_identity(&r->d, &id) == 0) {
      mix_view(r, id.name);
      mix_view(r, id.category);
    }
  } else if (op == OP_CONTEXT) {
    if (irpc_slice_decode_context(&r->d, &ctx, &n) == 0) {
      for (size_t i = 0; i < n; i++) {
        mix_view(r, ctx[i].key);
        mix_view(r, ctx[i].value);
      }
      irpc_free(ctx);
    }
  } else {
    int skip = param(r) & 1; /* read first: the slice data follows */
    if (irpc_slice_decode_exception_slice(&r->d, &ex) == 0) {
      mix_view(r, ex.type_id);
      mix(r, &ex.flags, 1);
      if (skip)
        irpc_slice_skip_exception_slice(&r->d, &ex);
    }
  }
}

static void step(run *r, int op) {
  if (op <= OP_F64)
    op_fixed(r, op);
  else if (op <= OP_SIZE)
    op_var(r, op);
  else if (op == OP_STRING || op == OP_STRING_COPY)
    op_string(r, op == OP_STRING_COPY);
  else if (op == OP_SEQ || op == OP_SEQ_INTO)
    op_seq(r, op == OP_SEQ_INTO);
  else if (op == OP_DICT)
    op_dict(r);
  else if (op == OP_BITSEQ)
    op_bitseq(r);
  else if (op == OP_SEGMENT || op == OP_SIZED || op == OP_TAG ||
           op == OP_ENCAPS)
    push(r, op);
  else if (op == OP_POP_END || op == OP_POP_SKIP)
    pop(r, op == OP_POP_SKIP);
  else if (op == OP_TAGS_END)
    irpc_slice_decode_tags_end(&r->d);
  else if (op == OP_ENUM_RANGE || op == OP_ENUM_FN)
    op_enum(r, op == OP_ENUM_FN);
  else if (op == OP_BUF || op == OP_SKIP)
    op_bytes(r, op);
  else
    op_slice1(r, op);
}

/* Ops that the other encoding refuses are mapped to one it accepts, so
 * runs do not end at once on IRPC_EINVAL. */
static int map_op(const run *r, int op) {
  int s2 = r->enc == IRPC_SLICE_ENCODING_2;
  if (!s2 && ((op >= OP_VARU62 && op <= OP_VARI32) || op == OP_BITSEQ ||
              op == OP_SEGMENT || op == OP_TAG || op == OP_TAGS_END))
    return OP_ENCAPS;
  if (s2 && (op == OP_ENCAPS || op == OP_EXCEPTION))
    return OP_SEGMENT;
  return op;
}

static void decode_all(run *r) {
  r->digest = UINT64_C(0xcbf29ce484222325);
  for (int i = 0; i < MAX_OPS; i++) {
    uint8_t op;
    if (irpc_slice_decoder_remaining(&r->d) == 0 && r->nscopes > 0)
      pop(r, 0);
    if (irpc_slice_decode_uint8(&r->d, &op))
      break;
    step(r, map_op(r, op % OP_COUNT));
    if (irpc_slice_decoder_error(&r->d))
      break;
  }
  size_t pos = irpc_slice_decoder_pos(&r->d);
  int err = irpc_slice_decoder_error(&r->d);
  mix(r, &pos, sizeof(pos));
  mix(r, &err, sizeof(err));
}

static void configure(run *r, uint8_t cfg) {
  unsigned k = cfg >> 5;
  irpc_slice_decoder_set_limits(&r->d, (size_t)8 << (2 * k),
                                (size_t)16 << (2 * k));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 4096)
    return 0;
  uint8_t cfg = data[0];
  irpc_slice_encoding enc =
      (cfg & 1) ? IRPC_SLICE_ENCODING_1_1 : IRPC_SLICE_ENCODING_2;
  size_t seg = ((cfg >> 1) & 15) + 1;
  data++;
  size--;

  run a = {.enc = enc};
  CHECK(irpc_slice_decoder_init_bytes(&a.d, data, size, enc) == 0);
  configure(&a, cfg);
  decode_all(&a);

  irpc_buf *chain;
  CHECK(irpc_buf_new(&chain) == 0);
  for (size_t off = 0; off < size; off += seg) {
    size_t take = size - off < seg ? size - off : seg;
    CHECK(irpc_buf_append_external(chain, (void *)(data + off), take, NULL,
                                   NULL) == 0);
  }
  run b = {.enc = enc};
  CHECK(irpc_slice_decoder_init_buf(&b.d, chain, enc) == 0);
  configure(&b, cfg);
  decode_all(&b);

  CHECK(a.digest == b.digest);
  irpc_slice_decoder_fini(&a.d);
  irpc_slice_decoder_fini(&b.d);
  irpc_buf_free(chain);
  return 0;
}
