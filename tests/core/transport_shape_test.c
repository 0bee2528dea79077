/* The shaped transport (irpc/link.h): parsing, the computed schedule on a
 * manual clock (exact times: nothing before, everything at), order and
 * content, FIN/EOF behind the data, connect round trip, close and errors;
 * then real time over TCP with lower bounds only. */
#include <stdio.h>
#include <string.h>

#include "kit/net.h"

#define US 1000u
#define MS 1000000u

/* ---- Parsing ---- */

static void expect_link(const char *spec, uint64_t bits, uint64_t ns) {
  irpc_link l;
  assert_irpc_ok(irpc_link_parse(&l, spec));
  assert_int_equal(l.bits_per_s, bits);
  assert_int_equal(l.latency_ns, ns);
  assert_null(l.clock);
}

static void test_parse(void **state) {
  (void)state;
  expect_link("100mbit,1ms", 100000000, MS);
  expect_link("1ms,100mbit", 100000000, MS);
  expect_link("1gbit", 1000000000, 0);
  expect_link("20ms", 0, 20 * MS);
  expect_link("56kbit, 150ms", 56000, 150 * MS);
  expect_link("2.5Gbit,0.2ms", 2500000000, 200 * US);
  expect_link("unlimited,5us", 0, 5 * US);
  expect_link("10MBps,1s", 80000000, 1000 * MS);
  expect_link("1kBps", 8000, 0);
  expect_link("300bit,7ns", 300, 7);
  irpc_link l = {1, 2, NULL};
  assert_irpc_err(irpc_link_parse(&l, ""), IRPC_EINVAL);
  assert_irpc_err(irpc_link_parse(&l, "100"), IRPC_EINVAL);
  assert_irpc_err(irpc_link_parse(&l, "mbit"), IRPC_EINVAL);
  assert_irpc_err(irpc_link_parse(&l, "100mbps"), IRPC_EINVAL); /* bits? */
  assert_irpc_err(irpc_link_parse(&l, "100mbit,1ms,2ms"), IRPC_EINVAL);
  assert_irpc_err(irpc_link_parse(&l, "1mbit,2mbit"), IRPC_EINVAL);
  assert_irpc_err(irpc_link_parse(&l, "-1ms"), IRPC_EINVAL);
  assert_irpc_err(irpc_link_parse(&l, "1ms,"), IRPC_EINVAL);
  assert_irpc_err(irpc_link_parse(&l, "1 ms"), IRPC_EINVAL);
  assert_irpc_err(irpc_link_parse(&l, "99999999999tbit"), IRPC_ERANGE);
  assert_irpc_err(irpc_link_parse(NULL, "1ms"), IRPC_EINVAL);
  assert_irpc_err(irpc_link_parse(&l, NULL), IRPC_EINVAL);
  assert_int_equal(l.bits_per_s, 1); /* untouched on error */
  assert_int_equal(l.latency_ns, 2);
}

static void expect_format(const char *spec, const char *want) {
  irpc_link l, back;
  char buf[64];
  assert_irpc_ok(irpc_link_parse(&l, spec));
  assert_irpc_ok(irpc_link_format(&l, buf, sizeof buf));
  assert_string_equal(buf, want);
  assert_irpc_ok(irpc_link_parse(&back, buf));
  assert_int_equal(back.bits_per_s, l.bits_per_s);
  assert_int_equal(back.latency_ns, l.latency_ns);
}

