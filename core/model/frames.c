/* The four frames. Each is one allocation: the struct, then its strings,
 * from the loop's pool when the strings are short. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "stream_internal.h"
#include "base/pool.h"
#include "base/struct_size.h"
#include "irpc/alloc.h"
#include "irpc/status.h"

int irpc_path_check(const char *path) {
  if (!path)
    return IRPC_EINVAL;
  if (path[0] != '/')
    return IRPC_EPATH;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if (*p < 0x21 || *p > 0x7E || strchr("\"<>#?\\^`{|}", *p))
      return IRPC_EPATH;
  }
  return 0;
}

/* Every frame's pooled allocation (base/pool.h): a struct and its strings
 * (a path and an operation, or a response's message) when they fit. */
#define FRAME_POOLED 1024
typedef union frame_any {
  irpc_outgoing_request oreq;
  irpc_incoming_request ireq;
  irpc__response resp;
} frame_any;
_Static_assert(sizeof(frame_any) + 128 <= FRAME_POOLED,
               "a frame's pooled allocation holds 128 bytes of strings");

/* Allocates `size` bytes followed by copies of a and b; returns the copies
 * through *pa and *pb, and whether it came from the pool through
 * *pooled. */
static void *alloc_with_strings(size_t size, const char *a, const char **pa,
                                const char *b, const char **pb, int *pooled) {
  size_t la = a ? strlen(a) + 1 : 0;
  size_t lb = b ? strlen(b) + 1 : 0;
  *pooled = la + lb <= FRAME_POOLED - size;
  char *m =
      *pooled ? irpc__pool_get(FRAME_POOLED) : irpc_malloc(size + la + lb);
  if (!m)
    return NULL;
  char *s = m + size;
  if (a) {
    memcpy(s, a, la);
    *pa = s;
  }
  if (b) {
    memcpy(s + la, b, lb);
    *pb = s + la;
  }
  return m;
}

static void free_with_strings(void *m, int pooled) {
  if (pooled)
    irpc__pool_put(m, FRAME_POOLED);
  else
    irpc_free(m);
}

/* ---- Requests ---- */

int irpc_outgoing_request_new(irpc_outgoing_request **out, const char *path,
                              const char *operation) {
  if (!out || !path || !operation || !operation[0])
    return IRPC_EINVAL;
  int rc = irpc_path_check(path);
  if (rc)
    return rc;
  const char *p = NULL, *o = NULL;
  int pooled;
  irpc_outgoing_request *r =
      alloc_with_strings(sizeof(*r), path, &p, operation, &o, &pooled);
  if (!r)
    return IRPC_ENOMEM;
  r->pooled = pooled;
  r->path = p;
  r->operation = o;
  r->oneway = 0;
  irpc__fields_init(&r->fields);
  irpc__features_init(&r->features);
  irpc__buf_init(&r->payload);
  r->writers.count = 0;
  r->cont = NULL;
  r->stream_response = 0;
  *out = r;
  return 0;
}

void irpc_outgoing_request_free(irpc_outgoing_request *r) {
  if (!r)
    return;
  if (r->cont)
    irpc__stream_writer_frame_release(r->cont);
  irpc__fields_fini(&r->fields);
  irpc__features_fini(&r->features);
  irpc__buf_fini(&r->payload);
  free_with_strings(r, r->pooled);
}

const char *irpc_outgoing_request_path(const irpc_outgoing_request *r) {
  return r->path;
}

const char *irpc_outgoing_request_operation(const irpc_outgoing_request *r) {
  return r->operation;
}

void irpc_outgoing_request_set_oneway(irpc_outgoing_request *r, int oneway) {
  r->oneway = oneway != 0;
}

int irpc_outgoing_request_oneway(const irpc_outgoing_request *r) {
  return r->oneway;
}

int irpc_outgoing_request_set_idempotent(irpc_outgoing_request *r,
                                         int idempotent) {
  if (!r)
    return IRPC_EINVAL;
  if (idempotent)
    return irpc_fields_set(&r->fields, IRPC_REQUEST_FIELD_IDEMPOTENT, NULL, 0);
  irpc_fields_remove(&r->fields, IRPC_REQUEST_FIELD_IDEMPOTENT);
  return 0;
}

