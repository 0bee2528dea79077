/* The icerpc protocol's control frames and headers (IceRPC's
 * IceRpcDefinitions.slice): encoders into buffer chains, decoders over
 * contiguous bytes that check every size against what is left. */
#include <string.h>

#include "icerpc.h"
#include "irpc/alloc.h"
#include "irpc/compression.h"
#include "irpc/status.h"
#include "base/utf8.h"
#include "base/varuint62.h"

/* A failed read of a control frame or header is a protocol error. */
static int read_err(const irpc__vu_reader *r) {
  return r->bad ? IRPC_EPROTO : 0;
}

/* ---- Writer into a small contiguous scratch, then the chain ---- */

static int put_var(irpc_buf *out, uint64_t v) {
  uint8_t b[8];
  size_t n = irpc__varuint62_size(v);
  irpc__varuint62_put(b, v, n);
  return irpc_buf_append(out, b, n);
}

static int put_string(irpc_buf *out, const char *s) {
  size_t n = strlen(s);
  int rc = put_var(out, n);
  return rc ? rc : irpc_buf_append(out, s, n);
}

static int put_fields(irpc_buf *out, const irpc_fields *f) {
  size_t n = f ? irpc_fields_count(f) : 0;
  int rc = put_var(out, n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    uint64_t key;
    irpc_bytes v;
    irpc_fields_at(f, i, &key, &v);
    rc = put_var(out, key);
    if (rc == 0)
      rc = put_var(out, v.len);
    if (rc == 0 && v.len)
      rc = irpc_buf_append(out, v.base, v.len);
  }
  return rc;
}

/* Writes the `width`-byte size placeholder at `start` once the body is in:
 * the body starts right after it. */
static int patch_size(irpc_buf *out, size_t start, size_t width, uint64_t max) {
  size_t body = irpc_buf_len(out) - start - width;
  if (body > max || irpc__varuint62_size(body) > width)
    return IRPC_ELIMIT;
  uint8_t b[8];
  irpc__varuint62_put(b, body, width);
  /* The placeholder sits in the chain; rewrite it in place. */
  for (size_t i = 0, off = 0; i < irpc_buf_segment_count(out); i++) {
    irpc_bytes seg = irpc_buf_segment(out, i);
    if (start < off + seg.len) {
      size_t at = start - off;
      for (size_t k = 0; k < width; k++) {
        while (at >= seg.len) {
          off += seg.len;
          seg = irpc_buf_segment(out, ++i);
          at = 0;
        }
        ((uint8_t *)seg.base)[at++] = b[k];
      }
      return 0;
    }
    off += seg.len;
  }
  return IRPC_EINVAL;
}

static int begin_sized(irpc_buf *out, size_t width, size_t *start) {
  static const uint8_t zeros[8];
  *start = irpc_buf_len(out);
  return irpc_buf_append(out, zeros, width);
}

/* ---- Control frames ---- */

int irpc__icerpc_settings_encode(irpc_buf *out, uint64_t max_header_size,
                                 uint64_t formats) {
  size_t start;
  uint64_t n =
      (max_header_size != IRPC__ICERPC_DEFAULT_MAX_HEADER) + (formats != 0);
  int rc = irpc_buf_append(out, "\0", 1);
  if (rc == 0)
    rc = begin_sized(out, 2, &start);
  if (rc == 0)
    rc = put_var(out, n);
  if (rc == 0 && max_header_size != IRPC__ICERPC_DEFAULT_MAX_HEADER) {
    rc = put_var(out, IRPC__ICERPC_SETTING_MAX_HEADER_SIZE);
    if (rc == 0)
      rc = put_var(out, max_header_size);
  }
  if (rc == 0 && formats) {
    rc = put_var(out, IRPC_SETTING_COMPRESSION_FORMATS);
    if (rc == 0)
      rc = put_var(out, formats);
  }
  return rc ? rc : patch_size(out, start, 2, IRPC__ICERPC_MAX_SETTINGS_BODY);
}

