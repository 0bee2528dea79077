/* Every allocation failing in turn, on both sides, while a continuation
 * flows: a download, an upload and a two-way stream, each with the raw
 * irpc_stream_writer / irpc_stream_reader and with the typed streams of
 * generated code (stream_gen.slice: strings down, bytes up, strings both
 * ways), a raw one-way upload (its call completes once the payload is
 * sent), and a raw download and upload compressed by the compress
 * middleware and interceptor, client and server in this process over the
 * memory transport.
 * For each n the n-th allocation after the connection is up fails; then
 * every call completes exactly once, every writer and every reader that
 * was started reports its end exactly once, a run with no failure delivers
 * every byte and item, a raw reader that ends with 0 got exactly the
 * bytes written, and nothing leaks (the counting allocator's live count is
 * back where it started; ASan checks the rest). A compressed writer's
 * producer writes a chunk again after IRPC_ENOMEM ("nothing taken"): the
 * compressor took it already, so the writer must fail rather than go on
 * with a gap in the compressed stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kit/net.h"
#include "stream_gen.slice.h"

enum { CHUNK = 8 << 10, CHUNKS = 8, ITEMS = 600, UP = 1000, UPS = 60 };
/* Compressed: the writers take every chunk at once, the windows are
 * small, so the compressor's output waits in the stream. */
enum { ZQUEUED = 1 << 20, ZWINDOW = 4 << 10 };

enum {
  RAW_DOWN,
  RAW_UP,
  RAW_BOTH,
  GEN_DOWN,
  GEN_UP,
  GEN_BOTH,
  RAW_ONEWAY,
  Z_DOWN,
  Z_UP,
};

static const char *const scenario_name[] = {
    "raw download",          "raw upload",
    "raw two-way stream",    "typed download",
    "typed upload",          "typed two-way stream",
    "raw one-way upload",    "compressed raw download",
    "compressed raw upload",
};

/* Something that reports its end once. */
typedef struct ender {
  int made;
  int ended;
  int err;
} ender;

/* The state of one run. */
typedef struct run {
  uv_loop_t *loop;
  int settled;
  /* ends: the call, client writer and reader, server writer and reader,
   * and the typed consumers on both sides */
  ender call, cw, cr, sw, sr, csr, ssr;
  int invoke_rc;
  uint64_t status;
  irpc_invoker *client;
  irpc_stream_writer *cwp, *swp;
  irpc_stream_reader *crp, *srp;
  irpc_slice_stream_writer *cs, *ss;
  irpc_slice_stream_reader *csp, *ssp;
  irpc_dispatch *d;        /* raw upload: replied at the reader's end */
  irpc_slice_dispatch *sd; /* typed upload: likewise */
  int32_t csent, ssent;    /* chunks or items written */
  int64_t cgot, sgot;      /* bytes or items received */
  int cbad, sbad;          /* a received byte or item was wrong */
  /* a compressed writer's write answered IRPC_ENOMEM: 1 before it was
   * sent (queued in the writer), 2 after (through the compressor) */
  int cnomem, snomem;
  char names[2][64][24];
} run;

static run T;
static long cur_n; /* the allocation failing */
static int cur_scenario;
static int zmode; /* the continuations are compressed */

static ender *const all_enders[] = {&T.call, &T.cw,  &T.cr, &T.sw,
                                    &T.sr,   &T.csr, &T.ssr};

static void settle(void) {
  int s = 1;
  for (size_t i = 0; i < sizeof all_enders / sizeof all_enders[0]; i++)
    if (all_enders[i]->made && !all_enders[i]->ended)
      s = 0;
  T.settled = s;
}

static void made(ender *e) {
  e->made = 1;
  settle();
}

static void ended(ender *e, int err) {
  if (!e->made)
    print_message("allocation %ld failing: an end of something not started "
                  "(%d)\n",
                  cur_n, err);
  assert_true(e->made);
  assert_int_equal(e->ended, 0); /* exactly once */
  e->ended = 1;
  e->err = err;
  settle();
}

/* ---- Raw producers and consumers ---- */

static uint8_t byte_at(int64_t i) {
  if (!zmode)
    return (uint8_t)(i * 7 + (i >> 9));
  /* compressed: bytes that do not compress, so that the compressor's
   * output fills the stream's window and waits in the stream */
  uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15u;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9u;
  return (uint8_t)(x >> 40);
}

/* Writes the chunks `*sent` onwards; on an error other than IRPC_EAGAIN
 * aborts (so the writer ends, once, in every case). */
