/* The shaped transport (irpc/link.h): a duplex decorator that delays the
 * bytes of each direction by a serialisation time (bandwidth) and a
 * propagation delay (latency).
 *
 * Each direction is a lane: a FIFO of chunks, each with the time it reaches
 * the far end. The lane's `free_at` is when its serialiser finishes the
 * bytes queued so far; a new chunk starts at max(now, free_at). Since
 * free_at only grows and the latency is constant, every lane (and the list
 * of write completions) is sorted by time: one timer, armed at the earliest
 * head, drives the whole duplex. The schedule is computed in nanoseconds,
 * so the bandwidth holds on average even when a timer fires late. */
#include <stdio.h>
#include <string.h>

#include "base/buf_internal.h"
#include "base/defaults.h"
#include "irpc/alloc.h"
#include "irpc/tls.h"
#include "irpc/error.h"
#include "irpc/link.h"
#include "transport/transport_internal.h"

#ifdef __linux__
#include <errno.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#endif

#define NEVER UINT64_MAX
#define DOWN_CAP_MIN ((size_t)4 << 20)
/* Bits in a byte times nanoseconds in a second: bytes x this / bits per
 * second = nanoseconds on the wire. */
#define BIT_NS_PER_BYTE_S (UINT64_C(8) * IRPC__NS_PER_S)

/* ---- Arithmetic ---- */

/* ceil(a * b / c) without overflow for the values used here; saturates. */
static uint64_t mul_div_ceil(uint64_t a, uint64_t b, uint64_t c) {
#ifdef __SIZEOF_INT128__
  unsigned __int128 p = (unsigned __int128)a * b;
  unsigned __int128 q = (p + c - 1) / c;
  return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
#else
  long double q = (long double)a * (long double)b / (long double)c;
  return q >= (long double)UINT64_MAX ? UINT64_MAX : (uint64_t)q + 1;
#endif
}

static uint64_t sat_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t serialise_ns(const irpc_link *l, uint64_t bytes) {
  return l->bits_per_s ? mul_div_ceil(bytes, BIT_NS_PER_BYTE_S, l->bits_per_s)
                       : 0;
}

uint64_t irpc_link_transfer_ns(const irpc_link *l, uint64_t bytes) {
  return l ? sat_add(serialise_ns(l, bytes), l->latency_ns) : 0;
}

/* ---- Parsing and formatting ---- */

/* Reads a decimal number (digits, optional fraction) at *p. */
static int parse_number(const char **p, long double *out) {
  const char *s = *p;
  long double v = 0, scale = 1;
  int digits = 0;
  for (; *s >= '0' && *s <= '9'; s++, digits++)
    v = v * 10 + (*s - '0');
  if (*s == '.') {
    for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
      scale /= 10;
      v += (*s - '0') * scale;
    }
  }
  if (!digits)
    return IRPC_EINVAL;
  *p = s;
  *out = v;
  return 0;
}

static int lower_eq(const char *a, size_t n, const char *b) {
  if (strlen(b) != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] - 'A' + 'a') : a[i];
    if (c != b[i])
      return 0;
  }
  return 1;
}

/* The multiplier of a unit: *is_rate 1 for bits per second, 0 for ns. */
static int unit_of(const char *u, size_t n, long double *mul, int *is_rate) {
  static const struct {
    const char *name;
    long double mul;
    int bytes; /* a byte rate: needs the capital B ("MBps") */
  } rates[] = {{"bit", 1, 0},    {"kbit", 1e3, 0},  {"mbit", 1e6, 0},
               {"gbit", 1e9, 0}, {"tbit", 1e12, 0}, {"bps", 8, 1},
               {"kbps", 8e3, 1}, {"mbps", 8e6, 1},  {"gbps", 8e9, 1}},
    times[] = {{"ns", 1, 0}, {"us", 1e3, 0}, {"ms", 1e6, 0}, {"s", 1e9, 0}};
  for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
    if (!lower_eq(u, n, rates[i].name))
      continue;
    /* "mbps" is ambiguous: byte rates are written "MBps". */
    if (rates[i].bytes && u[n - 3] != 'B')
      return IRPC_EINVAL;
    *mul = rates[i].mul;
    *is_rate = 1;
    return 0;
  }
  for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
    if (lower_eq(u, n, times[i].name)) {
      *mul = times[i].mul;
      *is_rate = 0;
      return 0;
    }
  }
  return IRPC_EINVAL;
}

