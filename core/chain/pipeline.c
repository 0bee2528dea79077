/* The pipeline: an invoker whose `next` is its first interceptor. */
#include <string.h>

#include "base/buf_internal.h"
#include "chain.h"
#include "irpc/alloc.h"
#include "irpc/pipeline.h"

struct irpc_pipeline {
  irpc_invoker *self;
  irpc_invoker **interceptors;
  size_t count;
  size_t cap;
  irpc_invoker *terminal;
  int frozen;
};

static irpc_pipeline *pipeline_of(irpc_invoker *inv) {
  return irpc_invoker_data(inv);
}

/* Links interceptors in order and the last one to the terminal. */
static void freeze(irpc_pipeline *p) {
  irpc_invoker *next = p->terminal;
  for (size_t i = p->count; i-- > 0;) {
    irpc_invoker_set_next(p->interceptors[i], next);
    next = p->interceptors[i];
  }
  irpc_invoker_set_next(p->self, next);
  p->frozen = 1;
}

static void pipeline_invoke(irpc_invoker *self, irpc_call *call) {
  irpc_pipeline *p = pipeline_of(self);
  if (!p->frozen)
    freeze(p);
  irpc_call_next(call);
}

static void pipeline_destroy(irpc_invoker *self) {
  irpc_pipeline *p = pipeline_of(self);
  for (size_t i = 0; i < p->count; i++) {
    p->interceptors[i]->node.owner = NULL;
    irpc_invoker_free(p->interceptors[i]);
  }
  irpc_free(p->interceptors);
}

static const irpc_invoker_ops pipeline_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "pipeline",
    .data_size = sizeof(irpc_pipeline),
    .invoke = pipeline_invoke,
    .destroy = pipeline_destroy,
};

int irpc_pipeline_new(irpc_pipeline **out, uv_loop_t *loop) {
  if (!out || !loop)
    return IRPC_EINVAL;
  irpc_invoker *inv;
  int rc = irpc_invoker_new(&inv, loop, &pipeline_ops, NULL);
  if (rc)
    return rc;
  irpc_pipeline *p = pipeline_of(inv);
  p->self = inv;
  *out = p;
  return 0;
}

void irpc_pipeline_free(irpc_pipeline *p) {
  if (p)
    irpc_invoker_free(p->self);
}

int irpc_pipeline_use(irpc_pipeline *p, irpc_invoker *interceptor) {
  if (!p || !interceptor || interceptor == p->self || interceptor->node.owner ||
      interceptor->node.loop != p->self->node.loop)
    return IRPC_EINVAL;
  if (p->frozen)
    return IRPC_EFROZEN;
  if (p->count == IRPC_PIPELINE_MAX_INTERCEPTORS)
    return IRPC_ELIMIT;
  if (irpc__array_grow((void **)&p->interceptors, NULL, &p->cap, p->count,
                       p->count + 1, sizeof(*p->interceptors)))
    return IRPC_ENOMEM;
  interceptor->node.owner = p;
  p->interceptors[p->count++] = interceptor;
  return 0;
}

int irpc_pipeline_into(irpc_pipeline *p, irpc_invoker *terminal) {
  if (!p || !terminal || terminal == p->self || terminal->node.owner == p ||
      terminal->node.loop != p->self->node.loop)
    return IRPC_EINVAL;
  if (p->frozen)
    return IRPC_EFROZEN;
  p->terminal = terminal;
  return 0;
}

irpc_invoker *irpc_pipeline_invoker(irpc_pipeline *p) {
  return p ? p->self : NULL;
}

size_t irpc_pipeline_count(const irpc_pipeline *p) {
  return p ? p->count : 0;
}