static void test_format_and_transfer(void **state) {
  (void)state;
  expect_format("100mbit,1ms", "100mbit,1ms");
  expect_format("2.5gbit,0.2ms", "2500mbit,200us");
  expect_format("1gbit", "1gbit,0ms");
  expect_format("unlimited,1s", "unlimited,1s");
  expect_format("123bit,7ns", "123bit,7ns");
  irpc_link l = {100000000, MS, NULL};
  char small[4];
  assert_irpc_err(irpc_link_format(&l, small, sizeof small), UV_ENOBUFS);
  assert_irpc_err(irpc_link_format(NULL, small, sizeof small), IRPC_EINVAL);
  /* 1,250,000 bytes at 100 Mbit/s: 100 ms, plus 1 ms of latency. */
  assert_int_equal(irpc_link_transfer_ns(&l, 1250000), 101 * MS);
  /* Rounded up to the next nanosecond: 1 byte = 80 ns. */
  assert_int_equal(irpc_link_transfer_ns(&l, 1), MS + 80);
  l.bits_per_s = 3;
  assert_int_equal(irpc_link_transfer_ns(&l, 1), MS + 2666666667u);
  l.bits_per_s = 0;
  assert_int_equal(irpc_link_transfer_ns(&l, 1u << 30), MS);
  assert_int_equal(irpc_link_transfer_ns(NULL, 1), 0);
}

/* ---- A memory pair with a shaped end, on a manual clock ---- */

typedef struct rx {
  irpc_buf *data;
  int status; /* the final negative status, 0 while open */
  int reads;
} rx;

static void on_rx(irpc_duplex *d, int status, const uint8_t *data, size_t len,
                  void *ud) {
  (void)d;
  rx *r = ud;
  assert_int_equal(r->status, 0); /* nothing after the end */
  r->reads++;
  if (status < 0)
    r->status = status;
  else
    assert_irpc_ok(irpc_buf_append(r->data, data, len));
}

#define MAX_WRITES 128

typedef struct shape_fx {
  uv_loop_t loop;
  irpc_clock *clock;
  irpc_link link;
  irpc_duplex *a; /* shaped end */
  irpc_duplex *b; /* plain peer */
  rx at_a, at_b;  /* what each end received */
  int wstatus[MAX_WRITES];
  int wdone;
  int shut_status;
  int shut_done;
} shape_fx;

static uint8_t pattern(size_t i) {
  return (uint8_t)(i * 7 % 253);
}

static void shape_fx_start(shape_fx *f, uint64_t bits_per_s,
                           uint64_t latency_ns) {
  memset(f, 0, sizeof(*f));
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_irpc_ok(irpc_clock_manual_new(&f->clock, &f->loop, 0));
  f->link.bits_per_s = bits_per_s;
  f->link.latency_ns = latency_ns;
  f->link.clock = f->clock;
  irpc_duplex *inner;
  assert_irpc_ok(irpc_duplex_pair(&f->loop, &inner, &f->b));
  assert_irpc_ok(irpc_duplex_shaped_wrap(&f->a, inner, &f->link));
  irpc_clock_unref(f->clock); /* the duplex keeps its own reference */
  assert_irpc_ok(irpc_buf_new(&f->at_a.data));
  assert_irpc_ok(irpc_buf_new(&f->at_b.data));
  assert_irpc_ok(irpc_duplex_read_start(f->a, on_rx, &f->at_a));
  assert_irpc_ok(irpc_duplex_read_start(f->b, on_rx, &f->at_b));
}

static void shape_fx_finish(shape_fx *f) {
  irpc_duplex_close(f->a, NULL, NULL);
  irpc_duplex_close(f->b, NULL, NULL);
  test_loop_finish(&f->loop);
  irpc_buf_free(f->at_a.data);
  irpc_buf_free(f->at_b.data);
}

/* Lets the loop run what is ready now; the manual clock does not move, and
 * the memory pair delivers on the next turns. */
