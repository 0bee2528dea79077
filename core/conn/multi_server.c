/* The multi-loop server (irpc/multi_server.h): N loops on N threads, one
 * irpc_server each; loop 0 listens and hands each accepted socket to the
 * least loaded loop through that loop's mailbox. */
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "connector.h"
#include "server_internal.h"
#include "base/mailbox.h"
#include "base/struct_size.h"
#include "chain/chain.h"
#include "transport/tls/tls_internal.h"
#include "transport/transport_internal.h"
#include "irpc/alloc.h"
#include "irpc/multi_server.h"
#include "irpc/status.h"

/* Counters one loop writes and any thread reads; each loop's on a cache
 * line of its own. */
typedef struct ms_counters {
  _Atomic uint64_t accepted;
  _Atomic uint64_t current; /* incremented by the acceptor, at hand-over */
  _Atomic uint64_t dtotal;
  _Atomic uint64_t dcurrent;
  _Atomic uint64_t dfailed;
  char pad[64 - 5 * sizeof(uint64_t) % 64];
} ms_counters;

/* The TLS handshakes of one loop for the listeners of one route: the
 * sockets of a TLS listener move between loops as plain TCP, and the loop
 * that will serve one runs its server handshake. */
#define MS_TLS_ROUTES 4
typedef struct ms_tls {
  struct ms_loop *lp;
  irpc__route route; /* transport: the TLS one; protocol: its ALPN */
  irpc__tls_handshaker *h;
} ms_tls;

typedef struct ms_loop {
  irpc_multi_server *ms;
  unsigned index;
  uv_loop_t loop;
  uv_thread_t thread;
  int loop_live;   /* uv_loop_init succeeded */
  int thread_live; /* started, not joined */
  irpc__mailbox mb;
  int mb_live;
  irpc_dispatcher *app;     /* the factory's chain */
  irpc_dispatcher *counter; /* in front of it */
  irpc_server *server;
  int stopping; /* irpc_multi_server_free reached this loop */
  int released; /* the chain was released */
  int release_posted;
  int stop_sent; /* the controller's */
  int start_rc;  /* the loop's start, for the controller */
  int shut_rc;   /* its server's shutdown status */
  irpc__mail release_mail;
  irpc__mail shutdown_mail;  /* the controller's, once */
  ms_tls tls[MS_TLS_ROUTES]; /* made on first use, on the loop's thread */
  unsigned ntls;
  /* This loop's listeners (loop 0's, or each loop's with SO_REUSEPORT). */
  irpc__list listeners;
  size_t nlisteners_open;
  ms_counters counters;
} ms_loop;

/* A listener: loop 0's, which hands connections over, or one of each
 * loop's (SO_REUSEPORT), which serves its own. */
typedef struct ms_listener {
  irpc__link link;
  irpc_multi_server *ms;
  ms_loop *lp;
  int local; /* serves what it accepts on its loop */
  irpc_listener *l;
  irpc__route route;
  int tls; /* l is the TCP or UDS listener under route.transport */
} ms_listener;

struct irpc_multi_server {
  irpc_multi_server_options opts;
  unsigned n;
  ms_loop *loops;
  /* The controller waits here for the loops' answers. */
  uv_mutex_t mutex;
  uv_cond_t cond;
  unsigned pending; /* answers still expected, under mutex */
  int shut;         /* irpc_multi_server_shutdown was called */
  /* Loop 0's: */
  unsigned rr; /* where the next tie-break starts */
};

/* A mail that carries a socket to the loop that will serve it. */
typedef struct ms_handover {
  irpc__mail mail;
  ms_loop *to;
  irpc__route route;
  uv_os_sock_t fd;
  int is_pipe;
  int tls; /* the loop runs the TLS handshake first */
} ms_handover;

/* A mail whose function the controller waits for. */
typedef struct ms_job {
  irpc__mail mail;
  ms_loop *lp;
  void (*fn)(struct ms_job *job);
  int rc;
  const char *address;
  char *bound;
  size_t bound_len;
  int reuseport; /* a listener on this loop, with SO_REUSEPORT */
  uint16_t port; /* in: the port to bind (0: the address's); out: bound */
  irpc_multi_server_visit_fn visit;
  void *visit_ud;
} ms_job;