static void raw_produce(irpc_stream_writer *w, int32_t *sent) {
  while (*sent < CHUNKS) {
    irpc_buf *b;
    int rc = irpc_buf_new(&b);
    if (rc == 0) {
      uint8_t data[CHUNK];
      for (size_t i = 0; i < CHUNK; i++)
        data[i] = byte_at((int64_t)*sent * CHUNK + (int64_t)i);
      rc = irpc_buf_append(b, data, CHUNK);
      int *nomem = sent == &T.csent ? &T.cnomem : &T.snomem;
      int sending = !irpc_stream_writer_replayable(w); /* compressing */
      if (rc == 0 && (rc = irpc_stream_writer_write(w, b)) == IRPC_ENOMEM &&
          zmode && !*nomem) {
        /* nothing taken, says the header: write it again (a writer
         * that failed answers IRPC_ECLOSED) */
        *nomem = 1 + sending;
        irpc_buf_free(b);
        continue;
      }
      irpc_buf_free(b);
    }
    if (rc == IRPC_EAGAIN)
      return;
    if (rc) {
      irpc_stream_writer_abort(w);
      return;
    }
    (*sent)++;
  }
  if (irpc_stream_writer_end(w))
    irpc_stream_writer_abort(w);
  *sent = CHUNKS + 1; /* done */
}

/* A writer's ends: ud is its ender, the client's (&T.cw) or the
 * server's (&T.sw). */
static void writer_end(irpc_stream_writer *w, int err, void *ud) {
  (void)w;
  ended(ud, err);
}

static void raw_writable(irpc_stream_writer *w, void *ud) {
  int32_t *sent = ud == &T.cw ? &T.csent : &T.ssent;
  if (*sent < CHUNKS)
    raw_produce(w, sent);
}

static const irpc_stream_writer_ops raw_writer_ops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_writable = raw_writable,
    .on_end = writer_end,
};

static void check_bytes(irpc_buf *data, int64_t *got, int *bad) {
  for (size_t i = 0; i < irpc_buf_segment_count(data); i++) {
    irpc_bytes seg = irpc_buf_segment(data, i);
    for (size_t j = 0; j < seg.len; j++, (*got)++)
      if (seg.base[j] != byte_at(*got))
        *bad = 1;
  }
}

static void cr_data(irpc_stream_reader *r, irpc_buf *data, void *ud) {
  (void)r, (void)ud;
  check_bytes(data, &T.cgot, &T.cbad);
}

static void cr_end(irpc_stream_reader *r, int err, void *ud) {
  (void)r, (void)ud;
  ended(&T.cr, err);
}

static const irpc_stream_reader_ops cr_ops = {
    .struct_size = sizeof(irpc_stream_reader_ops),
    .on_data = cr_data,
    .on_end = cr_end,
};

/* ---- The raw server (/raw: down, up, both, ping) ---- */

static void reply(irpc_dispatch *d, uint64_t status) {
  int rc = irpc_dispatch_reply(d, status, NULL);
  if (rc == IRPC_ENOMEM) /* still held: the next allocation succeeds */
    rc = irpc_dispatch_reply(d, status, NULL);
  assert_irpc_ok(rc);
}

/* A response carrying a new server writer; 0 or an error (nothing
 * made, the caller replies). */
static int respond_with_writer(irpc_dispatch *d, size_t max_queued) {
  irpc_outgoing_response *resp;
  int rc = irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL);
  if (rc)
    return rc;
  irpc_stream_writer_options wo;
  irpc_stream_writer_options_init(&wo);
  wo.max_queued = max_queued;
  rc = irpc_stream_writer_new(&T.swp, irpc_dispatch_loop(d), &wo,
                              &raw_writer_ops, &T.sw);
  if (rc == 0) {
    rc = irpc_outgoing_response_set_continuation(resp, T.swp);
    if (rc) {
      irpc_stream_writer_free(T.swp);
      T.swp = NULL;
    }
  }
  if (rc) {
    irpc_outgoing_response_free(resp);
    return rc;
  }
  made(&T.sw); /* attached: it ends once, sent or not */
  irpc_dispatch_complete(d, resp);
  return 0;
}

static void sr_data(irpc_stream_reader *r, irpc_buf *data, void *ud) {
  (void)ud;
  if (!T.swp) { /* upload: count */
    check_bytes(data, &T.sgot, &T.sbad);
    return;
  }
  /* echo: the writer has room for everything (max_queued) */
  (void)r;
  T.sgot += (int64_t)irpc_buf_len(data);
  if (irpc_stream_writer_write(T.swp, data))
    irpc_stream_writer_abort(T.swp);
}

