/* The transport conformance suite: the duplex and listener contract of
 * irpc/transport.h, checked through the public API only, run unchanged
 * over every transport of the table at the end of this file. A transport
 * joins the suite with one line in that table (and the descriptor the line
 * names); each line is one ctest test, conformance_transport_<name>.
 *
 * Usage: transport_suite [name]   (all transports without a name)
 *
 * The loop drives everything: a test runs the loop until the state it
 * waits for is reached; a timer only fails a test that would hang. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kit/kit.h"
#ifdef IRPC_WITH_TLS
#include "kit/tls.h"
#endif

/* ---- Transport descriptors ---- */

typedef struct sx sx;

typedef struct suite_transport {
  const char *name;
  /* Makes the transport of a test (a built-in singleton or a new object
   * that release frees). */
  irpc_transport *(*make)(void);
  void (*release)(irpc_transport *t);
  /* A listen address URI, unique within the test. */
  void (*listen_uri)(sx *s, char *uri, size_t len);
  /* An address nobody listens on: connecting to it is refused. */
  irpc_server_address *(*dead_address)(sx *s);
  /* Removes what listen_uri and dead_address left (may be NULL). */
  void (*cleanup)(sx *s);
  /* The read status of a peer whose other end closed (irpc_duplex_close)
   * or aborted (irpc_duplex_abort), all data read. */
  int close_seen_as;
  int abort_seen_as;
} suite_transport;

struct sx {
  const suite_transport *tr;
  uv_loop_t loop;
  uv_timer_t guard;
  irpc_transport *t;
  irpc_listener *l;
  int listener_closed;
  /* Accepted duplexes, in order. */
  irpc_duplex *acc[128];
  int naccepted;
  /* Scratch for the descriptors. */
  char dir[64];
  int counter;
  int fd;
};

static void on_guard(uv_timer_t *t) {
  (void)t;
  fail_msg("the loop did not reach the expected state in time");
}

#define RUN_UNTIL(s, cond)                                                     \
  do {                                                                         \
    while (!(cond))                                                            \
      uv_run(&(s)->loop, UV_RUN_ONCE);                                         \
  } while (0)

static const suite_transport *current;

static void sx_init(sx *s) {
  memset(s, 0, sizeof(*s));
  s->tr = current;
  s->fd = -1;
  assert_int_equal(uv_loop_init(&s->loop), 0);
  uv_timer_init(&s->loop, &s->guard);
  uv_timer_start(&s->guard, on_guard, 60000, 0);
  s->t = s->tr->make();
  assert_non_null(s->t);
}

static void on_listener_closed(irpc_listener *l, void *ud) {
  (void)l;
  ((sx *)ud)->listener_closed++;
}

static void sx_fini(sx *s) {
  if (s->l)
    irpc_listener_close(s->l, on_listener_closed, s);
  uv_close((uv_handle_t *)&s->guard, NULL);
  test_loop_finish(&s->loop);
  if (s->l)
    assert_int_equal(s->listener_closed, 1);
  if (s->tr->cleanup)
    s->tr->cleanup(s);
  s->tr->release(s->t);
}

static void on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  sx *s = ud;
  assert_ptr_equal(l, s->l);
  assert_non_null(d);
  assert_true(s->naccepted < (int)(sizeof s->acc / sizeof s->acc[0]));
  s->acc[s->naccepted++] = d;
}

static void sx_listen(sx *s) {
  char uri[256];
  s->tr->listen_uri(s, uri, sizeof uri);
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  assert_irpc_ok(irpc_transport_listen(s->t, &s->loop, a, on_accept, s, &s->l));
  irpc_server_address_free(a);
  assert_non_null(irpc_listener_address(s->l));
  assert_ptr_equal(irpc_listener_loop(s->l), &s->loop);
}

/* One connect: its callback must run exactly once. */
typedef struct conn {
  irpc_duplex *d; /* as returned by irpc_transport_connect */
  int calls;
  int status;
} conn;

static void on_connect(irpc_duplex *d, int status, void *ud) {
  conn *c = ud;
  assert_ptr_equal(d, c->d);
  c->calls++;
  c->status = status;
}

static void sx_connect_to(sx *s, const irpc_server_address *a, conn *c) {
  memset(c, 0, sizeof(*c));
  assert_irpc_ok(
      irpc_transport_connect(s->t, &s->loop, a, &c->d, on_connect, c));
  assert_non_null(c->d);
  assert_int_equal(c->calls, 0); /* never inside the call */
}

/* A connected client and the server end it was accepted as. */
static void sx_pair(sx *s, irpc_duplex **client, irpc_duplex **server) {
  if (!s->l)
    sx_listen(s);
  int before = s->naccepted;
  conn c;
  sx_connect_to(s, irpc_listener_address(s->l), &c);
  RUN_UNTIL(s, c.calls == 1 && s->naccepted == before + 1);
  assert_int_equal(c.status, 0);
  *client = c.d;
  *server = s->acc[before];
}

/* ---- Pattern bytes, readers and write logs ---- */

