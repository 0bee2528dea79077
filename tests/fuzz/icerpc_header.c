/* libFuzzer target for the icerpc codec (core/icerpc_codec.c): request and
 * response headers, the header size prefix and the control frames.
 *
 * The first byte picks what the rest of the input is:
 *   bits 0-1  0 a request header body (bit 2: one-way), 1 a response header
 *             body, 2 control frames one after another (a control stream),
 *             3 a header after its size prefix (a request stream; bit 2: a
 *             response);
 *   bits 3-4  the max header size for mode 3: 63, 255, 16,383, 1,048,575.
 * The rest is copied to a buffer of its exact size, so that AddressSanitizer
 * catches any read past its end.
 *
 * Checks, beyond the sanitizers:
 *   - decoders fail only with their documented errors;
 *   - what decodes re-encodes, and the re-encoding decodes to the same
 *     value and re-encodes to the same bytes (it is canonical: a fixed
 *     point);
 *   - a header body, or a GoAway body, is never shorter than its
 *     re-encoding, and one as long is byte for byte the same: the decoders
 *     keep the order of the fields and every byte of strings and values, so
 *     only non-minimal varuint62 sizes (which IceRPC writes in its
 *     placeholders) may shrink. */
#include <stdlib.h>
#include <string.h>

#include "base/buf_internal.h"
#include "protocol/icerpc/icerpc.h"
#include "irpc/status.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond))                                                               \
      abort();                                                                 \
  } while (0)

/* The bytes of a chain, contiguous, in a buffer of their exact size. */
static uint8_t *flatten(const irpc_buf *b, size_t *len) {
  *len = irpc_buf_len(b);
  uint8_t *p = malloc(*len ? *len : 1);
  CHECK(p && irpc_buf_copyout(b, 0, p, *len) == 0);
  return p;
}

static int same_fields(const irpc_fields *a, const irpc_fields *b) {
  size_t n = irpc_fields_count(a);
  if (n != irpc_fields_count(b))
    return 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t ka, kb;
    irpc_bytes va, vb;
    CHECK(irpc_fields_at(a, i, &ka, &va) == 0);
    CHECK(irpc_fields_at(b, i, &kb, &vb) == 0);
    if (ka != kb || va.len != vb.len ||
        (va.len && memcmp(va.base, vb.base, va.len) != 0))
      return 0;
  }
  return 1;
}

/* An encoded header: all its bytes, and its body after the size prefix. */
typedef struct encoded {
  uint8_t *bytes;
  size_t len;
  const uint8_t *body;
  size_t body_len;
} encoded;

/* A kind of header: functions over opaque decoded values. */
typedef struct kind {
  /* Decodes a body (`oneway` is for requests); checks the error codes and
   * the invariants of what decodes. */
  int (*decode)(const uint8_t *p, size_t len, int oneway, void **out);
  int (*encode)(irpc_buf *b, void *v);
  int (*same)(void *a, void *b);
  void (*free)(void *v);
} kind;

/* Encodes with a 4-byte size prefix (wide enough for any header) and
 * checks the prefix. */
static void encode(const kind *k, void *v, encoded *e) {
  irpc_buf b;
  irpc__buf_init(&b);
  CHECK(k->encode(&b, v) == 0);
  e->bytes = flatten(&b, &e->len);
  irpc__buf_fini(&b);
  uint64_t size;
  long used = irpc__icerpc_header_size(e->bytes, e->len,
                                       IRPC__ICERPC_MAX_HEADER, &size);
  CHECK(used == 4 && size == e->len - 4);
  e->body = e->bytes + 4;
  e->body_len = (size_t)size;
}

static void header(const kind *k, const uint8_t *p, size_t len, int oneway) {
  void *v, *again;
  if (k->decode(p, len, oneway, &v))
    return;
  encoded e, e2;
  encode(k, v, &e);
  /* Never longer than the input, and the same bytes when as long. */
  CHECK(e.body_len <= len);
  if (e.body_len == len)
    CHECK(memcmp(e.body, p, len) == 0);
  CHECK(k->decode(e.body, e.body_len, oneway, &again) == 0);
  CHECK(k->same(v, again));
  encode(k, again, &e2);
  CHECK(e2.len == e.len && memcmp(e2.bytes, e.bytes, e.len) == 0);
  free(e.bytes);
  free(e2.bytes);
  k->free(again);
  k->free(v);
}

