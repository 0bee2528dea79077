/* Duplex transports: one conformance suite run over TCP (IPv4, IPv6), Unix
 * domain sockets (path and abstract), the memory transport's listeners and
 * memory pairs; then the fault decorator's actions. Loopback only; the
 * loop drives everything, a timer only guards against hangs. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kit/kit.h"

enum { K_TCP4, K_TCP6, K_UDS, K_UDS_ABSTRACT, K_MEM, K_PAIR };

typedef struct duplex_fx {
  int kind;
  uv_loop_t loop;
  uv_timer_t guard;
  irpc_transport *t;
  int own_t;
  irpc_listener *l;
  irpc_duplex *c, *s;
  int connected;
  int connect_status;
  int accepted;
  char dir[64];
  char path[128];
} duplex_fx;

#define RUN_UNTIL(f, cond)                                                     \
  do {                                                                         \
    while (!(cond))                                                            \
      uv_run(&(f)->loop, UV_RUN_ONCE);                                         \
  } while (0)

static void on_guard(uv_timer_t *t) {
  (void)t;
  fail_msg("timed out");
}

/* ---- Recorders ---- */

typedef struct rec {
  irpc_buf *data;
  size_t total;
  int status; /* the final negative status, 0 while open */
  int pattern_bad;
  int check_pattern;
} rec;

static uint8_t pattern(size_t i) {
  return (uint8_t)(i % 251);
}

static void on_rec_read(irpc_duplex *d, int status, const uint8_t *data,
                        size_t len, void *ud) {
  (void)d;
  rec *r = ud;
  assert_int_equal(r->status, 0); /* nothing after the end */
  if (status < 0) {
    assert_null(data);
    r->status = status;
    return;
  }
  assert_true(len > 0);
  if (r->check_pattern) {
    for (size_t i = 0; i < len; i++)
      r->pattern_bad |= data[i] != pattern(r->total + i);
  } else {
    assert_irpc_ok(irpc_buf_append(r->data, data, len));
  }
  r->total += len;
}

static void rec_init(rec *r) {
  memset(r, 0, sizeof(*r));
  assert_irpc_ok(irpc_buf_new(&r->data));
}

static void rec_fini(rec *r) {
  irpc_buf_free(r->data);
}

static int rec_equals(const rec *r, const char *s) {
  return irpc_buf_equals(r->data, s, strlen(s));
}

#define MAX_WRITES 256
static int wstatus[MAX_WRITES];
static int worder[MAX_WRITES];
static int wcount;
static int closes;
static int last_shutdown = 1;

static void on_write(irpc_duplex *d, int status, void *ud) {
  (void)d;
  assert_true(wcount < MAX_WRITES);
  worder[wcount] = (int)(intptr_t)ud;
  wstatus[wcount++] = status;
}

static void on_close(irpc_duplex *d, int status, void *ud) {
  (void)d;
  (void)ud;
  assert_int_equal(status, 0);
  closes++;
}

static void on_shutdown(irpc_duplex *d, int status, void *ud) {
  (void)d;
  (void)ud;
  last_shutdown = status;
}

static void reset_logs(void) {
  wcount = 0;
  closes = 0;
  last_shutdown = 1;
}

static void write_str(irpc_duplex *d, const char *s, int id) {
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, s, strlen(s)));
  assert_irpc_ok(irpc_duplex_write(d, b, on_write, (void *)(intptr_t)id));
  assert_int_equal(irpc_buf_len(b), 0);
  irpc_buf_free(b);
}

/* Writes `n` pattern bytes in 8 KiB appends (a chain of 4 KiB blocks). */
static void write_pattern(irpc_duplex *d, size_t n, int id) {
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  uint8_t chunk[8192];
  for (size_t off = 0; off < n; off += sizeof(chunk)) {
    size_t len = n - off < sizeof(chunk) ? n - off : sizeof(chunk);
    for (size_t i = 0; i < len; i++)
      chunk[i] = pattern(off + i);
    assert_irpc_ok(irpc_buf_append(b, chunk, len));
  }
  assert_irpc_ok(irpc_duplex_write(d, b, on_write, (void *)(intptr_t)id));
  irpc_buf_free(b);
}

/* ---- Fixture ---- */

static int have_ipv6(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_tcp_t tcp;
  uv_tcp_init(&loop, &tcp);
  struct sockaddr_in6 a;
  uv_ip6_addr("::1", 0, &a);
  int rc = uv_tcp_bind(&tcp, (const struct sockaddr *)&a, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&tcp, 1, NULL);
  uv_close((uv_handle_t *)&tcp, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc == 0;
}

static void duplex_fx_start(duplex_fx *f, int kind) {
  memset(f, 0, sizeof(*f));
  f->kind = kind;
  reset_logs();
  assert_int_equal(uv_loop_init(&f->loop), 0);
  uv_timer_init(&f->loop, &f->guard);
  uv_timer_start(&f->guard, on_guard, 30000, 0);
  if (kind == K_TCP4 || kind == K_TCP6)
    f->t = irpc_transport_tcp();
  else if (kind == K_UDS || kind == K_UDS_ABSTRACT)
    f->t = irpc_transport_uds();
  else if (kind == K_MEM) {
    assert_irpc_ok(irpc_transport_memory_new(&f->t));
    f->own_t = 1;
  }
}

static void on_listener_closed(irpc_listener *l, void *ud) {
  (void)l;
  (*(int *)ud)++;
}

static void duplex_fx_finish(duplex_fx *f) {
  if (f->c)
    irpc_duplex_close(f->c, NULL, NULL);
  if (f->s)
    irpc_duplex_close(f->s, NULL, NULL);
  int lclosed = 0;
  if (f->l)
    irpc_listener_close(f->l, on_listener_closed, &lclosed);
  uv_close((uv_handle_t *)&f->guard, NULL);
  test_loop_finish(&f->loop);
  assert_int_equal(lclosed, f->l ? 1 : 0);
  if (f->kind == K_UDS) {
    struct stat st;
    assert_int_not_equal(stat(f->path, &st), 0); /* unlinked on close */
    rmdir(f->dir);
  }
  if (f->own_t)
    irpc_transport_free(f->t);
}

static void listen_uri(duplex_fx *f, char *uri, size_t len) {
  static int counter;
  switch (f->kind) {
  case K_TCP4:
    snprintf(uri, len, "icerpc://127.0.0.1:0?transport=tcp");
    break;
  case K_TCP6:
    snprintf(uri, len, "icerpc://[::1]:0?transport=tcp");
    break;
  case K_UDS:
    strcpy(f->dir, "/tmp/irpc-tr-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/s.sock", f->dir);
    snprintf(uri, len, "icerpc://localhost?transport=uds&path=%s", f->path);
    break;
  case K_UDS_ABSTRACT:
    snprintf(f->path, sizeof(f->path), "@irpc-test-%d-%d", (int)getpid(),
             counter++);
    snprintf(uri, len, "icerpc://localhost?transport=uds&path=%s", f->path);
    break;
  default:
    snprintf(uri, len, "icerpc://srv?transport=memory");
    break;
  }
}

static void on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l;
  duplex_fx *f = ud;
  assert_null(f->s);
  f->s = d;
  f->accepted++;
}

