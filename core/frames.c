/* The four frames. Each is one allocation: the struct, then its strings. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
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

/* Allocates `size` bytes followed by copies of a and b; returns the copies
 * through *pa and *pb. */
static void *alloc_with_strings(size_t size, const char *a, const char **pa,
                                const char *b, const char **pb) {
  size_t la = a ? strlen(a) + 1 : 0;
  size_t lb = b ? strlen(b) + 1 : 0;
  char *m = irpc_malloc(size + la + lb);
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

/* ---- Requests ---- */

int irpc_outgoing_request_new(irpc_outgoing_request **out, const char *path,
                              const char *operation) {
  if (!out || !path || !operation || !operation[0])
    return IRPC_EINVAL;
  int rc = irpc_path_check(path);
  if (rc)
    return rc;
  const char *p = NULL, *o = NULL;
  irpc_outgoing_request *r =
      alloc_with_strings(sizeof(*r), path, &p, operation, &o);
  if (!r)
    return IRPC_ENOMEM;
  r->path = p;
  r->operation = o;
  r->oneway = 0;
  irpc__fields_init(&r->fields);
  irpc__features_init(&r->features);
  irpc__buf_init(&r->payload);
  *out = r;
  return 0;
}

void irpc_outgoing_request_free(irpc_outgoing_request *r) {
  if (!r)
    return;
  irpc__fields_fini(&r->fields);
  irpc__features_fini(&r->features);
  irpc__buf_fini(&r->payload);
  irpc_free(r);
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
  irpc_incoming_request *r =
      alloc_with_strings(sizeof(*r), path, &p, operation, &o);
  if (!r)
    return IRPC_ENOMEM;
  r->path = p;
  r->operation = o;
  r->oneway = oneway != 0;
  r->invoker = NULL;
  irpc__fields_init(&r->fields);
  irpc__features_init(&r->features);
  irpc__buf_init(&r->payload);
  *out = r;
  return 0;
}

void irpc_incoming_request_free(irpc_incoming_request *r) {
  if (!r)
    return;
  irpc__fields_fini(&r->fields);
  irpc__features_fini(&r->features);
  irpc__buf_fini(&r->payload);
  irpc_free(r);
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

int irpc__request_convert(const irpc_outgoing_request *from,
                          irpc_incoming_request **to) {
  irpc_incoming_request *r;
  int rc =
      irpc_incoming_request_new(&r, from->path, from->operation, from->oneway);
  if (rc)
    return rc;
  if (irpc_fields_copy(&r->fields, &from->fields) ||
      irpc_buf_append_ref(&r->payload, &from->payload, 0, from->payload.len)) {
    irpc_incoming_request_free(r);
    return IRPC_ENOMEM;
  }
  *to = r;
  return 0;
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
  irpc__response *r = alloc_with_strings(sizeof(*r), message, &m, NULL, NULL);
  if (!r)
    return IRPC_ENOMEM;
  r->status = status;
  r->message = m;
  irpc__fields_init(&r->fields);
  irpc__buf_init(&r->payload);
  *out = r;
  return 0;
}

static void response_free(irpc__response *r) {
  if (!r)
    return;
  irpc__fields_fini(&r->fields);
  irpc__buf_fini(&r->payload);
  irpc_free(r);
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

int irpc__response_convert(irpc_outgoing_response *from,
                           irpc_incoming_response **to) {
  irpc_incoming_response *r;
  int rc = irpc_incoming_response_new(&r, from->r.status, from->r.message);
  if (rc)
    return rc;
  if (irpc_fields_copy(&r->r.fields, &from->r.fields) ||
      irpc_buf_move(&r->r.payload, &from->r.payload)) {
    irpc_incoming_response_free(r);
    return IRPC_ENOMEM;
  }
  *to = r;
  return 0;
}
