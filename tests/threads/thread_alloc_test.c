/* Every allocation failing in turn on the paths that cross threads:
 *   - a call queued from another thread while the loop that starts it
 *     cannot allocate: the caller learns the outcome exactly once, on the
 *     loop or through its ticket; the blocking client returns the error;
 *   - a socket handed to a loop of a multi-loop server that cannot
 *     allocate its connection: the socket is closed (the client's call
 *     fails at once, not at a timeout), nothing leaks, the server keeps
 *     serving;
 *   - an offloaded request that cannot be answered (its response, the
 *     "server busy" answer or the handler's failure cannot be allocated):
 *     the dispatch completes exactly once.
 * Each run fails the Nth allocation of the threads under examination, for
 * N = 1, 2, ... until a run reaches no failure (the kit's shared allocator);
 * every run ends with as many blocks and descriptors as it started with. */
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <dirent.h>
#endif

#include "echo_loop.h"
#include "kit/net.h"
#include "tkit.h"

#define SWEEP_MAX 5000

/* Open descriptors of the process, where it can tell (else 0). */
static int open_fds(void) {
  int n = 0;
#ifdef __linux__
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return 0;
  while (readdir(d))
    n++;
  closedir(d);
#endif
  return n;
}

/* A request to "/echo" carrying `id`. */
static irpc_outgoing_request *id_request(int id) {
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/echo", "op"));
  assert_irpc_ok(
      irpc_buf_append(irpc_outgoing_request_payload(req), &id, sizeof(id)));
  return req;
}

/* What one call ended with. */
typedef struct outcome {
  int done; /* completions seen */
  int err;
  uint64_t status;
  int id;
} outcome;

static void outcome_set(outcome *o, int err, irpc_incoming_response *resp) {
  o->done++;
  o->err = err;
  o->id = -1;
  if (resp) {
    o->status = irpc_incoming_response_status(resp);
    irpc_buf_copyout(irpc_incoming_response_payload(resp), 0, &o->id,
                     sizeof(o->id));
  }
  irpc_incoming_response_free(resp);
}

/* A call that ran: Ok with its payload echoed, InternalError (the server
 * could not answer) or a named error; only Ok when nothing failed. */
static void assert_outcome(const outcome *o, int id, int untouched) {
  assert_int_equal(o->done, 1);
  if (o->err == 0 && o->status == IRPC_STATUS_OK) {
    assert_int_equal(o->id, id);
  } else if (o->err == 0) {
    /* The server could not allocate its answer. */
    assert_int_equal(o->status, IRPC_STATUS_INTERNAL_ERROR);
    assert_false(untouched);
  } else {
    assert_true(o->err < 0);
    assert_string_not_equal(irpc_err_name(o->err), "UNKNOWN");
    assert_false(untouched);
  }
}

/* ---- An echo server on other threads, whose allocations never fail ---- */

static int exempt_factory(uv_loop_t *loop, unsigned index,
                          irpc_dispatcher **out, void *ud) {
  test_alloc_set_exempt(1);
  return echo_loop_factory(loop, index, out, ud);
}

static irpc_multi_server *exempt_echo_server(char *bound, size_t len) {
  return echo_loop_start_with(1, exempt_factory, bound, len);
}

/* ---- The call queue ---- */

typedef struct cq_caller {
  irpc_call_queue *q;
  irpc_outgoing_request *req;
  outcome *on_loop; /* irpc_call_queue_invoke's, NULL: a ticket */
  int rc;           /* what queuing returned */
  outcome waited;   /* a ticket's */
} cq_caller;

static void on_queue_done(int err, irpc_incoming_response *resp, void *ud) {
  outcome_set(ud, err, resp);
}

/* On another thread: queues its request. */
static void cq_caller_main(void *arg) {
  cq_caller *c = arg;
  irpc_outgoing_request *req = c->req;
  c->req = NULL;
  if (c->on_loop) {
    c->rc = irpc_call_queue_invoke(c->q, req, on_queue_done, c->on_loop);
    return;
  }
  irpc_call_ticket *t;
  c->rc = irpc_call_queue_submit(c->q, req, &t);
  if (c->rc) /* not queued */
    return;
  irpc_incoming_response *resp = NULL;
  int err = irpc_call_ticket_wait(t, &resp);
  if (err)
    assert_null(resp);
  outcome_set(&c->waited, err, resp);
}

/* A call from another thread, through the queue, on the loop or with a
 * ticket; returns the outcome in *o. */
