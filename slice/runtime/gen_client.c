/* Typed calls: the one function every generated proxy operation calls.
 * It builds the request as the operation's definition says, encodes the
 * arguments straight into the payload, and maps the completion (library
 * error, status, undecodable payload, or the decoded return value) to the
 * typed callback. Reply objects are recycled per thread, so a steady flow
 * of calls allocates nothing beyond what the request itself needs. */
#include <stdio.h>
#include <string.h>

#include "base/struct_size.h"
#include "gen_internal.h"
#include "irpc/address.h"
#include "irpc/alloc.h"
#include "irpc/connection_cache.h"

struct irpc_slice_reply {
  irpc_slice_reply *pool_next;
  const irpc_slice_iface *iface;
  const irpc_slice_op *op;
  irpc_outgoing_request *req;
  irpc_incoming_response *resp;
  irpc_service_address *target; /* a proxy's absolute address, parsed */
  irpc_invoker *invoker; /* the proxy's, for proxies in the return value */
  irpc_connection *conn;
  void (*cb)(void);
  void *user_data;
  int kept;
  int delivering; /* the callback is running */
  int in_init;
  uint64_t status;
  const irpc_slice_exception_desc *exc_desc; /* a user exception decoded */
  const void *exc;
  irpc_str exc_id;
  char exc_id_copy[128]; /* NUL-terminated, for _exception_id */
  irpc_slice_in in;
  irpc_slice_stream_reader *stream; /* a streamed return's, not taken yet */
  uint8_t *head; /* the return value's segment before the stream */
  size_t head_len;
  char msg[200];
};

/* ---- The per-thread pool of replies ---- */

#define REPLY_POOL_MAX 16

static _Thread_local irpc_slice_reply *reply_pool;
static _Thread_local int reply_pool_len;

static irpc_slice_reply *reply_get(void) {
  irpc_slice_reply *r = reply_pool;
  if (r) {
    reply_pool = r->pool_next;
    reply_pool_len--;
  } else {
    r = irpc_malloc(sizeof(*r));
    if (!r)
      return NULL;
  }
  r->pool_next = NULL;
  r->req = NULL;
  r->resp = NULL;
  r->target = NULL;
  r->kept = 0;
  r->delivering = 0;
  r->in_init = 0;
  r->status = IRPC_STATUS_OK;
  r->exc_desc = NULL;
  r->exc = NULL;
  r->exc_id = (irpc_str){"", 0};
  r->exc_id_copy[0] = 0;
  r->stream = NULL;
  r->head = NULL;
  r->msg[0] = 0;
  return r;
}

static void reply_put(irpc_slice_reply *r) {
  if (r->in_init)
    irpc_slice_in_fini(&r->in);
  irpc_slice_stream_reader_free(r->stream);
  irpc_free(r->head);
  irpc_incoming_response_free(r->resp);
  irpc_outgoing_request_free(r->req);
  irpc_service_address_free(r->target); /* after the request borrowing it */
  if (reply_pool_len >= REPLY_POOL_MAX) {
    irpc_free(r);
    return;
  }
  r->pool_next = reply_pool;
  reply_pool = r;
  reply_pool_len++;
}

/* ---- Accessors ---- */

uint64_t irpc_slice_reply_status(const irpc_slice_reply *r) {
  return r ? r->status : IRPC_STATUS_OK;
}

const char *irpc_slice_reply_message(const irpc_slice_reply *r) {
  return r ? r->msg : "";
}

irpc_incoming_response *irpc_slice_reply_response(const irpc_slice_reply *r) {
  return r ? r->resp : NULL;
}

const void *irpc_slice_reply_exception(const irpc_slice_reply *r,
                                       const irpc_slice_exception_desc **desc) {
  if (desc)
    *desc = r ? r->exc_desc : NULL;
  return r ? r->exc : NULL;
}

const char *irpc_slice_reply_exception_id(const irpc_slice_reply *r) {
  return r ? r->exc_id_copy : "";
}

void irpc_slice_reply_keep(irpc_slice_reply *r) {
  if (r)
    r->kept = 1;
}