/* One comma-separated item at *p. */
static int parse_item(const char **p, irpc_link *l, int *have_rate,
                      int *have_time) {
  const char *s = *p;
  while (*s == ' ')
    s++;
  if (lower_eq(s, strcspn(s, ", "), "unlimited")) {
    if (*have_rate)
      return IRPC_EINVAL;
    *have_rate = 1;
    l->bits_per_s = 0;
    *p = s + strlen("unlimited");
    return 0;
  }
  long double v, mul;
  int is_rate;
  if (parse_number(&s, &v))
    return IRPC_EINVAL;
  size_t n = strcspn(s, ", ");
  if (unit_of(s, n, &mul, &is_rate))
    return IRPC_EINVAL;
  if (is_rate ? *have_rate : *have_time)
    return IRPC_EINVAL;
  long double x = v * mul + 0.5L;
  if (x >= (long double)UINT64_MAX)
    return IRPC_ERANGE;
  if (is_rate) {
    *have_rate = 1;
    l->bits_per_s = (uint64_t)x;
  } else {
    *have_time = 1;
    l->latency_ns = (uint64_t)x;
  }
  *p = s + n;
  return 0;
}

int irpc_link_parse(irpc_link *out, const char *spec) {
  if (!out || !spec)
    return IRPC_EINVAL;
  irpc_link l = {0, 0, NULL};
  int have_rate = 0, have_time = 0;
  const char *p = spec;
  for (;;) {
    int rc = parse_item(&p, &l, &have_rate, &have_time);
    if (rc)
      return rc;
    while (*p == ' ')
      p++;
    if (*p == '\0')
      break;
    if (*p++ != ',')
      return IRPC_EINVAL;
  }
  *out = l;
  return 0;
}

int irpc_link_format(const irpc_link *l, char *buf, size_t len) {
  if (!l || !buf)
    return IRPC_EINVAL;
  static const char *const rate_units[] = {"tbit", "gbit", "mbit", "kbit"};
  static const uint64_t rate_div[] = {UINT64_C(1000000000000), 1000000000,
                                      1000000, 1000};
  static const char *const time_units[] = {"s", "ms", "us"};
  static const uint64_t time_div[] = {1000000000, 1000000, 1000};
  char rate[32], lat[32];
  if (!l->bits_per_s) {
    snprintf(rate, sizeof rate, "unlimited");
  } else {
    snprintf(rate, sizeof rate, "%llubit", (unsigned long long)l->bits_per_s);
    for (size_t i = 0; i < sizeof(rate_div) / sizeof(rate_div[0]); i++)
      if (l->bits_per_s % rate_div[i] == 0) {
        snprintf(rate, sizeof rate, "%llu%s",
                 (unsigned long long)(l->bits_per_s / rate_div[i]),
                 rate_units[i]);
        break;
      }
  }
  snprintf(lat, sizeof lat, "%lluns", (unsigned long long)l->latency_ns);
  if (l->latency_ns == 0)
    snprintf(lat, sizeof lat, "0ms");
  for (size_t i = 0;
       i < sizeof(time_div) / sizeof(time_div[0]) && l->latency_ns; i++)
    if (l->latency_ns % time_div[i] == 0) {
      snprintf(lat, sizeof lat, "%llu%s",
               (unsigned long long)(l->latency_ns / time_div[i]),
               time_units[i]);
      break;
    }
  int n = snprintf(buf, len, "%s,%s", rate, lat);
  if (n < 0 || (size_t)n >= len) {
    if (len)
      buf[0] = '\0';
    return UV_ENOBUFS;
  }
  return 0;
}

/* ---- Chunks and lanes ---- */

enum { C_DATA = 0, C_FIN, C_END };

typedef struct chunk chunk;
struct chunk {
  chunk *next;
  uint64_t due; /* arrival at the far end */
  int kind;
  int status; /* C_END: the read status to deliver */
  irpc_buf data;
};

typedef struct lane {
  chunk *head, *tail;
  uint64_t free_at; /* the serialiser is busy until then */
  size_t bytes;     /* data bytes queued */
} lane;

static chunk *chunk_new(int kind, int status) {
  chunk *c = irpc_calloc(1, sizeof(*c));
  if (c) {
    c->kind = kind;
    c->status = status;
    irpc__buf_init(&c->data);
  }
  return c;
}

static void chunk_free(chunk *c) {
  irpc__buf_fini(&c->data);
  irpc_free(c);
}

static void lane_push(lane *ln, chunk *c) {
  if (ln->tail)
    ln->tail->next = c;
  else
    ln->head = c;
  ln->tail = c;
  ln->bytes += irpc_buf_len(&c->data);
}