static void duplex_fx_on_connect(irpc_duplex *d, int status, void *ud) {
  duplex_fx *f = ud;
  assert_ptr_equal(d, f->c);
  f->connected = 1;
  f->connect_status = status;
  if (status)
    f->c = NULL; /* freed by the library */
}

static void duplex_fx_listen(duplex_fx *f) {
  char uri[256];
  listen_uri(f, uri, sizeof(uri));
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  assert_irpc_ok(irpc_transport_listen(f->t, &f->loop, a, on_accept, f, &f->l));
  irpc_server_address_free(a);
}

/* A connected client and server (a memory pair for K_PAIR). */
static void duplex_fx_connect(duplex_fx *f) {
  if (f->kind == K_PAIR) {
    assert_irpc_ok(irpc_duplex_pair(&f->loop, &f->c, &f->s));
    return;
  }
  duplex_fx_listen(f);
  assert_irpc_ok(irpc_transport_connect(f->t, &f->loop,
                                        irpc_listener_address(f->l), &f->c,
                                        duplex_fx_on_connect, f));
  assert_false(f->connected); /* never inside the call */
  RUN_UNTIL(f, f->connected && f->accepted);
  assert_irpc_ok(f->connect_status);
}

static int skip_kind(int kind) {
  return kind == K_TCP6 && !have_ipv6();
}

#define KIND(state) (*(const int *)*(state))

/* ---- The conformance suite ---- */

static void test_connect_addresses(void **state) {
  if (skip_kind(KIND(state)))
    skip();
  duplex_fx f;
  duplex_fx_start(&f, KIND(state));
  duplex_fx_connect(&f);
  char cl[128], cr[128], sl[128], sr[128];
  assert_irpc_ok(irpc_duplex_local_address(f.c, cl, sizeof(cl)));
  assert_irpc_ok(irpc_duplex_remote_address(f.c, cr, sizeof(cr)));
  assert_irpc_ok(irpc_duplex_local_address(f.s, sl, sizeof(sl)));
  assert_irpc_ok(irpc_duplex_remote_address(f.s, sr, sizeof(sr)));
  assert_ptr_equal(irpc_duplex_loop(f.c), &f.loop);
  const irpc_server_address *la = f.l ? irpc_listener_address(f.l) : NULL;
  switch (f.kind) {
  case K_TCP4:
  case K_TCP6: {
    assert_string_equal(cl, sr);
    assert_string_equal(cr, sl);
    assert_int_not_equal(irpc_server_address_port(la), 0);
    char want[64];
    snprintf(want, sizeof(want), f.kind == K_TCP4 ? "127.0.0.1:%u" : "[::1]:%u",
             (unsigned)irpc_server_address_port(la));
    assert_string_equal(cr, want);
    assert_string_equal(irpc_duplex_type(f.c), "tcp");
    break;
  }
  case K_UDS:
  case K_UDS_ABSTRACT:
    assert_string_equal(cr, f.path);
    assert_string_equal(sl, f.path);
    assert_string_equal(cl, "");
    assert_string_equal(irpc_duplex_type(f.c), "uds");
    break;
  case K_MEM:
    assert_string_equal(cr, "srv");
    assert_string_equal(sl, "srv");
    assert_string_equal(cl, "");
    assert_string_equal(irpc_server_address_host(la), "srv");
    break;
  default:
    assert_string_equal(cl, "a");
    assert_string_equal(cr, "b");
    assert_string_equal(sl, "b");
    assert_string_equal(sr, "a");
    break;
  }
  char tiny[2];
  if (f.kind != K_PAIR)
    assert_irpc_err(irpc_duplex_remote_address(f.c, tiny, sizeof(tiny)),
                    UV_ENOBUFS);
  duplex_fx_finish(&f);
}

static void test_data_both_ways(void **state) {
  if (skip_kind(KIND(state)))
    skip();
  duplex_fx f;
  duplex_fx_start(&f, KIND(state));
  duplex_fx_connect(&f);
  rec rc, rs;
  rec_init(&rc);
  rec_init(&rs);
  rc.check_pattern = rs.check_pattern = 1;
  assert_irpc_ok(irpc_duplex_read_start(f.c, on_rec_read, &rc));
  assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
  size_t big = 8u << 20;
  write_pattern(f.c, big, 1);
  write_pattern(f.s, big, 2);
  assert_int_equal(irpc_duplex_write_queue_size(f.c), big);
  RUN_UNTIL(&f, wcount == 2 && rc.total == big && rs.total == big);
  assert_int_equal(wstatus[0], 0);
  assert_int_equal(wstatus[1], 0);
  assert_false(rc.pattern_bad);
  assert_false(rs.pattern_bad);
  assert_int_equal(irpc_duplex_write_queue_size(f.c), 0);
  rec_fini(&rc);
  rec_fini(&rs);
  duplex_fx_finish(&f);
}

static void test_write_order_and_fin(void **state) {
  if (skip_kind(KIND(state)))
    skip();
  duplex_fx f;
  duplex_fx_start(&f, KIND(state));
  duplex_fx_connect(&f);
  rec rs, rcl;
  rec_init(&rs);
  rec_init(&rcl);
  assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
  assert_irpc_ok(irpc_duplex_read_start(f.c, on_rec_read, &rcl));
  char expect[1024] = "";
  for (int i = 0; i < 50; i++) {
    char s[16];
    snprintf(s, sizeof(s), "<%d>", i);
    strcat(expect, s);
    write_str(f.c, s, i);
  }
  irpc_buf *empty;
  assert_irpc_ok(irpc_buf_new(&empty));
  assert_irpc_ok(irpc_duplex_write(f.c, empty, on_write, (void *)50));
  irpc_buf_free(empty);
  assert_irpc_ok(irpc_duplex_shutdown(f.c, on_shutdown, NULL));
  assert_int_equal(wcount, 0); /* never inside the calls */
  assert_int_equal(last_shutdown, 1);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_err(irpc_duplex_write(f.c, b, NULL, NULL), UV_EPIPE);
  assert_irpc_err(irpc_duplex_shutdown(f.c, NULL, NULL), UV_EPIPE);
  irpc_buf_free(b);
  RUN_UNTIL(&f, rs.status != 0 && last_shutdown != 1);
  assert_int_equal(rs.status, UV_EOF);
  assert_true(rec_equals(&rs, expect));
  assert_int_equal(last_shutdown, 0);
  RUN_UNTIL(&f, wcount == 51);
  for (int i = 0; i < 51; i++) {
    assert_int_equal(worder[i], i);
    assert_int_equal(wstatus[i], 0);
  }
  assert_irpc_err(irpc_duplex_read_start(f.s, on_rec_read, &rs), IRPC_ECLOSED);
  /* Half-close: the server still writes back. */
  write_str(f.s, "bye", 99);
  assert_irpc_ok(irpc_duplex_shutdown(f.s, NULL, NULL));
  RUN_UNTIL(&f, rcl.status != 0);
  assert_int_equal(rcl.status, UV_EOF);
  assert_true(rec_equals(&rcl, "bye"));
  rec_fini(&rs);
  rec_fini(&rcl);
  duplex_fx_finish(&f);
}

