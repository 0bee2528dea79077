/* The offload dispatcher: handlers run on the pool's threads, dispatches
 * complete back on their loop, a full queue answers "server busy" at once,
 * a canceled request leaves the queue. Handlers wait on a gate the test
 * opens: no timing is involved. */
#include <string.h>

#include "kit/kit.h"

typedef struct gate {
  uv_mutex_t mutex;
  uv_cond_t cond;
  int open;
  int started; /* handlers that began */
  int ran_on_loop_thread;
  uv_thread_t loop_thread;
} gate;

static irpc_outgoing_response *handler(irpc_incoming_request *req, void *ud) {
  gate *g = ud;
  uv_thread_t self = uv_thread_self();
  uv_mutex_lock(&g->mutex);
  if (uv_thread_equal(&self, &g->loop_thread))
    g->ran_on_loop_thread++;
  g->started++;
  uv_cond_broadcast(&g->cond);
  while (!g->open)
    uv_cond_wait(&g->cond, &g->mutex);
  uv_mutex_unlock(&g->mutex);
  irpc_outgoing_response *r;
  if (irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL) != 0)
    return NULL;
  irpc_buf_move(irpc_outgoing_response_payload(r),
                irpc_incoming_request_payload(req));
  return r;
}

static void wait_started(gate *g, int n) {
  uv_mutex_lock(&g->mutex);
  while (g->started < n)
    uv_cond_wait(&g->cond, &g->mutex);
  uv_mutex_unlock(&g->mutex);
}

static void set_open(gate *g, int open) {
  uv_mutex_lock(&g->mutex);
  g->open = open;
  uv_cond_broadcast(&g->cond);
  uv_mutex_unlock(&g->mutex);
}

typedef struct result {
  int done;
  uint64_t status;
  char message[80];
  int id;
  int off_thread; /* the completion ran off the loop's thread */
  uv_thread_t loop_thread;
} result;

static void on_done(irpc_dispatch *d, irpc_outgoing_response *r, void *ud) {
  result *res = ud;
  (void)d;
  uv_thread_t self = uv_thread_self();
  if (!uv_thread_equal(&self, &res->loop_thread))
    res->off_thread++;
  res->done++;
  res->status = irpc_outgoing_response_status(r);
  const char *m = irpc_outgoing_response_error_message(r);
  snprintf(res->message, sizeof(res->message), "%s", m ? m : "");
  res->id = -1;
  irpc_buf_copyout(irpc_outgoing_response_payload(r), 0, &res->id,
                   sizeof(res->id));
  irpc_outgoing_response_free(r);
}

static irpc_dispatch *dispatch(irpc_dispatcher *disp, int id, result *res) {
  irpc_incoming_request *req;
  assert_irpc_ok(irpc_incoming_request_new(&req, "/work", "op", 0));
  assert_irpc_ok(
      irpc_buf_append(irpc_incoming_request_payload(req), &id, sizeof(id)));
  memset(res, 0, sizeof(*res));
  res->loop_thread = uv_thread_self();
  irpc_dispatch *d;
  assert_irpc_ok(irpc_dispatcher_dispatch(disp, req, on_done, res, &d));
  return d;
}

static void queue_bound_answers_busy(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  gate g;
  memset(&g, 0, sizeof(g));
  uv_mutex_init(&g.mutex);
  uv_cond_init(&g.cond);
  g.loop_thread = uv_thread_self();
  irpc_offload_pool_options po;
  irpc_offload_pool_options_init(&po);
  po.threads = 1;
  po.max_queued = 2;
  irpc_offload_pool *pool;
  assert_irpc_ok(irpc_offload_pool_new(&pool, &po));
  irpc_dispatcher *off;
  assert_irpc_ok(irpc_offload_new(&off, &loop, pool, handler, &g));

  result r[6];
  dispatch(off, 0, &r[0]);
  wait_started(&g, 1); /* the one thread runs it */
  dispatch(off, 1, &r[1]);
  irpc_dispatch *waiting = dispatch(off, 2, &r[2]); /* the queue is full */
  dispatch(off, 3, &r[3]);
  dispatch(off, 4, &r[4]);
  kit_run_until(&loop, &r[3].done);
  kit_run_until(&loop, &r[4].done);
  for (int i = 3; i <= 4; i++) {
    assert_int_equal(r[i].status, IRPC_STATUS_UNAVAILABLE);
    assert_string_equal(r[i].message,
                        "Server busy: the offload queue is full.");
  }
  irpc_offload_pool_stats st;
  assert_irpc_ok(irpc_offload_pool_read(pool, &st));
  assert_int_equal(st.running, 1);
  assert_int_equal(st.queued, 2);
  assert_int_equal(st.rejected, 2);

  /* A waiting request canceled leaves the queue: room for another. */
  assert_irpc_ok(irpc_dispatch_cancel(waiting, IRPC_ECANCELED));
  kit_run_until(&loop, &r[2].done);
  assert_irpc_ok(irpc_offload_pool_read(pool, &st));
  assert_int_equal(st.queued, 1);
  assert_int_equal(st.canceled, 1);
  dispatch(off, 5, &r[5]);

  set_open(&g, 1);
  int order[] = {0, 1, 5};
  for (int k = 0; k < 3; k++) {
    result *x = &r[order[k]];
    kit_run_until(&loop, &x->done);
    assert_int_equal(x->status, IRPC_STATUS_OK);
    assert_int_equal(x->id, order[k]);
  }
  for (int i = 0; i < 6; i++) {
    assert_int_equal(r[i].done, 1); /* exactly once, on the loop */
    assert_int_equal(r[i].off_thread, 0);
  }
  assert_int_equal(g.ran_on_loop_thread, 0);
  assert_int_equal(g.started, 3);
  assert_irpc_ok(irpc_offload_pool_read(pool, &st));
  assert_int_equal(st.done, 3);
  assert_int_equal(st.running + st.queued, 0);

  irpc_dispatcher_free(off);
  irpc_offload_pool_free(pool);
  test_loop_finish(&loop);
  uv_cond_destroy(&g.cond);
  uv_mutex_destroy(&g.mutex);
}