static chunk *lane_pop(lane *ln) {
  chunk *c = ln->head;
  ln->head = c->next;
  if (!ln->head)
    ln->tail = NULL;
  ln->bytes -= irpc_buf_len(&c->data);
  c->next = NULL;
  return c;
}

static void lane_clear(lane *ln) {
  while (ln->head)
    chunk_free(lane_pop(ln));
}

/* Serialises `bytes` from `now` on: returns when the last one has left. */
static uint64_t lane_serialise(lane *ln, const irpc_link *l, uint64_t now,
                               uint64_t bytes) {
  uint64_t start = ln->free_at > now ? ln->free_at : now;
  ln->free_at = sat_add(start, serialise_ns(l, bytes));
  return ln->free_at;
}

/* ---- The shaped duplex ---- */

typedef struct stimer stimer;
typedef struct sdx sdx;

/* The completion time of one user write. */
typedef struct swreq swreq;
struct swreq {
  swreq *next;
  uint64_t done_at;
};

struct sdx {
  irpc_duplex *self;
  irpc_duplex *inner;
  irpc_link link; /* its clock referenced */
  irpc_link_stats stats;
  irpc_link_stats *tstats; /* the transport's, or NULL */
  lane up, down;
  swreq *wq_head, *wq_tail;
  size_t down_cap;
  uint64_t connect_due;
  int connect_pending;
  int reading;       /* the user reads */
  int inner_reading; /* we read the inner duplex */
  int inner_ended;   /* the inner read ended (EOF or error) */
  int outer_closing;
  int inner_closing;
  int err; /* an inner write failed: later writes fail with it */
  uint64_t armed;
  irpc_clock_timer ctimer; /* with a clock */
  stimer *timer;           /* real time */
};

static const irpc_duplex_ops shaped_duplex_ops;
static void pump(sdx *s);

static sdx *sdx_of(irpc_duplex *d) {
  return irpc_duplex_data(d);
}

/* ---- Real-time timer: a timerfd on Linux, a libuv timer elsewhere. It is
 * allocated on its own so that the duplex can go before its handle has
 * finished closing. ---- */

struct stimer {
  sdx *owner;
#ifdef __linux__
  uv_poll_t h;
  int fd;
#else
  uv_timer_t h;
#endif
};

static uint64_t real_now(void) {
#ifdef __linux__
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * IRPC__NS_PER_S + (uint64_t)ts.tv_nsec;
#else
  return uv_hrtime();
#endif
}

static uint64_t sdx_now(const sdx *s) {
  return s->link.clock ? irpc_clock_mono_ns(s->link.clock) : real_now();
}

static void stimer_fire(stimer *t) {
  if (t->owner) {
    t->owner->armed = NEVER;
    pump(t->owner);
  }
}

#ifdef __linux__
static void on_poll(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  stimer *t = h->data;
  uint64_t expirations;
  if (read(t->fd, &expirations, sizeof expirations) < 0 && errno == EAGAIN)
    return; /* disarmed or re-armed since */
  stimer_fire(t);
}

static void on_stimer_closed(uv_handle_t *h) {
  stimer *t = h->data;
  close(t->fd);
  irpc_free(t);
}

static int stimer_new(stimer **out, uv_loop_t *loop, sdx *owner) {
  stimer *t = irpc_calloc(1, sizeof(*t));
  if (!t)
    return IRPC_ENOMEM;
  t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (t->fd < 0) {
    int rc = uv_translate_sys_error(errno);
    irpc_free(t);
    return rc;
  }
  int rc = uv_poll_init(loop, &t->h, t->fd);
  if (rc) {
    close(t->fd);
    irpc_free(t);
    return rc;
  }
  t->h.data = t;
  t->owner = owner;
  *out = t;
  return 0;
}

static void stimer_arm(stimer *t, uint64_t due, uint64_t now) {
  (void)now;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(due / IRPC__NS_PER_S);
  its.it_value.tv_nsec = (long)(due % IRPC__NS_PER_S);
  if (due == 0)
    its.it_value.tv_nsec = 1; /* 0 would disarm */
  timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &its, NULL);
  uv_poll_start(&t->h, UV_READABLE, on_poll);
}

static void stimer_disarm(stimer *t) {
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &its, NULL);
  uv_poll_stop(&t->h);
}
#else
static void on_uv_timer(uv_timer_t *h) {
  stimer_fire(h->data);
}

static void on_stimer_closed(uv_handle_t *h) {
  irpc_free(h->data);
}