/* ---- Request headers ---- */

static int request_decode(const uint8_t *p, size_t len, int oneway,
                          void **out) {
  irpc_incoming_request *r = NULL;
  int rc = irpc__icerpc_request_header_decode(p, len, oneway, &r);
  if (rc)
    CHECK(!r && (rc == IRPC_EPROTO || rc == IRPC_EPATH || rc == IRPC_ENOMEM));
  else
    CHECK(irpc_incoming_request_oneway(r) == (oneway != 0));
  *out = r;
  return rc;
}

static int request_encode(irpc_buf *b, void *v) {
  irpc_incoming_request *r = v;
  return irpc__icerpc_request_header_encode(
      b, 4, IRPC__ICERPC_MAX_HEADER, irpc_incoming_request_path(r),
      irpc_incoming_request_operation(r), irpc_incoming_request_fields(r));
}

static int request_same(void *va, void *vb) {
  irpc_incoming_request *a = va, *b = vb;
  return strcmp(irpc_incoming_request_path(a), irpc_incoming_request_path(b)) ==
             0 &&
         strcmp(irpc_incoming_request_operation(a),
                irpc_incoming_request_operation(b)) == 0 &&
         irpc_incoming_request_oneway(a) == irpc_incoming_request_oneway(b) &&
         same_fields(irpc_incoming_request_fields(a),
                     irpc_incoming_request_fields(b));
}

static void request_free(void *v) {
  irpc_incoming_request_free(v);
}

static const kind request = {request_decode, request_encode, request_same,
                             request_free};

/* ---- Response headers ---- */

static int response_decode(const uint8_t *p, size_t len, int oneway,
                           void **out) {
  irpc_incoming_response *r = NULL;
  (void)oneway;
  int rc = irpc__icerpc_response_header_decode(p, len, &r);
  if (rc)
    CHECK(!r && (rc == IRPC_EPROTO || rc == IRPC_ENOMEM));
  else /* a message exactly when the status is not Ok */
    CHECK((irpc_incoming_response_status(r) == IRPC_STATUS_OK) ==
          (irpc_incoming_response_error_message(r) == NULL));
  *out = r;
  return rc;
}

static int response_encode(irpc_buf *b, void *v) {
  irpc_incoming_response *r = v;
  return irpc__icerpc_response_header_encode(
      b, 4, IRPC__ICERPC_MAX_HEADER, irpc_incoming_response_status(r),
      irpc_incoming_response_error_message(r),
      irpc_incoming_response_fields(r));
}

static int response_same(void *va, void *vb) {
  irpc_incoming_response *a = va, *b = vb;
  const char *ma = irpc_incoming_response_error_message(a);
  const char *mb = irpc_incoming_response_error_message(b);
  return irpc_incoming_response_status(a) == irpc_incoming_response_status(b) &&
         (ma == NULL) == (mb == NULL) && (!ma || strcmp(ma, mb) == 0) &&
         same_fields(irpc_incoming_response_fields(a),
                     irpc_incoming_response_fields(b));
}

static void response_free(void *v) {
  irpc_incoming_response_free(v);
}

static const kind response = {response_decode, response_encode, response_same,
                              response_free};

/* ---- Control frames ---- */

typedef struct control {
  int type;
  uint64_t max_header;
  uint64_t formats; /* 0 when not announced: the encoder's view */
  uint64_t ids[2];
} control;

static long control_decode(const uint8_t *p, size_t len, control *v) {
  irpc__icerpc_settings s;
  memset(v, 0, sizeof(*v));
  v->type = -1;
  long used = irpc__icerpc_control_decode(p, len, &v->type, &s, v->ids);
  if (used > 0 && v->type == IRPC__ICERPC_SETTINGS) {
    CHECK(s.max_header_size >= IRPC__ICERPC_MIN_HEADER &&
          s.max_header_size <= IRPC__ICERPC_MAX_HEADER);
    v->max_header = s.max_header_size;
    v->formats = s.has_compression_formats ? s.compression_formats : 0;
    v->ids[0] = v->ids[1] = 0;
  }
  return used;
}