int irpc_outgoing_request_idempotent(const irpc_outgoing_request *r) {
  return r && irpc_fields_has(&r->fields, IRPC_REQUEST_FIELD_IDEMPOTENT);
}

irpc_fields *irpc_outgoing_request_fields(irpc_outgoing_request *r) {
  return &r->fields;
}

irpc_features *irpc_outgoing_request_features(irpc_outgoing_request *r) {
  return &r->features;
}

irpc_buf *irpc_outgoing_request_payload(irpc_outgoing_request *r) {
  return &r->payload;
}

int irpc_incoming_request_new(irpc_incoming_request **out, const char *path,
                              const char *operation, int oneway) {
  if (!out || !path || !operation)
    return IRPC_EINVAL;
  int rc = irpc_path_check(path);
  if (rc)
    return rc;
  const char *p = NULL, *o = NULL;
  int pooled;
  irpc_incoming_request *r =
      alloc_with_strings(sizeof(*r), path, &p, operation, &o, &pooled);
  if (!r)
    return IRPC_ENOMEM;
  r->pooled = pooled;
  r->path = p;
  r->operation = o;
  r->oneway = oneway != 0;
  r->invoker = NULL;
  irpc__fields_init(&r->fields);
  irpc__features_init(&r->features);
  irpc__buf_init(&r->payload);
  r->cont = NULL;
  *out = r;
  return 0;
}

void irpc_incoming_request_free(irpc_incoming_request *r) {
  if (!r)
    return;
  irpc_stream_reader_free(r->cont);
  irpc__fields_fini(&r->fields);
  irpc__features_fini(&r->features);
  irpc__buf_fini(&r->payload);
  free_with_strings(r, r->pooled);
}

const char *irpc_incoming_request_path(const irpc_incoming_request *r) {
  return r->path;
}

const char *irpc_incoming_request_operation(const irpc_incoming_request *r) {
  return r->operation;
}

int irpc_incoming_request_oneway(const irpc_incoming_request *r) {
  return r->oneway;
}

irpc_fields *irpc_incoming_request_fields(irpc_incoming_request *r) {
  return &r->fields;
}

irpc_features *irpc_incoming_request_features(irpc_incoming_request *r) {
  return &r->features;
}

irpc_buf *irpc_incoming_request_payload(irpc_incoming_request *r) {
  return &r->payload;
}

irpc_invoker *irpc_incoming_request_invoker(const irpc_incoming_request *r) {
  return r->invoker;
}

int irpc__request_convert(irpc_outgoing_request *from, uint64_t peer_formats,
                          irpc_incoming_request **to) {
  irpc_incoming_request *r;
  if (from->cont || from->stream_response)
    return IRPC_ENOTSUP; /* no continuation without a connection */
  int rc =
      irpc_incoming_request_new(&r, from->path, from->operation, from->oneway);
  if (rc)
    return rc;
  rc = irpc__request_prepare(from, peer_formats, &r->payload);
  if (rc == 0 && irpc_fields_copy(&r->fields, &from->fields))
    rc = IRPC_ENOMEM;
  if (rc) {
    irpc_incoming_request_free(r);
    return rc;
  }
  *to = r;
  return 0;
}

/* ---- Payload writers ---- */

/* Writers are kept by pointer (their identity is the table's address), so the
 * table is checked at each attach, one comparison for a table of this version,
 * and read in place: a member added after the first version is read only where
 * IRPC__HAS says the caller's table has it. */
static int writer_ops_ok(const irpc_payload_writer_ops *ops) {
  return IRPC__STRUCT_SIZE(ops) == sizeof(*ops) ||
         IRPC__CHECK(ops, irpc_payload_writer_ops) >= 0;
}