static void test_read_stop_start(void **state) {
  if (skip_kind(KIND(state)))
    skip();
  duplex_fx f;
  duplex_fx_start(&f, KIND(state));
  duplex_fx_connect(&f);
  rec rs;
  rec_init(&rs);
  assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
  write_str(f.c, "one", 0);
  RUN_UNTIL(&f, rs.total == 3);
  assert_irpc_ok(irpc_duplex_read_stop(f.s));
  assert_irpc_ok(irpc_duplex_read_stop(f.s));
  write_str(f.c, "two", 1);
  if (f.kind != K_MEM && f.kind != K_PAIR)
    RUN_UNTIL(&f, wcount == 2);
  else
    assert_int_equal(uv_run(&f.loop, UV_RUN_NOWAIT), 1);
  assert_int_equal(rs.total, 3);
  if (f.kind == K_MEM || f.kind == K_PAIR) {
    /* A memory write completes when read: the reader holds it back. */
    assert_int_equal(irpc_duplex_write_queue_size(f.c), 3);
  }
  assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
  RUN_UNTIL(&f, rs.total == 6 && wcount == 2);
  assert_true(rec_equals(&rs, "onetwo"));
  rec_fini(&rs);
  duplex_fx_finish(&f);
}

static void test_close_with_pending_writes(void **state) {
  if (skip_kind(KIND(state)))
    skip();
  duplex_fx f;
  duplex_fx_start(&f, KIND(state));
  duplex_fx_connect(&f);
  for (int i = 0; i < 4; i++)
    write_pattern(f.c, 8u << 20, i);
  assert_irpc_ok(irpc_duplex_shutdown(f.c, on_shutdown, NULL));
  irpc_duplex_close(f.c, on_close, NULL);
  irpc_duplex_close(f.c, on_close, NULL); /* a no-op */
  assert_int_equal(wcount, 0);
  assert_int_equal(closes, 0);
  f.c = NULL;
  RUN_UNTIL(&f, closes == 1);
  assert_int_equal(wcount, 4);
  /* In order; the kernel may have taken the first bytes. */
  for (int i = 0; i < 4; i++) {
    assert_int_equal(worder[i], i);
    assert_true(wstatus[i] == 0 || wstatus[i] == UV_ECANCELED);
    if (i > 0 && wstatus[i - 1] == UV_ECANCELED)
      assert_int_equal(wstatus[i], UV_ECANCELED);
  }
  assert_int_equal(wstatus[3], UV_ECANCELED);
  assert_int_equal(last_shutdown, UV_ECANCELED);
  duplex_fx_finish(&f);
}

static void test_peer_close_and_abort(void **state) {
  if (skip_kind(KIND(state)))
    skip();
  for (int abort = 0; abort < 2; abort++) {
    duplex_fx f;
    duplex_fx_start(&f, KIND(state));
    duplex_fx_connect(&f);
    rec rs;
    rec_init(&rs);
    assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
    if (abort)
      irpc_duplex_abort(f.c, on_close, NULL);
    else
      irpc_duplex_close(f.c, on_close, NULL);
    f.c = NULL;
    RUN_UNTIL(&f, rs.status != 0 && closes == 1);
    int tcp = f.kind == K_TCP4 || f.kind == K_TCP6;
    int mem = f.kind == K_MEM || f.kind == K_PAIR;
    if (mem || (tcp && abort))
      assert_int_equal(rs.status, UV_ECONNRESET);
    else
      assert_int_equal(rs.status, UV_EOF);
    rec_fini(&rs);
    duplex_fx_finish(&f);
  }
}

/* ---- A connection refused for lack of memory ---- */

/* The address of a local in the function that runs the loop: every frame
 * below it belongs to uv_run and its callbacks, so a handle of the loop
 * found there lives in a frame that has returned. */
static uintptr_t loop_runner_frame;
static int handles_in_dead_frames;

static void find_dead_frame_handle(uv_handle_t *h, void *arg) {
  uintptr_t a = (uintptr_t)h, below = (uintptr_t)arg - (64 << 10);
  if (a > below && a < loop_runner_frame)
    handles_in_dead_frames++;
}

/* When set, the listener of `refusing_fx` closes in the iteration that
 * refused a connection, while that connection's handle is still closing. */
static duplex_fx *refusing_fx;
static int refused_listener_closes;

/* Runs after the callbacks of each iteration and before libuv finishes
 * the handles closed during it. */
static void check_frames(uv_check_t *c) {
  char here;
  uv_walk(c->loop, find_dead_frame_handle, &here);
  if (refusing_fx && refusing_fx->l && test_alloc.fail_at == 0) {
    irpc_listener_close(refusing_fx->l, on_listener_closed,
                        &refused_listener_closes);
    refusing_fx->l = NULL;
  }
}

static __attribute__((noinline)) void run_once_marked(uv_loop_t *loop) {
  volatile char mark = 0;
  loop_runner_frame = (uintptr_t)&mark;
  uv_run(loop, UV_RUN_ONCE);
  (void)mark;
}

static void on_reject_connect(irpc_duplex *d, int status, void *ud) {
  (void)d;
  *(int *)ud = status ? status : 1;
}

/* Starts a listening fixture whose loop counts the handles left in dead
 * frames (check_frames). */
static void refusing_start(duplex_fx *f, uv_check_t *check, void **state) {
  duplex_fx_start(f, KIND(state));
  duplex_fx_listen(f);
  uv_check_init(&f->loop, check);
  uv_check_start(check, check_frames);
  handles_in_dead_frames = 0;
}

/* Connects a client to the fixture's listener; *connected becomes 1. */
static void refusing_connect(duplex_fx *f, irpc_duplex **c, int *connected) {
  assert_irpc_ok(irpc_transport_connect(f->t, &f->loop,
                                        irpc_listener_address(f->l), c,
                                        on_reject_connect, connected));
}

/* Reads the refused client until its end: nothing came; closes it and
 * returns how the read ended. */
static int refused_read_end(duplex_fx *f, irpc_duplex *c) {
  rec rc;
  rec_init(&rc);
  assert_irpc_ok(irpc_duplex_read_start(c, on_rec_read, &rc));
  while (rc.status == 0)
    run_once_marked(&f->loop);
  assert_int_equal(rc.total, 0);
  assert_int_equal(handles_in_dead_frames, 0);
  irpc_duplex_close(c, NULL, NULL);
  rec_fini(&rc);
  return rc.status;
}