static void turns(shape_fx *f) {
  for (int i = 0; i < 20; i++)
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Advances the clock by `ns`, then lets the loop run. */
static void advance(shape_fx *f, uint64_t ns) {
  assert_irpc_ok(irpc_clock_advance(f->clock, ns));
  turns(f);
}

static void on_write(irpc_duplex *d, int status, void *ud) {
  (void)d;
  shape_fx *f = ud;
  assert_true(f->wdone < MAX_WRITES);
  f->wstatus[f->wdone++] = status;
}

static void on_shutdown(irpc_duplex *d, int status, void *ud) {
  (void)d;
  shape_fx *f = ud;
  f->shut_done++;
  f->shut_status = status;
}

/* Writes `n` pattern bytes starting at pattern offset `from`, as one
 * segment (the memory pair delivers one read per segment). */
static void write_pattern(shape_fx *f, irpc_duplex *d, size_t from, size_t n) {
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  uint8_t *at;
  size_t avail;
  assert_irpc_ok(irpc_buf_reserve(b, n, &at, &avail));
  for (size_t i = 0; i < n; i++)
    at[i] = pattern(from + i);
  assert_irpc_ok(irpc_buf_commit(b, n));
  assert_int_equal(irpc_buf_segment_count(b), 1);
  assert_irpc_ok(irpc_duplex_write(d, b, on_write, f));
  irpc_buf_free(b);
}

static void assert_pattern(const irpc_buf *b, size_t n) {
  assert_int_equal(irpc_buf_len(b), n);
  uint8_t *flat = malloc(n + 1);
  assert_irpc_ok(irpc_buf_copyout(b, 0, flat, n));
  for (size_t i = 0; i < n; i++)
    assert_int_equal(flat[i], pattern(i));
  free(flat);
}

/* 8 Mbit/s is one byte per microsecond. */
#define ONE_BYTE_PER_US 8000000u

static void test_upstream_schedule(void **state) {
  (void)state;
  shape_fx f;
  shape_fx_start(&f, ONE_BYTE_PER_US, MS);
  write_pattern(&f, f.a, 0, 1000);
  turns(&f);
  assert_int_equal(f.wdone, 0);
  /* Serialised at 1000 us: the write completes then, not before. */
  advance(&f, 1000 * US - 1);
  assert_int_equal(f.wdone, 0);
  advance(&f, 1);
  assert_int_equal(f.wdone, 1);
  assert_irpc_ok(f.wstatus[0]);
  /* Arrives one latency later: 2000 us. */
  advance(&f, 1000 * US - 1);
  assert_int_equal(irpc_buf_len(f.at_b.data), 0);
  advance(&f, 1);
  assert_pattern(f.at_b.data, 1000);
  irpc_link_stats st;
  assert_irpc_ok(irpc_duplex_shaped_stats(f.a, &st));
  assert_int_equal(st.bytes_up, 1000);
  assert_int_equal(st.bytes_down, 0);
  shape_fx_finish(&f);
}

static void test_queueing_and_chunks(void **state) {
  (void)state;
  shape_fx f;
  shape_fx_start(&f, ONE_BYTE_PER_US, MS);
  size_t big = IRPC_LINK_CHUNK + 3616;
  write_pattern(&f, f.a, 0, 500);
  write_pattern(&f, f.a, 500, 500);
  write_pattern(&f, f.a, 1000, big);
  turns(&f);
  /* Each write queues behind the previous one. */
  advance(&f, 500 * US);
  assert_int_equal(f.wdone, 1);
  advance(&f, 500 * US);
  assert_int_equal(f.wdone, 2);
  assert_int_equal(irpc_buf_len(f.at_b.data), 0);
  advance(&f, 500 * US); /* 1500 us: the first write has arrived */
  assert_int_equal(irpc_buf_len(f.at_b.data), 500);
  advance(&f, 500 * US); /* 2000 us: the second */
  assert_int_equal(irpc_buf_len(f.at_b.data), 1000);
  /* The big write arrives chunk by chunk: its first chunk is serialised at
   * 1000 + 16384 us and arrives 1 ms later. */
  advance(&f, IRPC_LINK_CHUNK * US - 1);
  assert_int_equal(irpc_buf_len(f.at_b.data), 1000);
  advance(&f, 1);
  assert_int_equal(irpc_buf_len(f.at_b.data), 1000 + IRPC_LINK_CHUNK);
  assert_int_equal(f.wdone, 2); /* not all serialised yet */
  advance(&f, 3616 * US - 1000 * US - 1);
  assert_int_equal(f.wdone, 2);
  advance(&f, 1);
  assert_int_equal(f.wdone, 3);
  advance(&f, 1000 * US - 1);
  assert_int_equal(irpc_buf_len(f.at_b.data), 1000 + IRPC_LINK_CHUNK);
  advance(&f, 1);
  assert_pattern(f.at_b.data, 1000 + big);
  for (int i = 0; i < 3; i++)
    assert_irpc_ok(f.wstatus[i]);
  shape_fx_finish(&f);
}

static void test_downstream_schedule(void **state) {
  (void)state;
  shape_fx f;
  shape_fx_start(&f, ONE_BYTE_PER_US, 5 * MS);
  write_pattern(&f, f.b, 0, 2000);
  turns(&f);
  advance(&f, 7 * MS - 1); /* 2000 us + 5 ms */
  assert_int_equal(irpc_buf_len(f.at_a.data), 0);
  /* A reader that stopped gets nothing, even once it is due. */
  assert_irpc_ok(irpc_duplex_read_stop(f.a));
  advance(&f, 1 * MS);
  assert_int_equal(irpc_buf_len(f.at_a.data), 0);
  assert_irpc_ok(irpc_duplex_read_start(f.a, on_rx, &f.at_a));
  turns(&f);
  assert_pattern(f.at_a.data, 2000);
  irpc_link_stats st;
  assert_irpc_ok(irpc_duplex_shaped_stats(f.a, &st));
  assert_int_equal(st.bytes_down, 2000);
  shape_fx_finish(&f);
}

static void test_fin_and_eof_behind_data(void **state) {
  (void)state;
  shape_fx f;
  shape_fx_start(&f, ONE_BYTE_PER_US, MS);
  write_pattern(&f, f.a, 0, 300);
  write_pattern(&f, f.a, 300, 700);
  assert_irpc_ok(irpc_duplex_shutdown(f.a, on_shutdown, &f));
  write_pattern(&f, f.b, 0, 100);
  assert_irpc_ok(irpc_duplex_shutdown(f.b, NULL, NULL));
  turns(&f);
  advance(&f, 1100 * US - 1);
  assert_int_equal(irpc_buf_len(f.at_a.data), 0); /* 100 us + 1 ms */
  advance(&f, 1);
  assert_pattern(f.at_a.data, 100);
  assert_int_equal(f.at_a.status, UV_EOF); /* right behind the data */
  /* a's writes arrive at 300 us + 1 ms and 1000 us + 1 ms, the FIN with
   * the last byte. */
  advance(&f, 200 * US - 1);
  assert_int_equal(irpc_buf_len(f.at_b.data), 0);
  advance(&f, 1);
  assert_pattern(f.at_b.data, 300);
  advance(&f, 700 * US - 1);
  assert_int_equal(irpc_buf_len(f.at_b.data), 300);
  assert_int_equal(f.at_b.status, 0);
  assert_int_equal(f.shut_done, 0);
  advance(&f, 1);
  assert_pattern(f.at_b.data, 1000);
  assert_int_equal(f.at_b.status, UV_EOF);
  assert_int_equal(f.shut_done, 1);
  assert_irpc_ok(f.shut_status);
  assert_int_equal(f.wdone, 3); /* two from a, one from b */
  /* No write after the FIN. */
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, "x", 1));
  assert_irpc_err(irpc_duplex_write(f.a, b, NULL, NULL), UV_EPIPE);
  irpc_buf_free(b);
  shape_fx_finish(&f);
}