static int writers_use(irpc__writers *ws, const irpc_payload_writer_ops *ops,
                       const void *config, size_t len) {
  if (!ops || !writer_ops_ok(ops) || !ops->write || (!config && len > 0))
    return IRPC_EINVAL;
  if (!ops->begin != !ops->next || !ops->begin != !ops->end)
    return IRPC_EINVAL; /* streaming: all three or none */
  if (len > IRPC_PAYLOAD_WRITER_CONFIG_MAX)
    return IRPC_ERANGE;
  irpc__writer *w = NULL;
  for (unsigned i = 0; i < ws->count; i++)
    if (ws->w[i].ops == ops)
      w = &ws->w[i];
  if (!w) {
    if (ws->count == IRPC_PAYLOAD_WRITERS_MAX)
      return IRPC_ELIMIT;
    w = &ws->w[ws->count++];
    w->ops = ops;
  }
  memset(w->config.bytes, 0, sizeof(w->config.bytes));
  if (len)
    memcpy(w->config.bytes, config, len);
  return 0;
}

static int writers_has(const irpc__writers *ws,
                       const irpc_payload_writer_ops *ops) {
  for (unsigned i = 0; i < ws->count; i++)
    if (ws->w[i].ops == ops)
      return 1;
  return 0;
}

int irpc_outgoing_request_use_writer(irpc_outgoing_request *r,
                                     const irpc_payload_writer_ops *ops,
                                     const void *config, size_t config_len) {
  if (!r)
    return IRPC_EINVAL;
  return writers_use(&r->writers, ops, config, config_len);
}

int irpc_outgoing_response_use_writer(irpc_outgoing_response *r,
                                      const irpc_payload_writer_ops *ops,
                                      const void *config, size_t config_len) {
  if (!r)
    return IRPC_EINVAL;
  return writers_use(&r->r.writers, ops, config, config_len);
}

int irpc_outgoing_request_has_writer(const irpc_outgoing_request *r,
                                     const irpc_payload_writer_ops *ops) {
  return r && writers_has(&r->writers, ops);
}

int irpc_outgoing_response_has_writer(const irpc_outgoing_response *r,
                                      const irpc_payload_writer_ops *ops) {
  return r && writers_has(&r->r.writers, ops);
}

/* Runs the writers over `payload` (consumable when `own`), leaving the
 * result in `out`. */
static int writers_run(const irpc__writers *ws, irpc_fields *fields,
                       uint64_t peer, irpc_buf *payload, int own,
                       irpc_buf *out) {
  irpc_buf cur, next;
  irpc__buf_init(&cur);
  irpc__buf_init(&next);
  irpc_buf *in = payload;
  int in_own = own;
  int rc = 0;
  for (unsigned i = 0; i < ws->count && rc >= 0; i++) {
    const irpc__writer *w = &ws->w[i];
    rc = w->ops->write(w->config.bytes, fields, peer, in, in_own, &next);
    if (rc == 0) {
      irpc_buf_clear(&cur);
      rc = irpc_buf_move(&cur, &next);
      in = &cur;
      in_own = 1;
    } else if (rc > 0) {
      irpc_buf_clear(&next);
      rc = 0;
    }
  }
  if (rc >= 0) {
    if (in == &cur || own)
      rc = irpc_buf_move(out, in);
    else
      rc = irpc_buf_append_ref(out, in, 0, in->len);
  }
  if (rc < 0)
    irpc_buf_clear(out);
  irpc__buf_fini(&cur);
  irpc__buf_fini(&next);
  return rc < 0 ? rc : 0;
}

int irpc__request_prepare(irpc_outgoing_request *req, uint64_t peer_formats,
                          irpc_buf *payload_out) {
  if (req->writers.count == 0) {
    return irpc_buf_append_ref(payload_out, &req->payload, 0, req->payload.len);
  }
  return writers_run(&req->writers, &req->fields, peer_formats, &req->payload,
                     0, payload_out);
}