/* The server cannot allocate the duplex of a new connection: the peer
 * sees the connection end, libuv's handle for it never outlives the call
 * that made it, the next connection is accepted, and the listener closes. */
static void test_accept_out_of_memory(void **state) {
  duplex_fx f;
  uv_check_t check;
  refusing_start(&f, &check, state);
  irpc_duplex *c;
  int connected = 0;
  refusing_connect(&f, &c, &connected);
  test_alloc.fail_at = 1; /* the server's duplex */
  while (!connected)
    run_once_marked(&f.loop);
  assert_int_equal(connected, 1);
  int end = refused_read_end(&f, c);
  assert_int_equal(test_alloc.fail_at, 0);
  assert_true(end == UV_EOF || end == UV_ECONNRESET);
  assert_int_equal(f.accepted, 0);

  /* The listener still accepts. */
  assert_irpc_ok(irpc_transport_connect(f.t, &f.loop,
                                        irpc_listener_address(f.l), &f.c,
                                        duplex_fx_on_connect, &f));
  while (!(f.connected && f.accepted))
    run_once_marked(&f.loop);
  assert_irpc_ok(f.connect_status);
  assert_int_equal(handles_in_dead_frames, 0);
  uv_close((uv_handle_t *)&check, NULL);
  duplex_fx_finish(&f);
}

/* Two connections arrive together and the server cannot allocate their
 * duplexes: the first is refused at once; libuv holds the second while
 * the first closes, then it is accepted when memory is back (2 failures)
 * or refused too (3 failures). */
static void test_accept_out_of_memory_queued(void **state) {
  for (long failures = 2; failures <= 3; failures++) {
    duplex_fx f;
    uv_check_t check;
    refusing_start(&f, &check, state);
    irpc_duplex *c[2];
    int connected[2] = {0, 0};
    rec r[2];
    for (int i = 0; i < 2; i++)
      refusing_connect(&f, &c[i], &connected[i]);
    test_alloc.fail_at = 1;
    test_alloc.fail_more = failures - 1;
    while (!connected[0] || !connected[1])
      run_once_marked(&f.loop);
    for (int i = 0; i < 2; i++) {
      assert_int_equal(connected[i], 1);
      rec_init(&r[i]);
      assert_irpc_ok(irpc_duplex_read_start(c[i], on_rec_read, &r[i]));
    }
    if (failures == 2) {
      while (r[0].status == 0 || !f.accepted)
        run_once_marked(&f.loop);
      assert_int_equal(r[1].status, 0); /* the second is served */
      write_str(f.s, "hi", 1);
      while (r[1].total < 2)
        run_once_marked(&f.loop);
      assert_true(rec_equals(&r[1], "hi"));
    } else {
      while (r[0].status == 0 || r[1].status == 0)
        run_once_marked(&f.loop);
      assert_int_equal(f.accepted, 0);
    }
    assert_int_equal(test_alloc.fail_at, 0);
    assert_int_equal(test_alloc.fail_more, 0);
    assert_int_equal(r[0].total, 0);
    assert_int_equal(handles_in_dead_frames, 0);
    for (int i = 0; i < 2; i++) {
      irpc_duplex_close(c[i], NULL, NULL);
      rec_fini(&r[i]);
    }
    uv_close((uv_handle_t *)&check, NULL);
    duplex_fx_finish(&f);
  }
}

/* The listener closes while a refused connection is still closing: the
 * listener's close callback runs once, after both. */
static void test_accept_out_of_memory_then_close(void **state) {
  duplex_fx f;
  uv_check_t check;
  refusing_start(&f, &check, state);
  refused_listener_closes = 0;
  irpc_duplex *c;
  int connected = 0;
  refusing_connect(&f, &c, &connected);
  test_alloc.fail_at = 1;
  refusing_fx = &f;
  while (!connected || refused_listener_closes == 0)
    run_once_marked(&f.loop);
  refusing_fx = NULL;
  assert_null(f.l);
  assert_int_equal(f.accepted, 0);
  refused_read_end(&f, c);
  uv_close((uv_handle_t *)&check, NULL);
  duplex_fx_finish(&f);
  assert_int_equal(refused_listener_closes, 1);
}

static void test_close_during_connect(void **state) {
  if (skip_kind(KIND(state)))
    skip();
  duplex_fx f;
  duplex_fx_start(&f, KIND(state));
  duplex_fx_listen(&f);
  assert_irpc_ok(irpc_transport_connect(f.t, &f.loop,
                                        irpc_listener_address(f.l), &f.c,
                                        duplex_fx_on_connect, &f));
  assert_irpc_err(irpc_duplex_read_start(f.c, on_rec_read, NULL), UV_ENOTCONN);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_err(irpc_duplex_write(f.c, b, NULL, NULL), UV_ENOTCONN);
  irpc_buf_free(b);
  irpc_duplex_close(f.c, on_close, NULL);
  RUN_UNTIL(&f, closes == 1);
  assert_true(f.connected);
  assert_int_equal(f.connect_status, UV_ECANCELED);
  /* The server may have accepted the connection before the close. */
  duplex_fx_finish(&f);
}