/* A reader behind a slow link holds at most 4 MiB (here: twice the
 * bandwidth-delay product is less); the rest waits with the sender. */
static void test_receive_buffer_is_bounded(void **state) {
  (void)state;
  shape_fx f;
  shape_fx_start(&f, ONE_BYTE_PER_US, 0);
  size_t piece = 64 * 1024, n = 80; /* 5 MiB */
  for (size_t i = 0; i < n; i++)
    write_pattern(&f, f.b, i * piece, piece);
  for (int i = 0; i < 10; i++)
    turns(&f);
  irpc_link_stats st;
  assert_irpc_ok(irpc_duplex_shaped_stats(f.a, &st));
  assert_true(st.bytes_down >= ((size_t)4 << 20));
  assert_true(st.bytes_down < n * piece);
  assert_true(irpc_duplex_write_queue_size(f.b) > 0);
  /* 5 MiB at one byte per microsecond: all of it within 5.3 s. */
  for (int i = 0; i < 60; i++)
    advance(&f, 100 * MS);
  assert_irpc_ok(irpc_duplex_shaped_stats(f.a, &st));
  assert_int_equal(st.bytes_down, n * piece);
  assert_int_equal(irpc_duplex_write_queue_size(f.b), 0);
  assert_pattern(f.at_a.data, n * piece);
  shape_fx_finish(&f);
}

