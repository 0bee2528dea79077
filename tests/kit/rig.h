/* The in-process rig of the interceptor and middleware tests: a client
 * pipeline into the coloc invoker, a router with a few test dispatchers, a
 * manual clock, and a spy middleware that records what crossed the
 * "wire". */
#ifndef IRPC_TESTS_KIT_RIG_H
#define IRPC_TESTS_KIT_RIG_H

#include "kit/kit.h"

/* 2024-01-01T00:00:00Z */
#define RIG_T0 INT64_C(1704067200000000000)
#define MS INT64_C(1000000)

typedef struct spy {
  int requests;        /* dispatches seen */
  irpc_fields *fields; /* the last request's fields, as received */
  size_t payload_len;  /* the last request's payload length, as received */
  uint64_t status;     /* the last response status on the way back */
  int responses;
  char trace[256];
} spy;

typedef struct rig {
  uv_loop_t loop;
  irpc_router *router;
  irpc_invoker *coloc;
  irpc_pipeline *pipeline;
  irpc_clock *clock;
  irpc_outgoing_request *fields_holder; /* owns spy.fields */
  spy spy;
} rig;

/* Holds every dispatch until it is canceled, then answers Ok; the cancel
 * error lands in rig_hang_canceled. */
extern int rig_hang_canceled;
extern const irpc_dispatcher_ops rig_hang_ops;

/* The spy middleware (config: the spy). */
extern const irpc_dispatcher_ops spy_ops;

/* A log sink (user data: a sink_log) that keeps the first 8 records. */
typedef struct sink_log {
  int count;
  char lines[8][512];
  char events[8][24];
  irpc_log_level levels[8];
  char local[64]; /* the last record's addresses */
  char remote[64];
} sink_log;

void sink(irpc_log_level level, const irpc_log_record *rec, const char *line,
          void *ud);

void rig_init(rig *r);
/* Adds the spy middleware to the router now (it sees what the middleware
 * added after it will see). */
void rig_spy(rig *r);
irpc_dispatcher *rig_map(rig *r, const char *path,
                         const irpc_dispatcher_ops *ops);
/* Frees the rig and the `n` dispatchers in `mapped`, then checks that the
 * loop closes. */
void rig_fini(rig *r, irpc_dispatcher **mapped, size_t n);
void rig_run(rig *r);

/* What a call ended with. */
typedef struct outcome {
  int done;
  int err;
  uint64_t status;
  irpc_buf *payload;
  irpc_fields *fields;
  irpc_outgoing_request *holder;
  char message[160];
} outcome;

void outcome_init(outcome *o);
void outcome_fini(outcome *o);
/* The completion callback filling an outcome (user data). */
void rig_on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                 void *ud);
/* Invokes `inv` (the rig's pipeline when NULL) into `o`. */
void rig_invoke(rig *r, irpc_invoker *inv, irpc_outgoing_request *req,
                outcome *o, irpc_call **call);

/* Asserts that field `key` holds exactly `len` bytes equal to `bytes`. */
void assert_field(irpc_fields *f, uint64_t key, const void *bytes, size_t len);

#endif