static void test_connect_refused(void **state) {
  if (skip_kind(KIND(state)))
    skip();
  duplex_fx f;
  duplex_fx_start(&f, KIND(state));
  irpc_server_address *a;
  int stale_fd = -1;
  if (f.kind == K_TCP4 || f.kind == K_TCP6) {
    /* A port that was free a moment ago. */
    duplex_fx_listen(&f);
    assert_irpc_ok(irpc_server_address_clone(&a, irpc_listener_address(f.l)));
    irpc_listener_close(f.l, NULL, NULL);
    f.l = NULL;
  } else {
    char uri[256];
    listen_uri(&f, uri, sizeof(uri));
    assert_irpc_ok(irpc_server_address_parse(&a, uri));
    if (f.kind == K_UDS) {
      /* A socket file nobody listens on. */
      stale_fd = socket(AF_UNIX, SOCK_STREAM, 0);
      struct sockaddr_un sa;
      memset(&sa, 0, sizeof(sa));
      sa.sun_family = AF_UNIX;
      strcpy(sa.sun_path, f.path);
      assert_int_equal(bind(stale_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
  }
  assert_irpc_ok(
      irpc_transport_connect(f.t, &f.loop, a, &f.c, duplex_fx_on_connect, &f));
  RUN_UNTIL(&f, f.connected);
  assert_int_equal(f.connect_status, UV_ECONNREFUSED);
  assert_null(f.c);
  irpc_server_address_free(a);
  if (stale_fd >= 0) {
    close(stale_fd);
    unlink(f.path);
  }
  duplex_fx_finish(&f);
}

/* ---- Transport-specific tests ---- */

static void test_by_name(void **state) {
  (void)state;
  assert_ptr_equal(irpc_transport_by_name("tcp"), irpc_transport_tcp());
  assert_ptr_equal(irpc_transport_by_name("uds"), irpc_transport_uds());
  assert_null(irpc_transport_by_name("quic"));
  assert_null(irpc_transport_by_name(NULL));
  assert_string_equal(irpc_transport_name(irpc_transport_tcp()), "tcp");
  irpc_transport_free(irpc_transport_tcp()); /* a no-op */
}

static void test_tcp_hostname(void **state) {
  (void)state;
  duplex_fx f;
  duplex_fx_start(&f, K_TCP4);
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, "icerpc://127.0.0.1:0"));
  assert_irpc_ok(irpc_transport_listen(f.t, &f.loop, a, on_accept, &f, &f.l));
  irpc_server_address_free(a);
  char uri[64];
  snprintf(uri, sizeof(uri), "icerpc://localhost:%u",
           (unsigned)irpc_server_address_port(irpc_listener_address(f.l)));
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  /* localhost may resolve to ::1 first: the IPv4 address comes next. */
  assert_irpc_ok(
      irpc_transport_connect(f.t, &f.loop, a, &f.c, duplex_fx_on_connect, &f));
  irpc_server_address_free(a);
  RUN_UNTIL(&f, f.connected && f.accepted);
  assert_irpc_ok(f.connect_status);
  duplex_fx_finish(&f);
}

static void test_tcp_bad_addresses(void **state) {
  (void)state;
  duplex_fx f;
  duplex_fx_start(&f, K_TCP4);
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, "icerpc://h?transport=quic"));
  assert_irpc_err(
      irpc_transport_connect(f.t, &f.loop, a, &f.c, duplex_fx_on_connect, &f),
      IRPC_EINVAL);
  assert_irpc_err(irpc_transport_listen(f.t, &f.loop, a, on_accept, &f, &f.l),
                  IRPC_EINVAL);
  irpc_server_address_free(a);
  assert_irpc_ok(
      irpc_server_address_parse(&a, "icerpc://x?transport=uds&path=/x"));
  assert_irpc_err(
      irpc_transport_connect(f.t, &f.loop, a, &f.c, duplex_fx_on_connect, &f),
      IRPC_EINVAL);
  irpc_server_address_free(a);
  /* Port in use. */
  duplex_fx_listen(&f);
  irpc_listener *l2 = NULL;
  assert_irpc_err(irpc_transport_listen(f.t, &f.loop,
                                        irpc_listener_address(f.l), on_accept,
                                        &f, &l2),
                  UV_EADDRINUSE);
  duplex_fx_finish(&f);
}

static void test_uds_stale_and_regular_file(void **state) {
  (void)state;
  duplex_fx f;
  duplex_fx_start(&f, K_UDS);
  char uri[256];
  listen_uri(&f, uri, sizeof(uri));
  /* A stale socket file is replaced. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof(sa));
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, f.path);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  irpc_server_address *a;
  assert_irpc_ok(irpc_server_address_parse(&a, uri));
  assert_irpc_ok(irpc_transport_listen(f.t, &f.loop, a, on_accept, &f, &f.l));
  irpc_listener_close(f.l, NULL, NULL);
  f.l = NULL;
  /* A regular file is not. */
  FILE *file = fopen(f.path, "w");
  assert_non_null(file);
  fclose(file);
  assert_irpc_err(irpc_transport_listen(f.t, &f.loop, a, on_accept, &f, &f.l),
                  UV_EADDRINUSE);
  unlink(f.path);
  irpc_server_address_free(a);
  duplex_fx_finish(&f);
}

static void test_memory_names(void **state) {
  (void)state;
  duplex_fx f;
  duplex_fx_start(&f, K_MEM);
  duplex_fx_listen(&f);
  irpc_listener *l2 = NULL;
  assert_irpc_err(irpc_transport_listen(f.t, &f.loop,
                                        irpc_listener_address(f.l), on_accept,
                                        &f, &l2),
                  UV_EADDRINUSE);
  /* Another memory transport is another namespace. */
  irpc_transport *t2;
  assert_irpc_ok(irpc_transport_memory_new(&t2));
  irpc_duplex *d;
  int connected = 0;
  f.connected = 0;
  assert_irpc_ok(irpc_transport_connect(t2, &f.loop, irpc_listener_address(f.l),
                                        &d, duplex_fx_on_connect, &f));
  f.c = d;
  RUN_UNTIL(&f, f.connected);
  assert_int_equal(f.connect_status, UV_ECONNREFUSED);
  (void)connected;
  irpc_transport_free(t2);
  duplex_fx_finish(&f);
}

/* Reads are never delivered inside write, and come one per segment in
 * order, on a later loop turn. */
static void test_pair_deterministic(void **state) {
  (void)state;
  duplex_fx f;
  duplex_fx_start(&f, K_PAIR);
  duplex_fx_connect(&f);
  rec rs;
  rec_init(&rs);
  assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
  write_str(f.c, "ab", 0);
  write_str(f.c, "cd", 1);
  assert_int_equal(rs.total, 0);
  assert_int_equal(irpc_duplex_write_queue_size(f.c), 4);
  uv_run(&f.loop, UV_RUN_NOWAIT);
  assert_true(rec_equals(&rs, "abcd"));
  assert_int_equal(irpc_buf_segment_count(rs.data), 1);
  RUN_UNTIL(&f, wcount == 2);
  assert_int_equal(irpc_duplex_write_queue_size(f.c), 0);
  /* A close after a FIN: the peer sees EOF, not a reset. */
  assert_irpc_ok(irpc_duplex_shutdown(f.c, NULL, NULL));
  irpc_duplex_close(f.c, NULL, NULL);
  f.c = NULL;
  RUN_UNTIL(&f, rs.status != 0);
  assert_int_equal(rs.status, UV_EOF);
  /* Writes towards a closed peer fail. */
  write_str(f.s, "x", 7);
  RUN_UNTIL(&f, wcount == 3);
  assert_int_equal(wstatus[2], UV_ECONNRESET);
  rec_fini(&rs);
  duplex_fx_finish(&f);
}

/* ---- The fault decorator ---- */

/* A pair whose client end is wrapped. */
static void fault_pair(duplex_fx *f) {
  duplex_fx_start(f, K_PAIR);
  irpc_duplex *inner;
  assert_irpc_ok(irpc_duplex_pair(&f->loop, &inner, &f->s));
  assert_irpc_ok(irpc_duplex_fault_wrap(&f->c, inner));
  assert_string_equal(irpc_duplex_type(f->c), "fault");
  assert_non_null(irpc_duplex_fault(f->c));
  assert_null(irpc_duplex_fault(f->s));
}