void irpc_multi_server_options_init_sized(irpc_multi_server_options *o,
                                          size_t size) {
  irpc_multi_server_options d;
  memset(&d, 0, sizeof(d));
  irpc_server_options_init(&d.server);
  irpc__struct_export(o, size, &d, sizeof(d));
}

static int on_a_loop_thread(const irpc_multi_server *ms) {
  uv_thread_t self = uv_thread_self();
  for (unsigned i = 0; i < ms->n; i++)
    if (ms->loops[i].thread_live &&
        uv_thread_equal(&self, &ms->loops[i].thread))
      return 1;
  return 0;
}

/* ---- Answers to the controller ---- */

static void answer(irpc_multi_server *ms) {
  uv_mutex_lock(&ms->mutex);
  ms->pending--;
  uv_cond_broadcast(&ms->cond);
  uv_mutex_unlock(&ms->mutex);
}

static void expect(irpc_multi_server *ms, unsigned n) {
  uv_mutex_lock(&ms->mutex);
  ms->pending += n;
  uv_mutex_unlock(&ms->mutex);
}

static void wait_answers(irpc_multi_server *ms) {
  uv_mutex_lock(&ms->mutex);
  while (ms->pending)
    uv_cond_wait(&ms->cond, &ms->mutex);
  uv_mutex_unlock(&ms->mutex);
}

static void job_mail(irpc__mail *m) {
  ms_job *job = IRPC__CONTAINER_OF(m, ms_job, mail);
  job->fn(job);
  answer(job->lp->ms);
}

/* Runs job->fn on loop `lp` and waits for it. */
static int run_on(ms_loop *lp, ms_job *job) {
  job->lp = lp;
  job->mail.fn = job_mail;
  expect(lp->ms, 1);
  irpc__mailbox_post(&lp->mb, &job->mail);
  wait_answers(lp->ms);
  return job->rc;
}

/* ---- The counting dispatcher in front of each loop's chain ---- */

static void count_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  ms_loop *lp = *(ms_loop **)irpc_dispatcher_data(self);
  atomic_fetch_add_explicit(&lp->counters.dtotal, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&lp->counters.dcurrent, 1, memory_order_relaxed);
  irpc_dispatch_next(d);
}

static void maybe_release(ms_loop *lp);

static int count_complete(irpc_dispatcher *self, irpc_dispatch *d) {
  ms_loop *lp = *(ms_loop **)irpc_dispatcher_data(self);
  irpc_outgoing_response *r = irpc_dispatch_response(d);
  if (!r || irpc_outgoing_response_status(r) != IRPC_STATUS_OK)
    atomic_fetch_add_explicit(&lp->counters.dfailed, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&lp->counters.dcurrent, 1, memory_order_relaxed);
  if (lp->stopping)
    maybe_release(lp);
  return 0;
}

static int count_init(irpc_dispatcher *self, const void *config) {
  *(ms_loop **)irpc_dispatcher_data(self) = (ms_loop *)config;
  return 0;
}

static const irpc_dispatcher_ops count_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "multi-server-counter",
    .data_size = sizeof(ms_loop *),
    .init = count_init,
    .dispatch = count_dispatch,
    .on_complete = count_complete,
};

/* ---- Connections ---- */

static void conn_open(irpc_server *s, irpc_connection *c, int err, void *ud) {
  ms_loop *lp = ud;
  if (lp->ms->opts.on_open)
    lp->ms->opts.on_open(s, c, err, lp->ms->opts.user_data);
}

static void conn_close(irpc_server *s, irpc_connection *c, int err, void *ud) {
  ms_loop *lp = ud;
  atomic_fetch_sub_explicit(&lp->counters.current, 1, memory_order_relaxed);
  if (lp->ms->opts.on_close)
    lp->ms->opts.on_close(s, c, err, lp->ms->opts.user_data);
}

/* On the target loop. */
static void adopt(ms_loop *lp, const irpc__route *route, irpc_duplex *d) {
  if (lp->stopping || irpc__server_adopt(lp->server, route, d) != 0)
    atomic_fetch_sub_explicit(&lp->counters.current, 1, memory_order_relaxed);
}

static void tls_done(irpc_duplex *d, int err, void *ud) {
  ms_tls *mt = ud;
  (void)err; /* the context's on_handshake_error has it */
  if (d)
    adopt(mt->lp, &mt->route, d);
  else
    atomic_fetch_sub_explicit(&mt->lp->counters.current, 1,
                              memory_order_relaxed);
}