static void test_close_keeps_bytes_on_the_wire(void **state) {
  (void)state;
  shape_fx f;
  shape_fx_start(&f, ONE_BYTE_PER_US, MS);
  write_pattern(&f, f.a, 0, 400);
  write_pattern(&f, f.a, 400, 600);
  turns(&f);
  advance(&f, 400 * US); /* the first write is serialised, not the second */
  assert_int_equal(f.wdone, 1);
  irpc_duplex_close(f.a, on_write, &f);
  turns(&f);
  assert_int_equal(f.wdone, 1);
  /* The 400 bytes on the wire still arrive, after their latency; then the
   * inner duplex closes: the second write is canceled, the close callback
   * runs, and the peer sees the close behind the data. */
  advance(&f, 1 * MS - 1);
  assert_int_equal(irpc_buf_len(f.at_b.data), 0);
  assert_int_equal(f.wdone, 1);
  advance(&f, 1);
  assert_pattern(f.at_b.data, 400);
  assert_int_equal(f.wdone, 3);
  assert_int_equal(f.wstatus[1], UV_ECANCELED);
  assert_irpc_ok(f.wstatus[2]);
  assert_int_equal(f.at_b.status, UV_ECONNRESET);
  f.a = NULL;
  irpc_duplex_close(f.b, NULL, NULL);
  test_loop_finish(&f.loop);
  irpc_buf_free(f.at_a.data);
  irpc_buf_free(f.at_b.data);
}

static void test_abort_drops_everything(void **state) {
  (void)state;
  shape_fx f;
  shape_fx_start(&f, ONE_BYTE_PER_US, MS);
  write_pattern(&f, f.a, 0, 400);
  turns(&f);
  advance(&f, 400 * US);
  assert_int_equal(f.wdone, 1);
  irpc_duplex_abort(f.a, NULL, NULL);
  turns(&f);
  assert_int_equal(irpc_buf_len(f.at_b.data), 0);
  assert_int_equal(f.at_b.status, UV_ECONNRESET);
  irpc_duplex_close(f.b, NULL, NULL);
  test_loop_finish(&f.loop);
  irpc_buf_free(f.at_a.data);
  irpc_buf_free(f.at_b.data);
}