/* Several dispatchers on several loops share one pool; each completion
 * lands on its own loop. */
typedef struct loop_side {
  uv_loop_t loop;
  irpc_dispatcher *off;
  result r[4];
  int completed;
  irpc_offload_pool *pool;
  gate *g;
  int index;
} loop_side;

static void side_done(irpc_dispatch *d, irpc_outgoing_response *r, void *ud) {
  result *res = ud;
  on_done(d, r, ud);
  (void)res;
}

static void side_main(void *arg) {
  loop_side *s = arg;
  uv_loop_init(&s->loop);
  irpc_offload_new(&s->off, &s->loop, s->pool, handler, s->g);
  for (int i = 0; i < 4; i++) {
    irpc_incoming_request *req;
    irpc_incoming_request_new(&req, "/work", "op", 0);
    int id = s->index * 10 + i;
    irpc_buf_append(irpc_incoming_request_payload(req), &id, sizeof(id));
    s->r[i].loop_thread = uv_thread_self();
    irpc_dispatcher_dispatch(s->off, req, side_done, &s->r[i], NULL);
  }
  /* The mailbox keeps the loop running while handlers are out. */
  uv_run(&s->loop, UV_RUN_DEFAULT);
  irpc_dispatcher_free(s->off);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  s->completed = uv_loop_close(&s->loop) == 0;
}

static void shared_pool_many_loops(void **state) {
  (void)state;
  gate g;
  memset(&g, 0, sizeof(g));
  uv_mutex_init(&g.mutex);
  uv_cond_init(&g.cond);
  g.open = 1;
  g.loop_thread = uv_thread_self(); /* no handler runs on the test's */
  irpc_offload_pool_options po;
  irpc_offload_pool_options_init(&po);
  po.threads = 3;
  po.max_queued = 16;
  irpc_offload_pool *pool;
  assert_irpc_ok(irpc_offload_pool_new(&pool, &po));
  enum { SIDES = 3 };
  static loop_side sides[SIDES];
  uv_thread_t t[SIDES];
  for (int i = 0; i < SIDES; i++) {
    memset(&sides[i], 0, sizeof(sides[i]));
    sides[i].pool = pool;
    sides[i].g = &g;
    sides[i].index = i;
    assert_int_equal(uv_thread_create(&t[i], side_main, &sides[i]), 0);
  }
  for (int i = 0; i < SIDES; i++)
    uv_thread_join(&t[i]);
  for (int i = 0; i < SIDES; i++) {
    assert_true(sides[i].completed);
    for (int k = 0; k < 4; k++) {
      assert_int_equal(sides[i].r[k].done, 1);
      assert_int_equal(sides[i].r[k].off_thread, 0);
      assert_int_equal(sides[i].r[k].status, IRPC_STATUS_OK);
      assert_int_equal(sides[i].r[k].id, i * 10 + k);
    }
  }
  assert_int_equal(g.started, SIDES * 4);
  assert_int_equal(g.ran_on_loop_thread, 0);
  irpc_offload_pool_stats st;
  assert_irpc_ok(irpc_offload_pool_read(pool, &st));
  assert_int_equal(st.done, SIDES * 4);
  assert_int_equal(st.rejected, 0);
  irpc_offload_pool_free(pool);
  uv_cond_destroy(&g.cond);
  uv_mutex_destroy(&g.mutex);

  /* Options refused. */
  irpc_offload_pool_options_init(&po);
  po.threads = 1025;
  assert_irpc_err(irpc_offload_pool_new(&pool, &po), IRPC_EINVAL);
  po.struct_size = 0;
  assert_irpc_err(irpc_offload_pool_new(&pool, &po), IRPC_EINVAL);
  irpc_dispatcher *off;
  uv_loop_t loop;
  uv_loop_init(&loop);
  assert_irpc_err(irpc_offload_new(&off, &loop, NULL, handler, NULL),
                  IRPC_EINVAL);
  test_loop_finish(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(queue_bound_answers_busy),
      cmocka_unit_test(shared_pool_many_loops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
