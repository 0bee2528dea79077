/* Invokers and calls: the client side of the chain engine. */
#include "chain.h"
#include "base/struct_size.h"
#include "irpc/alloc.h"

/* ---- Client API ---- */

int irpc_invoker_new(irpc_invoker **out, uv_loop_t *loop,
                     const irpc_invoker_ops *ops, const void *config) {
  if (!out || !loop || !ops)
    return IRPC_EINVAL;
  int older = IRPC__CHECK(ops, irpc_invoker_ops);
  if (older < 0)
    return older;
  irpc__node *n;
  int rc = irpc__node_new(&n, IRPC__CLIENT, loop, ops, older ? sizeof(*ops) : 0,
                          ops->data_size, ops->call_state_size);
  if (rc)
    return rc;
  ops = n->ops;
  if (ops->init && (rc = ops->init((irpc_invoker *)n, config)) < 0) {
    irpc__node_free(n);
    return rc;
  }
  *out = (irpc_invoker *)n;
  return 0;
}

void irpc_invoker_free(irpc_invoker *inv) {
  if (!inv)
    return;
  const irpc_invoker_ops *ops = inv->node.ops;
  if (ops->destroy)
    ops->destroy(inv);
  irpc__node_free(&inv->node);
}

void *irpc_invoker_data(irpc_invoker *inv) {
  return (uint8_t *)inv + IRPC__NODE_HEADER;
}

const irpc_invoker_ops *irpc_invoker_get_ops(const irpc_invoker *inv) {
  return inv->node.ops;
}

uv_loop_t *irpc_invoker_loop(const irpc_invoker *inv) {
  return inv->node.loop;
}

irpc_invoker *irpc_invoker_next(const irpc_invoker *inv) {
  return (irpc_invoker *)inv->node.next;
}

int irpc_invoker_set_next(irpc_invoker *inv, irpc_invoker *next) {
  if (!inv || inv == next)
    return IRPC_EINVAL;
  inv->node.next = next ? &next->node : NULL;
  return 0;
}

static int invoke(irpc_invoker *inv, irpc_outgoing_request *request, int owned,
                  irpc_invoke_cb cb, void *user_data, irpc_call **call_out) {
  irpc__chain *c = NULL;
  int rc = IRPC_EINVAL;
  if (inv && request && cb) {
    c = irpc__chain_new(inv->node.sched, IRPC__CLIENT);
    rc = c ? 0 : IRPC_ENOMEM;
  }
  if (rc) {
    if (owned)
      irpc_outgoing_request_free(request);
    return rc;
  }
  c->request = request;
  c->owns_request = owned;
  c->user_cb = (void (*)(void))cb;
  c->user_data = user_data;
  if (call_out)
    *call_out = (irpc_call *)c;
  rc = irpc__chain_start(c, &inv->node);
  if (rc) {
    if (call_out)
      *call_out = NULL;
    irpc__chain_release(c); /* frees an owned request */
    return rc;
  }
  if (c->finished_early)
    irpc__chain_deliver_later(c);
  return 0;
}

int irpc_invoke(irpc_invoker *inv, irpc_outgoing_request *request,
                irpc_invoke_cb cb, void *user_data, irpc_call **call_out) {
  return invoke(inv, request, 0, cb, user_data, call_out);
}

int irpc_invoke_owned(irpc_invoker *inv, irpc_outgoing_request *request,
                      irpc_invoke_cb cb, void *user_data,
                      irpc_call **call_out) {
  return invoke(inv, request, 1, cb, user_data, call_out);
}

irpc_outgoing_request *irpc_call_request(const irpc_call *call) {
  return call->c.request;
}

void *irpc_call_state(irpc_call *call) {
  return irpc__chain_state(&call->c);
}

irpc_invoker *irpc_call_invoker(const irpc_call *call) {
  return (irpc_invoker *)irpc__chain_top(&call->c);
}

uv_loop_t *irpc_call_loop(const irpc_call *call) {
  irpc__node *n = irpc__chain_top(&call->c);
  return n ? n->loop : NULL;
}

int irpc_call_next(irpc_call *call) {
  if (!call)
    return IRPC_EINVAL;
  irpc__node *top = irpc__chain_top(&call->c);
  return irpc__chain_pass(&call->c, top ? top->next : NULL);
}

int irpc_call_forward(irpc_call *call, irpc_invoker *to) {
  if (!call)
    return IRPC_EINVAL;
  if (!to)
    return irpc__chain_abort(&call->c, IRPC_EINVAL);
  return irpc__chain_pass(&call->c, &to->node);
}

int irpc_call_complete(irpc_call *call, int err,
                       irpc_incoming_response *response) {
  if (!call || (err == 0 && !response) || err > 0) {
    irpc_incoming_response_free(response);
    return IRPC_EINVAL;
  }
  if (err != 0) {
    irpc_incoming_response_free(response);
    response = NULL;
  }
  return irpc__chain_complete(&call->c, err, response);
}

void irpc_call_result(const irpc_call *call, int *err,
                      irpc_incoming_response **response) {
  if (err)
    *err = call->c.err;
  if (response)
    *response = call->c.response;
}

int irpc_call_set_result(irpc_call *call, int err,
                         irpc_incoming_response *response) {
  if (!call || (err == 0 && !response) || err > 0)
    return IRPC_EINVAL;
  if (err != 0 && response) {
    if (response != call->c.response)
      irpc_incoming_response_free(response);
    response = NULL;
  }
  irpc__chain_set_result(&call->c, err, response);
  return 0;
}

irpc_incoming_response *irpc_call_take_response(irpc_call *call) {
  irpc_incoming_response *r = call->c.response;
  call->c.response = NULL;
  if (call->c.err == 0)
    call->c.err = IRPC_ECANCELED;
  return r;
}

int irpc_call_cancel(irpc_call *call, int err) {
  if (!call)
    return IRPC_EINVAL;
  /* The final callback never runs inside this call: it is deferred. */
  irpc__chain *c = &call->c;
  int outer = c->starting;
  c->starting = 1;
  int rc = irpc__chain_cancel(c, err);
  c->starting = outer;
  if (!outer && c->finished_early)
    irpc__chain_deliver_later(c);
  return rc;
}

void irpc_call_on_cancel(irpc_call *call, irpc_call_cancel_fn fn,
                         void *user_data) {
  irpc__chain_on_cancel(&call->c, (void (*)(void))fn, user_data);
}

int irpc_call_canceled(const irpc_call *call) {
  return call->c.cancel_err;
}