void irpc_slice_reply_free(irpc_slice_reply *r) {
  if (!r)
    return;
  if (r->delivering) { /* from its own callback: freed when it returns */
    r->kept = 0;
    return;
  }
  if (r->kept)
    reply_put(r);
}

/* ---- Encoding and decoding operation payloads ---- */

int irpc__slice_op_slice1(const irpc_slice_op *op) {
  return IRPC__HAS(op, irpc_slice_op, encoding) &&
         op->encoding == IRPC_SLICE_ENCODING_1_1;
}

const irpc_slice_stream_elem *
irpc__slice_op_param_stream(const irpc_slice_op *op) {
  if (!IRPC__HAS(op, irpc_slice_op, param_stream) || irpc__slice_op_slice1(op))
    return NULL;
  return op->param_stream;
}

const irpc_slice_stream_elem *
irpc__slice_op_return_stream(const irpc_slice_op *op) {
  if (!IRPC__HAS(op, irpc_slice_op, return_stream) || irpc__slice_op_slice1(op))
    return NULL;
  return op->return_stream;
}

int irpc__slice_iface_slice1(const irpc_slice_iface *iface) {
  return IRPC__HAS(iface, irpc_slice_iface, encoding) &&
         iface->encoding == IRPC_SLICE_ENCODING_1_1;
}

const irpc_slice_exception_desc *const *
irpc__slice_op_exceptions(const irpc_slice_op *op, size_t *n) {
  if (!IRPC__HAS(op, irpc_slice_op, nexceptions) || !op->exceptions) {
    *n = 0;
    return NULL;
  }
  *n = op->nexceptions;
  return op->exceptions;
}

void irpc_slice_call_opts_init_sized(irpc_slice_call_opts *o, size_t size) {
  irpc_slice_call_opts d = {.struct_size = sizeof(d)};
  irpc__struct_export(o, size, &d, sizeof(d));
}

int irpc__slice_encode_nothing(irpc_slice_encoder *e, const void *values) {
  (void)e;
  (void)values;
  return 0;
}

int irpc__slice_gen_encode_payload(irpc_buf *out, int slice1,
                                   irpc_slice_encode_fn fn,
                                   const void *values) {
  irpc_slice_encoder e;
  irpc_slice_mark m;
  if (slice1) {
    irpc_slice_encoder_init(&e, out, IRPC_SLICE_ENCODING_1_1);
    int rc = fn(&e, values);
    int frc = irpc_slice_encoder_flush(&e);
    return rc ? rc : frc;
  }
  irpc_slice_encoder_init(&e, out, IRPC_SLICE_ENCODING_2);
  irpc_slice_encode_segment_begin(&e, &m);
  int rc = fn(&e, values);
  if (rc == 0)
    irpc_slice_encode_tag_end_marker(&e);
  irpc_slice_encode_segment_end(&e, &m);
  int frc = irpc_slice_encoder_flush(&e);
  return rc ? rc : frc;
}

int irpc__slice_gen_decode_payload(irpc_slice_in *in, int slice1,
                                   irpc_slice_decode_fn fn, void *values) {
  irpc_slice_decoder *d = &in->dec;
  /* No parameters or no return value: IceRPC sends an empty payload, and
   * an empty struct is accepted too. */
  if (!fn && irpc_slice_decoder_remaining(d) == 0)
    return 0;
  if (slice1) { /* the members, unknown tagged ones, nothing else */
    int rc = fn ? fn(in, values) : 0;
    if (rc == 0)
      rc = irpc_slice_decode_tags11_end(d, false);
    if (rc == 0)
      rc = irpc_slice_decoder_end(d);
    return rc ? rc : irpc_slice_decoder_error(d);
  }
  irpc_slice_scope scope;
  int rc = irpc_slice_decode_segment_begin(d, &scope);
  if (rc == 0 && fn)
    rc = fn(in, values);
  if (rc == 0)
    rc = irpc_slice_decode_tags_end(d);
  if (rc == 0)
    rc = irpc_slice_decode_scope_end(d, &scope);
  if (rc == 0)
    rc = irpc_slice_decoder_end(d); /* nothing after the segment */
  return rc ? rc : irpc_slice_decoder_error(d);
}

/* ---- Completion ---- */