/* Byte i of a direction's stream is i % 251. External segments point into
 * this table, which holds every phase of the pattern and 4 KiB after. */
#define PERIOD 251
#define MAX_SEG 4096
static uint8_t table[PERIOD + MAX_SEG];

static void table_init(void) {
  for (size_t i = 0; i < sizeof table; i++)
    table[i] = (uint8_t)(i % PERIOD);
}

/* Appends the next `n` pattern bytes of a stream at *off: copied in 64 KiB
 * blocks, or (seg > 0) as external segments of seg, seg+1, ... bytes
 * cycling below 98, a scatter write. */
static void put(irpc_buf *b, size_t *off, size_t n, size_t seg) {
  size_t k = seg;
  while (n > 0) {
    size_t len;
    if (seg) {
      len = k < n ? k : n;
      assert_irpc_ok(
          irpc_buf_append_external(b, &table[*off % PERIOD], len, NULL, NULL));
      k = k % 97 + 1;
    } else {
      uint8_t chunk[65536];
      len = n < sizeof chunk ? n : sizeof chunk;
      for (size_t i = 0; i < len; i++)
        chunk[i] = (uint8_t)((*off + i) % PERIOD);
      assert_irpc_ok(irpc_buf_append(b, chunk, len));
    }
    *off += len;
    n -= len;
  }
}

typedef struct reader {
  size_t total;   /* bytes received, checked against the pattern */
  int bad;        /* a byte off the pattern */
  int end;        /* the final negative status, 0 while open */
  int ends;       /* negative statuses delivered (at most 1) */
  int after_end;  /* callbacks after the end (none allowed) */
  int calls;      /* callbacks with data */
  size_t stop_at; /* stops reading once this many bytes came (0: never) */
} reader;

static void on_read(irpc_duplex *d, int status, const uint8_t *data, size_t len,
                    void *ud) {
  reader *r = ud;
  if (r->ends) {
    r->after_end++;
    return;
  }
  if (status < 0) {
    assert_null(data);
    r->end = status;
    r->ends++;
    return;
  }
  assert_int_equal(status, 0);
  assert_true(len > 0);
  for (size_t i = 0; i < len; i++)
    r->bad |= data[i] != (uint8_t)((r->total + i) % PERIOD);
  r->total += len;
  r->calls++;
  if (r->stop_at && r->total >= r->stop_at)
    assert_irpc_ok(irpc_duplex_read_stop(d));
}

/* Completions of writes (by id), shutdowns and closes. */
#define MAX_IDS 512
static struct {
  int order[MAX_IDS * 2];
  int n;
  int calls[MAX_IDS];
  int status[MAX_IDS];
} wlog;

static void on_write(irpc_duplex *d, int status, void *ud) {
  (void)d;
  int id = (int)(intptr_t)ud;
  assert_true(id >= 0 && id < MAX_IDS);
  wlog.order[wlog.n++] = id;
  wlog.calls[id]++;
  wlog.status[id] = status;
}

typedef struct once {
  int calls;
  int status;
} once;

static void on_once(irpc_duplex *d, int status, void *ud) {
  (void)d;
  once *o = ud;
  o->calls++;
  o->status = status;
}

/* Writes the next `n` pattern bytes of *off as write `id`. */
static void write_pattern(irpc_duplex *d, size_t *off, size_t n, size_t seg,
                          int id) {
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  put(b, off, n, seg);
  size_t queued = irpc_duplex_write_queue_size(d);
  assert_irpc_ok(irpc_duplex_write(d, b, on_write, (void *)(intptr_t)id));
  assert_int_equal(irpc_buf_len(b), 0); /* the bytes moved */
  assert_int_equal(irpc_duplex_write_queue_size(d), queued + n);
  irpc_buf_free(b);
}

static void suite_setup_logs(void) {
  memset(&wlog, 0, sizeof wlog);
}

/* ---- The suite ---- */

/* Connect and accept: both callbacks once, on later loop turns, with
 * connected duplexes of the test's loop. */