/* On the target loop: `d`, accepted by a TLS listener of route `route`,
 * runs its server handshake on this loop before it joins the server. */
static void tls_start(ms_loop *lp, const irpc__route *route, irpc_duplex *d) {
  ms_tls *mt = NULL;
  for (unsigned i = 0; i < lp->ntls && !mt; i++)
    if (lp->tls[i].route.transport == route->transport &&
        lp->tls[i].route.protocol == route->protocol)
      mt = &lp->tls[i];
  if (!mt && lp->ntls < MS_TLS_ROUTES) {
    mt = &lp->tls[lp->ntls];
    if (irpc__tls_handshaker_new(&mt->h, &lp->loop, route->transport,
                                 route->protocol->name, tls_done, mt) == 0) {
      mt->lp = lp;
      mt->route = *route;
      lp->ntls++;
    } else {
      mt = NULL;
    }
  }
  if (lp->stopping || !mt) {
    irpc_duplex_close(d, NULL, NULL);
    atomic_fetch_sub_explicit(&lp->counters.current, 1, memory_order_relaxed);
    return;
  }
  irpc__tls_handshaker_start(mt->h, d);
}

/* Closes the handshakes under way on this loop. */
static void tls_stop(ms_loop *lp) {
  for (unsigned i = 0; i < lp->ntls; i++)
    irpc__tls_handshaker_free(lp->tls[i].h);
  lp->ntls = 0;
}

/* On the target loop: a connection accepted on loop 0. */
static void serve(ms_loop *lp, const irpc__route *route, int tls,
                  irpc_duplex *d) {
  if (tls)
    tls_start(lp, route, d);
  else
    adopt(lp, route, d);
}

static void handover_mail(irpc__mail *m) {
  ms_handover *h = IRPC__CONTAINER_OF(m, ms_handover, mail);
  ms_loop *lp = h->to;
  irpc_duplex *d;
  if (lp->stopping) {
    close(h->fd);
    atomic_fetch_sub_explicit(&lp->counters.current, 1, memory_order_relaxed);
  } else if (irpc__stream_duplex_adopt(&d, &lp->loop, h->fd, h->is_pipe) != 0) {
    atomic_fetch_sub_explicit(&lp->counters.current, 1, memory_order_relaxed);
  } else {
    serve(lp, &h->route, h->tls, d);
  }
  irpc_free(h);
}

static unsigned pick_loop(irpc_multi_server *ms) {
  unsigned best = ms->rr % ms->n;
  uint64_t least = UINT64_MAX;
  for (unsigned k = 0; k < ms->n; k++) {
    unsigned i = (ms->rr + k) % ms->n;
    uint64_t cur = atomic_load_explicit(&ms->loops[i].counters.current,
                                        memory_order_relaxed);
    if (cur < least) {
      least = cur;
      best = i;
    }
  }
  ms->rr = best + 1;
  return best;
}

/* On loop 0: a connection accepted by one of its listeners (on any loop
 * with SO_REUSEPORT, which serves it there). */
static void on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  ms_listener *ml = ud;
  irpc_multi_server *ms = ml->ms;
  (void)l;
  if (ml->local) {
    atomic_fetch_add_explicit(&ml->lp->counters.accepted, 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&ml->lp->counters.current, 1,
                              memory_order_relaxed);
    serve(ml->lp, &ml->route, ml->tls, d);
    return;
  }
  unsigned i = pick_loop(ms);
  ms_loop *lp = &ms->loops[i];
  atomic_fetch_add_explicit(&lp->counters.accepted, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&lp->counters.current, 1, memory_order_relaxed);
  if (i == 0) {
    serve(lp, &ml->route, ml->tls, d);
    return;
  }
  ms_handover *h = irpc_malloc(sizeof(*h));
  int rc = h ? irpc__stream_duplex_detach(d, &h->fd, &h->is_pipe) : IRPC_ENOMEM;
  if (rc) {
    /* Served here rather than dropped. */
    irpc_free(h);
    atomic_fetch_sub_explicit(&lp->counters.current, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&lp->counters.accepted, 1, memory_order_relaxed);
    lp = &ms->loops[0];
    atomic_fetch_add_explicit(&lp->counters.accepted, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lp->counters.current, 1, memory_order_relaxed);
    serve(lp, &ml->route, ml->tls, d);
    return;
  }
  h->to = ms->loops + i;
  h->route = ml->route;
  h->tls = ml->tls;
  h->mail.fn = handover_mail;
  irpc__mailbox_post(&h->to->mb, &h->mail);
}