static void sr_end(irpc_stream_reader *r, int err, void *ud) {
  (void)r, (void)ud;
  ended(&T.sr, err);
  if (T.d) { /* upload */
    irpc_dispatch *d = T.d;
    T.d = NULL;
    reply(d, err == 0 && T.sgot == (int64_t)CHUNKS * CHUNK && !T.sbad
                 ? IRPC_STATUS_OK
                 : IRPC_STATUS_INVALID_DATA);
  } else if (T.swp) { /* echo */
    if (err || irpc_stream_writer_end(T.swp))
      irpc_stream_writer_abort(T.swp);
  }
}

static const irpc_stream_reader_ops sr_ops = {
    .struct_size = sizeof(irpc_stream_reader_ops),
    .on_data = sr_data,
    .on_end = sr_end,
};

/* Takes and starts the request's reader; 0 or an error. */
static int take_request_reader(irpc_dispatch *d) {
  irpc_stream_reader *r =
      irpc_incoming_request_take_continuation(irpc_dispatch_request(d));
  if (!r)
    return IRPC_ENOTFOUND;
  int rc = irpc_stream_reader_start(r, &sr_ops, NULL);
  if (rc) {
    irpc_stream_reader_free(r);
    return rc;
  }
  T.srp = r;
  made(&T.sr);
  return 0;
}

static void raw_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  const char *op = irpc_incoming_request_operation(irpc_dispatch_request(d));
  if (strcmp(op, "ping") == 0) {
    reply(d, IRPC_STATUS_OK);
  } else if (strcmp(op, "down") == 0) {
    if (respond_with_writer(d, zmode ? ZQUEUED : 16 << 10))
      reply(d, IRPC_STATUS_INTERNAL_ERROR);
    else
      raw_produce(T.swp, &T.ssent);
  } else if (strcmp(op, "up") == 0) {
    if (take_request_reader(d))
      reply(d, IRPC_STATUS_INTERNAL_ERROR);
    else
      T.d = d;            /* replied at the reader's end */
  } else {                /* both */
    T.ssent = CHUNKS + 1; /* the writer echoes, it does not produce */
    if (take_request_reader(d)) {
      reply(d, IRPC_STATUS_INTERNAL_ERROR);
    } else if (respond_with_writer(d, 1 << 20)) {
      irpc_stream_reader_free(T.srp); /* no end comes after this */
      T.srp = NULL;
      T.sr.made = 0;
      reply(d, IRPC_STATUS_INTERNAL_ERROR);
    }
  }
}

static const irpc_dispatcher_ops raw_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "raw",
    .dispatch = raw_dispatch,
};

/* ---- The typed server (StreamGen::Feed: lines, upload, echo) ---- */

static void gen_fail(irpc_slice_dispatch *sd) {
  irpc_slice_dispatch_fail(sd, IRPC_STATUS_INTERNAL_ERROR, "out of memory");
}

/* Writes items `*sent` onwards (strings "item-k"), through `s`. */
static void gen_produce(irpc_slice_stream_writer *s, irpc_stream_writer *w,
                        int32_t *sent, char (*names)[24]) {
  while (*sent < ITEMS) {
    irpc_str items[16];
    size_t n = ITEMS - *sent < 16 ? (size_t)(ITEMS - *sent) : 16;
    for (size_t i = 0; i < n; i++) {
      snprintf(names[i], 24, "item-%d", (int)(*sent + (int32_t)i));
      items[i] = (irpc_str){names[i], strlen(names[i])};
    }
    int rc = StreamGen_Feed_lines_return_write(s, items, n);
    if (rc == IRPC_EAGAIN)
      return;
    if (rc) {
      irpc_stream_writer_abort(w);
      return;
    }
    *sent += (int32_t)n;
  }
  if (irpc_slice_stream_end(s))
    irpc_stream_writer_abort(w);
  *sent = ITEMS + 1;
}

static void check_items(const void *items, size_t n, int64_t *got, int *bad) {
  const irpc_str *s = items;
  for (size_t i = 0; i < n; i++, (*got)++) {
    char want[24];
    snprintf(want, sizeof want, "item-%d", (int)*got);
    if (s[i].len != strlen(want) || memcmp(s[i].ptr, want, s[i].len) != 0)
      *bad = 1;
  }
}

static void gsw_writable(irpc_stream_writer *w, void *ud) {
  (void)ud;
  if (T.ssent < ITEMS && T.ss)
    gen_produce(T.ss, w, &T.ssent, T.names[1]);
}

