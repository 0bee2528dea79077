/* Dispatchers and dispatches: the server side of the chain engine. */
#include "chain.h"
#include "base/struct_size.h"
#include "irpc/alloc.h"

#include "irpc/status.h"

int irpc_dispatcher_new(irpc_dispatcher **out, uv_loop_t *loop,
                        const irpc_dispatcher_ops *ops, const void *config) {
  if (!out || !loop || !ops)
    return IRPC_EINVAL;
  int older = IRPC__CHECK(ops, irpc_dispatcher_ops);
  if (older < 0)
    return older;
  irpc__node *n;
  int rc = irpc__node_new(&n, IRPC__SERVER, loop, ops, older ? sizeof(*ops) : 0,
                          ops->data_size, ops->dispatch_state_size);
  if (rc)
    return rc;
  ops = n->ops;
  if (ops->init && (rc = ops->init((irpc_dispatcher *)n, config)) < 0) {
    irpc__node_free(n);
    return rc;
  }
  *out = (irpc_dispatcher *)n;
  return 0;
}

void irpc_dispatcher_free(irpc_dispatcher *d) {
  if (!d)
    return;
  const irpc_dispatcher_ops *ops = d->node.ops;
  if (ops->destroy)
    ops->destroy(d);
  irpc__node_free(&d->node);
}

void *irpc_dispatcher_data(irpc_dispatcher *d) {
  return (uint8_t *)d + IRPC__NODE_HEADER;
}

const irpc_dispatcher_ops *irpc_dispatcher_get_ops(const irpc_dispatcher *d) {
  return d->node.ops;
}

uv_loop_t *irpc_dispatcher_loop(const irpc_dispatcher *d) {
  return d->node.loop;
}

irpc_dispatcher *irpc_dispatcher_next(const irpc_dispatcher *d) {
  return (irpc_dispatcher *)d->node.next;
}

int irpc_dispatcher_set_next(irpc_dispatcher *d, irpc_dispatcher *next) {
  if (!d || d == next)
    return IRPC_EINVAL;
  d->node.next = next ? &next->node : NULL;
  return 0;
}

int irpc__dispatch_create(irpc_dispatcher *disp, irpc_incoming_request *req,
                          irpc_dispatch_done_cb done, void *user_data,
                          irpc__chain **out) {
  if (!disp || !req || !done) {
    irpc_incoming_request_free(req);
    return IRPC_EINVAL;
  }
  irpc__chain *c = irpc__chain_new(disp->node.sched, IRPC__SERVER);
  if (!c) {
    irpc_incoming_request_free(req);
    return IRPC_ENOMEM;
  }
  c->request = req;
  c->user_cb = (void (*)(void))done;
  c->user_data = user_data;
  c->owner = disp;
  *out = c;
  return 0;
}

void irpc__dispatch_start(irpc__chain *c) {
  irpc_dispatcher *disp = c->owner;
  c->owner = NULL;
  int rc = irpc__chain_start(c, &disp->node);
  if (rc) {
    /* Not even the first frame fit: answer without entering. */
    irpc_outgoing_response *r = NULL;
    irpc_outgoing_response_new(&r, IRPC_STATUS_INTERNAL_ERROR,
                               irpc_strerror(rc));
    c->response = r;
    c->state = IRPC__DONE;
    irpc__chain_deliver(c);
    return;
  }
  if (c->finished_early)
    irpc__chain_deliver(c);
}

int irpc_dispatcher_dispatch(irpc_dispatcher *disp,
                             irpc_incoming_request *request,
                             irpc_dispatch_done_cb done, void *user_data,
                             irpc_dispatch **d_out) {
  irpc__chain *c;
  int rc = irpc__dispatch_create(disp, request, done, user_data, &c);
  if (rc)
    return rc;
  if (d_out)
    *d_out = (irpc_dispatch *)c;
  irpc__dispatch_start(c);
  return 0;
}

irpc_incoming_request *irpc_dispatch_request(const irpc_dispatch *d) {
  return d->c.request;
}

void *irpc_dispatch_state(irpc_dispatch *d) {
  return irpc__chain_state(&d->c);
}

irpc_dispatcher *irpc_dispatch_dispatcher(const irpc_dispatch *d) {
  return (irpc_dispatcher *)irpc__chain_top(&d->c);
}

uv_loop_t *irpc_dispatch_loop(const irpc_dispatch *d) {
  irpc__node *n = irpc__chain_top(&d->c);
  return n ? n->loop : NULL;
}

int irpc_dispatch_next(irpc_dispatch *d) {
  if (!d)
    return IRPC_EINVAL;
  irpc__node *top = irpc__chain_top(&d->c);
  return irpc__chain_pass(&d->c, top ? top->next : NULL);
}

int irpc_dispatch_forward(irpc_dispatch *d, irpc_dispatcher *to) {
  if (!d)
    return IRPC_EINVAL;
  if (!to)
    return irpc__chain_abort(&d->c, IRPC_EINVAL);
  return irpc__chain_pass(&d->c, &to->node);
}

int irpc_dispatch_complete(irpc_dispatch *d, irpc_outgoing_response *response) {
  if (!d || !response) {
    irpc_outgoing_response_free(response);
    return IRPC_EINVAL;
  }
  return irpc__chain_complete(&d->c, 0, response);
}

int irpc_dispatch_reply(irpc_dispatch *d, uint64_t status,
                        const char *message) {
  if (!d)
    return IRPC_EINVAL;
  if (d->c.state != IRPC__ACTIVE)
    return IRPC_EDONE;
  irpc_outgoing_response *r;
  int rc = irpc_outgoing_response_new(&r, status, message);
  if (rc)
    return rc;
  return irpc__chain_complete(&d->c, 0, r);
}

irpc_outgoing_response *irpc_dispatch_response(const irpc_dispatch *d) {
  return d->c.response;
}

int irpc_dispatch_set_response(irpc_dispatch *d,
                               irpc_outgoing_response *response) {
  if (!d || !response)
    return IRPC_EINVAL;
  irpc__chain_set_result(&d->c, 0, response);
  return 0;
}

int irpc_dispatch_cancel(irpc_dispatch *d, int err) {
  if (!d)
    return IRPC_EINVAL;
  return irpc__chain_cancel(&d->c, err);
}

void irpc_dispatch_on_cancel(irpc_dispatch *d, irpc_dispatch_cancel_fn fn,
                             void *user_data) {
  irpc__chain_on_cancel(&d->c, (void (*)(void))fn, user_data);
}

int irpc_dispatch_canceled(const irpc_dispatch *d) {
  return d->c.cancel_err;
}