static int movable(const irpc_transport *t) {
  const irpc_transport_ops *ops = irpc_transport_get_ops(t);
  return ops == &irpc__tcp_transport_ops || ops == &irpc__uds_transport_ops;
}

static void listen_job(ms_job *job) {
  ms_loop *lp = job->lp;
  irpc_multi_server *ms = lp->ms;
  if (ms->shut) {
    job->rc = IRPC_ECLOSED;
    return;
  }
  irpc_server_address *a;
  int rc = irpc_server_address_parse(&a, job->address);
  if (rc) {
    job->rc = rc;
    return;
  }
  if (job->port)
    irpc__server_address_set_port(a, job->port);
  ms_listener *ml = NULL;
  irpc__route route;
  /* Over TLS, loop 0 listens on the transport under TLS; the loop that
   * gets a socket runs its handshake. */
  irpc_transport *plain = NULL;
  irpc_server_address *pa = NULL, *shown = NULL;
  rc = irpc__route_pick(a, &ms->opts.server.connection, 0, &route);
  if (rc == 0)
    rc = irpc__tls_server_unwrap(route.transport, a, &plain, &pa);
  if (rc == 0 && !movable(plain ? plain : route.transport))
    rc = IRPC_ENOTSUP;
  if (rc == 0 && job->reuseport &&
      irpc_transport_get_ops(plain ? plain : route.transport) !=
          &irpc__tcp_transport_ops)
    rc = IRPC_ENOTSUP;
  if (rc == 0) {
    ml = irpc_calloc(1, sizeof(*ml));
    rc = ml ? 0 : IRPC_ENOMEM;
  }
  if (rc == 0) {
    ml->ms = ms;
    ml->lp = lp;
    ml->local = job->reuseport;
    ml->route = route;
    ml->tls = plain != NULL;
    rc = job->reuseport
             ? irpc__tcp_listen_reuseport(&ml->l, &lp->loop, pa ? pa : a,
                                          on_accept, ml)
             : irpc_transport_listen(plain ? plain : route.transport, &lp->loop,
                                     pa ? pa : a, on_accept, ml, &ml->l);
  }
  if (rc == 0 && plain)
    rc = irpc__tls_outer_address(a, irpc_listener_address(ml->l), &shown);
  irpc_server_address_free(a);
  irpc_server_address_free(pa);
  if (rc) {
    if (ml && ml->l)
      irpc_listener_close(ml->l, NULL, NULL);
    irpc_free(ml);
    job->rc = rc;
    return;
  }
  irpc__list_push_back(&lp->listeners, &ml->link);
  lp->nlisteners_open++;
  const irpc_server_address *bound = irpc_listener_address(ml->l);
  job->port = irpc_server_address_port(bound);
  if (job->bound)
    rc = irpc_server_address_format(shown ? shown : bound, job->bound,
                                    job->bound_len);
  irpc_server_address_free(shown);
  job->rc = rc;
}

/* ---- Starting a loop ---- */

static void release_mail(irpc__mail *m);

static int loop_start(ms_loop *lp) {
  irpc_multi_server *ms = lp->ms;
  int rc = irpc__mailbox_init(&lp->mb, &lp->loop, 1);
  if (rc)
    return rc;
  lp->mb.data = lp;
  lp->mb_live = 1;
  lp->release_mail.fn = release_mail;
  rc = ms->opts.factory(&lp->loop, lp->index, &lp->app, ms->opts.user_data);
  if (rc)
    return rc;
  if (!lp->app || irpc_dispatcher_loop(lp->app) != &lp->loop)
    return IRPC_EINVAL;
  rc = irpc_dispatcher_new(&lp->counter, &lp->loop, &count_ops, lp);
  if (rc == 0)
    rc = irpc_dispatcher_set_next(lp->counter, lp->app);
  if (rc == 0)
    rc = irpc_server_new(&lp->server, &lp->loop, lp->counter, &ms->opts.server);
  if (rc == 0)
    irpc_server_on_connection(lp->server, conn_open, conn_close, lp);
  return rc;
}