static int cq_call(uv_loop_t *loop, irpc_call_queue *q,
                   irpc_outgoing_request *req, int ticket, outcome *o) {
  memset(o, 0, sizeof(*o));
  cq_caller c = {.q = q, .req = req, .on_loop = ticket ? NULL : o};
  tkit_bg bg;
  tkit_bg_start(&bg, loop, cq_caller_main, &c);
  tkit_bg_finish(&bg, loop);
  if (ticket)
    *o = c.waited;
  else if (c.rc == 0)
    kit_run_until(loop, &o->done);
  return c.rc;
}

/* One run with the Nth allocation of this loop's thread and of the
 * callers failing: a call with a callback, then one with a ticket, then
 * one that must succeed. Returns 1 when nothing failed. */
static int queue_run(const char *bound, long n) {
  long live = test_alloc_live();
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, &loop, bound, NULL));
  irpc_outgoing_request *req[2] = {id_request(0), id_request(1)};
  test_alloc_arm(n, 0);
  irpc_call_queue *q;
  int rc = irpc_call_queue_new(&q, inv);
  if (rc) {
    assert_irpc_err(rc, IRPC_ENOMEM);
    test_alloc_disarm();
    irpc_outgoing_request_free(req[0]);
    irpc_outgoing_request_free(req[1]);
  } else {
    for (int ticket = 0; ticket < 2; ticket++) {
      outcome o;
      rc = cq_call(&loop, q, req[ticket], ticket, &o);
      if (rc) {
        /* Refused before it was queued: no completion. */
        assert_irpc_err(rc, IRPC_ENOMEM);
        assert_int_equal(o.done, 0);
      } else {
        assert_outcome(&o, ticket, 0);
      }
    }
    int untouched = test_alloc_disarm();
    outcome o;
    assert_irpc_ok(cq_call(&loop, q, id_request(7), 0, &o));
    assert_outcome(&o, 7, 1);
    irpc_call_queue_free(q);
    if (untouched) {
      /* The run did not reach the Nth allocation: the sweep is over. */
      rc = 1;
    } else {
      rc = 0;
    }
  }
  int done = 0;
  if (irpc_client_connection_shutdown(inv, kit_status_cb, &done) == 0)
    kit_run_until(&loop, &done);
  irpc_invoker_free(inv);
  test_loop_finish(&loop);
  assert_int_equal(test_alloc_live(), live);
  return rc == 1;
}

/* Runs run(bound, N) for N = 1, 2, ... against an echo server whose
 * allocations never fail, until a run fails nothing; returns the server. */
static irpc_multi_server *sweep(int (*run)(const char *bound, long n),
                                const char *what) {
  test_alloc_set_exempt(0);
  char bound[256];
  irpc_multi_server *ms = exempt_echo_server(bound, sizeof(bound));
  long n = 1;
  while (!run(bound, n))
    assert_true(++n < SWEEP_MAX);
  print_message("%ld allocations of %s failed in turn\n", n - 1, what);
  return ms;
}

static void call_queue_sweep(void **state) {
  (void)state;
  irpc_multi_server *ms = sweep(queue_run, "the loop and the callers");
  irpc_multi_server_stats st;
  irpc_multi_server_read_stats(ms, &st, NULL, 0);
  assert_int_equal(st.dispatches_current, 0);
  irpc_multi_server_free(ms);
}

/* ---- The blocking client ---- */

/* One run with the Nth allocation of this thread and of the client's
 * thread failing. Returns 1 when nothing failed. */
static int blocking_run(const char *bound, long n) {
  long live = test_alloc_live();
  irpc_outgoing_request *req = id_request(1);
  test_alloc_arm(n, 0);
  /* The client's own thread may fail from its start on; this thread's
   * uv_loop_init may not (libuv aborts when it cannot allocate there). */
  test_alloc_set_exempt(1);
  irpc_blocking_client *bc;
  int rc = irpc_blocking_client_new(&bc, bound, NULL);
  test_alloc_set_exempt(0);
  if (rc) {
    irpc_outgoing_request_free(req);
    assert_irpc_err(rc, IRPC_ENOMEM);
    assert_false(test_alloc_disarm());
  } else {
    irpc_incoming_response *resp = NULL;
    outcome o = {0};
    rc = irpc_blocking_client_invoke(bc, req, &resp);
    if (rc)
      assert_null(resp);
    outcome_set(&o, rc, resp);
    int untouched = test_alloc_disarm();
    assert_outcome(&o, 1, untouched);
    /* The next call goes through. */
    assert_irpc_ok(irpc_blocking_client_invoke(bc, id_request(2), &resp));
    memset(&o, 0, sizeof(o));
    outcome_set(&o, 0, resp);
    assert_outcome(&o, 2, 1);
    irpc_blocking_client_free(bc);
    rc = untouched;
  }
  assert_int_equal(test_alloc_live(), live);
  return rc == 1;
}