static void test_fault_write_fail_and_nth(void **state) {
  (void)state;
  duplex_fx f;
  fault_pair(&f);
  irpc_fault *fl = irpc_duplex_fault(f.c);
  assert_irpc_err(irpc_fault_set(fl, IRPC_FAULT_WRITE, IRPC_FAULT_FAIL, 0),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_fault_set(fl, IRPC_FAULT_LISTEN, IRPC_FAULT_HOLD, 0),
                  IRPC_ENOTSUP);
  /* The second write fails, the others pass. */
  assert_irpc_ok(
      irpc_fault_set_nth(fl, IRPC_FAULT_WRITE, IRPC_FAULT_FAIL, UV_EIO, 1, 1));
  rec rs;
  rec_init(&rs);
  assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
  write_str(f.c, "a", 0);
  write_str(f.c, "b", 1);
  write_str(f.c, "c", 2);
  RUN_UNTIL(&f, wcount == 3);
  assert_int_equal(wstatus[0], 0);
  assert_int_equal(wstatus[1], UV_EIO);
  assert_int_equal(wstatus[2], 0);
  assert_int_equal(worder[1], 1);
  assert_true(rec_equals(&rs, "ac"));
  assert_int_equal(irpc_fault_count(fl, IRPC_FAULT_WRITE), 3);
  rec_fini(&rs);
  duplex_fx_finish(&f);
}

static void test_fault_write_hold(void **state) {
  (void)state;
  duplex_fx f;
  fault_pair(&f);
  irpc_fault *fl = irpc_duplex_fault(f.c);
  rec rs;
  rec_init(&rs);
  assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
  write_str(f.c, "a", 0);
  assert_irpc_ok(irpc_fault_set(fl, IRPC_FAULT_WRITE, IRPC_FAULT_HOLD, 0));
  write_str(f.c, "b", 1);
  write_str(f.c, "c", 2);
  RUN_UNTIL(&f, wcount == 1);
  for (int n = 0; n < 5; n++)
    uv_run(&f.loop, UV_RUN_NOWAIT);
  assert_int_equal(wcount, 1);
  assert_true(rec_equals(&rs, "a"));
  assert_int_equal(irpc_fault_held(fl, IRPC_FAULT_WRITE), 2);
  assert_int_equal(irpc_duplex_write_queue_size(f.c), 2);
  assert_irpc_ok(irpc_fault_clear(fl, IRPC_FAULT_WRITE));
  RUN_UNTIL(&f, wcount == 3);
  assert_true(rec_equals(&rs, "abc"));
  /* Held writes are canceled by a close. */
  assert_irpc_ok(irpc_fault_set(fl, IRPC_FAULT_WRITE, IRPC_FAULT_HOLD, 0));
  write_str(f.c, "d", 3);
  irpc_duplex_close(f.c, on_close, NULL);
  f.c = NULL;
  RUN_UNTIL(&f, closes == 1);
  assert_int_equal(wstatus[3], UV_ECANCELED);
  rec_fini(&rs);
  duplex_fx_finish(&f);
}

static void test_fault_write_truncate_and_reset(void **state) {
  (void)state;
  for (int truncate = 0; truncate < 2; truncate++) {
    duplex_fx f;
    fault_pair(&f);
    irpc_fault *fl = irpc_duplex_fault(f.c);
    rec rs, rc;
    rec_init(&rs);
    rec_init(&rc);
    assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
    assert_irpc_ok(irpc_duplex_read_start(f.c, on_rec_read, &rc));
    if (truncate)
      assert_irpc_ok(
          irpc_fault_set(fl, IRPC_FAULT_WRITE, IRPC_FAULT_TRUNCATE, 3));
    else
      assert_irpc_ok(irpc_fault_set(fl, IRPC_FAULT_WRITE, IRPC_FAULT_RESET, 0));
    write_str(f.c, "abcdef", 0);
    write_str(f.c, "gh", 1);
    RUN_UNTIL(&f, wcount == 2 && rs.status != 0 && rc.status != 0);
    assert_int_equal(wstatus[0], UV_ECONNRESET);
    assert_int_equal(wstatus[1], UV_ECONNRESET);
    assert_true(rec_equals(&rs, truncate ? "abc" : ""));
    assert_int_equal(rs.status, UV_ECONNRESET);
    assert_int_equal(rc.status, UV_ECONNRESET);
    /* Later operations fail too. */
    write_str(f.c, "i", 2);
    RUN_UNTIL(&f, wcount == 3);
    assert_int_equal(wstatus[2], UV_ECONNRESET);
    rec_fini(&rs);
    rec_fini(&rc);
    duplex_fx_finish(&f);
  }
}