static void test_connect_accept(void **state) {
  (void)state;
  sx s;
  sx_init(&s);
  sx_listen(&s);
  conn c;
  sx_connect_to(&s, irpc_listener_address(s.l), &c);
  assert_int_equal(s.naccepted, 0);
  RUN_UNTIL(&s, c.calls == 1 && s.naccepted == 1);
  assert_int_equal(c.status, 0);
  uv_run(&s.loop, UV_RUN_NOWAIT);
  assert_int_equal(c.calls, 1);
  assert_int_equal(s.naccepted, 1);
  irpc_duplex *srv = s.acc[0];
  assert_ptr_equal(irpc_duplex_loop(c.d), &s.loop);
  assert_ptr_equal(irpc_duplex_loop(srv), &s.loop);
  assert_non_null(irpc_duplex_type(c.d));
  assert_string_equal(irpc_duplex_type(c.d), irpc_duplex_type(srv));
  char buf[256];
  assert_irpc_ok(irpc_duplex_local_address(c.d, buf, sizeof buf));
  assert_irpc_ok(irpc_duplex_remote_address(c.d, buf, sizeof buf));
  assert_true(buf[0] != '\0'); /* a client knows whom it called */
  assert_irpc_ok(irpc_duplex_local_address(srv, buf, sizeof buf));
  assert_true(buf[0] != '\0'); /* a server knows where it listens */
  assert_irpc_ok(irpc_duplex_remote_address(srv, buf, sizeof buf));
  char tiny[1];
  assert_irpc_err(irpc_duplex_remote_address(c.d, tiny, sizeof tiny),
                  UV_ENOBUFS);
  assert_irpc_err(irpc_duplex_read_start(NULL, on_read, NULL), IRPC_EINVAL);
  assert_irpc_err(irpc_duplex_read_start(c.d, NULL, NULL), IRPC_EINVAL);
  once cc = {0}, sc = {0};
  irpc_duplex_close(c.d, on_once, &cc);
  irpc_duplex_close(srv, on_once, &sc);
  assert_int_equal(cc.calls + sc.calls, 0);
  RUN_UNTIL(&s, cc.calls == 1 && sc.calls == 1);
  assert_int_equal(cc.status, 0);
  assert_int_equal(sc.status, 0);
  sx_fini(&s);
  assert_int_equal(cc.calls, 1);
  assert_int_equal(sc.calls, 1);
}

/* 8 MiB each way at the same time, bytes in order, each write completed
 * once with 0 and the queue drained. */
static void test_large_writes_both_ways(void **state) {
  (void)state;
  suite_setup_logs();
  sx s;
  sx_init(&s);
  irpc_duplex *c, *srv;
  sx_pair(&s, &c, &srv);
  reader rc = {0}, rs = {0};
  assert_irpc_ok(irpc_duplex_read_start(c, on_read, &rc));
  assert_irpc_ok(irpc_duplex_read_start(srv, on_read, &rs));
  size_t big = 8u << 20, oc = 0, os = 0;
  write_pattern(c, &oc, big, 0, 1);
  write_pattern(srv, &os, big, 0, 2);
  assert_int_equal(wlog.n, 0);
  RUN_UNTIL(&s, wlog.n == 2 && rc.total == big && rs.total == big);
  assert_int_equal(wlog.calls[1], 1);
  assert_int_equal(wlog.calls[2], 1);
  assert_int_equal(wlog.status[1], 0);
  assert_int_equal(wlog.status[2], 0);
  assert_false(rc.bad);
  assert_false(rs.bad);
  assert_int_equal(irpc_duplex_write_queue_size(c), 0);
  assert_int_equal(irpc_duplex_write_queue_size(srv), 0);
  irpc_duplex_close(c, NULL, NULL);
  irpc_duplex_close(srv, NULL, NULL);
  sx_fini(&s);
  assert_int_equal(rc.ends + rs.ends, 0); /* no read after a close */
}

/* Many writes of many small external segments, and an empty write: the
 * bytes arrive in order, the callbacks run in order, each once. */
static void test_scatter_writes_in_order(void **state) {
  (void)state;
  suite_setup_logs();
  sx s;
  sx_init(&s);
  irpc_duplex *c, *srv;
  sx_pair(&s, &c, &srv);
  reader rs = {0};
  assert_irpc_ok(irpc_duplex_read_start(srv, on_read, &rs));
  size_t off = 0;
  enum { WRITES = 200 };
  for (int i = 0; i < WRITES; i++)
    write_pattern(c, &off, 1 + (size_t)i * 37 % 3000, 1 + (size_t)i % 97, i);
  irpc_buf *empty;
  assert_irpc_ok(irpc_buf_new(&empty));
  assert_irpc_ok(
      irpc_duplex_write(c, empty, on_write, (void *)(intptr_t)WRITES));
  irpc_buf_free(empty);
  assert_int_equal(wlog.n, 0);
  RUN_UNTIL(&s, wlog.n == WRITES + 1 && rs.total == off);
  for (int i = 0; i <= WRITES; i++) {
    assert_int_equal(wlog.order[i], i);
    assert_int_equal(wlog.calls[i], 1);
    assert_int_equal(wlog.status[i], 0);
  }
  assert_false(rs.bad);
  assert_int_equal(rs.ends, 0);
  irpc_duplex_close(c, NULL, NULL);
  irpc_duplex_close(srv, NULL, NULL);
  sx_fini(&s);
}

/* A shutdown sends FIN after the queued bytes: the peer reads them, then
 * UV_EOF once; this side can no longer write but still reads what the
 * peer sends back, until the peer's own FIN. */
