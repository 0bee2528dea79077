/* Typed dispatch: one dispatcher type serves every generated interface.
 * It finds the operation in the interface's sorted table, applies what the
 * definition says (idempotent, compress(Return)), decodes the arguments
 * into an arena held in the dispatch's own state (no allocation for small
 * arguments) and calls the application's function, which completes the
 * dispatch now or later through irpc_slice_dispatch_reply or _fail. */
#include <stdio.h>

#include "base/struct_size.h"
#include "gen_internal.h"
#include "irpc/alloc.h"

int irpc__slice_iface_ok(const irpc_slice_iface *iface) {
  return (IRPC__STRUCT_SIZE(iface) == sizeof(*iface) ||
          IRPC__CHECK(iface, irpc_slice_iface) >= 0) &&
         iface->magic == IRPC_SLICE_IFACE_MAGIC;
}

int irpc__slice_op_ok(const irpc_slice_op *op) {
  return IRPC__STRUCT_SIZE(op) == sizeof(*op) ||
         IRPC__CHECK(op, irpc_slice_op) >= 0;
}

/* The interface and every operation it serves, checked once when it is
 * mapped. */
static int iface_serves(const irpc_slice_iface *iface) {
  if (!irpc__slice_iface_ok(iface))
    return 0;
  for (size_t i = 0; i < iface->nops; i++)
    if (!iface->ops[i].op || !irpc__slice_op_ok(iface->ops[i].op))
      return 0;
  return 1;
}

typedef struct svc {
  const irpc_slice_iface *iface;
  const void *ops;
  void *impl;
} svc;

struct irpc_slice_dispatch {
  irpc_dispatch *d;
  const irpc_slice_iface *iface;
  const irpc_slice_op *op;
  irpc_stream_writer *stream; /* the elements after the return value */
  /* A stream parameter: its consumer (not taken yet), the segment of the
   * other arguments, and what the call needs once that segment arrived. */
  irpc_slice_stream_reader *pstream;
  uint8_t *head;
  size_t head_len;
  const void *call_ops;
  void *impl;
  int in_init;
  irpc_slice_in in;
};