static void reply_describe(irpc_slice_reply *r, const char *what,
                           const char *cause) {
  snprintf(r->msg, sizeof r->msg, "%s %s on %s: %s", what, r->op->name,
           irpc_outgoing_request_path(r->req), cause);
}

static int reply_in(irpc_slice_reply *r) {
  irpc_buf *payload = irpc_incoming_response_payload(r->resp);
  int rc = r->head ? irpc_slice_in_init_bytes_enc(&r->in, r->head, r->head_len,
                                                  IRPC_SLICE_ENCODING_2)
                   : irpc_slice_in_init_buf_enc(&r->in, payload,
                                                irpc__slice_op_slice1(r->op)
                                                    ? IRPC_SLICE_ENCODING_1_1
                                                    : IRPC_SLICE_ENCODING_2);
  r->in_init = 1;
  if (rc == 0)
    rc = irpc__slice_in_apply_limits(&r->in,
                                     irpc_outgoing_request_features(r->req));
  r->in.proxy_invoker = r->invoker;
  r->in.proxy_conn = r->conn;
  r->in.absolute_invoker = r->invoker;
  return rc;
}

/* The user exception of a Slice1 operation's ApplicationError, into
 * r->cause (the end of the message). */
static void reply_exception(irpc_slice_reply *r, char *cause, size_t len) {
  const char *status = irpc_status_name(r->status);
  irpc_buf *payload = irpc_incoming_response_payload(r->resp);
  if (!irpc__slice_op_slice1(r->op) || !payload || irpc_buf_len(payload) == 0) {
    snprintf(cause, len, "%s: %s", status,
             irpc_incoming_response_error_message(r->resp));
    return;
  }
  size_t n;
  const irpc_slice_exception_desc *const *known =
      irpc__slice_op_exceptions(r->op, &n);
  const irpc_slice_exception_desc *d = NULL;
  void *v = NULL;
  int rc = reply_in(r);
  if (rc == 0)
    rc = irpc_slice_decode_exception(&r->in, known, n, &r->exc_id, &d, &v);
  if (rc == 0)
    rc = irpc_slice_decoder_end(&r->in.dec);
  int idlen = r->exc_id.len >= sizeof r->exc_id_copy
                  ? (int)sizeof r->exc_id_copy - 1
                  : (int)r->exc_id.len;
  memcpy(r->exc_id_copy, r->exc_id.ptr, (size_t)idlen);
  r->exc_id_copy[idlen] = 0;
  if (rc == 0) {
    r->exc_desc = d;
    r->exc = v;
    snprintf(cause, len, "%s: user exception %s", status, d->type_id);
  } else if (rc == IRPC_ENOTFOUND) {
    snprintf(cause, len, "%s: unknown user exception %.*s", status, idlen,
             r->exc_id.ptr);
  } else {
    snprintf(cause, len,
             "%s: user exception %.*s that could not be decoded: %s", status,
             idlen, r->exc_id.ptr, irpc_strerror(rc));
  }
}

static int reply_decode(irpc_slice_reply *r, const void **ret) {
  int rc = reply_in(r);
  void *v = NULL;
  if (rc == 0 && r->op->decode_return) {
    /* A fixed size from the descriptor, not from the payload: not charged.
     * Zeroed: an absent optional member shows nothing of an earlier
     * reply that used the same arena. */
    v = irpc_arena_alloc(&r->in.arena, r->op->return_size);
    if (!v)
      return IRPC_ENOMEM;
    memset(v, 0, r->op->return_size);
  }
  if (rc == 0)
    rc = irpc__slice_gen_decode_payload(&r->in, irpc__slice_op_slice1(r->op),
                                        r->op->decode_return, v);
  *ret = v;
  return rc;
}

static void reply_deliver(irpc_slice_reply *r, int err, const void *ret) {
  r->delivering = 1;
  r->op->deliver(r, err, ret, r->cb, r->user_data);
  r->delivering = 0;
  if (!r->kept)
    reply_put(r);
}

/* The segment of a streamed return value arrived (or the stream failed
 * before it). */