static void test_half_close(void **state) {
  (void)state;
  suite_setup_logs();
  sx s;
  sx_init(&s);
  irpc_duplex *c, *srv;
  sx_pair(&s, &c, &srv);
  reader rc = {0}, rs = {0};
  assert_irpc_ok(irpc_duplex_read_start(c, on_read, &rc));
  assert_irpc_ok(irpc_duplex_read_start(srv, on_read, &rs));
  size_t oc = 0, os = 0;
  write_pattern(c, &oc, 100000, 0, 0);
  write_pattern(c, &oc, 5000, 7, 1);
  once sh = {0};
  assert_irpc_ok(irpc_duplex_shutdown(c, on_once, &sh));
  assert_int_equal(sh.calls, 0);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, "x", 1));
  assert_irpc_err(irpc_duplex_write(c, b, on_write, (void *)(intptr_t)9),
                  UV_EPIPE);
  assert_int_equal(irpc_buf_len(b), 1); /* unchanged, nothing queued */
  assert_irpc_err(irpc_duplex_shutdown(c, on_once, &sh), UV_EPIPE);
  RUN_UNTIL(&s, rs.ends == 1 && sh.calls == 1 && wlog.n == 2);
  assert_int_equal(rs.end, UV_EOF);
  assert_int_equal(rs.total, oc);
  assert_false(rs.bad);
  assert_int_equal(sh.status, 0);
  assert_int_equal(wlog.order[0], 0);
  assert_int_equal(wlog.order[1], 1);
  assert_int_equal(wlog.calls[9], 0);
  assert_irpc_err(irpc_duplex_read_start(srv, on_read, &rs), IRPC_ECLOSED);
  /* The other direction is still open. */
  write_pattern(srv, &os, 1u << 20, 0, 2);
  once sh2 = {0};
  assert_irpc_ok(irpc_duplex_shutdown(srv, on_once, &sh2));
  RUN_UNTIL(&s, rc.ends == 1 && sh2.calls == 1 && wlog.n == 3);
  assert_int_equal(rc.end, UV_EOF);
  assert_int_equal(rc.total, os);
  assert_false(rc.bad);
  assert_int_equal(wlog.status[2], 0);
  assert_int_equal(sh2.status, 0);
  irpc_buf_free(b);
  irpc_duplex_close(c, NULL, NULL);
  irpc_duplex_close(srv, NULL, NULL);
  sx_fini(&s);
  assert_int_equal(rc.after_end + rs.after_end, 0);
  assert_int_equal(sh.calls, 1);
  assert_int_equal(sh2.calls, 1);
}

/* Closing with writes, a shutdown and a read pending: the writes complete
 * once each, in order, those not written with UV_ECANCELED; the shutdown
 * with UV_ECANCELED; the close callback once with 0, on a later turn; no
 * read callback after the close, even when the peer sends. */
static void test_close_with_pending_operations(void **state) {
  (void)state;
  suite_setup_logs();
  sx s;
  sx_init(&s);
  irpc_duplex *c, *srv;
  sx_pair(&s, &c, &srv);
  reader rc = {0}, rs = {0};
  assert_irpc_ok(irpc_duplex_read_start(c, on_read, &rc));
  size_t oc = 0, os = 0;
  for (int i = 0; i < 4; i++)
    write_pattern(c, &oc, 8u << 20, 0, i);
  once sh = {0}, cl = {0}, cl2 = {0};
  assert_irpc_ok(irpc_duplex_shutdown(c, on_once, &sh));
  irpc_duplex_close(c, on_once, &cl);
  irpc_duplex_close(c, on_once, &cl2); /* a no-op */
  assert_int_equal(wlog.n + sh.calls + cl.calls, 0);
  /* The peer writes towards the closed end, and reads what came. */
  write_pattern(srv, &os, 4096, 0, 10);
  assert_irpc_ok(irpc_duplex_read_start(srv, on_read, &rs));
  RUN_UNTIL(&s, cl.calls == 1 && rs.ends == 1 && wlog.calls[10] == 1);
  assert_int_equal(cl.status, 0);
  assert_int_equal(cl2.calls, 0);
  int mine = 0;
  for (int k = 0; k < wlog.n; k++) {
    int id = wlog.order[k];
    if (id >= 4)
      continue;
    assert_int_equal(id, mine); /* in order */
    assert_int_equal(wlog.calls[id], 1);
    assert_true(wlog.status[id] == 0 || wlog.status[id] == UV_ECANCELED);
    if (mine > 0 && wlog.status[mine - 1] == UV_ECANCELED)
      assert_int_equal(wlog.status[id], UV_ECANCELED);
    mine++;
  }
  assert_int_equal(mine, 4);
  assert_int_equal(wlog.status[3], UV_ECANCELED);
  assert_int_equal(sh.calls, 1);
  assert_int_equal(sh.status, UV_ECANCELED);
  assert_int_equal(rc.calls + rc.ends, 0); /* none after the close */
  assert_true(rs.end < 0);
  assert_false(rs.bad);
  /* The server end, closed while reading: nothing more is delivered. */
  irpc_duplex_close(srv, on_once, &cl2);
  sx_fini(&s);
  assert_int_equal(cl.calls, 1);
  assert_int_equal(cl2.calls, 1);
  assert_int_equal(wlog.calls[10], 1);
  assert_int_equal(rs.after_end, 0);
}

/* Closing while connecting: the connect completes once with UV_ECANCELED,
 * then the close callback runs once. Before the connect completed, reads,
 * writes and shutdowns are UV_ENOTCONN. */