static const irpc_stream_writer_ops gsw_ops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_writable = gsw_writable,
    .on_end = writer_end,
};

/* The server's typed writer of the response stream, set on sd; 0 or an
 * error (nothing made). */
static int gen_server_writer(irpc_slice_dispatch *sd,
                             const irpc_slice_stream_elem *elem,
                             size_t max_queued) {
  irpc_stream_writer_options wo;
  irpc_stream_writer_options_init(&wo);
  wo.max_queued = max_queued;
  uv_loop_t *loop = irpc_dispatch_loop(irpc_slice_dispatch_raw(sd));
  int rc = irpc_stream_writer_new(&T.swp, loop, &wo, &gsw_ops, &T.sw);
  if (rc)
    return rc;
  rc = irpc_slice_stream_writer_new(&T.ss, T.swp, elem);
  if (rc == 0)
    rc = irpc_slice_dispatch_set_stream(sd, T.swp);
  if (rc) {
    irpc_slice_stream_writer_free(T.ss);
    irpc_stream_writer_free(T.swp);
    T.ss = NULL;
    T.swp = NULL;
    return rc;
  }
  made(&T.sw);
  return 0;
}

static void impl_lines(void *impl, irpc_slice_dispatch *sd, irpc_str prefix,
                       int32_t n) {
  (void)impl, (void)prefix, (void)n;
  if (gen_server_writer(sd, &StreamGen_Feed_lines_return_elem, 4 << 10)) {
    gen_fail(sd);
    return;
  }
  StreamGen_Feed_lines_reply(sd, ITEMS); /* completes sd, whatever it says */
  gen_produce(T.ss, T.swp, &T.ssent, T.names[1]);
}

static void ssr_items(void *ud, const void *items, size_t n) {
  (void)ud;
  if (!T.ss) { /* upload: bytes */
    const uint8_t *b = items;
    for (size_t i = 0; i < n; i++, T.sgot++)
      if (b[i] != byte_at(T.sgot))
        T.sbad = 1;
    return;
  }
  check_items(items, n, &T.sgot, &T.sbad); /* echo: strings, sent back */
  int rc = StreamGen_Feed_echo_return_write(T.ss, items, n);
  if (rc) /* room for every item was asked for; anything else aborts */
    irpc_stream_writer_abort(T.swp);
}

static void ssr_end(void *ud, int err) {
  (void)ud;
  ended(&T.ssr, err);
  if (T.sd) { /* upload */
    irpc_slice_dispatch *sd = T.sd;
    T.sd = NULL;
    if (err == 0 && !T.sbad)
      StreamGen_Feed_upload_reply(sd, T.sgot);
    else
      irpc_slice_dispatch_fail(sd, IRPC_STATUS_INVALID_DATA,
                               irpc_strerror(err));
  } else if (T.ss) { /* echo */
    if (err || irpc_slice_stream_end(T.ss))
      irpc_stream_writer_abort(T.swp);
  }
}

static const irpc_slice_stream_handler ssr_handler = {
    .struct_size = sizeof(irpc_slice_stream_handler),
    .on_items = ssr_items,
    .on_end = ssr_end,
};

/* Takes the request's elements: their end may come from within. */
static int gen_take_request(irpc_slice_dispatch *sd) {
  T.ssr.made = 1;
  int rc = irpc_slice_dispatch_take_stream(sd, &ssr_handler, NULL, &T.ssp);
  if (rc)
    T.ssr.made = 0;
  settle();
  return rc;
}

static void impl_upload(void *impl, irpc_slice_dispatch *sd, irpc_str name) {
  (void)impl, (void)name;
  T.sd = sd;
  if (gen_take_request(sd)) {
    T.sd = NULL;
    gen_fail(sd);
  }
}

static void impl_echo(void *impl, irpc_slice_dispatch *sd) {
  (void)impl;
  /* echo writes as it reads: room for everything */
  if (gen_server_writer(sd, &StreamGen_Feed_echo_return_elem, 1 << 20)) {
    gen_fail(sd);
    return;
  }
  T.ssent = ITEMS + 1; /* echoes, does not produce */
  if (gen_take_request(sd)) {
    irpc_stream_writer_abort(T.swp);
    gen_fail(sd);
    return;
  }
  StreamGen_Feed_echo_reply(sd);
}

static const StreamGen_Feed_ops feed_ops = {
    .lines = impl_lines,
    .upload = impl_upload,
    .echo = impl_echo,
};

static const irpc_slice_iface *const served[] = {&StreamGen_Feed_iface, NULL};