static void blocking_client_sweep(void **state) {
  (void)state;
  irpc_multi_server_free(sweep(blocking_run, "the blocking client"));
}

/* ---- The multi-loop server's hand-off ---- */

#define LOOPS 2

typedef struct handoff {
  unsigned failing; /* the loop whose allocations may fail */
  irpc_multi_server *ms;
  int shutdown_rc;
} handoff;

static int handoff_factory(uv_loop_t *loop, unsigned index,
                           irpc_dispatcher **out, void *ud) {
  handoff *h = ud;
  test_alloc_set_exempt(index != h->failing);
  return echo_loop_factory(loop, index, out, ud);
}

static void handoff_shutdown(void *arg) {
  handoff *h = arg;
  h->shutdown_rc = irpc_multi_server_shutdown(h->ms);
}

static void on_call(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  outcome_set(ud, err, resp);
}

/* A new connection to the server and a call on it. */
static irpc_invoker *connect_and_call(uv_loop_t *loop, const char *bound,
                                      int id, outcome *o) {
  irpc_invoker *inv;
  assert_irpc_ok(irpc_client_connection_new(&inv, loop, bound, NULL));
  memset(o, 0, sizeof(*o));
  assert_irpc_ok(irpc_invoke_owned(inv, id_request(id), on_call, o, NULL));
  kit_run_until(loop, &o->done);
  return inv;
}

/* libuv aborts when it cannot grow a loop's table of descriptors, which
 * is not what is examined here: each loop of the server watches a
 * descriptor numbered 250 for a moment, so that its table has room for
 * every descriptor a run opens. */
typedef struct widener {
  uv_poll_t poll;
  int fd;
} widener;

static void widener_closed(uv_handle_t *h) {
  widener *w = h->data;
  close(w->fd);
  free(w);
}

static void widen_fd_table(irpc_multi_server *ms, unsigned index,
                           uv_loop_t *loop, void *ud) {
  (void)ms, (void)index, (void)ud;
  widener *w = malloc(sizeof(*w));
  assert_non_null(w);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s >= 0);
  w->fd = fcntl(s, F_DUPFD_CLOEXEC, 250);
  close(s);
  assert_true(w->fd >= 250);
  assert_int_equal(uv_poll_init_socket(loop, &w->poll, w->fd), 0);
  w->poll.data = w;
  assert_int_equal(uv_poll_start(&w->poll, UV_READABLE, NULL), 0);
  uv_close((uv_handle_t *)&w->poll, widener_closed);
}

/* One run: a new server of two loops, the allocations of loop `failing`
 * failing from the Nth on (`more` after it), and a connection to each
 * loop. Returns 1 when nothing failed. */