static void test_close_while_connecting(void **state) {
  (void)state;
  sx s;
  sx_init(&s);
  sx_listen(&s);
  conn c;
  sx_connect_to(&s, irpc_listener_address(s.l), &c);
  reader r = {0};
  assert_irpc_err(irpc_duplex_read_start(c.d, on_read, &r), UV_ENOTCONN);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_err(irpc_duplex_write(c.d, b, NULL, NULL), UV_ENOTCONN);
  assert_irpc_err(irpc_duplex_shutdown(c.d, NULL, NULL), UV_ENOTCONN);
  irpc_buf_free(b);
  once cl = {0};
  irpc_duplex_close(c.d, on_once, &cl);
  RUN_UNTIL(&s, cl.calls == 1);
  assert_int_equal(c.calls, 1);
  assert_int_equal(c.status, UV_ECANCELED);
  assert_int_equal(cl.status, 0);
  /* The listener may have accepted it before the close: that end sees
   * the connection end. */
  reader ra[8];
  memset(ra, 0, sizeof ra);
  for (int i = 0; i < s.naccepted; i++) {
    assert_irpc_ok(irpc_duplex_read_start(s.acc[i], on_read, &ra[i]));
    RUN_UNTIL(&s, ra[i].ends == 1);
    assert_true(ra[i].end < 0);
    irpc_duplex_close(s.acc[i], NULL, NULL);
  }
  sx_fini(&s);
  assert_int_equal(c.calls, 1);
  assert_int_equal(cl.calls, 1);
}

/* Connecting to an address nobody listens on: the callback runs once with
 * UV_ECONNREFUSED (the library frees the duplex). */
static void test_connect_refused(void **state) {
  (void)state;
  sx s;
  sx_init(&s);
  irpc_server_address *a = s.tr->dead_address(&s);
  conn c;
  sx_connect_to(&s, a, &c);
  RUN_UNTIL(&s, c.calls == 1);
  assert_int_equal(c.status, UV_ECONNREFUSED);
  irpc_server_address_free(a);
  sx_fini(&s);
  assert_int_equal(c.calls, 1);
}

/* The peer goes away, gracefully (close) or abruptly (abort): the reader
 * gets the transport's documented status once, a later write completes
 * once with an error (or is refused at once), and closing still works. */
static void test_peer_vanishes(void **state) {
  (void)state;
  for (int abrupt = 0; abrupt < 2; abrupt++) {
    suite_setup_logs();
    sx s;
    sx_init(&s);
    irpc_duplex *c, *srv;
    sx_pair(&s, &c, &srv);
    reader rc = {0};
    size_t os = 0;
    assert_irpc_ok(irpc_duplex_read_start(c, on_read, &rc));
    write_pattern(srv, &os, 10000, 0, 0);
    RUN_UNTIL(&s, rc.total == os && wlog.n == 1);
    once gone = {0};
    if (abrupt)
      irpc_duplex_abort(srv, on_once, &gone);
    else
      irpc_duplex_close(srv, on_once, &gone);
    RUN_UNTIL(&s, rc.ends == 1 && gone.calls == 1);
    assert_int_equal(rc.end,
                     abrupt ? s.tr->abort_seen_as : s.tr->close_seen_as);
    assert_int_equal(rc.total, os);
    assert_false(rc.bad);
    assert_int_equal(gone.status, 0);
    /* Writing to the vanished peer fails, at once or in a callback (a TCP
     * kernel may take the first bytes before it learns of the reset), each
     * write completing once. */
    size_t oc = 0;
    int id = 1, failed = 0;
    for (; id < 100 && !failed; id++) {
      irpc_buf *b;
      assert_irpc_ok(irpc_buf_new(&b));
      put(b, &oc, 65536, 0);
      int err = irpc_duplex_write(c, b, on_write, (void *)(intptr_t)id);
      irpc_buf_free(b);
      if (err < 0) {
        failed = 1;
        break;
      }
      RUN_UNTIL(&s, wlog.calls[id] == 1);
      failed = wlog.status[id] < 0;
    }
    assert_true(failed);
    once cl = {0};
    irpc_duplex_close(c, on_once, &cl);
    sx_fini(&s);
    assert_int_equal(cl.calls, 1);
    assert_int_equal(gone.calls, 1);
    for (int k = 1; k < MAX_IDS; k++)
      assert_true(wlog.calls[k] <= 1);
    assert_int_equal(rc.after_end, 0);
  }
}

/* The listener closes (from its first accept callback) while more
 * connections are pending: no accept callback after the close, its close
 * callback once on a later turn, every connect completes once, and a
 * client that got connected sees its connection end instead of hanging. */
static void close_listener_on_accept(irpc_listener *l, irpc_duplex *d,
                                     void *ud) {
  sx *s = ud;
  on_accept(l, d, ud);
  irpc_listener_close(l, on_listener_closed, s);
  irpc_listener_close(l, on_listener_closed, s); /* a no-op */
  assert_int_equal(s->listener_closed, 0);
}