static void test_inner_write_failure(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_clock *clock;
  assert_irpc_ok(irpc_clock_manual_new(&clock, &loop, 0));
  irpc_duplex *x, *y, *faulty, *shaped;
  assert_irpc_ok(irpc_duplex_pair(&loop, &x, &y));
  assert_irpc_ok(irpc_duplex_fault_wrap(&faulty, x));
  assert_irpc_ok(irpc_fault_set(irpc_duplex_fault(faulty), IRPC_FAULT_WRITE,
                                IRPC_FAULT_FAIL, UV_EPIPE));
  irpc_link link = {0, MS, clock};
  assert_irpc_ok(irpc_duplex_shaped_wrap(&shaped, faulty, &link));
  shape_fx f; /* only its write log */
  memset(&f, 0, sizeof f);
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, "abc", 3));
  assert_irpc_ok(irpc_duplex_write(shaped, b, on_write, &f));
  assert_irpc_ok(irpc_clock_advance(clock, MS));
  for (int i = 0; i < 20; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  /* The inner write failed once the bytes reached it: later writes fail. */
  assert_int_equal(f.wdone, 1);
  assert_irpc_ok(f.wstatus[0]); /* it had left the sender already */
  assert_irpc_ok(irpc_buf_append(b, "d", 1));
  assert_irpc_err(irpc_duplex_write(shaped, b, on_write, &f), UV_EPIPE);
  assert_int_equal(irpc_buf_len(b), 1); /* not taken */
  irpc_buf_free(b);
  irpc_duplex_close(shaped, NULL, NULL);
  irpc_duplex_close(y, NULL, NULL);
  irpc_clock_unref(clock);
  test_loop_finish(&loop);
}

/* A FIN still on the link when a write ahead of it fails (the peer closed
 * while the bytes were on their way) completes once, with that write's
 * error, and the duplex can then be closed as usual. */
static void test_fin_behind_failed_write(void **state) {
  (void)state;
  shape_fx f;
  shape_fx_start(&f, ONE_BYTE_PER_US, MS);
  write_pattern(&f, f.a, 0, 100);
  turns(&f);
  irpc_duplex_close(f.b, NULL, NULL);
  f.b = NULL;
  turns(&f);
  advance(&f, 100 * US); /* serialised: it completes, still on the wire */
  assert_int_equal(f.wdone, 1);
  assert_irpc_ok(f.wstatus[0]);
  /* Sent later than the write, the FIN arrives later: at 1.5 ms, the
   * write at 1.1 ms. */
  advance(&f, 400 * US);
  assert_irpc_ok(irpc_duplex_shutdown(f.a, on_shutdown, &f));
  turns(&f);
  advance(&f, 600 * US); /* the write reaches the closed pair and fails */
  assert_int_equal(f.shut_done, 1);
  assert_irpc_err(f.shut_status, UV_ECONNRESET);
  advance(&f, 10 * MS);
  assert_int_equal(f.shut_done, 1);
  assert_int_equal(f.wdone, 1);
  assert_int_equal(f.at_a.status, UV_ECONNRESET); /* the peer's close */
  irpc_duplex_close(f.a, NULL, NULL);
  test_loop_finish(&f.loop);
  irpc_buf_free(f.at_a.data);
  irpc_buf_free(f.at_b.data);
}

/* ---- The transport decorator ---- */

typedef struct conn_fx {
  irpc_duplex *client, *server;
  int connected, status, accepted;
} conn_fx;

static void on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l;
  conn_fx *c = ud;
  c->server = d;
  c->accepted++;
}

static void conn_fx_on_connect(irpc_duplex *d, int status, void *ud) {
  conn_fx *c = ud;
  c->connected = 1;
  c->status = status;
  if (status)
    c->client = NULL;
  (void)d;
}