static void mailbox_closed(irpc__mailbox *mb) {
  (void)mb;
}

/* Frees the chain and closes the mailbox: the loop then ends once the
 * handles still closing are closed. */
static void loop_teardown(ms_loop *lp) {
  tls_stop(lp);
  if (lp->server) {
    irpc_server_free(lp->server);
    lp->server = NULL;
  }
  irpc_dispatcher_free(lp->counter);
  lp->counter = NULL;
  if (lp->app && lp->ms->opts.release)
    lp->ms->opts.release(&lp->loop, lp->index, lp->app, lp->ms->opts.user_data);
  lp->app = NULL;
  lp->released = 1;
  if (lp->mb_live) {
    lp->mb_live = 0;
    irpc__mailbox_close(&lp->mb, mailbox_closed);
  }
}

static void loop_thread(void *arg) {
  ms_loop *lp = arg;
  int rc = loop_start(lp);
  lp->start_rc = rc;
  if (rc) {
    lp->stopping = 1;
    loop_teardown(lp);
  }
  answer(lp->ms);
  uv_run(&lp->loop, UV_RUN_DEFAULT);
}

/* ---- Stopping a loop ---- */

static void release_mail(irpc__mail *m) {
  ms_loop *lp = IRPC__CONTAINER_OF(m, ms_loop, release_mail);
  if (!lp->released)
    loop_teardown(lp);
}

/* Once stopping, and no dispatch is in flight: the chain goes, on a later
 * turn (this runs from a dispatch's completion). */
static void maybe_release(ms_loop *lp) {
  if (lp->released || lp->release_posted ||
      atomic_load_explicit(&lp->counters.dcurrent, memory_order_relaxed) != 0)
    return;
  lp->release_posted = 1;
  irpc__mailbox_post(&lp->mb, &lp->release_mail);
}

static void stop_mail(irpc__mail *m) {
  ms_loop *lp = IRPC__CONTAINER_OF(m, ms_loop, release_mail);
  lp->stopping = 1;
  tls_stop(lp);
  if (lp->server) {
    irpc_server_free(lp->server);
    lp->server = NULL;
  }
  lp->release_mail.fn = release_mail;
  if (atomic_load_explicit(&lp->counters.dcurrent, memory_order_relaxed) == 0)
    loop_teardown(lp);
}

static void shutdown_done(irpc_server *s, int status, void *ud) {
  ms_loop *lp = ud;
  (void)s;
  lp->shut_rc = status;
  answer(lp->ms);
}

static void shutdown_mail(irpc__mail *m) {
  ms_loop *lp = IRPC__CONTAINER_OF(m, ms_loop, shutdown_mail);
  irpc_multi_server *ms = lp->ms;
  if (!lp->server || irpc_server_shutdown(lp->server, shutdown_done, lp) != 0)
    answer(ms);
}

static void listener_closed(irpc_listener *l, void *ud) {
  ms_loop *lp = ud;
  (void)l;
  if (--lp->nlisteners_open == 0)
    answer(lp->ms);
}

/* On a loop: no connection is accepted (nor, on loop 0, handed to a loop)
 * after it returns; the controller's wait ends once the listeners are
 * closed. With job->port set, only the last listener goes (a listen on
 * every loop that failed on a later one). */
static void unlisten_job(ms_job *job) {
  ms_loop *lp = job->lp;
  if (!job->port)
    lp->ms->shut = 1;
  if (!lp->listeners.head)
    return;
  expect(lp->ms, 1); /* listener_closed's answer */
  irpc__link *l;
  while ((l = job->port ? lp->listeners.tail : lp->listeners.head)) {
    irpc__list_remove(&lp->listeners, l);
    ms_listener *ml = IRPC__CONTAINER_OF(l, ms_listener, link);
    irpc_listener_close(ml->l, listener_closed, lp);
    irpc_free(ml);
    if (job->port)
      break;
  }
}

/* Every loop stops listening, loop 0 first; returns once the listeners
 * are closed. */
static void unlisten_all(irpc_multi_server *ms) {
  for (unsigned i = 0; i < ms->n; i++) {
    ms_loop *lp = &ms->loops[i];
    if (!lp->thread_live || lp->start_rc != 0 || !lp->mb_live)
      continue;
    ms_job job = {.fn = unlisten_job};
    run_on(lp, &job);
    wait_answers(ms);
  }
}