static int stimer_new(stimer **out, uv_loop_t *loop, sdx *owner) {
  stimer *t = irpc_calloc(1, sizeof(*t));
  if (!t)
    return IRPC_ENOMEM;
  uv_timer_init(loop, &t->h);
  t->h.data = t;
  t->owner = owner;
  *out = t;
  return 0;
}

static void stimer_arm(stimer *t, uint64_t due, uint64_t now) {
  uint64_t ns = due > now ? due - now : 0;
  uv_timer_start(&t->h, on_uv_timer, irpc__ns_to_ms_up(ns), 0);
}

static void stimer_disarm(stimer *t) {
  uv_timer_stop(&t->h);
}
#endif

static void stimer_free(stimer *t) {
  if (!t)
    return;
  t->owner = NULL;
  stimer_disarm(t);
  uv_close((uv_handle_t *)&t->h, on_stimer_closed);
}

static void on_clock_timer(irpc_clock_timer *t, void *ud) {
  (void)t;
  sdx *s = ud;
  s->armed = NEVER;
  pump(s);
}

/* Arms the timer at `due` (NEVER: disarms). */
static void timer_set(sdx *s, uint64_t due, uint64_t now) {
  if (due == s->armed)
    return;
  s->armed = due;
  if (s->link.clock) {
    if (due == NEVER)
      irpc_clock_timer_stop(&s->ctimer);
    else if (irpc_clock_timer_start(s->link.clock, &s->ctimer,
                                    due > now ? due - now : 0) != 0)
      s->armed = NEVER; /* out of memory: the next event re-arms */
  } else if (s->timer) {
    if (due == NEVER)
      stimer_disarm(s->timer);
    else
      stimer_arm(s->timer, due, now);
  }
}

/* ---- Pumping ---- */

static uint64_t next_due(const sdx *s) {
  uint64_t due = NEVER;
  if (s->up.head)
    due = s->up.head->due;
  if (s->outer_closing)
    return due;
  if (s->wq_head && s->wq_head->done_at < due)
    due = s->wq_head->done_at;
  if (s->reading && s->down.head && s->down.head->due < due)
    due = s->down.head->due;
  if (s->connect_pending && s->connect_due < due)
    due = s->connect_due;
  return due;
}

static void rearm(sdx *s, uint64_t now) {
  uint64_t due = next_due(s);
  if (due != NEVER && due <= now) {
    timer_set(s, NEVER, now);
    irpc_duplex_schedule(s->self);
  } else {
    timer_set(s, due, now);
  }
}

static void on_inner_closed(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  (void)status;
  sdx *s = ud;
  s->inner = NULL;
  if (s->outer_closing)
    irpc_duplex_close_done(s->self);
}

/* Closes the inner duplex (once), or ends the close at once without one. */
static void close_inner(sdx *s, int abort) {
  if (s->inner_closing)
    return;
  if (!s->inner) {
    if (s->outer_closing)
      irpc_duplex_close_done(s->self);
    return;
  }
  s->inner_closing = 1;
  if (abort)
    irpc_duplex_abort(s->inner, on_inner_closed, s);
  else
    irpc_duplex_close(s->inner, on_inner_closed, s);
}

/* An inner write or shutdown failed: the writes still queued fail, and so
 * does a FIN still on its way (the last chunk, since nothing is written
 * after it), which would otherwise never complete. */
static void fail_writes(sdx *s, int err) {
  if (!s->err)
    s->err = err;
  int fin = s->up.tail && s->up.tail->kind == C_FIN;
  lane_clear(&s->up);
  while (s->wq_head) {
    swreq *w = s->wq_head;
    s->wq_head = w->next;
    irpc_duplex_write_done(s->self, err);
  }
  s->wq_tail = NULL;
  if (fin)
    irpc_duplex_shutdown_done(s->self, err);
}

static void on_inner_write(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  sdx *s = ud;
  if (status < 0 && !s->outer_closing && !s->inner_closing)
    fail_writes(s, status);
}

static void on_inner_shutdown(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  sdx *s = ud;
  if (!s->outer_closing)
    irpc_duplex_shutdown_done(s->self, status);
}

static void on_inner_read(irpc_duplex *inner, int status, const uint8_t *data,
                          size_t len, void *ud);

static void resume_inner_read(sdx *s) {
  if (s->inner_reading || s->inner_ended || !s->inner || s->inner_closing ||
      s->down.bytes >= s->down_cap)
    return;
  if (irpc_duplex_read_start(s->inner, on_inner_read, s) == 0)
    s->inner_reading = 1;
}