/* Requests read as streams: /raw up and both, and the typed ones. */
static int stream_request(void *ud, const char *path, const char *op) {
  (void)ud;
  if (strcmp(path, "/raw") == 0)
    return strcmp(op, "up") == 0 || strcmp(op, "both") == 0;
  return irpc_slice_stream_request((void *)served, path, op);
}

/* ---- The client ---- */

static void raw_done(irpc_call *call, int err, irpc_incoming_response *resp,
                     void *ud) {
  (void)call, (void)ud;
  T.status = resp && err == 0 ? irpc_incoming_response_status(resp) : 0;
  if (err == 0 && T.status == IRPC_STATUS_OK && resp &&
      irpc_incoming_response_continuation(resp)) {
    irpc_stream_reader *r = irpc_incoming_response_take_continuation(resp);
    if (irpc_stream_reader_start(r, &cr_ops, NULL) == 0) {
      T.crp = r;
      made(&T.cr);
    } else {
      irpc_stream_reader_free(r);
    }
  }
  irpc_incoming_response_free(resp);
  ended(&T.call, err);
}

static void raw_start(int scenario) {
  static const char *const ops[] = {"down", "up", "both"};
  int oneway = scenario == RAW_ONEWAY;
  if (oneway)
    scenario = RAW_UP; /* the same upload, the call done once it is sent */
  irpc_outgoing_request *req;
  int rc = irpc_outgoing_request_new(&req, "/raw", ops[scenario]);
  if (rc) {
    T.invoke_rc = rc;
    return;
  }
  irpc_outgoing_request_set_oneway(req, oneway);
  if (scenario != RAW_UP)
    assert_irpc_ok(irpc_outgoing_request_set_stream_response(req, 1));
  if (scenario != RAW_DOWN) {
    irpc_stream_writer_options wo;
    irpc_stream_writer_options_init(&wo);
    wo.max_queued = zmode ? ZQUEUED : 16 << 10;
    rc = irpc_stream_writer_new(&T.cwp, T.loop, &wo, &raw_writer_ops, &T.cw);
    if (rc) {
      irpc_outgoing_request_free(req);
      T.invoke_rc = rc;
      return;
    }
    assert_irpc_ok(irpc_outgoing_request_set_continuation(req, T.cwp));
    made(&T.cw); /* attached: it ends once, sent or not */
  }
  /* the call owns the request from here, also on failure */
  T.invoke_rc = irpc_invoke_owned(T.client, req, raw_done, NULL, NULL);
  if (T.invoke_rc == 0)
    made(&T.call);
  if (T.cwp)
    raw_produce(T.cwp, &T.csent);
}

/* The typed client: lines (down), upload (bytes up), echo (both). */

static void csr_items(void *ud, const void *items, size_t n) {
  (void)ud;
  check_items(items, n, &T.cgot, &T.cbad);
}

static void csr_end(void *ud, int err) {
  (void)ud;
  ended(&T.csr, err);
}

static const irpc_slice_stream_handler csr_handler = {
    .struct_size = sizeof(irpc_slice_stream_handler),
    .on_items = csr_items,
    .on_end = csr_end,
};

static void gen_take(irpc_slice_reply *reply, int err) {
  if (err == 0) { /* the end may come from within */
    T.csr.made = 1;
    if (irpc_slice_reply_take_stream(reply, &csr_handler, NULL, &T.csp))
      T.csr.made = 0;
  }
  ended(&T.call, err);
}

static void lines_cb(irpc_slice_reply *reply, int err,
                     const StreamGen_Feed_lines_ret *ret, void *ud) {
  (void)ud;
  if (ret)
    assert_int_equal(ret->total, ITEMS);
  gen_take(reply, err);
}

static void echo_cb(irpc_slice_reply *reply, int err, void *ud) {
  (void)ud;
  gen_take(reply, err);
}

static void upload_cb(irpc_slice_reply *reply, int err, const int64_t *ret,
                      void *ud) {
  (void)reply, (void)ud;
  if (ret)
    T.sgot = *ret; /* what the server counted */
  ended(&T.call, err);
}

/* The client's producer: bytes (upload) or strings (echo). */
static void gcw_writable(irpc_stream_writer *w, void *ud);

static const irpc_stream_writer_ops gcw_ops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_writable = gcw_writable,
    .on_end = writer_end,
};

static int upload_mode; /* 1: bytes, 0: strings */

