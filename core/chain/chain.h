/* Internal layout of nodes (invokers and dispatchers) and chains (calls and
 * dispatches). Never installed. */
#ifndef IRPC_CORE_CHAIN_H
#define IRPC_CORE_CHAIN_H

#include "base/list.h"
#include "base/scheduler.h"
#include "model/model.h"

/* ---- Nodes: the common base of invokers and dispatchers ---- */

enum { IRPC__CLIENT = 1, IRPC__SERVER = 2 };

typedef struct irpc__node irpc__node;
struct irpc__node {
  int kind;
  const void *ops;
  irpc__node *next;
  uv_loop_t *loop;
  irpc__sched *sched;
  size_t state_size;
  void *owner; /* the pipeline or router that owns it */
  /* Dispatchers: the compression formats decompressed for every request
   * that reaches this one (irpc__dispatcher_set_decompresses). */
  uint64_t decompresses;
};

struct irpc_invoker {
  irpc__node node;
};

struct irpc_dispatcher {
  irpc__node node;
};

#define IRPC__NODE_HEADER IRPC__ALIGN(sizeof(irpc__node))

/* ---- Chains: the common state of calls and dispatches ---- */

#define IRPC__MAX_DEPTH 64
_Static_assert(IRPC__MAX_DEPTH == IRPC_CALL_MAX_DEPTH &&
                   IRPC__MAX_DEPTH == IRPC_DISPATCH_MAX_DEPTH,
               "one depth limit for calls and dispatches");
#define IRPC__INLINE_FRAMES 20
#define IRPC__ARENA_INLINE 512
#define IRPC__ARENA_CHUNKS 6

typedef struct irpc__mark {
  uint32_t chunk;
  uint32_t used;
} irpc__mark;

typedef struct irpc__frame {
  irpc__node *node;
  void *state;
  irpc__mark mark; /* arena position before this frame's state */
} irpc__frame;

enum {
  IRPC__FREE = 0, /* in the pool */
  IRPC__READY,    /* created, not started */
  IRPC__ACTIVE,   /* travelling */
  IRPC__DONE      /* final callback running or ran */
};

typedef struct irpc__chain irpc__chain;

struct irpc__chain {
  irpc__task task;
  irpc__sched *sched;
  int kind;
  int state;
  uint32_t depth;
  uint32_t epoch;     /* bumped on every push, pop and completion */
  int starting;       /* inside the first push */
  int finished_early; /* completed while starting */
  int cancel_err;
  void (*cancel_fn)(void); /* irpc_call_cancel_fn or irpc_dispatch_cancel_fn */
  void *cancel_ud;
  int err;
  void *response;        /* irpc_incoming_response or irpc_outgoing_response */
  void *request;         /* outgoing request (owned if owns_request) / owned
                            incoming request */
  int owns_request;      /* client: irpc_invoke_owned */
  void (*user_cb)(void); /* irpc_invoke_cb or irpc_dispatch_done_cb */
  void *user_data;
  irpc__chain *peer; /* coloc: the dispatch of a call and back */
  irpc__link link;   /* coloc: in-flight or orphan list */
  irpc__list *on;    /* the list it is on, or NULL */
  void *owner;       /* the dispatcher a created dispatch starts at */
  irpc__frame *frames;
  uint32_t frames_cap;
  irpc__mark mark;
  uint8_t *chunks[IRPC__ARENA_CHUNKS];
  uint32_t chunk_size[IRPC__ARENA_CHUNKS];
  irpc__frame inline_frames[IRPC__INLINE_FRAMES];
  alignas(16) uint8_t arena[IRPC__ARENA_INLINE];
};

struct irpc_call {
  irpc__chain c;
};

struct irpc_dispatch {
  irpc__chain c;
};

irpc__chain *irpc__chain_new(irpc__sched *s, int kind);
int irpc__chain_start(irpc__chain *c, irpc__node *n);
int irpc__chain_pass(irpc__chain *c, irpc__node *to);
int irpc__chain_complete(irpc__chain *c, int err, void *resp);
void irpc__chain_fail(irpc__chain *c, int err);
/* Completes a held chain with `err` at its holder (irpc__chain_fail) and
 * returns `err`; IRPC_EDONE if it is not held. */
int irpc__chain_abort(irpc__chain *c, int err);
/* irpc_dispatch_reply that always completes `d`: without memory for the
 * response, with the framework's answer to the error (InternalError, or
 * no response). For middleware and dispatchers that have nothing else to
 * do with the error. */
void irpc__dispatch_reply_or_abort(irpc_dispatch *d, uint64_t status,
                                   const char *message);
void irpc__chain_set_result(irpc__chain *c, int err, void *resp);
void irpc__chain_free_response(int kind, void *r);
void *irpc__chain_state(irpc__chain *c);
irpc__node *irpc__chain_top(const irpc__chain *c);
void irpc__chain_deliver(irpc__chain *c);
void irpc__chain_deliver_later(irpc__chain *c);
int irpc__chain_cancel(irpc__chain *c, int err);
void irpc__chain_on_cancel(irpc__chain *c, void (*fn)(void), void *ud);

/* Node creation shared by invokers and dispatchers. */
/* `ops_copy_size` non-zero: `ops` is an older, shorter table (see
 * base/struct_size.h), kept as a zero-extended copy of that size inside the
 * node. */
int irpc__node_new(irpc__node **out, int kind, uv_loop_t *loop, const void *ops,
                   size_t ops_copy_size, size_t data_size, size_t state_size);
void irpc__node_free(irpc__node *n);

/* A dispatch made ready but not started: the coloc posts it to the loop. */
int irpc__dispatch_create(irpc_dispatcher *disp, irpc_incoming_request *req,
                          irpc_dispatch_done_cb done, void *user_data,
                          irpc__chain **out);
void irpc__dispatch_start(irpc__chain *c);
/* Returns a finished or abandoned dispatch to the pool, freeing its
 * request and response. */
void irpc__chain_release(irpc__chain *c);

/* 1 and the router's middleware list when `d` is a router, else 0
 * (chain/formats.c walks it). */
int irpc__router_middleware(const irpc_dispatcher *d,
                            irpc_dispatcher *const **list, size_t *count);

#endif