/* ---- The public functions ---- */

static void stop_and_join(irpc_multi_server *ms) {
  /* Loop 0 stops handing sockets to the others first: a mailbox is never
   * posted to once its loop stopped. */
  unlisten_all(ms);
  for (unsigned i = 0; i < ms->n; i++) {
    ms_loop *lp = &ms->loops[i];
    if (lp->thread_live && lp->start_rc == 0 && !lp->stop_sent) {
      lp->stop_sent = 1;
      lp->release_mail.fn = stop_mail;
      irpc__mailbox_post(&lp->mb, &lp->release_mail);
    }
  }
  for (unsigned i = 0; i < ms->n; i++) {
    ms_loop *lp = &ms->loops[i];
    if (lp->thread_live) {
      uv_thread_join(&lp->thread);
      lp->thread_live = 0;
    }
    if (lp->loop_live) {
      uv_run(&lp->loop, UV_RUN_DEFAULT); /* what the thread left closing */
      uv_loop_close(&lp->loop);
      lp->loop_live = 0;
    }
  }
}

static void ms_destroy(irpc_multi_server *ms) {
  stop_and_join(ms);
  uv_cond_destroy(&ms->cond);
  uv_mutex_destroy(&ms->mutex);
  irpc_free(ms->loops);
  irpc_free(ms);
}

int irpc_multi_server_new(irpc_multi_server **out,
                          const irpc_multi_server_options *opts) {
  if (!out || !opts)
    return IRPC_EINVAL;
  irpc_multi_server_options o;
  if (IRPC__IMPORT(&o, opts, irpc_multi_server_options) < 0)
    return IRPC_EINVAL;
  o.server.struct_size = sizeof(o.server);
  if (!o.factory || o.loops > IRPC_MULTI_SERVER_MAX_LOOPS ||
      o.server.connection.transport)
    return IRPC_EINVAL;
  unsigned n = o.loops ? o.loops : uv_available_parallelism();
  if (n == 0)
    n = 1;
  if (n > IRPC_MULTI_SERVER_MAX_LOOPS)
    n = IRPC_MULTI_SERVER_MAX_LOOPS;
  irpc_multi_server *ms = irpc_calloc(1, sizeof(*ms));
  if (!ms)
    return IRPC_ENOMEM;
  ms->loops = irpc_calloc(n, sizeof(ms_loop));
  if (!ms->loops) {
    irpc_free(ms);
    return IRPC_ENOMEM;
  }
  if (uv_mutex_init(&ms->mutex) != 0) {
    irpc_free(ms->loops);
    irpc_free(ms);
    return IRPC_ENOMEM;
  }
  if (uv_cond_init(&ms->cond) != 0) {
    uv_mutex_destroy(&ms->mutex);
    irpc_free(ms->loops);
    irpc_free(ms);
    return IRPC_ENOMEM;
  }
  ms->opts = o;
  ms->n = n;
  int rc = 0;
  for (unsigned i = 0; i < n && rc == 0; i++) {
    ms_loop *lp = &ms->loops[i];
    lp->ms = ms;
    lp->index = i;
    rc = uv_loop_init(&lp->loop);
    if (rc)
      break;
    lp->loop_live = 1;
    expect(ms, 1);
    rc = uv_thread_create(&lp->thread, loop_thread, lp);
    if (rc) {
      answer(ms);
      break;
    }
    lp->thread_live = 1;
  }
  wait_answers(ms);
  for (unsigned i = 0; i < n && rc == 0; i++)
    rc = ms->loops[i].start_rc;
  if (rc) {
    ms_destroy(ms);
    return rc;
  }
  *out = ms;
  return 0;
}

int irpc_multi_server_listen(irpc_multi_server *ms, const char *address,
                             char *bound, size_t bound_len) {
  if (!ms || !address || on_a_loop_thread(ms))
    return IRPC_EINVAL;
  ms_job job = {.fn = listen_job,
                .address = address,
                .bound = bound,
                .bound_len = bound_len};
  return run_on(&ms->loops[0], &job);
}