static void gen_up_produce(irpc_stream_writer *w) {
  if (!upload_mode) {
    gen_produce(T.cs, w, &T.csent, T.names[0]);
    return;
  }
  while (T.csent < UPS) {
    uint8_t bytes[UP];
    for (size_t i = 0; i < sizeof bytes; i++)
      bytes[i] = byte_at((int64_t)T.csent * UP + (int64_t)i);
    int rc = StreamGen_Feed_upload_param_write(T.cs, bytes, sizeof bytes);
    if (rc == IRPC_EAGAIN)
      return;
    if (rc) {
      irpc_stream_writer_abort(w);
      return;
    }
    T.csent++;
  }
  if (irpc_slice_stream_end(T.cs))
    irpc_stream_writer_abort(w);
  T.csent = ITEMS + 1;
}

static void gcw_writable(irpc_stream_writer *w, void *ud) {
  (void)ud;
  if (T.csent < (upload_mode ? UPS : ITEMS) && T.cs)
    gen_up_produce(w);
}

static void gen_start(int scenario) {
  irpc_slice_call_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.struct_size = sizeof opts;
  StreamGen_FeedProxy proxy = StreamGen_FeedProxy_from(T.client, NULL);
  if (scenario != GEN_DOWN) {
    irpc_stream_writer_options wo;
    irpc_stream_writer_options_init(&wo);
    wo.max_queued = 4 << 10;
    int rc = irpc_stream_writer_new(&T.cwp, T.loop, &wo, &gcw_ops, &T.cw);
    if (rc == 0) {
      rc = irpc_slice_stream_writer_new(&T.cs, T.cwp,
                                        scenario == GEN_UP
                                            ? &StreamGen_Feed_upload_param_elem
                                            : &StreamGen_Feed_echo_param_elem);
      if (rc) {
        irpc_stream_writer_free(T.cwp);
        T.cwp = NULL;
      }
    }
    if (rc) {
      T.invoke_rc = rc;
      return;
    }
    opts.stream = T.cwp;
  }
  upload_mode = scenario == GEN_UP;
  if (scenario == GEN_DOWN)
    T.invoke_rc = StreamGen_Feed_lines(&proxy, (irpc_str){"item", 4}, ITEMS,
                                       NULL, lines_cb, NULL);
  else if (scenario == GEN_UP)
    T.invoke_rc = StreamGen_Feed_upload(&proxy, (irpc_str){"file", 4}, &opts,
                                        upload_cb, NULL);
  else
    T.invoke_rc = StreamGen_Feed_echo(&proxy, &opts, echo_cb, NULL);
  if (T.invoke_rc == 0)
    made(&T.call);
  if (T.cwp) {
    made(&T.cw); /* it ends once, also when the call did not start */
    gen_up_produce(T.cwp);
  }
}

/* ---- The sweep ---- */

static int timed_out;

static void on_timeout(uv_timer_t *t) {
  (void)t;
  timed_out = 1;
}

/* Runs until every end came; a run stuck for 20 s fails, naming what did
 * not end. */
static void wait_settled(uv_loop_t *loop) {
  static const char *const names[] = {
      "call",          "client writer",   "client reader",  "server writer",
      "server reader", "client consumer", "server consumer"};
  uv_timer_t t;
  uv_timer_init(loop, &t);
  timed_out = 0;
  uv_timer_start(&t, on_timeout, 20000, 0);
  while (!T.settled && !timed_out)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  if (T.settled)
    return;
  if (!timed_out) { /* something started in that last turn */
    wait_settled(loop);
    return;
  }
  for (size_t i = 0; i < sizeof all_enders / sizeof all_enders[0]; i++)
    if (all_enders[i]->made && !all_enders[i]->ended)
      print_message("%s: allocation %ld failing: %s never ended\n",
                    scenario_name[cur_scenario], cur_n, names[i]);
  fail_msg("a stream or call did not end");
}

/* Whatever failed: a raw reader that ended with 0 got exactly the bytes
 * written (nothing lost or garbled on the way), and a compressed writer
 * whose write answered IRPC_ENOMEM failed with it, its reader not ending
 * with 0. */