static void on_head(void *ud, int err, uint8_t *seg, size_t len) {
  irpc_slice_reply *r = ud;
  const void *ret = NULL;
  r->head = seg;
  r->head_len = len;
  if (err) {
    irpc_slice_stream_reader_free(r->stream);
    r->stream = NULL;
  } else {
    err = reply_decode(r, &ret);
  }
  if (err) {
    reply_describe(r, "response to", irpc_strerror(err));
    ret = NULL;
    irpc_slice_stream_reader_free(r->stream);
    r->stream = NULL;
  }
  reply_deliver(r, err, ret);
}

int irpc_slice_reply_take_stream(irpc_slice_reply *r,
                                 const irpc_slice_stream_handler *h,
                                 void *user_data,
                                 irpc_slice_stream_reader **out) {
  if (!r || !h || !out || !irpc__slice_op_return_stream(r->op))
    return IRPC_EINVAL;
  if (!r->stream)
    return IRPC_ENOTFOUND;
  irpc_slice_stream_reader *s = r->stream;
  int rc = irpc__slice_stream_reader_attach(s, h, user_data);
  if (rc)
    return rc;
  r->stream = NULL;
  *out = s;
  return 0;
}

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  irpc_slice_reply *r = ud;
  const void *ret = NULL;
  r->resp = resp;
  const irpc_slice_stream_elem *elem = irpc__slice_op_return_stream(r->op);
  if (err == 0 && elem &&
      (r->status = irpc_incoming_response_status(resp)) == IRPC_STATUS_OK) {
    irpc_stream_reader *sr = irpc_incoming_response_take_continuation(resp);
    err = sr ? irpc__slice_stream_reader_head(&r->stream, sr, elem, on_head, r)
             : IRPC_ENOTSUP;
    if (err == 0)
      return; /* delivered once the return value's segment arrived */
    irpc_stream_reader_free(sr);
    reply_describe(r, "response to", irpc_strerror(err));
    reply_deliver(r, err, NULL);
    return;
  }
  if (err) {
    reply_describe(r, "call of", irpc_strerror(err));
  } else if ((r->status = irpc_incoming_response_status(resp)) !=
             IRPC_STATUS_OK) {
    err = IRPC_ESTATUS;
    char cause[160];
    if (r->status == IRPC_STATUS_APPLICATION_ERROR)
      reply_exception(r, cause, sizeof cause);
    else
      snprintf(cause, sizeof cause, "%s: %s", irpc_status_name(r->status),
               irpc_incoming_response_error_message(resp));
    reply_describe(r, "dispatch of", cause);
  } else if (!irpc_outgoing_request_oneway(r->req)) {
    err = reply_decode(r, &ret);
    if (err) {
      reply_describe(r, "response to", irpc_strerror(err));
      ret = NULL;
    }
  }
  reply_deliver(r, err, ret);
}

/* ---- Starting a call ---- */

/* The request's path: the proxy's, else its address's (`target`, parsed
 * from it), else the interface's default path. */
static int build_request(const irpc_slice_proxy *proxy,
                         const irpc_service_address *target,
                         const irpc_slice_iface *iface, const irpc_slice_op *op,
                         const void *args, irpc_outgoing_request **out) {
  const char *path = proxy->path ? proxy->path
                     : target    ? irpc_service_address_path(target)
                                 : iface->default_path;
  irpc_outgoing_request *req;
  int rc = irpc_outgoing_request_new(&req, path, op->name);
  if (rc)
    return rc;
  if (op->flags & IRPC_SLICE_OP_IDEMPOTENT)
    rc = irpc_outgoing_request_set_idempotent(req, 1);
  if (op->flags & IRPC_SLICE_OP_ONEWAY)
    irpc_outgoing_request_set_oneway(req, 1);
  if (rc == 0 && irpc__slice_op_return_stream(op))
    rc = irpc_outgoing_request_set_stream_response(req, 1);
  if (rc == 0 && (op->flags & IRPC_SLICE_OP_COMPRESS_ARGS))
    rc = irpc_features_set_compress(irpc_outgoing_request_features(req), 1);
  if (rc == 0 && op->encode_args)
    rc = irpc__slice_gen_encode_payload(irpc_outgoing_request_payload(req),
                                        irpc__slice_op_slice1(op),
                                        op->encode_args, args);
  else if (rc == 0 && irpc__slice_op_param_stream(op))
    rc = irpc__slice_gen_encode_payload(irpc_outgoing_request_payload(req), 0,
                                        irpc__slice_encode_nothing, NULL);
  if (rc) {
    irpc_outgoing_request_free(req);
    return rc;
  }
  *out = req;
  return 0;
}