int irpc__icerpc_goaway_encode(irpc_buf *out, uint64_t bidi, uint64_t uni) {
  size_t start;
  int rc = irpc_buf_append(out, "\1", 1);
  if (rc == 0)
    rc = begin_sized(out, 2, &start);
  if (rc == 0)
    rc = put_var(out, bidi);
  if (rc == 0)
    rc = put_var(out, uni);
  return rc ? rc : patch_size(out, start, 2, IRPC__ICERPC_MAX_GOAWAY_BODY);
}

static int settings_decode(irpc__vu_reader *r, irpc__icerpc_settings *s) {
  s->max_header_size = IRPC__ICERPC_DEFAULT_MAX_HEADER;
  s->compression_formats = 0;
  s->has_compression_formats = 0;
  uint64_t n = irpc__vu_read(r);
  if (!r->bad && n > r->left / 2)
    return IRPC_EPROTO;
  for (uint64_t i = 0; i < n && !r->bad; i++) {
    uint64_t key = irpc__vu_read(r);
    uint64_t value = irpc__vu_read(r);
    if (key == IRPC__ICERPC_SETTING_MAX_HEADER_SIZE) {
      if (value < IRPC__ICERPC_MIN_HEADER || value > IRPC__ICERPC_MAX_HEADER)
        return IRPC_EPROTO;
      s->max_header_size = value;
    } else if (key == IRPC_SETTING_COMPRESSION_FORMATS) {
      s->compression_formats = value;
      s->has_compression_formats = 1;
    } /* other keys are ignored */
  }
  return read_err(r);
}

long irpc__icerpc_control_decode(const uint8_t *p, size_t len, int *type,
                                 irpc__icerpc_settings *settings,
                                 uint64_t goaway[2]) {
  if (len < 2)
    return 0;
  uint64_t size;
  size_t n = irpc__varuint62_get(p + 1, len - 1, &size);
  if (n == 0)
    return 0;
  if (p[0] > IRPC__ICERPC_GOAWAY)
    return IRPC_EPROTO;
  uint64_t max = p[0] == IRPC__ICERPC_SETTINGS ? IRPC__ICERPC_MAX_SETTINGS_BODY
                                               : IRPC__ICERPC_MAX_GOAWAY_BODY;
  if (size > max)
    return IRPC_EPROTO;
  if (len - 1 - n < size)
    return 0;
  irpc__vu_reader r = {p + 1 + n, (size_t)size, 0};
  *type = p[0];
  int rc;
  if (p[0] == IRPC__ICERPC_SETTINGS) {
    rc = settings_decode(&r, settings);
  } else {
    goaway[0] = irpc__vu_read(&r);
    goaway[1] = irpc__vu_read(&r);
    rc = read_err(&r);
  }
  if (rc == 0 && r.left)
    rc = IRPC_EPROTO;
  return rc ? rc : (long)(1 + n + size);
}

/* ---- Headers ---- */

int irpc__icerpc_request_header_encode(irpc_buf *out, size_t size_width,
                                       uint64_t max_header, const char *path,
                                       const char *operation,
                                       const irpc_fields *fields) {
  size_t start;
  int rc = begin_sized(out, size_width, &start);
  if (rc == 0)
    rc = put_string(out, path);
  if (rc == 0)
    rc = put_string(out, operation);
  if (rc == 0)
    rc = put_fields(out, fields);
  return rc ? rc : patch_size(out, start, size_width, max_header);
}

int irpc__icerpc_response_header_encode(irpc_buf *out, size_t size_width,
                                        uint64_t max_header, uint64_t status,
                                        const char *message,
                                        const irpc_fields *fields) {
  size_t start;
  int rc = begin_sized(out, size_width, &start);
  if (rc == 0)
    rc = put_var(out, status);
  if (rc == 0 && status != IRPC_STATUS_OK)
    rc = put_string(out, message ? message : "");
  if (rc == 0)
    rc = put_fields(out, fields);
  return rc ? rc : patch_size(out, start, size_width, max_header);
}