static void check_raw_bytes(int scenario) {
  if (scenario == RAW_BOTH || (scenario > RAW_BOTH && scenario < RAW_ONEWAY))
    return; /* the echo's bytes, typed items: checked when nothing failed */
  int down = scenario == RAW_DOWN || scenario == Z_DOWN;
  ender *reader = down ? &T.cr : &T.sr, *writer = down ? &T.sw : &T.cw;
  int64_t got = down ? T.cgot : T.sgot;
  int bad = down ? T.cbad : T.sbad;
  if (reader->ended && reader->err == 0 && (got != CHUNKS * CHUNK || bad))
    print_message("%s: allocation %ld failing: the reader ended with 0 "
                  "after %lld bytes%s\n",
                  scenario_name[scenario], cur_n, (long long)got,
                  bad ? ", some of them wrong" : "");
  if (reader->ended && reader->err == 0) {
    assert_int_equal(got, (int64_t)CHUNKS * CHUNK);
    assert_false(bad);
  }
  if ((down ? T.snomem : T.cnomem) == 2) { /* not while queued unsent */
    if (writer->err != IRPC_ENOMEM || (reader->ended && reader->err == 0))
      print_message("%s: allocation %ld failing: a write answered "
                    "IRPC_ENOMEM, then the writer ended with %d, the "
                    "reader with %d\n",
                    scenario_name[scenario], cur_n, writer->err,
                    reader->ended ? reader->err : -1);
    assert_int_equal(writer->err, IRPC_ENOMEM);
    assert_false(reader->ended && reader->err == 0);
  }
}

static void shutdown_cb(irpc_invoker *inv, int status, void *ud) {
  (void)inv, (void)status;
  *(int *)ud = 1;
}

/* One run of `scenario` with the n-th allocation failing (0: none);
 * returns 1 when fewer than n allocations were made (the sweep is over). */
static int run_failing_at(int scenario, long n) {
  long live0 = test_alloc.live;
  cur_n = n;
  cur_scenario = scenario;
  memset(&T, 0, sizeof T);
  zmode = scenario == Z_DOWN || scenario == Z_UP;
  net_rig r;
  net_rig_init(&r, NET_MEMORY);
  irpc_compress_options co;
  irpc_compress_options_init(&co);
  co.always = 1;
  if (zmode) { /* before the routes are mapped */
    irpc_dispatcher *cmw;
    assert_irpc_ok(irpc_compress_middleware_new(&cmw, &r.loop, &co));
    assert_irpc_ok(irpc_router_use(r.router, cmw));
  }
  r.sicerpc.stream_request = stream_request;
  if (zmode)
    r.sicerpc.initial_stream_window_size =
        r.cicerpc.initial_stream_window_size = ZWINDOW;
  net_map(&r, "/raw", &raw_ops, NULL);
  irpc_dispatcher *disp;
  assert_irpc_ok(StreamGen_Feed_map(r.router, NULL, &feed_ops, NULL, &disp));
  r.disps[r.ndisps++] = disp;
  net_rig_start(&r);
  T.loop = &r.loop;
  irpc_invoker *conn = net_client(&r);
  irpc_pipeline *pl = NULL;
  T.client = conn;
  if (zmode) {
    irpc_invoker *cic;
    assert_irpc_ok(irpc_compress_interceptor_new(&cic, &r.loop, &co));
    assert_irpc_ok(irpc_pipeline_new(&pl, &r.loop));
    assert_irpc_ok(irpc_pipeline_use(pl, cic));
    assert_irpc_ok(irpc_pipeline_into(pl, conn));
    T.client = irpc_pipeline_invoker(pl);
  }
  /* connected first: the sweep is over the streams, not the handshake */
  irpc_outgoing_request *ping;
  assert_irpc_ok(irpc_outgoing_request_new(&ping, "/raw", "ping"));
  net_result o = {0};
  net_call_sync(&r.loop, T.client, ping, &o);
  irpc_outgoing_request_free(ping);
  assert_irpc_ok(o.err);

  test_alloc.fail_at = n;
  if (zmode)
    raw_start(scenario == Z_DOWN ? RAW_DOWN : RAW_UP);
  else if (scenario <= RAW_BOTH || scenario == RAW_ONEWAY)
    raw_start(scenario);
  else
    gen_start(scenario);
  settle();
  wait_settled(&r.loop);
  if (scenario == RAW_ONEWAY && T.invoke_rc == 0) {
    /* the call and the writer may end before the server's reader starts:
     * without a failure it starts */
    while (!T.sr.made && (n == 0 || test_alloc.fail_at > 0))
      uv_run(&r.loop, UV_RUN_ONCE);
    wait_settled(&r.loop);
  }
  int untouched = n == 0 || test_alloc.fail_at > 0;
  test_alloc.fail_at = 0;

  if (untouched) { /* nothing failed: everything arrived */
    assert_irpc_ok(T.invoke_rc);
    assert_irpc_ok(T.call.err);
    for (size_t i = 0; i < sizeof all_enders / sizeof all_enders[0]; i++)
      assert_irpc_ok(all_enders[i]->err);
    assert_false(T.cbad);
    assert_false(T.sbad);
    switch (scenario) {
    case RAW_DOWN:
    case Z_DOWN:
      assert_int_equal(T.cgot, (int64_t)CHUNKS * CHUNK);
      break;
    case RAW_UP:
    case RAW_ONEWAY:
    case Z_UP:
      assert_int_equal(T.status, IRPC_STATUS_OK);
      assert_int_equal(T.sgot, (int64_t)CHUNKS * CHUNK);
      break;
    case RAW_BOTH:
      assert_int_equal(T.cgot, (int64_t)CHUNKS * CHUNK);
      break;
    case GEN_DOWN:
    case GEN_BOTH:
      assert_int_equal(T.cgot, ITEMS);
      break;
    case GEN_UP:
      assert_int_equal(T.sgot, (int64_t)UPS * UP);
      break;
    }
  } else if (T.invoke_rc) {
    assert_int_equal(T.invoke_rc, IRPC_ENOMEM);
    assert_int_equal(T.call.made, 0);
  }
  check_raw_bytes(scenario);

  /* the client goes, whatever state its connection is in; then what the
   * server still holds ends */
  int down = 0;
  if (irpc_client_connection_shutdown(conn, shutdown_cb, &down) == 0) {
    uv_timer_t t;
    uv_timer_init(&r.loop, &t);
    timed_out = 0;
    uv_timer_start(&t, on_timeout, 20000, 0);
    while (!down && !timed_out)
      uv_run(&r.loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&r.loop, UV_RUN_NOWAIT);
    if (!down)
      print_message("%s: allocation %ld failing: the client's shutdown does "
                    "not end\n",
                    scenario_name[scenario], n);
    assert_true(down);
  }
  irpc_pipeline_free(pl);
  irpc_invoker_free(conn);
  wait_settled(&r.loop);
  irpc_slice_stream_reader_free(T.csp);
  irpc_slice_stream_reader_free(T.ssp);
  irpc_stream_reader_free(T.crp);
  irpc_stream_reader_free(T.srp);
  irpc_slice_stream_writer_free(T.cs);
  irpc_slice_stream_writer_free(T.ss);
  irpc_stream_writer_free(T.cwp);
  irpc_stream_writer_free(T.swp);
  net_rig_fini(&r);
  if (n == 0) /* the first run fills per-thread caches (reply pools) */
    return untouched;
  if (test_alloc.live != live0)
    print_message("%s: allocation %ld failing: %ld blocks leaked\n",
                  scenario_name[scenario], n, test_alloc.live - live0);
  assert_int_equal(test_alloc.live, live0); /* nothing leaked */
  return untouched;
}

