/* The compress middleware: decompresses requests, compresses responses
 * (see irpc/compress.h). */
#include <stdio.h>

#include "chain/chain.h"
#include "model/compression.h"
#include "ic_internal.h"
#include "irpc/compress.h"
#include "irpc/error.h"
#include "irpc/status.h"
#include "base/struct_size.h"

typedef struct cmw {
  irpc_compress_options o;
} cmw;

static int cmw_init(irpc_dispatcher *self, const void *config) {
  cmw *c = irpc_dispatcher_data(self);
  if (config)
    c->o = *(const irpc_compress_options *)config;
  else
    irpc_compress_options_init(&c->o);
  /* Every request that reaches it is decompressed: the connection
   * announces these formats (irpc_compress_formats_decompressed_by). */
  irpc__dispatcher_set_decompresses(self, irpc_compress_formats_readable());
  return irpc__compress_options_check(&c->o);
}

static void cmw_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  cmw *c = irpc_dispatcher_data(self);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_stream_reader *stream = irpc_incoming_request_continuation(req);
  int rc = stream ? irpc__decompress_stream(irpc_incoming_request_fields(req),
                                            stream, c->o.max_decompressed_size)
                  : irpc__decompress_payload(irpc_incoming_request_fields(req),
                                             irpc_incoming_request_payload(req),
                                             c->o.max_decompressed_size);
  if (rc == 0) {
    irpc_dispatch_next(d);
    return;
  }
  char msg[160];
  uint64_t status = IRPC_STATUS_INVALID_DATA;
  if (rc == IRPC_ENOTSUP) {
    /* A format this build does not read: the dispatcher must not see it. */
    status = irpc__compress_screen_request(irpc_incoming_request_fields(req),
                                           irpc_compress_formats_readable(),
                                           msg, sizeof(msg));
  } else if (rc == IRPC_ELIMIT) {
    snprintf(msg, sizeof(msg),
             "The decompressed request payload exceeds %llu bytes.",
             (unsigned long long)c->o.max_decompressed_size);
  } else {
    snprintf(msg, sizeof(msg), "Cannot decompress the request payload: %s.",
             irpc_strerror(rc));
    if (rc == IRPC_ENOMEM)
      status = IRPC_STATUS_INTERNAL_ERROR;
  }
  irpc__dispatch_reply_or_abort(d, status, msg);
}

static int cmw_on_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  cmw *c = irpc_dispatcher_data(self);
  irpc_outgoing_response *resp = irpc_dispatch_response(d);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  if (!resp || irpc_outgoing_response_status(resp) != IRPC_STATUS_OK ||
      irpc_fields_has(irpc_outgoing_response_fields(resp),
                      IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT))
    return 0;
  int want =
      irpc__compress_wanted(irpc_incoming_request_features(req), c->o.always);
  if (want)
    irpc__compress_use_on_response_for(
        resp, &c->o, want == 2,
        irpc__compress_accepted(irpc_incoming_request_fields(req)));
  return 0; /* on error: sent uncompressed */
}

static const irpc_dispatcher_ops cmw_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "compress",
    .data_size = sizeof(cmw),
    .init = cmw_init,
    .dispatch = cmw_dispatch,
    .on_complete = cmw_on_complete,
};

int irpc_compress_middleware_new(irpc_dispatcher **out, uv_loop_t *loop,
                                 const irpc_compress_options *o) {
  irpc_compress_options c;
  if (o && IRPC__IMPORT(&c, o, irpc_compress_options) < 0)
    return IRPC_EINVAL;
  return irpc_dispatcher_new(out, loop, &cmw_ops, o ? &c : NULL);
}