/* A proxy with an absolute address: the request's service address, so a
 * connection cache reaches its server. An ice address without a server
 * address ("ice:/hello?adapter-id=HelloAdapter", "ice:/hello": Ice's
 * indirect proxies) is the target too, for a locator interceptor to
 * resolve, unless the proxy is the peer's (a callback on a connection). */
static int set_target(irpc_slice_reply *r) {
  if (irpc_service_address_server_count(r->target) == 0) {
    const char *proto = irpc_service_address_protocol(r->target);
    if (r->conn || !proto || strcmp(proto, "ice") != 0)
      return 0; /* "icerpc:/path": no server address, like a relative one */
  }
  return irpc_outgoing_request_set_service_address(r->req, r->target);
}

static int slice_invoke(const irpc_slice_proxy *proxy,
                        const irpc_slice_iface *iface, const irpc_slice_op *op,
                        const void *args, const irpc_slice_call_opts *opts,
                        void (*cb)(void), void *user_data, int *attached);

int irpc_slice_invoke(const irpc_slice_proxy *proxy,
                      const irpc_slice_iface *iface, const irpc_slice_op *op,
                      const void *args, const irpc_slice_call_opts *opts,
                      void (*cb)(void), void *user_data) {
  irpc_slice_call_opts oc;
  int err;
  if (opts && !(opts = IRPC__VIEW(opts, &oc, irpc_slice_call_opts, &err)))
    return err;
  int attached = 0;
  int rc = slice_invoke(proxy, iface, op, args, opts, cb, user_data, &attached);
  /* A stream's writer ends once in every case: attached, with its request;
   * else here. */
  if (rc && !attached && opts && opts->stream && op && irpc__slice_op_ok(op) &&
      irpc__slice_op_param_stream(op))
    irpc_stream_writer_abort(opts->stream);
  return rc;
}

static int slice_invoke(const irpc_slice_proxy *proxy,
                        const irpc_slice_iface *iface, const irpc_slice_op *op,
                        const void *args, const irpc_slice_call_opts *opts,
                        void (*cb)(void), void *user_data, int *attached) {
  if (!proxy || !iface || !op || !irpc__slice_iface_ok(iface) ||
      !irpc__slice_op_ok(op) || !op->deliver || !cb ||
      (op->encode_args && !args) || (!proxy->path && !iface->default_path))
    return IRPC_EINVAL;
  if (!proxy->invoker)
    return IRPC_ENOINVOKER;
  irpc_service_address *target = NULL;
  int rc =
      proxy->address ? irpc_service_address_parse(&target, proxy->address) : 0;
  irpc_outgoing_request *req = NULL;
  if (rc == 0)
    rc = build_request(proxy, target, iface, op, args, &req);
  if (rc == 0 && opts && opts->stream && irpc__slice_op_param_stream(op)) {
    rc = irpc_outgoing_request_set_continuation(req, opts->stream);
    *attached = rc == 0;
  }
  if (rc == 0 && opts && opts->prepare &&
      (rc = opts->prepare(req, opts->prepare_data)) != 0)
    rc = rc < 0 ? rc : IRPC_ECALLBACK;
  irpc_slice_reply *r = rc ? NULL : reply_get();
  if (!r) {
    irpc_outgoing_request_free(req);
    irpc_service_address_free(target);
    return rc ? rc : IRPC_ENOMEM;
  }
  r->target = target;
  r->iface = iface;
  r->op = op;
  r->req = req;
  r->invoker = proxy->invoker;
  r->conn = proxy->conn;
  r->cb = cb;
  r->user_data = user_data;
  if (target && (rc = set_target(r)) != 0) {
    reply_put(r);
    return rc;
  }
  rc = irpc_invoke(proxy->invoker, req, on_done, r,
                   opts ? opts->call_out : NULL);
  if (rc)
    reply_put(r); /* frees the request */
  return rc;
}
