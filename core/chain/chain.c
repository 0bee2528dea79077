/* The chain engine shared by calls (client) and dispatches (server): a
 * stack of frames, one per node the chain passed, each with its per-call
 * state in a bump arena; completion unwinds the stack through on_complete.
 */
#include <string.h>

#include "chain.h"
#include "base/pool.h"
#include "base/struct_size.h"
#include "irpc/alloc.h"
#include "irpc/status.h"

/* The smallest heap chunk of a call's arena: from the loop's pool
 * (base/pool.h), since a pipeline of a few interceptors needs one. */
#define ARENA_CHUNK_MIN 2048

/* ---- Nodes ---- */

int irpc__node_new(irpc__node **out, int kind, uv_loop_t *loop, const void *ops,
                   size_t ops_copy_size, size_t data_size, size_t state_size) {
  if (data_size > SIZE_MAX / 2)
    return IRPC_ENOMEM;
  size_t copy_at = IRPC__NODE_HEADER + IRPC__ALIGN(data_size);
  irpc__node *n = irpc_calloc(1, copy_at + IRPC__ALIGN(ops_copy_size));
  if (!n)
    return IRPC_ENOMEM;
  if (ops_copy_size) {
    irpc__struct_import((uint8_t *)n + copy_at, ops_copy_size, ops,
                        sizeof(size_t));
    ops = (uint8_t *)n + copy_at;
  }
  n->sched = irpc__sched_acquire(loop);
  if (!n->sched) {
    irpc_free(n);
    return IRPC_ENOMEM;
  }
  n->kind = kind;
  n->ops = ops;
  n->loop = loop;
  n->state_size = state_size;
  *out = n;
  return 0;
}

void irpc__node_free(irpc__node *n) {
  irpc__sched_release(n->sched);
  irpc_free(n);
}

/* ---- Arena ---- */

static uint32_t chunk_cap(const irpc__chain *c, uint32_t i) {
  return i == 0 ? IRPC__ARENA_INLINE : c->chunk_size[i];
}

static uint8_t *chunk_base(irpc__chain *c, uint32_t i) {
  return i == 0 ? c->arena : c->chunks[i];
}

static void chunk_free(irpc__chain *c, uint32_t i) {
  irpc__pool_put(c->chunks[i], c->chunk_size[i]);
  c->chunks[i] = NULL;
}

static void *arena_alloc(irpc__chain *c, size_t size) {
  size = IRPC__ALIGN(size);
  if (size > UINT32_MAX / 2)
    return NULL;
  for (;;) {
    uint32_t i = c->mark.chunk;
    if (size <= chunk_cap(c, i) - c->mark.used) {
      void *p = chunk_base(c, i) + c->mark.used;
      c->mark.used += (uint32_t)size;
      return p;
    }
    if (++i == IRPC__ARENA_CHUNKS)
      return NULL;
    if (c->chunks[i] && c->chunk_size[i] < size)
      chunk_free(c, i);
    if (!c->chunks[i]) {
      uint32_t cap = size > ARENA_CHUNK_MIN ? (uint32_t)size : ARENA_CHUNK_MIN;
      c->chunks[i] = irpc__pool_get(cap);
      if (!c->chunks[i])
        return NULL;
      c->chunk_size[i] = cap;
    }
    c->mark = (irpc__mark){.chunk = i, .used = 0};
  }
}

/* ---- Chain lifetime ---- */

irpc__chain *irpc__chain_new(irpc__sched *s, int kind) {
  irpc__chain *c = irpc__sched_obj_get(s, sizeof(*c));
  if (!c)
    return NULL;
  memset(c, 0, offsetof(irpc__chain, inline_frames));
  c->sched = s;
  c->kind = kind;
  c->state = IRPC__READY;
  c->frames = c->inline_frames;
  c->frames_cap = IRPC__INLINE_FRAMES;
  return c;
}

void irpc__chain_free_response(int kind, void *r) {
  if (kind == IRPC__CLIENT)
    irpc_incoming_response_free(r);
  else
    irpc_outgoing_response_free(r);
}

void irpc__chain_release(irpc__chain *c) {
  for (uint32_t i = 1; i < IRPC__ARENA_CHUNKS; i++)
    if (c->chunks[i])
      chunk_free(c, i);
  if (c->frames != c->inline_frames)
    irpc_free(c->frames);
  irpc__chain_free_response(c->kind, c->response);
  if (c->kind == IRPC__SERVER)
    irpc_incoming_request_free(c->request);
  else if (c->owns_request)
    irpc_outgoing_request_free(c->request);
  c->state = IRPC__FREE;
  irpc__sched_obj_put(c->sched, c);
}