/* Hands the chunks that have arrived upstream to the inner duplex. */
static void pump_up(sdx *s, uint64_t now) {
  while (s->up.head && s->up.head->due <= now && s->inner &&
         !s->inner_closing) {
    chunk *c = lane_pop(&s->up);
    int data = c->kind == C_DATA;
    int rc = data ? irpc_duplex_write(s->inner, &c->data, on_inner_write, s)
                  : irpc_duplex_shutdown(s->inner, on_inner_shutdown, s);
    chunk_free(c);
    if (rc && !s->outer_closing) {
      if (data)
        fail_writes(s, rc);
      else
        irpc_duplex_shutdown_done(s->self, rc);
    }
  }
}

/* Delivers the chunks that have arrived downstream. Returns 1 when the
 * reader closed the duplex from its callback. */
static int pump_down(sdx *s, uint64_t now) {
  while (s->reading && s->down.head && s->down.head->due <= now) {
    chunk *c = lane_pop(&s->down);
    irpc_bytes b = {NULL, 0};
    int status = c->kind == C_END ? c->status : 0;
    if (status == 0 && irpc_buf_pullup(&c->data, &b) != 0)
      status = IRPC_ENOMEM;
    irpc_duplex_read_done(s->self, status, b.base, b.len);
    chunk_free(c);
    if (s->outer_closing)
      return 1;
  }
  return 0;
}

static void pump(sdx *s) {
  uint64_t now = sdx_now(s);
  if (s->outer_closing) {
    /* Lingering after a close: bytes already sent still arrive. */
    pump_up(s, now);
    if (!s->up.head)
      close_inner(s, 0);
    else
      rearm(s, now);
    return;
  }
  if (s->connect_pending && s->connect_due <= now) {
    s->connect_pending = 0;
    irpc_duplex_connect_done(s->self, 0);
  }
  while (s->wq_head && s->wq_head->done_at <= now) {
    swreq *w = s->wq_head;
    s->wq_head = w->next;
    if (!s->wq_head)
      s->wq_tail = NULL;
    irpc_duplex_write_done(s->self, 0);
  }
  pump_up(s, now);
  if (pump_down(s, now))
    return;
  resume_inner_read(s);
  rearm(s, now);
}

/* ---- Inner reads: the downstream lane ---- */

static int queue_down(sdx *s, uint64_t now, const uint8_t *data, size_t len) {
  while (len > 0) {
    size_t n = len < IRPC_LINK_CHUNK ? len : IRPC_LINK_CHUNK;
    chunk *c = chunk_new(C_DATA, 0);
    uint8_t *at;
    size_t avail;
    /* One block per chunk: delivered later without another copy. */
    if (!c || irpc_buf_reserve(&c->data, n, &at, &avail) != 0) {
      if (c)
        chunk_free(c);
      return IRPC_ENOMEM;
    }
    memcpy(at, data, n);
    if (irpc_buf_commit(&c->data, n) != 0) {
      chunk_free(c);
      return IRPC_ENOMEM;
    }
    c->due =
        sat_add(lane_serialise(&s->down, &s->link, now, n), s->link.latency_ns);
    lane_push(&s->down, c);
    data += n;
    len -= n;
  }
  return 0;
}

static void on_inner_read(irpc_duplex *inner, int status, const uint8_t *data,
                          size_t len, void *ud) {
  (void)inner;
  sdx *s = ud;
  if (s->outer_closing)
    return;
  uint64_t now = sdx_now(s);
  if (status == 0) {
    s->stats.bytes_down += len;
    if (s->tstats)
      s->tstats->bytes_down += len;
    status = queue_down(s, now, data, len);
    if (status == 0) {
      if (s->down.bytes >= s->down_cap) {
        irpc_duplex_read_stop(s->inner);
        s->inner_reading = 0;
      }
      pump(s);
      return;
    }
    irpc_duplex_read_stop(s->inner); /* out of memory: end the stream */
  }
  s->inner_ended = 1;
  s->inner_reading = 0;
  chunk *c = chunk_new(C_END, status);
  if (!c) {
    /* Nothing can be queued: the reader learns at once. */
    lane_clear(&s->down);
    c = chunk_new(C_END, IRPC_ENOMEM);
    if (!c) {
      irpc_duplex_read_done(s->self, IRPC_ENOMEM, NULL, 0);
      return;
    }
  }
  uint64_t start = s->down.free_at > now ? s->down.free_at : now;
  c->due = sat_add(start, s->link.latency_ns);
  lane_push(&s->down, c);
  pump(s);
}