/* A payload followed by a continuation: see irpc__request_prepare_cont. */
static int prepare_cont(const irpc__writers *ws, irpc_fields *fields,
                        uint64_t peer, irpc_buf *payload, int own,
                        irpc_stream_writer *cont, irpc_buf *out) {
  const irpc__writer *w = &ws->w[0];
  if (ws->count == 1 &&
      IRPC__HAS(w->ops, irpc_payload_writer_ops, begin_continuation) &&
      w->ops->begin_continuation) {
    const irpc_stream_transform_ops *xf = NULL;
    void *state = NULL;
    int rc = w->ops->begin_continuation(w->config.bytes, fields, peer, payload,
                                        out, &xf, &state);
    if (rc < 0) {
      irpc_buf_clear(out);
      return rc;
    }
    if (rc == 0) {
      rc = xf ? irpc_stream_writer_set_transform(cont, xf, state) : 0;
      if (rc) {
        xf->free(state);
        irpc_buf_clear(out);
        return rc;
      }
      if (own)
        irpc_buf_clear(payload);
      return 0;
    }
  }
  return own ? irpc_buf_move(out, payload)
             : irpc_buf_append_ref(out, payload, 0, irpc_buf_len(payload));
}

int irpc__request_prepare_cont(irpc_outgoing_request *req,
                               uint64_t peer_formats, irpc_buf *payload_out) {
  return prepare_cont(&req->writers, &req->fields, peer_formats, &req->payload,
                      0, req->cont, payload_out);
}

int irpc__response_prepare_cont(irpc_outgoing_response *resp,
                                uint64_t peer_formats, irpc_buf *payload_out) {
  irpc__response *r = &resp->r;
  return prepare_cont(&r->writers, &r->fields, peer_formats, &r->payload, 1,
                      r->wcont, payload_out);
}

int irpc__request_prepare_stream(irpc_outgoing_request *req,
                                 uint64_t peer_formats, irpc_buf *payload_out,
                                 irpc__payload_stream *st) {
  st->ops = NULL;
  st->state = NULL;
  const irpc__writer *w = &req->writers.w[0];
  if (req->writers.count != 1 || !w->ops->begin ||
      irpc_buf_len(&req->payload) <= IRPC_PAYLOAD_STREAM_THRESHOLD)
    return irpc__request_prepare(req, peer_formats, payload_out);
  int rc = w->ops->begin(w->config.bytes, &req->fields, peer_formats,
                         &req->payload, &st->state);
  if (rc > 0) /* declined: the payload as it is */
    return irpc_buf_append_ref(payload_out, &req->payload, 0, req->payload.len);
  if (rc == 0)
    st->ops = w->ops;
  return rc;
}

int irpc__payload_stream_next(irpc__payload_stream *st, irpc_buf *out,
                              size_t want, int *done) {
  return st->ops->next(st->state, out, want, done);
}

void irpc__payload_stream_end(irpc__payload_stream *st) {
  if (!st->ops)
    return;
  st->ops->end(st->state);
  st->ops = NULL;
  st->state = NULL;
}

int irpc__response_prepare(irpc_outgoing_response *resp, uint64_t peer_formats,
                           irpc_buf *payload_out) {
  irpc__response *r = &resp->r;
  if (r->writers.count == 0)
    return irpc_buf_move(payload_out, &r->payload);
  return writers_run(&r->writers, &r->fields, peer_formats, &r->payload, 1,
                     payload_out);
}

/* ---- Responses ---- */

static int response_new(irpc__response **out, uint64_t status,
                        const char *message) {
  if (!out || (status == IRPC_STATUS_OK && message))
    return IRPC_EINVAL;
  if (status > IRPC_VARUINT62_MAX)
    return IRPC_EOVERFLOW;
  char dflt[96];
  if (status != IRPC_STATUS_OK && !message) {
    if (status <= IRPC_STATUS_NOT_SUPPORTED)
      snprintf(dflt, sizeof(dflt), "The dispatch failed with status code %s.",
               irpc_status_name(status));
    else
      snprintf(dflt, sizeof(dflt),
               "The dispatch failed with status code %" PRIu64 ".", status);
    message = dflt;
  }
  const char *m = NULL;
  int pooled;
  irpc__response *r =
      alloc_with_strings(sizeof(*r), message, &m, NULL, NULL, &pooled);
  if (!r)
    return IRPC_ENOMEM;
  r->pooled = pooled;
  r->status = status;
  r->message = m;
  irpc__fields_init(&r->fields);
  irpc__buf_init(&r->payload);
  r->writers.count = 0;
  r->wcont = NULL;
  r->rcont = NULL;
  *out = r;
  return 0;
}