/* ---- Stack ---- */

static int grow_frames(irpc__chain *c) {
  uint32_t cap = c->frames_cap * 2;
  if (cap > IRPC__MAX_DEPTH)
    cap = IRPC__MAX_DEPTH;
  irpc__frame *f = irpc_malloc(cap * sizeof(*f));
  if (!f)
    return IRPC_ENOMEM;
  memcpy(f, c->frames, c->depth * sizeof(*f));
  if (c->frames != c->inline_frames)
    irpc_free(c->frames);
  c->frames = f;
  c->frames_cap = cap;
  return 0;
}

static int push(irpc__chain *c, irpc__node *n) {
  if (c->depth == IRPC__MAX_DEPTH)
    return IRPC_ELIMIT;
  if (c->depth == c->frames_cap && grow_frames(c))
    return IRPC_ENOMEM;
  irpc__frame *f = &c->frames[c->depth];
  f->node = n;
  f->mark = c->mark;
  f->state = NULL;
  if (n->state_size) {
    f->state = arena_alloc(c, n->state_size);
    if (!f->state) {
      c->mark = f->mark;
      return IRPC_ENOMEM;
    }
    memset(f->state, 0, n->state_size);
  }
  c->depth++;
  c->cancel_fn = NULL;
  return 0;
}

static void pop(irpc__chain *c) {
  c->depth--;
  c->mark = c->frames[c->depth].mark;
  c->cancel_fn = NULL;
}

static void enter(irpc__chain *c, irpc__node *n) {
  if (n->kind == IRPC__CLIENT) {
    const irpc_invoker_ops *ops = n->ops;
    if (ops->invoke)
      ops->invoke((irpc_invoker *)n, (irpc_call *)c);
    else
      irpc_call_next((irpc_call *)c);
  } else {
    const irpc_dispatcher_ops *ops = n->ops;
    if (ops->dispatch)
      ops->dispatch((irpc_dispatcher *)n, (irpc_dispatch *)c);
    else
      irpc_dispatch_next((irpc_dispatch *)c);
  }
}

static int leave(irpc__chain *c, irpc__node *n) {
  if (n->kind == IRPC__CLIENT) {
    const irpc_invoker_ops *ops = n->ops;
    return ops->on_complete
               ? ops->on_complete((irpc_invoker *)n, (irpc_call *)c)
               : 0;
  }
  const irpc_dispatcher_ops *ops = n->ops;
  return ops->on_complete
             ? ops->on_complete((irpc_dispatcher *)n, (irpc_dispatch *)c)
             : 0;
}

/* ---- Completion ---- */

#define STR_(x) #x
#define STR(x) STR_(x)
static const char too_deep[] = "The dispatch would pass more than " STR(
    IRPC_DISPATCH_MAX_DEPTH) " dispatchers.";

static void deliver(irpc__chain *c) {
  void *resp = c->response;
  c->response = NULL;
  if (c->kind == IRPC__CLIENT)
    ((irpc_invoke_cb)c->user_cb)((irpc_call *)c, resp ? 0 : c->err, resp,
                                 c->user_data);
  else
    ((irpc_dispatch_done_cb)c->user_cb)((irpc_dispatch *)c, resp, c->user_data);
  irpc__chain_release(c);
}

static void deliver_task(irpc__task *t) {
  deliver((irpc__chain *)t);
}

static void finish(irpc__chain *c) {
  c->state = IRPC__DONE;
  if (c->starting)
    c->finished_early = 1;
  else
    deliver(c);
}

static void unwind(irpc__chain *c) {
  while (c->depth > 0) {
    if (leave(c, c->frames[c->depth - 1].node) != 0)
      return; /* held again: the frame passes or completes it later */
    pop(c);
  }
  finish(c);
}

void irpc__chain_set_result(irpc__chain *c, int err, void *resp) {
  if (c->response && c->response != resp)
    irpc__chain_free_response(c->kind, c->response);
  c->err = err;
  c->response = resp;
}

int irpc__chain_complete(irpc__chain *c, int err, void *resp) {
  if (c->state != IRPC__ACTIVE || c->depth == 0) {
    irpc__chain_free_response(c->kind, resp);
    return IRPC_EDONE;
  }
  irpc__chain_set_result(c, err, resp);
  pop(c);
  unwind(c);
  return 0;
}