/* ---- Ops ---- */

static int sdx_read_start(irpc_duplex *d) {
  sdx *s = sdx_of(d);
  s->reading = 1;
  irpc_duplex_schedule(d); /* deliver what has already arrived */
  return 0;
}

static void sdx_read_stop(irpc_duplex *d) {
  sdx *s = sdx_of(d);
  s->reading = 0;
  if (!s->outer_closing)
    rearm(s, sdx_now(s));
}

static int sdx_write(irpc_duplex *d, irpc_buf *data, void *req) {
  sdx *s = sdx_of(d);
  swreq *w = req;
  if (s->err)
    return s->err;
  uint64_t now = sdx_now(s);
  size_t len = irpc_buf_len(data);
  /* Cut the bytes first, so that running out of memory changes nothing. */
  chunk *first = NULL, **link = &first;
  for (size_t off = 0; off < len; off += IRPC_LINK_CHUNK) {
    size_t n = len - off < IRPC_LINK_CHUNK ? len - off : IRPC_LINK_CHUNK;
    chunk *c = chunk_new(C_DATA, 0);
    if (!c || irpc_buf_append_ref(&c->data, data, off, n) != 0) {
      if (c)
        chunk_free(c);
      while (first) {
        chunk *next = first->next;
        chunk_free(first);
        first = next;
      }
      return IRPC_ENOMEM;
    }
    *link = c;
    link = &c->next;
  }
  while (first) {
    chunk *c = first;
    first = c->next;
    c->next = NULL;
    c->due =
        sat_add(lane_serialise(&s->up, &s->link, now, irpc_buf_len(&c->data)),
                s->link.latency_ns);
    lane_push(&s->up, c);
  }
  w->next = NULL;
  w->done_at = s->up.free_at > now ? s->up.free_at : now;
  if (s->wq_tail)
    s->wq_tail->next = w;
  else
    s->wq_head = w;
  s->wq_tail = w;
  s->stats.bytes_up += len;
  if (s->tstats)
    s->tstats->bytes_up += len;
  irpc_duplex_schedule(d);
  return 0;
}

static int sdx_shutdown(irpc_duplex *d) {
  sdx *s = sdx_of(d);
  if (s->err)
    return s->err;
  chunk *c = chunk_new(C_FIN, 0);
  if (!c)
    return IRPC_ENOMEM;
  uint64_t now = sdx_now(s);
  uint64_t start = s->up.free_at > now ? s->up.free_at : now;
  c->due = sat_add(start, s->link.latency_ns);
  lane_push(&s->up, c);
  irpc_duplex_schedule(d);
  return 0;
}

static void sdx_close(irpc_duplex *d, int abort) {
  sdx *s = sdx_of(d);
  s->outer_closing = 1;
  s->connect_pending = 0;
  lane_clear(&s->down);
  if (s->inner_reading && s->inner && !s->inner_closing)
    irpc_duplex_read_stop(s->inner);
  s->inner_reading = 0;
  s->wq_head = s->wq_tail = NULL; /* the framework cancels them */
  uint64_t now = sdx_now(s);
  /* Keep what was serialised already (it is on the wire); drop the rest. */
  lane kept = {NULL, NULL, 0, 0};
  while (!abort && s->up.head && s->up.head->due - s->link.latency_ns <= now)
    lane_push(&kept, lane_pop(&s->up));
  lane_clear(&s->up);
  s->up = kept;
  if (s->up.head && s->inner && !s->inner_closing) {
    rearm(s, now);
    return;
  }
  timer_set(s, NEVER, now);
  close_inner(s, abort);
}

static void sdx_destroy(irpc_duplex *d) {
  sdx *s = sdx_of(d);
  lane_clear(&s->up);
  lane_clear(&s->down);
  if (s->link.clock) {
    irpc_clock_timer_stop(&s->ctimer);
    irpc_clock_unref(s->link.clock);
  }
  stimer_free(s->timer);
}

static void sdx_run(irpc_duplex *d) {
  pump(sdx_of(d));
}

static int sdx_local(const irpc_duplex *d, char *buf, size_t len) {
  const sdx *s = irpc_duplex_cdata(d);
  return s->inner ? irpc_duplex_local_address(s->inner, buf, len) : UV_ENOTCONN;
}

static int sdx_remote(const irpc_duplex *d, char *buf, size_t len) {
  const sdx *s = irpc_duplex_cdata(d);
  return s->inner ? irpc_duplex_remote_address(s->inner, buf, len)
                  : UV_ENOTCONN;
}