static void test_listener_close_with_pending_accepts(void **state) {
  (void)state;
  sx s;
  sx_init(&s);
  char uri[256];
  s.tr->listen_uri(&s, uri, sizeof uri);
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  irpc_listener *l;
  assert_irpc_ok(
      irpc_transport_listen(s.t, &s.loop, a, close_listener_on_accept, &s, &l));
  irpc_server_address_free(a);
  s.l = l;
  enum { N = 8 };
  conn c[N];
  for (int i = 0; i < N; i++)
    sx_connect_to(&s, irpc_listener_address(l), &c[i]);
  int done = 0;
  while (done < N || s.listener_closed == 0) {
    uv_run(&s.loop, UV_RUN_ONCE);
    done = 0;
    for (int i = 0; i < N; i++)
      done += c[i].calls;
  }
  s.l = NULL;
  assert_int_equal(s.listener_closed, 1);
  assert_int_equal(s.naccepted, 1);
  reader r[N];
  memset(r, 0, sizeof r);
  for (int i = 0; i < N; i++) {
    assert_int_equal(c[i].calls, 1);
    if (c[i].status != 0)
      continue; /* refused, or reset while connecting */
    assert_irpc_ok(irpc_duplex_read_start(c[i].d, on_read, &r[i]));
  }
  /* The accepted one is closed by the test; every other connected client
   * sees its end. */
  irpc_duplex_close(s.acc[0], NULL, NULL);
  for (int i = 0; i < N; i++) {
    if (c[i].status != 0)
      continue;
    RUN_UNTIL(&s, r[i].ends == 1);
    assert_true(r[i].end < 0);
    irpc_duplex_close(c[i].d, NULL, NULL);
  }
  sx_fini(&s);
  assert_int_equal(s.naccepted, 1);
  assert_int_equal(s.listener_closed, 1);
  for (int i = 0; i < N; i++)
    assert_int_equal(c[i].calls, 1);
}

/* 64 connections at once, each echoed by the server with its own bytes:
 * every client reads back exactly what it sent, then EOF. */
typedef struct echo_end {
  irpc_duplex *d;
  size_t total;
} echo_end;

static void on_echo_read(irpc_duplex *d, int status, const uint8_t *data,
                         size_t len, void *ud) {
  echo_end *e = ud;
  if (status == UV_EOF) {
    assert_irpc_ok(irpc_duplex_shutdown(d, NULL, NULL));
    return;
  }
  assert_int_equal(status, 0);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, data, len));
  assert_irpc_ok(irpc_duplex_write(d, b, NULL, NULL));
  irpc_buf_free(b);
  e->total += len;
}

static void test_many_duplexes(void **state) {
  (void)state;
  suite_setup_logs();
  sx s;
  sx_init(&s);
  sx_listen(&s);
  enum { N = 64 };
  conn c[N];
  for (int i = 0; i < N; i++)
    sx_connect_to(&s, irpc_listener_address(s.l), &c[i]);
  int done = 0;
  while (done < N || s.naccepted < N) {
    uv_run(&s.loop, UV_RUN_ONCE);
    done = 0;
    for (int i = 0; i < N; i++)
      done += c[i].calls;
  }
  static echo_end ends[N];
  memset(ends, 0, sizeof ends);
  for (int i = 0; i < N; i++) {
    assert_int_equal(c[i].status, 0);
    ends[i].d = s.acc[i];
    assert_irpc_ok(irpc_duplex_read_start(s.acc[i], on_echo_read, &ends[i]));
  }
  static reader r[N];
  memset(r, 0, sizeof r);
  size_t sent[N];
  for (int i = 0; i < N; i++) {
    sent[i] = 0;
    assert_irpc_ok(irpc_duplex_read_start(c[i].d, on_read, &r[i]));
    write_pattern(c[i].d, &sent[i], 1000 + (size_t)i * 997, (size_t)i % 5, i);
    assert_irpc_ok(irpc_duplex_shutdown(c[i].d, NULL, NULL));
  }
  int ended = 0;
  while (ended < N || wlog.n < N) {
    uv_run(&s.loop, UV_RUN_ONCE);
    ended = 0;
    for (int i = 0; i < N; i++)
      ended += r[i].ends;
  }
  size_t echoed = 0;
  for (int i = 0; i < N; i++) {
    assert_int_equal(r[i].end, UV_EOF);
    assert_int_equal(r[i].total, sent[i]);
    assert_false(r[i].bad);
    assert_int_equal(wlog.calls[i], 1);
    assert_int_equal(wlog.status[i], 0);
    echoed += ends[i].total;
    irpc_duplex_close(c[i].d, NULL, NULL);
    irpc_duplex_close(s.acc[i], NULL, NULL);
  }
  size_t want = 0;
  for (int i = 0; i < N; i++)
    want += sent[i];
  assert_int_equal(echoed, want);
  sx_fini(&s);
}

/* A reader that stops reading holds the writer back: a write larger than
 * any buffer on the way stays queued (its callback does not run) however
 * long the loop runs, and completes once reading resumes, bytes in
 * order. */
typedef struct pinger {
  irpc_duplex *to;
  int hops;
} pinger;