/* The holder passed the chain on but it cannot go further (no next,
 * canceled, or the next frame cannot be pushed): the holder's own
 * on_complete sees the result, as if the missing next had answered. The
 * client gets `err`, the server a response that says why. */
void irpc__chain_fail(irpc__chain *c, int err) {
  void *r = NULL;
  if (c->kind == IRPC__SERVER) {
    irpc_outgoing_response *o = NULL;
    if (err == IRPC_ENOINVOKER)
      irpc_outgoing_response_new(&o, IRPC_STATUS_NOT_FOUND, NULL);
    else if (err == IRPC_EDEADLINE)
      irpc_outgoing_response_new(&o, IRPC_STATUS_DEADLINE_EXCEEDED, NULL);
    else if (err == IRPC_ELIMIT)
      irpc_outgoing_response_new(&o, IRPC_STATUS_INTERNAL_ERROR, too_deep);
    else
      irpc_outgoing_response_new(&o, IRPC_STATUS_INTERNAL_ERROR,
                                 irpc_strerror(err));
    r = o;
  }
  irpc__chain_set_result(c, err, r);
  c->cancel_fn = NULL;
  unwind(c);
}

int irpc__chain_abort(irpc__chain *c, int err) {
  if (c->state != IRPC__ACTIVE || c->depth == 0)
    return IRPC_EDONE;
  irpc__chain_fail(c, err);
  return err;
}

/* Every outcome but "not held" leaves the holder without the chain: it
 * went on, or it was completed here (canceled, no next, a push that
 * failed), so a holder that ignores the return value loses nothing. */
int irpc__chain_pass(irpc__chain *c, irpc__node *to) {
  if (c->state != IRPC__ACTIVE || c->depth == 0)
    return IRPC_EDONE;
  if (c->cancel_err) {
    irpc__chain_fail(c, c->cancel_err);
    return 0;
  }
  if (!to) {
    irpc__chain_fail(c, IRPC_ENOINVOKER);
    return 0;
  }
  int rc = to->kind == c->kind ? push(c, to) : IRPC_EINVAL;
  if (rc) {
    irpc__chain_fail(c, rc);
    return rc;
  }
  enter(c, to);
  return 0;
}

static void run_cancel(irpc__chain *c, void (*fn)(void), void *ud) {
  c->cancel_fn = NULL;
  if (c->kind == IRPC__CLIENT)
    ((irpc_call_cancel_fn)fn)((irpc_call *)c, c->cancel_err, ud);
  else
    ((irpc_dispatch_cancel_fn)fn)((irpc_dispatch *)c, c->cancel_err, ud);
}

int irpc__chain_cancel(irpc__chain *c, int err) {
  if (err >= 0)
    return IRPC_EINVAL;
  if (c->state != IRPC__ACTIVE && c->state != IRPC__READY)
    return IRPC_EDONE;
  if (c->cancel_err)
    return 0;
  c->cancel_err = err;
  if (c->cancel_fn)
    run_cancel(c, c->cancel_fn, c->cancel_ud);
  return 0;
}

void irpc__chain_on_cancel(irpc__chain *c, void (*fn)(void), void *ud) {
  if (c->cancel_err && fn) {
    run_cancel(c, fn, ud);
    return;
  }
  c->cancel_fn = fn;
  c->cancel_ud = ud;
}

void *irpc__chain_state(irpc__chain *c) {
  return c->depth ? c->frames[c->depth - 1].state : NULL;
}

irpc__node *irpc__chain_top(const irpc__chain *c) {
  return c->depth ? c->frames[c->depth - 1].node : NULL;
}

/* Pushes the first node and enters it. A chain that completes before this
 * returns is finished by irpc__chain_start's caller (finished_early). */
int irpc__chain_start(irpc__chain *c, irpc__node *n) {
  c->state = IRPC__ACTIVE;
  int rc = push(c, n);
  if (rc)
    return rc;
  c->starting = 1;
  enter(c, n);
  c->starting = 0;
  return 0;
}

void irpc__chain_deliver_later(irpc__chain *c) {
  c->task.fn = deliver_task;
  irpc__sched_post(c->sched, &c->task);
}

void irpc__chain_deliver(irpc__chain *c) {
  deliver(c);
}

void irpc__dispatch_reply_or_abort(irpc_dispatch *d, uint64_t status,
                                   const char *message) {
  int rc = irpc_dispatch_reply(d, status, message);
  if (rc && rc != IRPC_EDONE)
    irpc__chain_abort(&d->c, rc);
}
