/* Compression negotiation, the terminals' side (model/compression.h):
 * which formats this build reads, what a peer's Settings say it reads,
 * what a caller accepts in its response, and the screening of payloads
 * compressed in a format the receiving chain does not decompress. The
 * codecs are in interceptors/compress/. */
#include <stdio.h>

#include "compression.h"
#include "irpc/compress.h"
#include "irpc/error.h"
#include "irpc/status.h"

uint64_t irpc_compress_formats_readable(void) {
  return IRPC__COMPRESSION_FORMATS_BUILT;
}

static const char *format_name(unsigned f) {
  switch (f) {
  case IRPC_COMPRESSION_ZSTD:
    return "zstd";
  case IRPC_COMPRESSION_BROTLI:
    return "brotli";
  case IRPC_COMPRESSION_DEFLATE:
    return "deflate";
  default:
    return NULL;
  }
}

/* "zstd", or "format 7" for one this build does not know. */
static void format_text(unsigned f, char *out, size_t size) {
  const char *name = format_name(f);
  if (name)
    snprintf(out, size, "%s", name);
  else
    snprintf(out, size, "format %u", f);
}

uint64_t irpc__compress_peer_formats(int announced, uint64_t value) {
  if (!announced)
    return IRPC_COMPRESSION_UNANNOUNCED | IRPC_COMPRESSION_FORMATS_ICERPC;
  return value & ~IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_NONE);
}

uint64_t irpc__compress_accepted(const irpc_fields *request_fields) {
  irpc_bytes v;
  if (irpc_fields_get(request_fields, IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT,
                      &v))
    return 0;
  uint64_t mask = 0;
  for (size_t i = 0; i < v.len; i++)
    mask |= irpc__compress_format_bit(v.base[i]);
  return mask & ~IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_NONE);
}

/* The format of a compressed payload's field: 1 and *format when one is
 * set, 0 when none (or NotCompressed), -1 when the field is not one byte. */
static int field_format(const irpc_fields *fields, unsigned *format) {
  irpc_bytes v;
  if (irpc_fields_get(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v))
    return 0;
  if (v.len != 1)
    return -1;
  *format = v.base[0];
  return *format != IRPC_COMPRESSION_NONE;
}

uint64_t irpc__compress_screen_request(const irpc_fields *request_fields,
                                       uint64_t reads, char *msg, size_t size) {
  unsigned f = 0;
  int r = field_format(request_fields, &f);
  if (r < 0) {
    snprintf(msg, size,
             "The request's compression format field is not one byte.");
    return IRPC_STATUS_INVALID_DATA;
  }
  if (r == 0 || (reads & irpc__compress_format_bit(f)))
    return 0;
  char name[16];
  format_text(f, name, sizeof(name));
  snprintf(msg, size,
           "The request payload is compressed with %s, but no compress "
           "middleware of this dispatcher chain decompresses it.",
           name);
  return IRPC_STATUS_NOT_SUPPORTED;
}

int irpc__compress_screen_response(const irpc_fields *request_fields,
                                   irpc_incoming_response **resp) {
  unsigned f = 0;
  int r = field_format(irpc_incoming_response_fields(*resp), &f);
  if (r == 0)
    return 0;
  int ok = irpc_incoming_response_status(*resp) == IRPC_STATUS_OK;
  if (r > 0 && ok &&
      (irpc__compress_accepted(request_fields) & irpc__compress_format_bit(f)))
    return 0; /* the interceptor of this call decompresses it */
  char name[16], msg[200];
  format_text(f, name, sizeof(name));
  if (r < 0)
    snprintf(msg, sizeof(msg),
             "The response's compression format field is not one byte.");
  else if (!ok)
    snprintf(msg, sizeof(msg),
             "The response payload is compressed with %s, but its status is "
             "not Ok: nothing decompresses it.",
             name);
  else
    snprintf(msg, sizeof(msg),
             "The response payload is compressed with %s, but this call has "
             "no compress interceptor that decompresses it.",
             name);
  irpc_incoming_response_free(*resp);
  *resp = NULL;
  return irpc_incoming_response_new(
      resp, r < 0 ? IRPC_STATUS_INVALID_DATA : IRPC_STATUS_NOT_SUPPORTED, msg);
}

/* ---- The compress feature (irpc/compress.h) ----
 * Here, not with the interceptor, because the ice protocol reads it: an
 * ice request or reply is sent bzip2-compressed when it says so. */

const int irpc_compress_yes = 1;
const int irpc_compress_no = 0;
const irpc_feature_key irpc_compress_feature = {.name = "compress",
                                                .destroy = NULL};

int irpc_features_set_compress(irpc_features *f, int compress) {
  if (!f)
    return IRPC_EINVAL;
  const int *v = compress == IRPC_COMPRESS_DEFAULT ? NULL
                 : compress                        ? &irpc_compress_yes
                                                   : &irpc_compress_no;
  /* The values are never written through: the key owns nothing. */
  return irpc_features_set(f, &irpc_compress_feature, (void *)(uintptr_t)v);
}

int irpc_features_compress_value(const irpc_features *f) {
  const int *v = f ? irpc_features_get(f, &irpc_compress_feature) : NULL;
  if (!v)
    return IRPC_COMPRESS_DEFAULT;
  return *v ? IRPC_COMPRESS_YES : IRPC_COMPRESS_NO;
}

int irpc_features_compress(const irpc_features *f) {
  return irpc_features_compress_value(f) == IRPC_COMPRESS_YES;
}