static void control_encode(const control *v, uint8_t **bytes, size_t *len) {
  irpc_buf b;
  irpc__buf_init(&b);
  if (v->type == IRPC__ICERPC_SETTINGS)
    CHECK(irpc__icerpc_settings_encode(&b, v->max_header, v->formats) == 0);
  else
    CHECK(irpc__icerpc_goaway_encode(&b, v->ids[0], v->ids[1]) == 0);
  *bytes = flatten(&b, len);
  irpc__buf_fini(&b);
}

/* The encoders write a 2-byte body size, IceRPC's placeholder. */
static void control_frame(const uint8_t *p, size_t used, const control *v) {
  uint8_t *e, *e2;
  size_t elen, e2len;
  control back;
  control_encode(v, &e, &elen);
  CHECK(control_decode(e, elen, &back) == (long)elen);
  CHECK(back.type == v->type && back.max_header == v->max_header &&
        back.formats == v->formats && back.ids[0] == v->ids[0] &&
        back.ids[1] == v->ids[1]);
  control_encode(&back, &e2, &e2len);
  CHECK(e2len == elen && memcmp(e2, e, elen) == 0);
  if (v->type == IRPC__ICERPC_GOAWAY) {
    /* bodies: two varuint62, minimal in the re-encoding */
    uint64_t size;
    size_t n = irpc__varuint62_get(p + 1, used - 1, &size);
    const uint8_t *body = p + 1 + n;
    CHECK(elen - 3 <= size);
    if (elen - 3 == size)
      CHECK(memcmp(e + 3, body, (size_t)size) == 0);
  }
  free(e);
  free(e2);
}

static void controls(const uint8_t *p, size_t len) {
  while (len) {
    control v;
    long used = control_decode(p, len, &v);
    if (used < 0) {
      CHECK(used == IRPC_EPROTO);
      return;
    }
    if (used == 0)
      return; /* more bytes needed */
    CHECK((size_t)used <= len);
    CHECK(v.type == IRPC__ICERPC_SETTINGS || v.type == IRPC__ICERPC_GOAWAY);
    control_frame(p, (size_t)used, &v);
    p += used;
    len -= (size_t)used;
  }
}

/* ---- A header after its size prefix ---- */

static void sized(const uint8_t *p, size_t len, int is_response, uint64_t max) {
  uint64_t size = 0;
  long used = irpc__icerpc_header_size(p, len, max, &size);
  if (used < 0) {
    CHECK(used == IRPC_EPROTO || used == IRPC_ELIMIT);
    return;
  }
  if (used == 0 || size > len - (size_t)used)
    return; /* more bytes needed */
  CHECK(size > 0 && size <= max);
  /* the body alone, in a buffer of its own exact size */
  uint8_t *body = malloc((size_t)size);
  CHECK(body);
  memcpy(body, p + used, (size_t)size);
  header(is_response ? &response : &request, body, (size_t)size, 0);
  free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint64_t maxes[] = {IRPC__ICERPC_MIN_HEADER, 255,
                                   IRPC__ICERPC_DEFAULT_MAX_HEADER,
                                   IRPC__ICERPC_MAX_HEADER};
  if (size < 1 || size > 65536)
    return 0;
  int cfg = data[0];
  size_t len = size - 1;
  uint8_t *p = malloc(len ? len : 1);
  CHECK(p);
  memcpy(p, data + 1, len);
  switch (cfg & 3) {
  case 0:
    header(&request, p, len, (cfg >> 2) & 1);
    break;
  case 1:
    header(&response, p, len, 0);
    break;
  case 2:
    controls(p, len);
    break;
  default:
    sized(p, len, (cfg >> 2) & 1, maxes[(cfg >> 3) & 3]);
    break;
  }
  free(p);
  return 0;
}