static int handoff_run(unsigned failing, long n, long more) {
  long live = test_alloc_live();
  int fds = open_fds();
  handoff h = {.failing = failing};
  irpc_multi_server_options so;
  irpc_multi_server_options_init(&so);
  so.loops = LOOPS;
  so.factory = handoff_factory;
  so.release = echo_loop_release;
  so.user_data = &h;
  assert_irpc_ok(irpc_multi_server_new(&h.ms, &so));
  char bound[256];
  assert_irpc_ok(
      irpc_multi_server_listen(h.ms, "icerpc://127.0.0.1:0", bound, 256));
  assert_irpc_ok(irpc_multi_server_visit(h.ms, widen_fd_table, NULL));
  uv_loop_t loop;
  uv_loop_init(&loop);
  /* A connection to each loop first, kept open. */
  irpc_invoker *warm[LOOPS];
  for (int i = 0; i < LOOPS; i++) {
    outcome w;
    warm[i] = connect_and_call(&loop, bound, i, &w);
    assert_outcome(&w, i, 1);
  }
  irpc_invoker *c[LOOPS + 1];
  outcome o[LOOPS + 1];
  test_alloc_arm(n, more);
  /* Every loop has one connection: the first goes to loop 0, the second to
   * loop 1. */
  for (int i = 0; i < LOOPS; i++) {
    c[i] = connect_and_call(&loop, bound, i, &o[i]);
    /* The socket is closed at once, never left for the client to time
     * out. */
    assert_int_not_equal(o[i].err, IRPC_ETIMEDOUT);
  }
  int untouched = test_alloc_disarm();
  for (int i = 0; i < LOOPS; i++)
    assert_outcome(&o[i], i, untouched);
  /* The server keeps serving. */
  c[LOOPS] = connect_and_call(&loop, bound, LOOPS, &o[LOOPS]);
  assert_outcome(&o[LOOPS], LOOPS, 1);
  tkit_bg bg;
  tkit_bg_start(&bg, &loop, handoff_shutdown, &h);
  tkit_bg_finish(&bg, &loop);
  for (int i = 0; i <= LOOPS; i++) {
    int done = 0;
    if (irpc_client_connection_shutdown(c[i], kit_status_cb, &done) == 0)
      kit_run_until(&loop, &done);
    irpc_invoker_free(c[i]);
  }
  for (int i = 0; i < LOOPS; i++) {
    int done = 0;
    if (irpc_client_connection_shutdown(warm[i], kit_status_cb, &done) == 0)
      kit_run_until(&loop, &done);
    irpc_invoker_free(warm[i]);
  }
  /* Every socket handed to a loop was counted out exactly once. */
  irpc_multi_server_stats st;
  irpc_multi_server_read_stats(h.ms, &st, NULL, 0);
  assert_int_equal(st.connections_current, 0);
  assert_int_equal(st.dispatches_current, 0);
  irpc_multi_server_free(h.ms);
  test_loop_finish(&loop);
  for (int i = 0; i <= LOOPS; i++)
    assert_int_equal(o[i].done, 1);
  assert_int_equal(test_alloc_live(), live);
  assert_int_equal(open_fds(), fds);
  return untouched;
}

static void handoff_sweep(unsigned failing) {
  test_alloc_set_exempt(1); /* the clients' thread */
  long n = 1;
  while (!handoff_run(failing, n, 0))
    assert_true(++n < SWEEP_MAX);
  print_message("%ld allocations of loop %u failed in turn\n", n - 1, failing);
  /* A loop that cannot allocate at all. */
  assert_false(handoff_run(failing, 1, SWEEP_MAX));
  test_alloc_set_exempt(0);
}

static void handoff_accepting_loop(void **state) {
  (void)state;
  handoff_sweep(0);
}

static void handoff_receiving_loop(void **state) {
  (void)state;
  handoff_sweep(1);
}

/* ---- The offload pool ---- */

typedef struct gate {
  uv_mutex_t mutex;
  uv_cond_t cond;
  int closed; /* the handler waits while it is */
  int started;
} gate;

static irpc_outgoing_response *echo_handler(irpc_incoming_request *req,
                                            void *ud) {
  gate *g = ud;
  uv_mutex_lock(&g->mutex);
  g->started++;
  uv_cond_broadcast(&g->cond);
  while (g->closed)
    uv_cond_wait(&g->cond, &g->mutex);
  uv_mutex_unlock(&g->mutex);
  irpc_outgoing_response *r;
  if (irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL) != 0)
    return NULL;
  if (irpc_buf_move(irpc_outgoing_response_payload(r),
                    irpc_incoming_request_payload(req)) != 0) {
    irpc_outgoing_response_free(r);
    return NULL;
  }
  return r;
}

static void gate_set(gate *g, int closed) {
  uv_mutex_lock(&g->mutex);
  g->closed = closed;
  uv_cond_broadcast(&g->cond);
  uv_mutex_unlock(&g->mutex);
}

static int gate_started(gate *g) {
  uv_mutex_lock(&g->mutex);
  int n = g->started;
  uv_mutex_unlock(&g->mutex);
  return n;
}

static void gate_wait_started(gate *g, int n) {
  uv_mutex_lock(&g->mutex);
  while (g->started < n)
    uv_cond_wait(&g->cond, &g->mutex);
  uv_mutex_unlock(&g->mutex);
}

typedef struct dresult {
  int done;
  uint64_t status;
  int id;
} dresult;

static void on_dispatched(irpc_dispatch *d, irpc_outgoing_response *r,
                          void *ud) {
  dresult *res = ud;
  (void)d;
  res->done++;
  res->id = -1;
  res->status = IRPC_STATUS_INTERNAL_ERROR; /* r NULL: memory ran out */
  if (r) {
    res->status = irpc_outgoing_response_status(r);
    irpc_buf_copyout(irpc_outgoing_response_payload(r), 0, &res->id,
                     sizeof(res->id));
  }
  irpc_outgoing_response_free(r);
}

