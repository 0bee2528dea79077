/* Runs the core library alone: built from the objects of core/ only (no
 * interceptors/, no middleware/, no codecs), this program links only if
 * no core file uses a symbol defined there, and checks that the pieces
 * the core owns work without them: clocks and timers, the connection
 * information feature, the compression formats a dispatcher chain
 * announces, and a call through the coloc invoker and a router. */
#include <stdio.h>
#include <string.h>

#include "irpc/clock.h"
#include "irpc/coloc.h"
#include "irpc/compress.h"
#include "irpc/connection_info.h"
#include "irpc/dispatcher.h"
#include "irpc/error.h"
#include "irpc/invoker.h"
#include "irpc/router.h"
#include "irpc/status.h"

static int failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                              \
    }                                                                          \
  } while (0)

static void count_fire(irpc_clock_timer *t, void *ud) {
  (void)t;
  ++*(int *)ud;
}

static void check_clocks(uv_loop_t *loop) {
  irpc_clock *manual, *taken, *sys;
  CHECK(irpc_clock_manual_new(&manual, loop, 1000) == 0);
  CHECK(irpc_clock_take(&taken, manual, loop) == 0);
  CHECK(taken == manual);
  irpc_clock_unref(manual); /* `taken` keeps it alive */
  irpc_clock_timer t;
  int fired = 0;
  irpc_clock_timer_init(&t, count_fire, &fired);
  CHECK(irpc_clock_timer_start(taken, &t, 50) == 0);
  CHECK(irpc_clock_advance(taken, 49) == 0 && fired == 0);
  CHECK(irpc_clock_advance(taken, 1) == 0 && fired == 1);
  CHECK(irpc_clock_now_unix_ns(taken) == 1050);
  CHECK(irpc_clock_take(&sys, NULL, loop) == 0);
  CHECK(sys != taken && irpc_clock_loop(sys) == loop);
  irpc_clock_unref(sys);
  irpc_clock_unref(taken);
}

/* Answers Ok when the request says it arrived through the coloc invoker. */
static void where_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  const irpc_connection_info *ci =
      irpc_incoming_request_connection_info(irpc_dispatch_request(d));
  int coloc = ci && strcmp(ci->remote_address, "coloc") == 0;
  irpc_dispatch_reply(d, coloc ? IRPC_STATUS_OK : IRPC_STATUS_NOT_FOUND,
                      coloc ? NULL : "no coloc connection information");
}

static const irpc_dispatcher_ops where_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "where",
    .dispatch = where_dispatch,
};

typedef struct result {
  int calls, err;
  uint64_t status;
} result;

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  result *r = ud;
  r->calls++;
  r->err = err;
  r->status = resp ? irpc_incoming_response_status(resp) : UINT64_MAX;
  irpc_incoming_response_free(resp);
}

static void on_shutdown(int status, void *ud) {
  *(int *)ud = status + 1;
}

static void check_coloc(uv_loop_t *loop) {
  irpc_dispatcher *where;
  irpc_router *router;
  irpc_invoker *coloc;
  CHECK(irpc_dispatcher_new(&where, loop, &where_ops, NULL) == 0);
  CHECK(irpc_router_new(&router, loop) == 0);
  CHECK(irpc_router_map(router, "/where", where) == 0);
  /* No compress middleware: the chain decompresses nothing. */
  CHECK(irpc_compress_formats_decompressed_by(irpc_router_dispatcher(router)) ==
        0);
  CHECK(irpc_compress_formats_readable() != 0);
  CHECK(irpc_coloc_new(&coloc, loop, irpc_router_dispatcher(router)) == 0);
  irpc_outgoing_request *req;
  CHECK(irpc_outgoing_request_new(&req, "/where", "op") == 0);
  result r = {0, 0, 0};
  CHECK(irpc_invoke(coloc, req, on_done, &r, NULL) == 0);
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(r.calls == 1 && r.err == 0 && r.status == IRPC_STATUS_OK);
  const irpc_connection_info *ci = irpc_outgoing_request_connection_info(req);
  CHECK(ci && strcmp(ci->local_address, "coloc") == 0);
  irpc_outgoing_request_free(req);
  int shut = 0;
  CHECK(irpc_coloc_shutdown(coloc, 1000, on_shutdown, &shut) == 0);
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(shut == 1);
  irpc_invoker_free(coloc);
  irpc_router_free(router);
  irpc_dispatcher_free(where);
}

int main(void) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0)
    return 1;
  check_clocks(&loop);
  check_coloc(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  if (failures)
    fprintf(stderr, "core_alone: %d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