static int sdx_cred(const irpc_duplex *d, irpc_peer_credentials *out) {
  const sdx *s = irpc_duplex_cdata(d);
  return s->inner ? irpc_duplex_peer_credentials(s->inner, out) : UV_ENOTCONN;
}

static const irpc_tls_info *sdx_tls(const irpc_duplex *d) {
  const sdx *s = irpc_duplex_cdata(d);
  return s->inner ? irpc_duplex_tls_info(s->inner) : NULL;
}

static const irpc_duplex_ops shaped_duplex_ops = {
    .struct_size = sizeof(irpc_duplex_ops),
    .name = "shaped",
    .data_size = sizeof(sdx),
    .write_req_size = sizeof(swreq),
    .read_start = sdx_read_start,
    .read_stop = sdx_read_stop,
    .write = sdx_write,
    .shutdown = sdx_shutdown,
    .close = sdx_close,
    .destroy = sdx_destroy,
    .run = sdx_run,
    .local_address = sdx_local,
    .remote_address = sdx_remote,
    .peer_credentials = sdx_cred,
    .tls_info = sdx_tls,
};

static int clock_fits(const irpc_link *l, uv_loop_t *loop) {
  return !l->clock || irpc_clock_loop(l->clock) == loop;
}

static int sdx_new(irpc_duplex **out, uv_loop_t *loop, const irpc_link *link,
                   irpc_link_stats *tstats, irpc_duplex *inner,
                   int connecting) {
  irpc_duplex *d;
  int rc = irpc_duplex_new(&d, loop, &shaped_duplex_ops, connecting);
  if (rc)
    return rc;
  sdx *s = sdx_of(d);
  s->self = d;
  s->inner = inner;
  s->link = *link;
  s->tstats = tstats;
  s->armed = NEVER;
  /* Room for twice the bytes in flight on the link, at least 4 MiB. */
  uint64_t bdp =
      mul_div_ceil(link->bits_per_s, link->latency_ns, BIT_NS_PER_BYTE_S);
  s->down_cap = bdp > DOWN_CAP_MIN / 2 ? (size_t)(2 * bdp) : DOWN_CAP_MIN;
  if (link->clock) {
    irpc_clock_ref(link->clock);
    irpc_clock_timer_init(&s->ctimer, on_clock_timer, s);
  } else if ((rc = stimer_new(&s->timer, loop, s)) != 0) {
    s->link.clock = NULL;
    irpc_duplex_discard(d);
    return rc;
  }
  if (tstats)
    tstats->connections++;
  *out = d;
  return 0;
}

int irpc_duplex_shaped_wrap(irpc_duplex **out, irpc_duplex *inner,
                            const irpc_link *link) {
  if (!out || !inner || !link)
    return IRPC_EINVAL;
  char probe[1];
  if (irpc_duplex_closing(inner) ||
      irpc_duplex_local_address(inner, probe, 0) == UV_ENOTCONN ||
      !clock_fits(link, irpc_duplex_loop(inner)))
    return IRPC_EINVAL;
  irpc_duplex *d;
  int rc = sdx_new(&d, irpc_duplex_loop(inner), link, NULL, inner, 0);
  if (rc)
    return rc;
  sdx *s = sdx_of(d);
  rc = irpc_duplex_read_start(inner, on_inner_read, s);
  if (rc) {
    s->inner = NULL; /* still the caller's */
    irpc_duplex_discard(d);
    return rc;
  }
  s->inner_reading = 1;
  *out = d;
  return 0;
}

int irpc_duplex_shaped_stats(const irpc_duplex *d, irpc_link_stats *out) {
  if (!d || !out || irpc_duplex_get_ops(d) != &shaped_duplex_ops)
    return IRPC_EINVAL;
  *out = ((const sdx *)irpc_duplex_cdata(d))->stats;
  return 0;
}

/* ---- The shaped transport ---- */

typedef struct str {
  irpc_transport *inner;
  irpc_link link; /* its clock referenced */
  irpc_link_stats stats;
} str;

static void on_inner_connect(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  sdx *s = ud;
  if (status != 0 && !s->inner_closing)
    s->inner = NULL; /* the library frees it */
  if (s->outer_closing)
    return;
  if (status == 0 && irpc_duplex_read_start(s->inner, on_inner_read, s) != 0)
    status = IRPC_ENOMEM;
  if (status != 0) {
    irpc_duplex_connect_done(s->self, status);
    return;
  }
  s->inner_reading = 1;
  /* The handshake: one round trip before the first byte can go. */
  uint64_t now = sdx_now(s);
  s->connect_pending = 1;
  s->connect_due =
      sat_add(sat_add(now, s->link.latency_ns), s->link.latency_ns);
  pump(s);
}

