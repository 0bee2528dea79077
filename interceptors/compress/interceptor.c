/* The compress interceptor, the compress feature and the options shared
 * with the middleware (middleware/compress.c). */
#include <string.h>

#include "codec.h"
#include "ic_internal.h"
#include "irpc/compress.h"
#include "irpc/error.h"
#include "irpc/status.h"
#include "base/struct_size.h"

/* ---- The compress feature (defined in model/compression.c) ---- */

int irpc__compress_wanted(const irpc_features *f, int always) {
  int v = irpc_features_compress_value(f);
  if (v == IRPC_COMPRESS_YES)
    return 2;
  return v == IRPC_COMPRESS_DEFAULT && always ? 1 : 0;
}

/* ---- Options ---- */

void irpc_compress_options_init_sized(irpc_compress_options *o, size_t size) {
  irpc_compress_options d;
  memset(&d, 0, sizeof(d));
  d.formats[0] = IRPC_COMPRESSION_ZSTD;
  d.formats[1] = IRPC_COMPRESSION_BROTLI;
  d.zstd_level = 3;
  d.brotli_level = 1;
  d.deflate_level = 1;
  d.min_size = 1024;
  d.max_decompressed_size = (uint64_t)256 << 20;
  irpc__struct_export(o, size, &d, sizeof(d));
}

int irpc__compress_options_check(const irpc_compress_options *o) {
  if (!irpc__codec_level_ok(IRPC_COMPRESSION_ZSTD, o->zstd_level) ||
      !irpc__codec_level_ok(IRPC_COMPRESSION_BROTLI, o->brotli_level) ||
      !irpc__codec_level_ok(IRPC_COMPRESSION_DEFLATE, o->deflate_level) ||
      o->max_decompressed_size == 0)
    return IRPC_EINVAL;
  for (int i = 0; i < IRPC_COMPRESS_MAX_PREFERENCES && o->formats[i]; i++)
    if (!(irpc_compress_formats_readable() &
          IRPC_COMPRESSION_BIT(o->formats[i])))
      return IRPC_EINVAL;
  return 0;
}

/* ---- The interceptor ---- */

typedef struct cic {
  irpc_compress_options o;
} cic;

static int cic_init(irpc_invoker *self, const void *config) {
  cic *c = irpc_invoker_data(self);
  if (config)
    c->o = *(const irpc_compress_options *)config;
  else
    irpc_compress_options_init(&c->o);
  return irpc__compress_options_check(&c->o);
}

/* The accept field's value: the formats this build decompresses. */
static const uint8_t accept_list[] = {
    IRPC_COMPRESSION_ZSTD, IRPC_COMPRESSION_BROTLI, IRPC_COMPRESSION_DEFLATE};

static void cic_invoke(irpc_invoker *self, irpc_call *call) {
  cic *c = irpc_invoker_data(self);
  irpc_outgoing_request *req = irpc_call_request(call);
  irpc_fields *fields = irpc_outgoing_request_fields(req);
  int rc = 0;
  /* This call decompresses its response: say so (a value already there,
   * set by the application, is kept). */
  if (!irpc_fields_has(fields, IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT))
    rc = irpc_fields_set(fields, IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT,
                         accept_list, sizeof(accept_list));
  int want =
      irpc__compress_wanted(irpc_outgoing_request_features(req), c->o.always);
  if (rc == 0 && want &&
      (irpc_outgoing_request_has_writer(req, &irpc__compress_writer) ||
       !irpc_fields_has(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT)))
    rc = irpc__compress_use_on_request(req, &c->o, want == 2);
  if (rc) {
    irpc_call_complete(call, rc, NULL);
    return;
  }
  irpc_call_next(call);
}

static int cic_on_complete(irpc_invoker *self, irpc_call *call) {
  cic *c = irpc_invoker_data(self);
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  if (err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK)
    return 0;
  irpc_stream_reader *stream = irpc_incoming_response_continuation(resp);
  int rc = stream
               ? irpc__decompress_stream(irpc_incoming_response_fields(resp),
                                         stream, c->o.max_decompressed_size)
               : irpc__decompress_payload(irpc_incoming_response_fields(resp),
                                          irpc_incoming_response_payload(resp),
                                          c->o.max_decompressed_size);
  if (rc)
    irpc_call_set_result(call, rc, NULL);
  return 0;
}

static const irpc_invoker_ops cic_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "compress",
    .data_size = sizeof(cic),
    .init = cic_init,
    .invoke = cic_invoke,
    .on_complete = cic_on_complete,
};

int irpc_compress_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                  const irpc_compress_options *o) {
  irpc_compress_options c;
  if (o && IRPC__IMPORT(&c, o, irpc_compress_options) < 0)
    return IRPC_EINVAL;
  return irpc_invoker_new(out, loop, &cic_ops, o ? &c : NULL);
}