static void sweep(int scenario) {
  /* STREAM_ALLOC_ONLY=scenario:n runs that one case (for a debugger) */
  const char *only = getenv("STREAM_ALLOC_ONLY");
  int os;
  long on;
  if (only && sscanf(only, "%d:%ld", &os, &on) == 2) {
    if (os == scenario) {
      run_failing_at(scenario, 0);
      run_failing_at(scenario, on);
    }
    return;
  }
  run_failing_at(scenario, 0);
  long n = 1;
  while (!run_failing_at(scenario, n))
    assert_true(++n < 20000);
  print_message("%s: %ld allocations failed in turn\n", scenario_name[scenario],
                n - 1);
}

static void raw_download(void **state) {
  (void)state;
  sweep(RAW_DOWN);
}

static void raw_upload(void **state) {
  (void)state;
  sweep(RAW_UP);
}

static void raw_both(void **state) {
  (void)state;
  sweep(RAW_BOTH);
}

static void typed_download(void **state) {
  (void)state;
  sweep(GEN_DOWN);
}

static void typed_upload(void **state) {
  (void)state;
  sweep(GEN_UP);
}

static void typed_both(void **state) {
  (void)state;
  sweep(GEN_BOTH);
}

static void raw_oneway(void **state) {
  (void)state;
  sweep(RAW_ONEWAY);
}

static void compressed_download(void **state) {
  (void)state;
  sweep(Z_DOWN);
}

static void compressed_upload(void **state) {
  (void)state;
  sweep(Z_UP);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(raw_download),
      cmocka_unit_test(raw_upload),
      cmocka_unit_test(raw_both),
      cmocka_unit_test(typed_download),
      cmocka_unit_test(typed_upload),
      cmocka_unit_test(typed_both),
      cmocka_unit_test(raw_oneway),
      cmocka_unit_test(compressed_download),
      cmocka_unit_test(compressed_upload),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