static void on_ping(irpc_duplex *d, int status, const uint8_t *data, size_t len,
                    void *ud) {
  (void)d;
  (void)data;
  (void)len;
  pinger *p = ud;
  assert_int_equal(status, 0);
  p->hops++;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, "p", 1));
  assert_irpc_ok(irpc_duplex_write(p->to, b, NULL, NULL));
  irpc_buf_free(b);
}

static void test_backpressure(void **state) {
  (void)state;
  suite_setup_logs();
  sx s;
  sx_init(&s);
  irpc_duplex *c, *srv;
  sx_pair(&s, &c, &srv);
  reader rs = {0};
  rs.stop_at = 256u << 10;
  assert_irpc_ok(irpc_duplex_read_start(srv, on_read, &rs));
  size_t oc = 0, big = 64u << 20;
  write_pattern(c, &oc, big, 0, 0);
  RUN_UNTIL(&s, rs.total >= rs.stop_at);
  size_t stopped_at = rs.total;
  /* Let the loop turn a few hundred times: each ping the client reads
   * makes the server send the next (server -> client, a direction nothing
   * holds back). */
  pinger p = {.to = srv};
  assert_irpc_ok(irpc_duplex_read_start(c, on_ping, &p));
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, "p", 1));
  assert_irpc_ok(irpc_duplex_write(srv, b, NULL, NULL));
  irpc_buf_free(b);
  RUN_UNTIL(&s, p.hops >= 200);
  assert_int_equal(rs.total, stopped_at); /* not reading */
  assert_int_equal(wlog.calls[0], 0);     /* held back */
  assert_true(irpc_duplex_write_queue_size(c) > 0);
  assert_true(irpc_duplex_write_queue_size(c) <= big);
  assert_irpc_ok(irpc_duplex_read_stop(c));
  rs.stop_at = 0;
  assert_irpc_ok(irpc_duplex_read_start(srv, on_read, &rs));
  RUN_UNTIL(&s, rs.total == big && wlog.calls[0] == 1);
  assert_false(rs.bad);
  assert_int_equal(wlog.status[0], 0);
  assert_int_equal(irpc_duplex_write_queue_size(c), 0);
  irpc_duplex_close(c, NULL, NULL);
  irpc_duplex_close(srv, NULL, NULL);
  sx_fini(&s);
  assert_int_equal(wlog.calls[0], 1);
}

/* ---- The transports ---- */

static irpc_transport *tcp_make(void) {
  return irpc_transport_tcp();
}

static irpc_transport *uds_make(void) {
  return irpc_transport_uds();
}

static void builtin_release(irpc_transport *t) {
  irpc_transport_free(t); /* a no-op for the singletons */
}

static irpc_transport *memory_make(void) {
  irpc_transport *t = NULL;
  assert_irpc_ok(irpc_transport_memory_new(&t));
  return t;
}

static void tcp_listen_uri(sx *s, char *uri, size_t len) {
  (void)s;
  snprintf(uri, len, "icerpc://127.0.0.1:0?transport=tcp");
}

/* A port that was free a moment ago. */
static irpc_server_address *tcp_dead_address(sx *s) {
  irpc_listener *l;
  irpc_server_address *a;
  char uri[64];
  tcp_listen_uri(s, uri, sizeof uri);
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  assert_irpc_ok(irpc_transport_listen(s->t, &s->loop, a, on_accept, s, &l));
  irpc_server_address_free(a);
  assert_irpc_ok(irpc_server_address_clone(&a, irpc_listener_address(l)));
  irpc_listener_close(l, NULL, NULL);
  return a;
}

static void uds_path(sx *s, char *path, size_t len, int n) {
  if (!s->dir[0]) {
    strcpy(s->dir, "/tmp/irpc-conf-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
  }
  snprintf(path, len, "%s/%d.sock", s->dir, n);
}

static void uds_listen_uri(sx *s, char *uri, size_t len) {
  char path[128];
  uds_path(s, path, sizeof path, s->counter++);
  snprintf(uri, len, "icerpc://localhost?transport=uds&path=%s", path);
}

/* A socket file bound by nobody listening. */
static irpc_server_address *uds_dead_address(sx *s) {
  char path[96], uri[256];
  uds_path(s, path, sizeof path, 999);
  s->fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(s->fd >= 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof sa), 0);
  snprintf(uri, sizeof uri, "icerpc://localhost?transport=uds&path=%s", path);
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  return a;
}

static void uds_cleanup(sx *s) {
  if (s->fd >= 0)
    close(s->fd);
  if (!s->dir[0])
    return;
  char path[128];
  for (int i = 0; i < s->counter; i++) {
    uds_path(s, path, sizeof path, i);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0); /* unlinked on close */
  }
  uds_path(s, path, sizeof path, 999);
  unlink(path);
  assert_int_equal(rmdir(s->dir), 0);
}

static void memory_listen_uri(sx *s, char *uri, size_t len) {
  snprintf(uri, len, "icerpc://srv%d?transport=memory", s->counter++);
}

static irpc_server_address *memory_dead_address(sx *s) {
  (void)s;
  irpc_server_address *a;
  assert_irpc_ok(
      irpc_server_address_parse(&a, "icerpc://nobody?transport=memory"));
  return a;
}