const irpc_slice_op_ref *irpc_slice_iface_find(const irpc_slice_iface *iface,
                                               const char *name) {
  if (!iface || !name)
    return NULL;
  size_t lo = 0, hi = iface->nops;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(name, iface->ops[mid].op->name);
    if (c == 0)
      return &iface->ops[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

/* ---- Completion ---- */

static void sd_release(irpc_slice_dispatch *sd) {
  if (sd->in_init) {
    irpc_slice_in_fini(&sd->in);
    sd->in_init = 0;
  }
  irpc_slice_stream_reader_free(sd->pstream);
  sd->pstream = NULL;
  irpc_free(sd->head);
  sd->head = NULL;
}

/* Completes with a status other than Ok. If memory runs out for the
 * message, InternalError without one is tried, as the framework's own
 * responses do. */
static int sd_fail(irpc_slice_dispatch *sd, uint64_t status,
                   const char *message) {
  irpc_dispatch *d = sd->d;
  if (sd->stream) { /* a stream that will not be sent still ends, once */
    irpc_stream_writer_abort(sd->stream);
    sd->stream = NULL;
  }
  sd_release(sd);
  int rc = irpc_dispatch_reply(d, status, message);
  if (rc == IRPC_ENOMEM)
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
  return rc;
}

int irpc_slice_dispatch_fail(irpc_slice_dispatch *sd, uint64_t status,
                             const char *message) {
  if (!sd || status == IRPC_STATUS_OK)
    return IRPC_EINVAL;
  if (status > IRPC_VARUINT62_MAX)
    return IRPC_EOVERFLOW;
  return sd_fail(sd, status, message);
}

int irpc_slice_dispatch_set_stream(irpc_slice_dispatch *sd,
                                   irpc_stream_writer *w) {
  if (!sd || !w || !irpc__slice_op_return_stream(sd->op))
    return IRPC_EINVAL;
  if (sd->stream)
    return IRPC_EBUSY;
  sd->stream = w;
  return 0;
}

int irpc_slice_dispatch_reply(irpc_slice_dispatch *sd, const void *ret) {
  if (!sd)
    return IRPC_EINVAL;
  const irpc_slice_op *op = sd->op;
  irpc_outgoing_response *resp;
  int rc = irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL);
  if (rc) {
    sd_fail(sd, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return rc;
  }
  const irpc_slice_stream_elem *elem = irpc__slice_op_return_stream(op);
  if (op->encode_return)
    rc = irpc__slice_gen_encode_payload(irpc_outgoing_response_payload(resp),
                                        irpc__slice_op_slice1(op),
                                        op->encode_return, ret);
  else if (elem) /* an empty struct: the elements follow a segment */
    rc = irpc__slice_gen_encode_payload(irpc_outgoing_response_payload(resp), 0,
                                        irpc__slice_encode_nothing, NULL);
  if (rc == 0 && elem && sd->stream)
    rc = irpc_outgoing_response_set_continuation(resp, sd->stream);
  if (rc) {
    irpc_outgoing_response_free(resp);
    char msg[160];
    snprintf(msg, sizeof msg,
             "The return value of '%s' could not be encoded: %s.", op->name,
             irpc_strerror(rc));
    sd_fail(sd, IRPC_STATUS_INTERNAL_ERROR, msg);
    return rc;
  }
  irpc_dispatch *d = sd->d;
  sd_release(sd); /* the arguments are no longer needed */
  irpc_dispatch_complete(d, resp);
  return 0;
}

static int declared(const irpc_slice_op *op,
                    const irpc_slice_exception_desc *d) {
  size_t n;
  const irpc_slice_exception_desc *const *list =
      irpc__slice_op_exceptions(op, &n);
  for (size_t i = 0; i < n; i++)
    if (irpc_slice_exception_is(d, list[i]))
      return 1;
  return 0;
}

int irpc_slice_dispatch_throw(irpc_slice_dispatch *sd,
                              const irpc_slice_exception_desc *d,
                              const void *value) {
  if (!sd || !d || !value || !d->type_id)
    return IRPC_EINVAL;
  const irpc_slice_op *op = sd->op;
  char msg[200];
  if (!irpc__slice_op_slice1(op) || !declared(op, d)) {
    snprintf(msg, sizeof msg,
             "The dispatch of '%s' threw %s, which the operation does not "
             "declare.",
             op->name, d->type_id);
    sd_fail(sd, IRPC_STATUS_INTERNAL_ERROR, msg);
    return IRPC_ENOTSUP;
  }
  snprintf(msg, sizeof msg, "The dispatch of '%s' threw %s.", op->name,
           d->type_id);
  irpc_outgoing_response *resp;
  int rc =
      irpc_outgoing_response_new(&resp, IRPC_STATUS_APPLICATION_ERROR, msg);
  if (rc) {
    sd_fail(sd, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return rc;
  }
  irpc_slice_encoder e;
  irpc_slice_encoder_init(&e, irpc_outgoing_response_payload(resp),
                          IRPC_SLICE_ENCODING_1_1);
  rc = irpc_slice_encode_exception(&e, d, value);
  int frc = irpc_slice_encoder_flush(&e);
  if (rc == 0)
    rc = frc;
  if (rc) {
    irpc_outgoing_response_free(resp);
    snprintf(msg, sizeof msg,
             "The exception %s of '%s' could not be encoded: %s.", d->type_id,
             op->name, irpc_strerror(rc));
    sd_fail(sd, IRPC_STATUS_INTERNAL_ERROR, msg);
    return rc;
  }
  irpc_dispatch *dd = sd->d;
  sd_release(sd);
  irpc_dispatch_complete(dd, resp);
  return 0;
}

/* ---- Accessors ---- */

const irpc_slice_iface *
irpc__slice_dispatch_iface(const irpc_slice_dispatch *sd) {
  return sd->iface;
}

irpc_incoming_request *
irpc_slice_dispatch_request(const irpc_slice_dispatch *sd) {
  return sd ? irpc_dispatch_request(sd->d) : NULL;
}

const irpc_slice_op *irpc_slice_dispatch_op(const irpc_slice_dispatch *sd) {
  return sd ? sd->op : NULL;
}

irpc_dispatch *irpc_slice_dispatch_raw(const irpc_slice_dispatch *sd) {
  return sd ? sd->d : NULL;
}

irpc_connection *irpc_slice_dispatch_connection(const irpc_slice_dispatch *sd) {
  return sd ? irpc_incoming_request_connection(irpc_dispatch_request(sd->d))
            : NULL;
}

irpc_invoker *irpc_slice_dispatch_invoker(const irpc_slice_dispatch *sd) {
  return sd ? irpc_incoming_request_invoker(irpc_dispatch_request(sd->d))
            : NULL;
}

/* ---- The dispatcher ---- */

/* Decodes the arguments into sd's arena; *args is NULL for none. */
static int decode_args(irpc_slice_dispatch *sd, irpc_incoming_request *req,
                       void **args) {
  const irpc_slice_op *op = sd->op;
  int rc = sd->head
               ? irpc_slice_in_init_bytes_enc(&sd->in, sd->head, sd->head_len,
                                              IRPC_SLICE_ENCODING_2)
               : irpc_slice_in_init_buf_enc(
                     &sd->in, irpc_incoming_request_payload(req),
                     irpc__slice_op_slice1(op) ? IRPC_SLICE_ENCODING_1_1
                                               : IRPC_SLICE_ENCODING_2);
  sd->in_init = 1;
  if (rc == 0)
    rc = irpc__slice_in_apply_limits(&sd->in,
                                     irpc_incoming_request_features(req));
  sd->in.proxy_invoker = irpc_incoming_request_invoker(req);
  sd->in.proxy_conn = irpc_incoming_request_connection(req);
  *args = NULL;
  if (rc == 0 && op->decode_args) {
    /* A fixed size from the descriptor: not charged. Zeroed: an absent
     * optional argument shows nothing of an earlier dispatch. */
    *args = irpc_arena_alloc(&sd->in.arena, op->args_size);
    if (!*args)
      return IRPC_ENOMEM;
    memset(*args, 0, op->args_size);
  }
  if (rc == 0)
    rc = irpc__slice_gen_decode_payload(&sd->in, irpc__slice_op_slice1(op),
                                        op->decode_args, *args);
  return rc;
}

/* Decodes the arguments and calls the operation (`err`: the arguments
 * could not be read). */
static void run_op(irpc_slice_dispatch *sd, int err) {
  const irpc_slice_op *op = sd->op;
  irpc_incoming_request *req = irpc_dispatch_request(sd->d);
  char msg[200];
  void *args = NULL;
  int rc = err ? err : decode_args(sd, req, &args);
  if (rc) {
    snprintf(msg, sizeof msg, "The arguments of '%s' could not be decoded: %s.",
             op->name, irpc_strerror(rc));
    sd_fail(sd,
            rc == IRPC_ENOMEM ? IRPC_STATUS_INTERNAL_ERROR
                              : IRPC_STATUS_INVALID_DATA,
            msg);
    return;
  }
  if (op->call(sd->call_ops, sd->impl, sd, args) == IRPC_ENOTSUP) {
    snprintf(msg, sizeof msg, "The service at '%s' does not implement '%s'.",
             irpc_incoming_request_path(req), op->name);
    sd_fail(sd, IRPC_STATUS_NOT_IMPLEMENTED, msg);
  }
}

/* The segment of the arguments before a stream parameter arrived (or the
 * stream failed before it). */
static void on_args_head(void *ud, int err, uint8_t *seg, size_t len) {
  irpc_slice_dispatch *sd = ud;
  sd->head = seg;
  sd->head_len = len;
  if (err) {
    irpc_slice_stream_reader_free(sd->pstream);
    sd->pstream = NULL;
  }
  run_op(sd, err);
}

int irpc_slice_dispatch_take_stream(irpc_slice_dispatch *sd,
                                    const irpc_slice_stream_handler *h,
                                    void *user_data,
                                    irpc_slice_stream_reader **out) {
  if (!sd || !h || !out || !irpc__slice_op_param_stream(sd->op))
    return IRPC_EINVAL;
  if (!sd->pstream)
    return IRPC_ENOTFOUND;
  /* attach runs no callback: what arrived comes on a later loop turn */
  int rc = irpc__slice_stream_reader_attach(sd->pstream, h, user_data);
  if (rc)
    return rc;
  *out = sd->pstream;
  sd->pstream = NULL;
  return 0;
}

int irpc_slice_stream_request(void *user_data, const char *path,
                              const char *operation) {
  (void)path;
  const irpc_slice_iface *const *ifaces = user_data;
  for (size_t i = 0; ifaces && ifaces[i]; i++) {
    const irpc_slice_op_ref *ref = irpc_slice_iface_find(ifaces[i], operation);
    if (ref && irpc__slice_op_param_stream(ref->op))
      return IRPC_STREAM_REQUEST_STREAM;
    if (ref && !irpc__slice_op_slice1(ref->op))
      return IRPC_STREAM_REQUEST_SEGMENT; /* its arguments' segment */
  }
  return IRPC_STREAM_REQUEST_WHOLE;
}

static void svc_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  const svc *s = irpc_dispatcher_data(self);
  irpc_slice_dispatch *sd = irpc_dispatch_state(d);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const char *name = irpc_incoming_request_operation(req);
  char msg[200];
  sd->d = d;
  sd->iface = s->iface;
  sd->stream = NULL;
  sd->pstream = NULL;
  sd->head = NULL;
  const irpc_slice_op_ref *ref = irpc_slice_iface_find(s->iface, name);
  sd->op = ref ? ref->op : NULL;
  size_t ops_offset = ref ? ref->ops_offset : 0;
  /* A Slice1 interface is an ::Ice::Object too. */
  if (!sd->op && irpc__slice_iface_slice1(s->iface))
    sd->op = irpc__slice_ice_object_op(name);
  if (!sd->op) {
    snprintf(msg, sizeof msg, "The service at '%s' (%s) has no operation '%s'.",
             irpc_incoming_request_path(req), s->iface->type_id, name);
    sd_fail(sd, IRPC_STATUS_NOT_IMPLEMENTED, msg);
    return;
  }
  const irpc_slice_op *op = sd->op;
  if (!(op->flags & IRPC_SLICE_OP_IDEMPOTENT) &&
      irpc_fields_has(irpc_incoming_request_fields(req),
                      IRPC_REQUEST_FIELD_IDEMPOTENT)) {
    snprintf(msg, sizeof msg,
             "The request for '%s' is marked idempotent, but the operation "
             "is not idempotent.",
             op->name);
    sd_fail(sd, IRPC_STATUS_INVALID_DATA, msg);
    return;
  }
  if ((op->flags & IRPC_SLICE_OP_COMPRESS_RETURN) &&
      irpc_features_set_compress(irpc_incoming_request_features(req), 1)) {
    sd_fail(sd, IRPC_STATUS_INTERNAL_ERROR, irpc_strerror(IRPC_ENOMEM));
    return;
  }
  sd->call_ops = (const char *)s->ops + ops_offset;
  sd->impl = s->impl;
  const irpc_slice_stream_elem *elem = irpc__slice_op_param_stream(op);
  if (!elem) {
    run_op(sd, 0);
    return;
  }
  /* The arguments, then the elements, come through the request's reader. */
  irpc_stream_reader *r = irpc_incoming_request_take_continuation(req);
  if (!r) {
    snprintf(msg, sizeof msg,
             "The request for '%s' was not read as a stream (see "
             "irpc_slice_stream_request).",
             op->name);
    sd_fail(sd, IRPC_STATUS_INTERNAL_ERROR, msg);
    return;
  }
  int rc =
      irpc__slice_stream_reader_head(&sd->pstream, r, elem, on_args_head, sd);
  if (rc) {
    irpc_stream_reader_free(r);
    sd_fail(sd, IRPC_STATUS_INTERNAL_ERROR, irpc_strerror(rc));
  }
}

static int svc_init(irpc_dispatcher *self, const void *config) {
  *(svc *)irpc_dispatcher_data(self) = *(const svc *)config;
  return 0;
}

static const irpc_dispatcher_ops svc_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "slice",
    .data_size = sizeof(svc),
    .dispatch_state_size = sizeof(irpc_slice_dispatch),
    .init = svc_init,
    .dispatch = svc_dispatch,
};

int irpc_slice_dispatcher_new(irpc_dispatcher **out, uv_loop_t *loop,
                              const irpc_slice_iface *iface, const void *ops,
                              void *impl) {
  if (!out || !loop || !iface || !ops || !iface_serves(iface))
    return IRPC_EINVAL;
  svc s = {.iface = iface, .ops = ops, .impl = impl};
  return irpc_dispatcher_new(out, loop, &svc_ops, &s);
}

int irpc_slice_map(irpc_router *r, const char *path,
                   const irpc_slice_iface *iface, const void *ops, void *impl,
                   irpc_dispatcher **out) {
  if (!r || !iface || !out)
    return IRPC_EINVAL;
  irpc_dispatcher *d;
  int rc = irpc_slice_dispatcher_new(
      &d, irpc_dispatcher_loop(irpc_router_dispatcher(r)), iface, ops, impl);
  if (rc)
    return rc;
  rc = irpc_router_map(r, path ? path : iface->default_path, d);
  if (rc) {
    irpc_dispatcher_free(d);
    return rc;
  }
  *out = d;
  return 0;
}