int irpc_multi_server_listen_reuseport(irpc_multi_server *ms,
                                       const char *address, char *bound,
                                       size_t bound_len) {
  if (!ms || !address || on_a_loop_thread(ms))
    return IRPC_EINVAL;
  ms_job job = {.fn = listen_job,
                .address = address,
                .bound = bound,
                .bound_len = bound_len,
                .reuseport = 1};
  int rc = run_on(&ms->loops[0], &job);
  uint16_t port = job.port;
  unsigned i = 1;
  for (; i < ms->n && rc == 0; i++) {
    ms_job each = {
        .fn = listen_job, .address = address, .reuseport = 1, .port = port};
    rc = run_on(&ms->loops[i], &each);
  }
  if (rc == 0)
    return 0;
  /* Loops 0 .. i-2 listen: they stop. */
  for (unsigned k = 0; k + 1 < i; k++) {
    ms_job undo = {.fn = unlisten_job, .port = port};
    run_on(&ms->loops[k], &undo);
    wait_answers(ms);
  }
  return rc;
}

unsigned irpc_multi_server_loops(const irpc_multi_server *ms) {
  return ms ? ms->n : 0;
}

uv_loop_t *irpc_multi_server_loop(const irpc_multi_server *ms, unsigned index) {
  return ms && index < ms->n ? &ms->loops[index].loop : NULL;
}

irpc_server *irpc_multi_server_server(const irpc_multi_server *ms,
                                      unsigned index) {
  return ms && index < ms->n ? ms->loops[index].server : NULL;
}

static void visit_job(ms_job *job) {
  job->visit(job->lp->ms, job->lp->index, &job->lp->loop, job->visit_ud);
}

int irpc_multi_server_visit(irpc_multi_server *ms,
                            irpc_multi_server_visit_fn fn, void *user_data) {
  if (!ms || !fn || on_a_loop_thread(ms))
    return IRPC_EINVAL;
  for (unsigned i = 0; i < ms->n; i++) {
    ms_job job = {.fn = visit_job, .visit = fn, .visit_ud = user_data};
    run_on(&ms->loops[i], &job);
  }
  return 0;
}

static void read_counters(ms_counters *c, irpc_multi_server_stats *s) {
  s->connections_accepted =
      atomic_load_explicit(&c->accepted, memory_order_relaxed);
  s->connections_current =
      atomic_load_explicit(&c->current, memory_order_relaxed);
  s->dispatches_total = atomic_load_explicit(&c->dtotal, memory_order_relaxed);
  s->dispatches_current =
      atomic_load_explicit(&c->dcurrent, memory_order_relaxed);
  s->dispatches_failed =
      atomic_load_explicit(&c->dfailed, memory_order_relaxed);
}

unsigned irpc_multi_server_read_stats(irpc_multi_server *ms,
                                      irpc_multi_server_stats *total,
                                      irpc_multi_server_stats *per_loop,
                                      unsigned cap) {
  if (!ms)
    return 0;
  irpc_multi_server_stats sum;
  memset(&sum, 0, sizeof(sum));
  for (unsigned i = 0; i < ms->n; i++) {
    irpc_multi_server_stats s;
    read_counters(&ms->loops[i].counters, &s);
    sum.connections_accepted += s.connections_accepted;
    sum.connections_current += s.connections_current;
    sum.dispatches_total += s.dispatches_total;
    sum.dispatches_current += s.dispatches_current;
    sum.dispatches_failed += s.dispatches_failed;
    if (per_loop && i < cap)
      per_loop[i] = s;
  }
  if (total)
    *total = sum;
  return ms->n;
}

int irpc_multi_server_shutdown(irpc_multi_server *ms) {
  if (!ms || on_a_loop_thread(ms))
    return IRPC_EINVAL;
  if (ms->shut)
    return IRPC_ECLOSED;
  /* No new connection first; the sockets handed over before are in the
   * loops' mailboxes ahead of their shutdown. */
  unlisten_all(ms);
  expect(ms, ms->n);
  for (unsigned i = 0; i < ms->n; i++) {
    ms->loops[i].shutdown_mail.fn = shutdown_mail;
    irpc__mailbox_post(&ms->loops[i].mb, &ms->loops[i].shutdown_mail);
  }
  wait_answers(ms);
  int rc = 0;
  for (unsigned i = 0; i < ms->n; i++)
    if (ms->loops[i].shut_rc)
      rc = ms->loops[i].shut_rc;
  return rc;
}

void irpc_multi_server_free(irpc_multi_server *ms) {
  if (!ms)
    return;
  ms_destroy(ms);
}