static const suite_transport tcp = {
    .name = "tcp",
    .make = tcp_make,
    .release = builtin_release,
    .listen_uri = tcp_listen_uri,
    .dead_address = tcp_dead_address,
    .close_seen_as = UV_EOF,
    .abort_seen_as = UV_ECONNRESET,
};

/* A Unix domain socket has no reset: an abort reads as a FIN. */
static const suite_transport uds = {
    .name = "uds",
    .make = uds_make,
    .release = builtin_release,
    .listen_uri = uds_listen_uri,
    .dead_address = uds_dead_address,
    .cleanup = uds_cleanup,
    .close_seen_as = UV_EOF,
    .abort_seen_as = UV_EOF,
};

static const suite_transport memory = {
    .name = "memory",
    .make = memory_make,
    .release = irpc_transport_free,
    .listen_uri = memory_listen_uri,
    .dead_address = memory_dead_address,
    .close_seen_as = UV_ECONNRESET,
    .abort_seen_as = UV_ECONNRESET,
};

#ifdef IRPC_WITH_TLS
/* TLS over TCP and over Unix domain sockets, with certificates made for
 * the test (kit/tls.h); the contexts live as long as the transport. A
 * close sends close_notify first: the peer reads UV_EOF. */
static kit_ca *tls_ca;
static kit_cert tls_cert;
static irpc_tls_client *tls_client;
static irpc_tls_server *tls_server;

static irpc_transport *tls_make_over(irpc_transport *inner) {
  tls_ca = kit_ca_new("conformance CA");
  tls_cert = kit_ca_server(tls_ca, "conformance");
  irpc_tls_options o;
  kit_tls_options(&o, &tls_cert, tls_ca);
  assert_irpc_ok(irpc_tls_server_new(&tls_server, &o));
  o.server_name = "localhost";
  assert_irpc_ok(irpc_tls_client_new(&tls_client, &o));
  irpc_transport *t = NULL;
  assert_irpc_ok(irpc_transport_tls_new(&t, inner, tls_client, tls_server));
  return t;
}

static irpc_transport *tls_make(void) {
  return tls_make_over(irpc_transport_tcp());
}

static irpc_transport *tls_uds_make(void) {
  return tls_make_over(irpc_transport_uds());
}

static void tls_release(irpc_transport *t) {
  irpc_transport_free(t);
  irpc_tls_client_free(tls_client);
  irpc_tls_server_free(tls_server);
  kit_cert_free(&tls_cert);
  kit_ca_free(tls_ca);
}

static const suite_transport tls = {
    .name = "tls",
    .make = tls_make,
    .release = tls_release,
    .listen_uri = tcp_listen_uri,
    .dead_address = tcp_dead_address,
    .close_seen_as = UV_EOF,
    .abort_seen_as = UV_ECONNRESET,
};

/* Over a Unix domain socket an abort reads as a FIN, which TLS, without
 * close_notify before it, reports as a truncation. */
static const suite_transport tls_uds = {
    .name = "tls_uds",
    .make = tls_uds_make,
    .release = tls_release,
    .listen_uri = uds_listen_uri,
    .dead_address = uds_dead_address,
    .cleanup = uds_cleanup,
    .close_seen_as = UV_EOF,
    .abort_seen_as = UV_ECONNRESET,
};
#endif

/* The transports under test, one line each (tests/conformance/
 * CMakeLists.txt makes a ctest test of each line). */
static const suite_transport *const transports[] = {
    &tcp,    /* conformance: tcp */
    &uds,    /* conformance: uds */
    &memory, /* conformance: memory */
#ifdef IRPC_WITH_TLS
    &tls,     /* conformance: tls */
    &tls_uds, /* conformance: tls_uds */
#endif
};

int main(int argc, char **argv) {
  /* A write to a socket the peer closed raises SIGPIPE unless ignored, as
   * a server process does. */
  signal(SIGPIPE, SIG_IGN);
  test_alloc_install();
  table_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_accept),
      cmocka_unit_test(test_large_writes_both_ways),
      cmocka_unit_test(test_scatter_writes_in_order),
      cmocka_unit_test(test_half_close),
      cmocka_unit_test(test_close_with_pending_operations),
      cmocka_unit_test(test_close_while_connecting),
      cmocka_unit_test(test_connect_refused),
      cmocka_unit_test(test_peer_vanishes),
      cmocka_unit_test(test_listener_close_with_pending_accepts),
      cmocka_unit_test(test_many_duplexes),
      cmocka_unit_test(test_backpressure),
  };
  int failed = 0, ran = 0;
  for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++) {
    if (argc > 1 && strcmp(argv[1], transports[i]->name) != 0)
      continue;
    current = transports[i];
    char group[64];
    snprintf(group, sizeof group, "transport conformance: %s", current->name);
    failed += _cmocka_run_group_tests(
        group, tests, sizeof tests / sizeof tests[0], NULL, NULL);
    ran++;
  }
  if (ran == 0) {
    fprintf(stderr, "no transport named %s\n", argv[1]);
    return 1;
  }
  return failed;
}