static void test_fault_read(void **state) {
  (void)state;
  static const irpc_fault_action actions[] = {
      IRPC_FAULT_FAIL, IRPC_FAULT_HOLD, IRPC_FAULT_TRUNCATE, IRPC_FAULT_RESET};
  for (size_t i = 0; i < 4; i++) {
    duplex_fx f;
    fault_pair(&f);
    irpc_fault *fl = irpc_duplex_fault(f.c);
    rec rc;
    rec_init(&rc);
    int arg = actions[i] == IRPC_FAULT_FAIL       ? UV_EPROTO
              : actions[i] == IRPC_FAULT_TRUNCATE ? 2
                                                  : 0;
    assert_irpc_ok(irpc_fault_set(fl, IRPC_FAULT_READ, actions[i], arg));
    assert_irpc_ok(irpc_duplex_read_start(f.c, on_rec_read, &rc));
    write_str(f.s, "abc", 0);
    if (actions[i] == IRPC_FAULT_HOLD) {
      RUN_UNTIL(&f, irpc_fault_held(fl, IRPC_FAULT_READ) == 1);
      write_str(f.s, "de", 1);
      for (int n = 0; n < 5; n++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
      assert_int_equal(rc.total, 0);
      assert_irpc_ok(irpc_fault_clear(fl, IRPC_FAULT_READ));
      RUN_UNTIL(&f, rc.total == 5);
      assert_true(rec_equals(&rc, "abcde"));
    } else {
      RUN_UNTIL(&f, rc.status != 0);
      assert_int_equal(
          rc.status, actions[i] == IRPC_FAULT_FAIL ? UV_EPROTO : UV_ECONNRESET);
      assert_true(
          rec_equals(&rc, actions[i] == IRPC_FAULT_TRUNCATE ? "ab" : ""));
      /* The peer sees the reset. */
      rec rs;
      rec_init(&rs);
      assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
      RUN_UNTIL(&f, rs.status != 0);
      assert_int_equal(rs.status, UV_ECONNRESET);
      rec_fini(&rs);
    }
    rec_fini(&rc);
    duplex_fx_finish(&f);
  }
}

static void test_fault_shutdown(void **state) {
  (void)state;
  static const irpc_fault_action actions[] = {IRPC_FAULT_FAIL, IRPC_FAULT_HOLD,
                                              IRPC_FAULT_RESET};
  for (size_t i = 0; i < 3; i++) {
    duplex_fx f;
    fault_pair(&f);
    irpc_fault *fl = irpc_duplex_fault(f.c);
    rec rs;
    rec_init(&rs);
    assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
    assert_irpc_err(
        irpc_fault_set(fl, IRPC_FAULT_SHUTDOWN, IRPC_FAULT_TRUNCATE, 1),
        IRPC_ENOTSUP);
    assert_irpc_ok(irpc_fault_set(fl, IRPC_FAULT_SHUTDOWN, actions[i],
                                  actions[i] == IRPC_FAULT_FAIL ? UV_EIO : 0));
    write_str(f.c, "x", 0);
    assert_irpc_ok(irpc_duplex_shutdown(f.c, on_shutdown, NULL));
    if (actions[i] == IRPC_FAULT_HOLD) {
      RUN_UNTIL(&f, wcount == 1);
      for (int n = 0; n < 5; n++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
      assert_int_equal(last_shutdown, 1);
      assert_int_equal(rs.status, 0);
      assert_int_equal(irpc_fault_held(fl, IRPC_FAULT_SHUTDOWN), 1);
      assert_irpc_ok(irpc_fault_release(fl, IRPC_FAULT_SHUTDOWN));
      RUN_UNTIL(&f, last_shutdown != 1 && rs.status != 0);
      assert_int_equal(last_shutdown, 0);
      assert_int_equal(rs.status, UV_EOF);
    } else {
      RUN_UNTIL(&f, last_shutdown != 1);
      assert_int_equal(last_shutdown,
                       actions[i] == IRPC_FAULT_FAIL ? UV_EIO : UV_ECONNRESET);
      if (actions[i] == IRPC_FAULT_RESET) {
        RUN_UNTIL(&f, rs.status != 0);
        assert_int_equal(rs.status, UV_ECONNRESET);
      }
    }
    rec_fini(&rs);
    duplex_fx_finish(&f);
  }
}

/* A fault transport over the memory transport. */
static void fault_transport(duplex_fx *f, irpc_transport **inner) {
  duplex_fx_start(f, K_MEM);
  *inner = f->t;
  assert_irpc_ok(irpc_transport_fault_new(&f->t, *inner));
  assert_non_null(irpc_transport_fault(f->t));
  assert_null(irpc_transport_fault(*inner));
  f->own_t = 0;
}

static void fault_transport_finish(duplex_fx *f, irpc_transport *inner) {
  irpc_transport *t = f->t;
  duplex_fx_finish(f);
  irpc_transport_free(t);
  irpc_transport_free(inner);
}

static void test_fault_transport_connect(void **state) {
  (void)state;
  duplex_fx f;
  irpc_transport *inner;
  fault_transport(&f, &inner);
  irpc_fault *fl = irpc_transport_fault(f.t);
  duplex_fx_listen(&f);
  const irpc_server_address *la = irpc_listener_address(f.l);
  /* FAIL */
  assert_irpc_ok(
      irpc_fault_set(fl, IRPC_FAULT_CONNECT, IRPC_FAULT_FAIL, UV_ETIMEDOUT));
  assert_irpc_ok(
      irpc_transport_connect(f.t, &f.loop, la, &f.c, duplex_fx_on_connect, &f));
  RUN_UNTIL(&f, f.connected);
  assert_int_equal(f.connect_status, UV_ETIMEDOUT);
  assert_int_equal(f.accepted, 0);
  /* HOLD, then close: canceled. */
  assert_irpc_ok(irpc_fault_set(fl, IRPC_FAULT_CONNECT, IRPC_FAULT_HOLD, 0));
  f.connected = 0;
  assert_irpc_ok(
      irpc_transport_connect(f.t, &f.loop, la, &f.c, duplex_fx_on_connect, &f));
  RUN_UNTIL(&f, f.accepted == 1);
  for (int n = 0; n < 5; n++)
    uv_run(&f.loop, UV_RUN_NOWAIT);
  assert_false(f.connected);
  assert_int_equal(irpc_fault_held(fl, IRPC_FAULT_CONNECT), 1);
  irpc_duplex_close(f.c, on_close, NULL);
  RUN_UNTIL(&f, closes == 1);
  assert_int_equal(f.connect_status, UV_ECANCELED);
  irpc_duplex_close(f.s, NULL, NULL);
  f.s = NULL;
  f.accepted = 0;
  /* HOLD, then release. */
  f.connected = 0;
  assert_irpc_ok(
      irpc_transport_connect(f.t, &f.loop, la, &f.c, duplex_fx_on_connect, &f));
  RUN_UNTIL(&f, f.accepted == 1);
  assert_false(f.connected);
  assert_irpc_ok(irpc_fault_clear(fl, IRPC_FAULT_CONNECT));
  RUN_UNTIL(&f, f.connected);
  assert_irpc_ok(f.connect_status);
  assert_int_equal(irpc_fault_count(fl, IRPC_FAULT_CONNECT), 3);
  /* Per-duplex rules on a transport's duplex. */
  assert_irpc_ok(irpc_fault_set(irpc_duplex_fault(f.c), IRPC_FAULT_WRITE,
                                IRPC_FAULT_FAIL, UV_EIO));
  write_str(f.c, "x", 0);
  RUN_UNTIL(&f, wcount == 1);
  assert_int_equal(wstatus[0], UV_EIO);
  fault_transport_finish(&f, inner);
}

static void test_fault_transport_listen_accept(void **state) {
  (void)state;
  duplex_fx f;
  irpc_transport *inner;
  fault_transport(&f, &inner);
  irpc_fault *fl = irpc_transport_fault(f.t);
  assert_irpc_ok(
      irpc_fault_set(fl, IRPC_FAULT_LISTEN, IRPC_FAULT_FAIL, UV_EACCES));
  irpc_server_address *a;
  assert_irpc_ok(
      irpc_server_address_parse(&a, "icerpc://srv?transport=memory"));
  irpc_listener *l = NULL;
  assert_irpc_err(irpc_transport_listen(f.t, &f.loop, a, on_accept, &f, &l),
                  UV_EACCES);
  assert_irpc_ok(irpc_fault_clear(fl, IRPC_FAULT_LISTEN));
  assert_irpc_ok(irpc_transport_listen(f.t, &f.loop, a, on_accept, &f, &f.l));
  /* ACCEPT FAIL: the client connects, then sees a reset. */
  assert_irpc_ok(
      irpc_fault_set_nth(fl, IRPC_FAULT_ACCEPT, IRPC_FAULT_FAIL, UV_EIO, 0, 1));
  assert_irpc_ok(
      irpc_transport_connect(f.t, &f.loop, a, &f.c, duplex_fx_on_connect, &f));
  RUN_UNTIL(&f, f.connected);
  assert_irpc_ok(f.connect_status);
  rec rc;
  rec_init(&rc);
  assert_irpc_ok(irpc_duplex_read_start(f.c, on_rec_read, &rc));
  RUN_UNTIL(&f, rc.status != 0);
  assert_int_equal(rc.status, UV_ECONNRESET);
  assert_int_equal(f.accepted, 0);
  irpc_duplex_close(f.c, NULL, NULL);
  /* ACCEPT HOLD, then release. */
  assert_irpc_ok(irpc_fault_set(fl, IRPC_FAULT_ACCEPT, IRPC_FAULT_HOLD, 0));
  f.connected = 0;
  assert_irpc_ok(
      irpc_transport_connect(f.t, &f.loop, a, &f.c, duplex_fx_on_connect, &f));
  RUN_UNTIL(&f, f.connected);
  for (int n = 0; n < 5; n++)
    uv_run(&f.loop, UV_RUN_NOWAIT);
  assert_int_equal(f.accepted, 0);
  assert_int_equal(irpc_fault_held(fl, IRPC_FAULT_ACCEPT), 1);
  assert_irpc_ok(irpc_fault_release(fl, IRPC_FAULT_ACCEPT));
  RUN_UNTIL(&f, f.accepted == 1);
  irpc_duplex_close(f.c, NULL, NULL);
  irpc_duplex_close(f.s, NULL, NULL);
  f.s = NULL;
  /* A held accept is closed with the listener. */
  irpc_duplex *c2;
  assert_irpc_ok(
      irpc_transport_connect(f.t, &f.loop, a, &c2, duplex_fx_on_connect, &f));
  f.connected = 0;
  f.c = c2; /* duplex_fx_on_connect checks it */
  RUN_UNTIL(&f, f.connected);
  rec_fini(&rc);
  irpc_server_address_free(a);
  fault_transport_finish(&f, inner);
}

/* RESET over TCP: the peer sees a real RST. */
static void test_fault_reset_tcp(void **state) {
  (void)state;
  duplex_fx f;
  duplex_fx_start(&f, K_TCP4);
  duplex_fx_connect(&f);
  irpc_duplex *w;
  assert_irpc_ok(irpc_duplex_fault_wrap(&w, f.c));
  f.c = w;
  assert_irpc_ok(irpc_fault_set(irpc_duplex_fault(w), IRPC_FAULT_WRITE,
                                IRPC_FAULT_RESET, 0));
  rec rs;
  rec_init(&rs);
  assert_irpc_ok(irpc_duplex_read_start(f.s, on_rec_read, &rs));
  write_str(w, "x", 0);
  RUN_UNTIL(&f, rs.status != 0 && wcount == 1);
  assert_int_equal(rs.status, UV_ECONNRESET);
  assert_int_equal(wstatus[0], UV_ECONNRESET);
  char buf[64];
  assert_irpc_err(irpc_duplex_local_address(w, buf, sizeof(buf)), UV_ENOTCONN);
  rec_fini(&rs);
  duplex_fx_finish(&f);
}

static void test_wrap_errors(void **state) {
  (void)state;
  irpc_duplex *w;
  assert_irpc_err(irpc_duplex_fault_wrap(&w, NULL), IRPC_EINVAL);
  assert_irpc_err(irpc_transport_fault_new(NULL, irpc_transport_tcp()),
                  IRPC_EINVAL);
  assert_null(irpc_duplex_fault(NULL));
  assert_irpc_err(irpc_fault_set(NULL, IRPC_FAULT_READ, IRPC_FAULT_HOLD, 0),
                  IRPC_EINVAL);
}

static const int kinds[] = {K_TCP4,         K_TCP6, K_UDS,
                            K_UDS_ABSTRACT, K_MEM,  K_PAIR};

#define SUITE(fn)                                                              \
  {#fn "/tcp4", fn, NULL, NULL, (void *)&kinds[0]},                            \
      {#fn "/tcp6", fn, NULL, NULL, (void *)&kinds[1]},                        \
      {#fn "/uds", fn, NULL, NULL, (void *)&kinds[2]},                         \
      {#fn "/uds-abstract", fn, NULL, NULL, (void *)&kinds[3]},                \
      {#fn "/memory", fn, NULL, NULL, (void *)&kinds[4]}, {                    \
#fn "/pair", fn, NULL, NULL, (void *)&kinds[5]                             \
  }

/* The suite without the pair, for tests about connecting. */
#define SUITE_CONNECT(fn)                                                      \
  {#fn "/tcp4", fn, NULL, NULL, (void *)&kinds[0]},                            \
      {#fn "/tcp6", fn, NULL, NULL, (void *)&kinds[1]},                        \
      {#fn "/uds", fn, NULL, NULL, (void *)&kinds[2]},                         \
      {#fn "/uds-abstract", fn, NULL, NULL, (void *)&kinds[3]}, {              \
#fn "/memory", fn, NULL, NULL, (void *)&kinds[4]                           \
  }

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      SUITE(test_connect_addresses),
      SUITE(test_data_both_ways),
      SUITE(test_write_order_and_fin),
      SUITE(test_read_stop_start),
      SUITE(test_close_with_pending_writes),
      SUITE(test_peer_close_and_abort),
      SUITE_CONNECT(test_close_during_connect),
      SUITE_CONNECT(test_connect_refused),
      {"test_accept_out_of_memory/tcp4", test_accept_out_of_memory, NULL, NULL,
       (void *)&kinds[0]},
      {"test_accept_out_of_memory/uds", test_accept_out_of_memory, NULL, NULL,
       (void *)&kinds[2]},
      {"test_accept_out_of_memory_queued/tcp4",
       test_accept_out_of_memory_queued, NULL, NULL, (void *)&kinds[0]},
      {"test_accept_out_of_memory_queued/uds", test_accept_out_of_memory_queued,
       NULL, NULL, (void *)&kinds[2]},
      {"test_accept_out_of_memory_then_close/tcp4",
       test_accept_out_of_memory_then_close, NULL, NULL, (void *)&kinds[0]},
      {"test_accept_out_of_memory_then_close/uds",
       test_accept_out_of_memory_then_close, NULL, NULL, (void *)&kinds[2]},
      cmocka_unit_test(test_by_name),
      cmocka_unit_test(test_tcp_hostname),
      cmocka_unit_test(test_tcp_bad_addresses),
      cmocka_unit_test(test_uds_stale_and_regular_file),
      cmocka_unit_test(test_memory_names),
      cmocka_unit_test(test_pair_deterministic),
      cmocka_unit_test(test_fault_write_fail_and_nth),
      cmocka_unit_test(test_fault_write_hold),
      cmocka_unit_test(test_fault_write_truncate_and_reset),
      cmocka_unit_test(test_fault_read),
      cmocka_unit_test(test_fault_shutdown),
      cmocka_unit_test(test_fault_transport_connect),
      cmocka_unit_test(test_fault_transport_listen_accept),
      cmocka_unit_test(test_fault_reset_tcp),
      cmocka_unit_test(test_wrap_errors),
  };
  return cmocka_run_group_tests_name("transport", tests, NULL, NULL);
}