static void response_free(irpc__response *r) {
  if (!r)
    return;
  if (r->wcont)
    irpc__stream_writer_frame_release(r->wcont);
  irpc_stream_reader_free(r->rcont);
  irpc__fields_fini(&r->fields);
  irpc__buf_fini(&r->payload);
  free_with_strings(r, r->pooled);
}

int irpc_incoming_response_new(irpc_incoming_response **out, uint64_t status,
                               const char *error_message) {
  return response_new((irpc__response **)out, status, error_message);
}

void irpc_incoming_response_free(irpc_incoming_response *r) {
  response_free((irpc__response *)r);
}

uint64_t irpc_incoming_response_status(const irpc_incoming_response *r) {
  return r->r.status;
}

const char *
irpc_incoming_response_error_message(const irpc_incoming_response *r) {
  return r->r.message;
}

irpc_fields *irpc_incoming_response_fields(irpc_incoming_response *r) {
  return &r->r.fields;
}

irpc_buf *irpc_incoming_response_payload(irpc_incoming_response *r) {
  return &r->r.payload;
}

int irpc_outgoing_response_new(irpc_outgoing_response **out, uint64_t status,
                               const char *error_message) {
  return response_new((irpc__response **)out, status, error_message);
}

void irpc_outgoing_response_free(irpc_outgoing_response *r) {
  response_free((irpc__response *)r);
}

uint64_t irpc_outgoing_response_status(const irpc_outgoing_response *r) {
  return r->r.status;
}

const char *
irpc_outgoing_response_error_message(const irpc_outgoing_response *r) {
  return r->r.message;
}

irpc_fields *irpc_outgoing_response_fields(irpc_outgoing_response *r) {
  return &r->r.fields;
}

irpc_buf *irpc_outgoing_response_payload(irpc_outgoing_response *r) {
  return &r->r.payload;
}

int irpc__response_convert(irpc_outgoing_response *from, uint64_t peer_formats,
                           irpc_incoming_response **to) {
  irpc_incoming_response *r;
  if (from->r.wcont) /* no continuation without a connection */
    irpc__stream_writer_refuse(from->r.wcont, IRPC_ENOTSUP);
  int rc = irpc_incoming_response_new(&r, from->r.status, from->r.message);
  if (rc)
    return rc;
  rc = irpc__response_prepare(from, peer_formats, &r->r.payload);
  if (rc == 0 && irpc_fields_copy(&r->r.fields, &from->r.fields))
    rc = IRPC_ENOMEM;
  if (rc) {
    irpc_incoming_response_free(r);
    return rc;
  }
  *to = r;
  return 0;
}

int irpc_outgoing_request_write_payload(irpc_outgoing_request *r,
                                        uint64_t peer_formats, irpc_buf *out) {
  if (!r || !out)
    return IRPC_EINVAL;
  irpc_buf tmp;
  irpc__buf_init(&tmp);
  int rc = irpc__request_prepare(r, peer_formats, &tmp);
  if (rc == 0)
    rc = irpc_buf_move(out, &tmp);
  irpc__buf_fini(&tmp);
  return rc;
}

int irpc_outgoing_response_write_payload(irpc_outgoing_response *r,
                                         uint64_t peer_formats, irpc_buf *out) {
  if (!r || !out)
    return IRPC_EINVAL;
  irpc_buf tmp;
  irpc__buf_init(&tmp);
  int rc = irpc__response_prepare(r, peer_formats, &tmp);
  if (rc == 0)
    rc = irpc_buf_move(out, &tmp);
  irpc__buf_fini(&tmp);
  return rc;
}