/* A request carrying `id`. */
static irpc_incoming_request *work_request(int id) {
  irpc_incoming_request *req;
  assert_irpc_ok(irpc_incoming_request_new(&req, "/work", "op", 0));
  assert_irpc_ok(
      irpc_buf_append(irpc_incoming_request_payload(req), &id, sizeof(id)));
  return req;
}

/* Dispatches `req`; returns what dispatching returned. */
static int offload_dispatch(irpc_dispatcher *off, irpc_incoming_request *req,
                            dresult *res) {
  memset(res, 0, sizeof(*res));
  return irpc_dispatcher_dispatch(off, req, on_dispatched, res, NULL);
}

/* One run with the Nth allocation of this loop and of the pool's thread
 * failing: a request the pool runs, then (its one thread held, nothing may
 * wait) one it refuses. Returns 1 when nothing failed. */
static int offload_run(long n) {
  long live = test_alloc_live();
  uv_loop_t loop;
  uv_loop_init(&loop);
  gate g;
  memset(&g, 0, sizeof(g));
  uv_mutex_init(&g.mutex);
  uv_cond_init(&g.cond);
  irpc_offload_pool_options po;
  irpc_offload_pool_options_init(&po);
  po.threads = 1;
  po.max_queued = 0;
  irpc_offload_pool *pool;
  assert_irpc_ok(irpc_offload_pool_new(&pool, &po));
  irpc_dispatcher *off;
  assert_irpc_ok(irpc_offload_new(&off, &loop, pool, echo_handler, &g));

  irpc_incoming_request *req[3] = {work_request(1), work_request(2),
                                   work_request(3)};
  test_alloc_arm(n, 0);
  dresult ran, busy, held;
  int rc = offload_dispatch(off, req[0], &ran);
  if (rc) {
    assert_irpc_err(rc, IRPC_ENOMEM);
  } else {
    kit_run_until(&loop, &ran.done);
    /* Ok and echoed, or InternalError: the handler or the answer could
     * not be allocated. */
    if (ran.status == IRPC_STATUS_OK)
      assert_int_equal(ran.id, 1);
    else
      assert_int_equal(ran.status, IRPC_STATUS_INTERNAL_ERROR);
  }
  int untouched = test_alloc_disarm();
  /* The pool's thread held by a request made without failures. */
  gate_set(&g, 1);
  int started = gate_started(&g);
  assert_irpc_ok(offload_dispatch(off, req[1], &held));
  gate_wait_started(&g, started + 1);
  test_alloc_arm(n, 0);
  int rc2 = offload_dispatch(off, req[2], &busy);
  if (rc2) {
    assert_irpc_err(rc2, IRPC_ENOMEM);
  } else {
    kit_run_until(&loop, &busy.done);
    /* Server busy, or InternalError when that answer could not be
     * allocated; at once, while the pool's thread is held. */
    if (busy.status != IRPC_STATUS_INTERNAL_ERROR)
      assert_int_equal(busy.status, IRPC_STATUS_UNAVAILABLE);
  }
  untouched = test_alloc_disarm() && untouched;
  gate_set(&g, 0);
  kit_run_until(&loop, &held.done);
  assert_int_equal(held.status, IRPC_STATUS_OK);
  irpc_dispatcher_free(off);
  test_loop_finish(&loop);
  irpc_offload_pool_free(pool);
  uv_cond_destroy(&g.cond);
  uv_mutex_destroy(&g.mutex);
  /* Exactly once each. */
  if (rc == 0)
    assert_int_equal(ran.done, 1);
  if (rc2 == 0)
    assert_int_equal(busy.done, 1);
  assert_int_equal(held.done, 1);
  assert_int_equal(test_alloc_live(), live);
  return untouched;
}

static void offload_sweep(void **state) {
  (void)state;
  test_alloc_set_exempt(0);
  long n = 1;
  while (!offload_run(n))
    assert_true(++n < SWEEP_MAX);
  print_message("%ld allocations of an offloaded and a refused request "
                "failed in turn\n",
                n - 1);
}

int main(void) {
  test_alloc_install_shared();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(call_queue_sweep),
      cmocka_unit_test(blocking_client_sweep),
      cmocka_unit_test(handoff_accepting_loop),
      cmocka_unit_test(handoff_receiving_loop),
      cmocka_unit_test(offload_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