static int str_connect(irpc_transport *t, uv_loop_t *loop,
                       const irpc_server_address *addr, irpc_duplex **out) {
  str *st = irpc_transport_data(t);
  if (!clock_fits(&st->link, loop))
    return IRPC_EINVAL;
  irpc_duplex *d;
  int rc = sdx_new(&d, loop, &st->link, &st->stats, NULL, 1);
  if (rc)
    return rc;
  sdx *s = sdx_of(d);
  rc = irpc_transport_connect(st->inner, loop, addr, &s->inner,
                              on_inner_connect, s);
  if (rc) {
    irpc_duplex_discard(d);
    return rc;
  }
  *out = d;
  return 0;
}

typedef struct sls {
  irpc_listener *self;
  irpc_listener *inner;
  str *st;
} sls;

static void on_inner_listener_closed(irpc_listener *inner, void *ud) {
  (void)inner;
  sls *l = ud;
  irpc_listener_close_done(l->self);
}

static void sls_close(irpc_listener *self) {
  sls *l = irpc_listener_data(self);
  irpc_listener_close(l->inner, on_inner_listener_closed, l);
}

static const irpc_listener_ops shaped_listener_ops = {
    .struct_size = sizeof(irpc_listener_ops),
    .name = "shaped",
    .data_size = sizeof(sls),
    .close = sls_close,
};

static void on_inner_accept(irpc_listener *inner, irpc_duplex *d, void *ud) {
  (void)inner;
  sls *l = ud;
  irpc_duplex *w;
  if (sdx_new(&w, irpc_duplex_loop(d), &l->st->link, &l->st->stats, d, 0)) {
    irpc_duplex_abort(d, NULL, NULL);
    return;
  }
  sdx *s = sdx_of(w);
  if (irpc_duplex_read_start(d, on_inner_read, s) != 0) {
    irpc_duplex_abort(w, NULL, NULL);
    return;
  }
  s->inner_reading = 1;
  irpc_listener_accepted(l->self, w);
}

static int str_listen(irpc_transport *t, uv_loop_t *loop,
                      const irpc_server_address *addr, irpc_accept_cb cb,
                      void *ud, irpc_listener **out) {
  str *st = irpc_transport_data(t);
  if (!clock_fits(&st->link, loop))
    return IRPC_EINVAL;
  irpc_listener *self;
  int rc = irpc_listener_new(&self, loop, &shaped_listener_ops, addr, cb, ud);
  if (rc)
    return rc;
  sls *l = irpc_listener_data(self);
  l->self = self;
  l->st = st;
  rc = irpc_transport_listen(st->inner, loop, addr, on_inner_accept, l,
                             &l->inner);
  if (!rc)
    rc = irpc_listener_set_address(self, irpc_listener_address(l->inner));
  if (rc) {
    if (l->inner)
      irpc_listener_close(l->inner, NULL, NULL);
    irpc_listener_discard(self);
    return rc;
  }
  *out = self;
  return 0;
}

static void str_destroy(irpc_transport *t) {
  str *st = irpc_transport_data(t);
  irpc_clock_unref(st->link.clock);
}

static const irpc_transport_ops shaped_transport_ops = {
    .struct_size = sizeof(irpc_transport_ops),
    .name = "shaped",
    .data_size = sizeof(str),
    .connect = str_connect,
    .listen = str_listen,
    .destroy = str_destroy,
};

int irpc_transport_shaped_new(irpc_transport **out, irpc_transport *inner,
                              const irpc_link *link) {
  if (!out || !inner || !link)
    return IRPC_EINVAL;
  irpc_transport *t;
  int rc = irpc_transport_new(&t, &shaped_transport_ops);
  if (rc)
    return rc;
  str *st = irpc_transport_data(t);
  st->inner = inner;
  st->link = *link;
  irpc_clock_ref(link->clock);
  *out = t;
  return 0;
}

int irpc_transport_shaped_stats(const irpc_transport *t, irpc_link_stats *out) {
  if (!t || !out || irpc_transport_get_ops(t) != &shaped_transport_ops)
    return IRPC_EINVAL;
  *out = ((str *)irpc_transport_data((irpc_transport *)t))->stats;
  return 0;
}