long irpc__icerpc_header_size(const uint8_t *p, size_t len, uint64_t max,
                              uint64_t *size) {
  size_t n = irpc__varuint62_get(p, len, size);
  if (n == 0)
    return 0;
  if (*size == 0)
    return IRPC_EPROTO;
  if (*size > max)
    return IRPC_ELIMIT;
  return (long)n;
}

static int fields_decode(irpc__vu_reader *r, irpc_fields *f) {
  uint64_t n = irpc__vu_read(r);
  if (!r->bad && n > r->left / 2)
    return IRPC_EPROTO;
  for (uint64_t i = 0; i < n && !r->bad; i++) {
    uint64_t key = irpc__vu_read(r);
    size_t len = 0;
    const uint8_t *v = irpc__vu_read_bytes(r, &len);
    if (r->bad)
      break;
    if (irpc_fields_has(f, key))
      return IRPC_EPROTO;
    int rc = irpc_fields_set(f, key, v, len);
    if (rc)
      return rc == IRPC_ENOMEM ? rc : IRPC_EPROTO;
  }
  return read_err(r);
}

/* A NUL-terminated copy of (s, n) in `small` or on the heap. */
static char *cstr(const uint8_t *s, size_t n, char *small, size_t cap) {
  char *c = n < cap ? small : irpc_malloc(n + 1);
  if (c) {
    memcpy(c, s, n);
    c[n] = 0;
  }
  return c;
}

static void cstr_free(char *c, char *small) {
  if (c != small)
    irpc_free(c);
}

static int has_nul(const uint8_t *s, size_t n) {
  return n && memchr(s, 0, n) != NULL;
}

int irpc__icerpc_request_header_decode(const uint8_t *p, size_t len, int oneway,
                                       irpc_incoming_request **out) {
  irpc__vu_reader r = {p, len, 0};
  size_t plen = 0, olen = 0;
  const uint8_t *path = irpc__vu_read_bytes(&r, &plen);
  const uint8_t *op = irpc__vu_read_bytes(&r, &olen);
  if (r.bad || has_nul(path, plen) || has_nul(op, olen) ||
      !irpc__utf8_valid(op, olen))
    return IRPC_EPROTO;
  char sp[256], so[128];
  char *cp = cstr(path, plen, sp, sizeof sp);
  char *co = cstr(op, olen, so, sizeof so);
  int rc =
      cp && co ? irpc_incoming_request_new(out, cp, co, oneway) : IRPC_ENOMEM;
  cstr_free(cp, sp);
  cstr_free(co, so);
  if (rc)
    return rc == IRPC_EINVAL ? IRPC_EPROTO : rc;
  rc = fields_decode(&r, irpc_incoming_request_fields(*out));
  if (rc == 0 && r.left)
    rc = IRPC_EPROTO;
  if (rc) {
    irpc_incoming_request_free(*out);
    *out = NULL;
  }
  return rc;
}

int irpc__icerpc_response_header_decode(const uint8_t *p, size_t len,
                                        irpc_incoming_response **out) {
  irpc__vu_reader r = {p, len, 0};
  uint64_t status = irpc__vu_read(&r);
  size_t mlen = 0;
  const uint8_t *msg = NULL;
  if (!r.bad && status != IRPC_STATUS_OK)
    msg = irpc__vu_read_bytes(&r, &mlen);
  if (r.bad || has_nul(msg, mlen) || (msg && !irpc__utf8_valid(msg, mlen)))
    return IRPC_EPROTO;
  char sm[256];
  char *cm = msg ? cstr(msg, mlen, sm, sizeof sm) : NULL;
  if (msg && !cm)
    return IRPC_ENOMEM;
  int rc = irpc_incoming_response_new(out, status, cm);
  if (cm)
    cstr_free(cm, sm);
  if (rc)
    return rc == IRPC_ENOMEM ? rc : IRPC_EPROTO;
  rc = fields_decode(&r, irpc_incoming_response_fields(*out));
  if (rc == 0 && r.left)
    rc = IRPC_EPROTO;
  if (rc) {
    irpc_incoming_response_free(*out);
    *out = NULL;
  }
  return rc;
}