static void test_transport_connect_round_trip(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_clock *clock;
  assert_irpc_ok(irpc_clock_manual_new(&clock, &loop, 0));
  irpc_transport *mem, *shaped;
  assert_irpc_ok(irpc_transport_memory_new(&mem));
  irpc_link link = {ONE_BYTE_PER_US, 5 * MS, clock};
  assert_irpc_ok(irpc_transport_shaped_new(&shaped, mem, &link));
  irpc_clock_unref(clock); /* the transport keeps a reference */
  irpc_server_address *addr;
  assert_irpc_ok(
      irpc_server_address_parse(&addr, "icerpc://srv?transport=memory"));
  conn_fx c = {0};
  irpc_listener *l;
  assert_irpc_ok(irpc_transport_listen(mem, &loop, addr, on_accept, &c, &l));
  assert_irpc_ok(irpc_transport_connect(shaped, &loop, addr, &c.client,
                                        conn_fx_on_connect, &c));
  for (int i = 0; i < 20; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(c.accepted, 1);
  /* One round trip: 10 ms. */
  assert_irpc_ok(irpc_clock_advance(clock, 10 * MS - 1));
  for (int i = 0; i < 20; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(c.connected, 0);
  assert_irpc_ok(irpc_clock_advance(clock, 1));
  for (int i = 0; i < 20; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(c.connected, 1);
  assert_irpc_ok(c.status);
  char name[64];
  assert_irpc_ok(irpc_duplex_remote_address(c.client, name, sizeof name));
  assert_string_equal(name, "srv");
  irpc_link_stats st;
  assert_irpc_ok(irpc_transport_shaped_stats(shaped, &st));
  assert_int_equal(st.connections, 1);
  /* Connecting to nobody fails through the callback. */
  irpc_server_address *none;
  assert_irpc_ok(
      irpc_server_address_parse(&none, "icerpc://nobody?transport=memory"));
  conn_fx c2 = {0};
  irpc_duplex *d2;
  assert_irpc_ok(irpc_transport_connect(shaped, &loop, none, &d2,
                                        conn_fx_on_connect, &c2));
  c2.client = d2;
  for (int i = 0; i < 20 && !c2.connected; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(c2.connected, 1);
  assert_irpc_err(c2.status, UV_ECONNREFUSED);
  irpc_server_address_free(none);
  irpc_duplex_close(c.client, NULL, NULL);
  irpc_duplex_close(c.server, NULL, NULL);
  irpc_listener_close(l, NULL, NULL);
  irpc_server_address_free(addr);
  test_loop_finish(&loop);
  irpc_transport_free(shaped);
  irpc_transport_free(mem);
}

static void test_bad_arguments(void **state) {
  (void)state;
  uv_loop_t loop, other;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(uv_loop_init(&other), 0);
  irpc_link link = {0, 0, NULL};
  irpc_transport *t;
  irpc_duplex *d, *x, *y;
  irpc_link_stats st;
  assert_irpc_err(irpc_transport_shaped_new(NULL, irpc_transport_tcp(), &link),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_transport_shaped_new(&t, NULL, &link), IRPC_EINVAL);
  assert_irpc_err(irpc_transport_shaped_new(&t, irpc_transport_tcp(), NULL),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_duplex_shaped_wrap(&d, NULL, &link), IRPC_EINVAL);
  assert_irpc_err(irpc_transport_shaped_stats(irpc_transport_tcp(), &st),
                  IRPC_EINVAL);
  assert_irpc_ok(irpc_duplex_pair(&loop, &x, &y));
  assert_irpc_err(irpc_duplex_shaped_stats(x, &st), IRPC_EINVAL);
  assert_irpc_err(irpc_duplex_shaped_wrap(NULL, x, &link), IRPC_EINVAL);
  assert_irpc_err(irpc_duplex_shaped_wrap(&d, x, NULL), IRPC_EINVAL);
  /* A clock of another loop. */
  irpc_clock *clock;
  assert_irpc_ok(irpc_clock_manual_new(&clock, &other, 0));
  link.clock = clock;
  assert_irpc_err(irpc_duplex_shaped_wrap(&d, x, &link), IRPC_EINVAL);
  irpc_clock_unref(clock);
  irpc_duplex_close(x, NULL, NULL);
  irpc_duplex_close(y, NULL, NULL);
  test_loop_finish(&loop);
  test_loop_finish(&other);
}

/* ---- Real time, over TCP, through a connection: lower bounds only ---- */

static void test_real_time_calls_over_tcp(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_TCP);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_link link;
  assert_irpc_ok(irpc_link_parse(&link, "80mbit,2ms"));
  irpc_transport *shaped;
  assert_irpc_ok(
      irpc_transport_shaped_new(&shaped, irpc_transport_tcp(), &link));
  r.copts.transport = shaped;
  r.cicerpc.initial_stream_window_size = 1 << 20;
  irpc_invoker *inv = net_client(&r);
  /* Connect and warm up. */
  net_result o = {0};
  irpc_outgoing_request *req = kit_request("/echo", "hi", 2);
  net_call_sync(&r.loop, inv, req, &o);
  assert_irpc_ok(o.err);
  irpc_outgoing_request_free(req);
  /* 100,000 bytes each way at 10 bytes/us: at least 2 x (10 ms + 2 ms). */
  size_t n = 100000;
  uint8_t *blob = malloc(n);
  for (size_t i = 0; i < n; i++)
    blob[i] = pattern(i);
  req = kit_request("/echo", blob, n);
  net_result o2 = {0};
  assert_irpc_ok(irpc_buf_new(&o2.payload));
  uint64_t t0 = uv_hrtime();
  net_call_sync(&r.loop, inv, req, &o2);
  uint64_t took = uv_hrtime() - t0;
  assert_irpc_ok(o2.err);
  assert_int_equal(o2.status, IRPC_STATUS_OK);
  assert_true(irpc_buf_equals(o2.payload, blob, n));
  assert_true(took >= 2 * irpc_link_transfer_ns(&link, n));
  irpc_link_stats st;
  assert_irpc_ok(irpc_transport_shaped_stats(shaped, &st));
  assert_int_equal(st.connections, 1);
  assert_true(st.bytes_up > n && st.bytes_down > n);
  irpc_buf_free(o2.payload);
  irpc_outgoing_request_free(req);
  free(blob);
  net_client_close(&r, inv);
  net_rig_fini(&r);
  irpc_transport_free(shaped);
}

/* An unlimited link with no latency passes bytes through in order. */
static void test_unlimited_passthrough(void **state) {
  (void)state;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  net_map(&r, "/echo", &test_echo_ops, NULL);
  net_rig_start(&r);
  irpc_link link;
  assert_irpc_ok(irpc_link_parse(&link, "unlimited"));
  irpc_transport *shaped;
  assert_irpc_ok(irpc_transport_shaped_new(&shaped, r.memory, &link));
  r.copts.transport = shaped;
  irpc_invoker *inv = net_client(&r);
  for (int i = 0; i < 5; i++) {
    char msg[32];
    int len = snprintf(msg, sizeof msg, "message %d", i);
    irpc_outgoing_request *req = kit_request("/echo", msg, (size_t)len);
    net_result o = {0};
    assert_irpc_ok(irpc_buf_new(&o.payload));
    net_call_sync(&r.loop, inv, req, &o);
    assert_irpc_ok(o.err);
    assert_true(irpc_buf_equals(o.payload, msg, (size_t)len));
    irpc_buf_free(o.payload);
    irpc_outgoing_request_free(req);
  }
  net_client_close(&r, inv);
  net_rig_fini(&r);
  irpc_transport_free(shaped);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_format_and_transfer),
      cmocka_unit_test(test_upstream_schedule),
      cmocka_unit_test(test_queueing_and_chunks),
      cmocka_unit_test(test_downstream_schedule),
      cmocka_unit_test(test_fin_and_eof_behind_data),
      cmocka_unit_test(test_receive_buffer_is_bounded),
      cmocka_unit_test(test_close_keeps_bytes_on_the_wire),
      cmocka_unit_test(test_abort_drops_everything),
      cmocka_unit_test(test_inner_write_failure),
      cmocka_unit_test(test_fin_behind_failed_write),
      cmocka_unit_test(test_transport_connect_round_trip),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_real_time_calls_over_tcp),
      cmocka_unit_test(test_unlimited_passthrough),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
