/* Streams of every kind of element (stream_kinds.slice) through generated
 * proxies and dispatchers, over the memory transport and TCP: checked and
 * unchecked enums, a variant enum, fixed-size structs (compact and not,
 * back to back), a variable-size struct holding strings, a sequence, a
 * dictionary and an optional (in segments), sequences, dictionaries,
 * optional elements and a custom type; server to client, client to server
 * with the producer waiting for room, and both ways. A stream ending inside
 * an element gives IRPC_ETRUNCATED; a bad element (an enumerator out of
 * range, a string that is not UTF-8, a sequence longer than its segment)
 * gives its error and stops the peer's writer. */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kit/net.h"
#include "stream_kinds.slice.h"

/* The custom type: a varint62 on the wire. */
int StreamKinds_Stamp_encode(irpc_slice_encoder *e, const int64_t *v) {
  return irpc_slice_encode_varint62(e, *v);
}

int StreamKinds_Stamp_decode(irpc_slice_in *in, int64_t *v) {
  return irpc_slice_decode_varint62(&in->dec, v);
}

enum {
  K_COLOR,
  K_CODE,
  K_SHAPE,
  K_POINT,
  K_READING,
  K_RECORD,
  K_SEQ,
  K_DICT,
  K_MAYBE,
  K_MAYBEREC,
  K_STAMP,
  K_COUNT
};

static const irpc_slice_stream_elem *const ret_elem[K_COUNT] = {
    &StreamKinds_Kinds_colors_return_elem,
    &StreamKinds_Kinds_codes_return_elem,
    &StreamKinds_Kinds_shapes_return_elem,
    &StreamKinds_Kinds_points_return_elem,
    &StreamKinds_Kinds_readings_return_elem,
    &StreamKinds_Kinds_records_return_elem,
    &StreamKinds_Kinds_seqs_return_elem,
    &StreamKinds_Kinds_dicts_return_elem,
    &StreamKinds_Kinds_maybe_return_elem,
    &StreamKinds_Kinds_maybeRecords_return_elem,
    &StreamKinds_Kinds_stamps_return_elem,
};

/* ---- Items: item k of each kind, made and checked ---- */

static const irpc_str tag_pool[3] = {{"a", 1}, {"bb", 2}, {"ccc", 3}};
static const irpc_str val_pool[3] = {{"v0", 2}, {"v1", 2}, {"v2", 2}};

enum { BATCH = 32 };

/* What a batch of items points to. */
typedef struct scratch {
  char names[BATCH][24];
  char notes[BATCH][24];
  StreamKinds_Dict_string_int32_entry scores[BATCH];
  int32_t ints[BATCH][5];
  StreamKinds_Dict_int32_string_entry entries[BATCH][3];
} scratch;

static void make_record(StreamKinds_Record *r, int32_t k, scratch *sc,
                        size_t slot) {
  snprintf(sc->names[slot], sizeof sc->names[slot], "rec-%d", (int)k);
  r->name = (irpc_str){sc->names[slot], strlen(sc->names[slot])};
  r->tags.n = (size_t)(k % 3);
  r->tags.items = (irpc_str *)tag_pool;
  sc->scores[slot] = (StreamKinds_Dict_string_int32_entry){{"s", 1}, k};
  r->scores.n = (size_t)(k % 2);
  r->scores.items = &sc->scores[slot];
  r->has_note = k % 2 == 0;
  if (r->has_note) {
    snprintf(sc->notes[slot], sizeof sc->notes[slot], "note-%d", (int)k);
    r->note = (irpc_str){sc->notes[slot], strlen(sc->notes[slot])};
  }
}

static void make_item(int kind, int32_t k, void *item, scratch *sc,
                      size_t slot) {
  switch (kind) {
  case K_COLOR:
    *(StreamKinds_Color *)item = (StreamKinds_Color)(k % 3);
    break;
  case K_CODE:
    *(StreamKinds_Code *)item = k * 7 - 5;
    break;
  case K_SHAPE: {
    StreamKinds_Shape *s = item;
    s->tag = k % 3;
    if (s->tag == StreamKinds_Shape_Circle)
      s->u.Circle.r = k * 0.5;
    else if (s->tag == StreamKinds_Shape_Rect)
      s->u.Rect.w = k, s->u.Rect.h = -k;
    break;
  }
  case K_POINT:
    *(StreamKinds_Point *)item = (StreamKinds_Point){k, -k};
    break;
  case K_READING:
    *(StreamKinds_Reading *)item = (StreamKinds_Reading){k, k * 0.25};
    break;
  case K_RECORD:
    make_record(item, k, sc, slot);
    break;
  case K_SEQ: {
    StreamKinds_Seq_int32 *q = item;
    q->n = (size_t)(k % 5);
    for (size_t j = 0; j < q->n; j++)
      sc->ints[slot][j] = (int32_t)j * k;
    q->items = sc->ints[slot];
    break;
  }
  case K_DICT: {
    StreamKinds_Dict_int32_string *d = item;
    d->n = (size_t)(k % 3) + 1;
    for (size_t j = 0; j < d->n; j++)
      sc->entries[slot][j] =
          (StreamKinds_Dict_int32_string_entry){(int32_t)j + k, val_pool[j]};
    d->items = sc->entries[slot];
    break;
  }
  case K_MAYBE: {
    StreamKinds_Kinds_maybe_return_item *m = item;
    m->has_value = k % 2 == 0;
    m->value = k;
    break;
  }
  case K_MAYBEREC: {
    StreamKinds_Kinds_maybeRecords_return_item *m = item;
    m->has_value = k % 3 != 0;
    if (m->has_value)
      make_record(&m->value, k, sc, slot);
    break;
  }
  case K_STAMP:
    *(int64_t *)item = (int64_t)k * 1000003 - 77;
    break;
  }
}

static int str_is(irpc_str s, const char *want) {
  return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static int record_ok(const StreamKinds_Record *r, int32_t k) {
  char want[24];
  snprintf(want, sizeof want, "rec-%d", (int)k);
  if (!str_is(r->name, want) || r->tags.n != (size_t)(k % 3) ||
      r->scores.n != (size_t)(k % 2) || r->has_note != (k % 2 == 0))
    return 0;
  for (size_t j = 0; j < r->tags.n; j++)
    if (r->tags.items[j].len != tag_pool[j].len ||
        memcmp(r->tags.items[j].ptr, tag_pool[j].ptr, tag_pool[j].len) != 0)
      return 0;
  if (r->scores.n &&
      (!str_is(r->scores.items[0].key, "s") || r->scores.items[0].value != k))
    return 0;
  snprintf(want, sizeof want, "note-%d", (int)k);
  return !r->has_note || str_is(r->note, want);
}

static int item_ok(int kind, int32_t k, const void *item) {
  switch (kind) {
  case K_COLOR:
    return *(const StreamKinds_Color *)item == k % 3;
  case K_CODE:
    return *(const StreamKinds_Code *)item == k * 7 - 5;
  case K_SHAPE: {
    const StreamKinds_Shape *s = item;
    if (s->tag != k % 3)
      return 0;
    if (s->tag == StreamKinds_Shape_Circle)
      return s->u.Circle.r == k * 0.5;
    if (s->tag == StreamKinds_Shape_Rect)
      return s->u.Rect.w == k && s->u.Rect.h == -k;
    return 1;
  }
  case K_POINT: {
    const StreamKinds_Point *p = item;
    return p->x == k && p->y == -k;
  }
  case K_READING: {
    const StreamKinds_Reading *r = item;
    return r->id == k && r->value == k * 0.25;
  }
  case K_RECORD:
    return record_ok(item, k);
  case K_SEQ: {
    const StreamKinds_Seq_int32 *q = item;
    if (q->n != (size_t)(k % 5))
      return 0;
    for (size_t j = 0; j < q->n; j++)
      if (q->items[j] != (int32_t)j * k)
        return 0;
    return 1;
  }
  case K_DICT: {
    const StreamKinds_Dict_int32_string *d = item;
    if (d->n != (size_t)(k % 3) + 1)
      return 0;
    for (size_t j = 0; j < d->n; j++)
      if (d->items[j].key != (int32_t)j + k || d->items[j].value.len != 2 ||
          memcmp(d->items[j].value.ptr, val_pool[j].ptr, 2) != 0)
        return 0;
    return 1;
  }
  case K_MAYBE: {
    const StreamKinds_Kinds_maybe_return_item *m = item;
    return m->has_value == (k % 2 == 0) && (!m->has_value || m->value == k);
  }
  case K_MAYBEREC: {
    const StreamKinds_Kinds_maybeRecords_return_item *m = item;
    return m->has_value == (k % 3 != 0) &&
           (!m->has_value || record_ok(&m->value, k));
  }
  case K_STAMP:
    return *(const int64_t *)item == (int64_t)k * 1000003 - 77;
  }
  return 0;
}

/* ---- A typed producer of `n` items of a kind ---- */

typedef struct prod {
  irpc_stream_writer *w;
  irpc_slice_stream_writer *s;
  const irpc_slice_stream_elem *elem;
  int kind;
  int32_t n, sent;
  int endless; /* writes until stopped, never ends */
  int eagain;
  int ended, end_err;
  scratch sc;
  alignas(max_align_t) unsigned char batch[BATCH * 128];
} prod;

static void produce(prod *p) {
  while (p->endless || p->sent < p->n) {
    size_t n =
        p->endless || p->n - p->sent > BATCH ? BATCH : (size_t)(p->n - p->sent);
    assert_true(p->elem->item_size <= 128);
    for (size_t i = 0; i < n; i++)
      make_item(p->kind, p->sent + (int32_t)i,
                p->batch + i * p->elem->item_size, &p->sc, i);
    int rc = irpc_slice_stream_write(p->s, p->batch, n);
    if (rc == IRPC_EAGAIN) {
      p->eagain++;
      return;
    }
    if (rc)
      return; /* the reader stopped: on_end says so */
    p->sent += (int32_t)n;
  }
  assert_irpc_ok(irpc_slice_stream_end(p->s));
  p->n = -1;
}

static void p_writable(irpc_stream_writer *w, void *ud) {
  (void)w;
  prod *p = ud;
  if (!p->ended && (p->endless || p->sent < p->n))
    produce(p);
}

static void p_end(irpc_stream_writer *w, int err, void *ud) {
  (void)w;
  prod *p = ud;
  p->ended++;
  p->end_err = err;
}

static const irpc_stream_writer_ops p_ops = {
    .struct_size = sizeof(irpc_stream_writer_ops),
    .on_writable = p_writable,
    .on_end = p_end,
};

static void prod_init(prod *p, uv_loop_t *loop, int kind, int32_t n,
                      const irpc_slice_stream_elem *elem, size_t max_queued) {
  memset(p, 0, sizeof *p);
  p->kind = kind;
  p->n = n;
  p->elem = elem;
  irpc_stream_writer_options wo;
  irpc_stream_writer_options_init(&wo);
  wo.max_queued = max_queued;
  assert_irpc_ok(irpc_stream_writer_new(&p->w, loop, &wo, &p_ops, p));
  assert_irpc_ok(irpc_slice_stream_writer_new(&p->s, p->w, elem));
}

static void prod_fini(prod *p) {
  irpc_slice_stream_writer_free(p->s);
  irpc_stream_writer_free(p->w);
  p->s = NULL;
  p->w = NULL;
}

/* Raw bytes on the writer, outside the element framing. */
static void write_raw(irpc_stream_writer *w, const char *bytes, size_t len) {
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  assert_irpc_ok(irpc_buf_append(b, bytes, len));
  assert_irpc_ok(irpc_stream_writer_write(w, b));
  irpc_buf_free(b);
}

/* What a kind's bad element (mode 2) is, and the error it gives. */
static const struct bad {
  const char *bytes;
  size_t len;
  int err;
} bad_elem[K_COUNT] = {
    /* 7 is no Color */
    [K_COLOR] = {"\x07", 1, IRPC_EENUM},
    /* a segment of 1 byte: discriminant 9 */
    [K_SHAPE] = {"\x04\x24", 2, IRPC_EENUM},
    /* a Record whose name is FF FE */
    [K_RECORD] = {"\x1c\x00\x08\xff\xfe\x00\x00\xfc", 8, IRPC_EUTF8},
    /* a segment of 3 bytes: a count of 5 int32 */
    [K_SEQ] = {"\x0c\x14\x00\x00", 4, IRPC_EDATA},
};

/* ---- The server ---- */

static prod S; /* the stream the server returns */

static int reply_stamps(irpc_slice_dispatch *sd) {
  return StreamKinds_Kinds_stamps_reply(sd, -77);
}

/* Replies, then produces the stream of `kind`: mode 0, n items and the
 * end; mode 1, n items, a part of one and the end; mode 2, a bad element
 * then items until the client stops reading. */
static void serve(irpc_slice_dispatch *sd, int kind, int32_t n, int32_t mode,
                  int (*reply)(irpc_slice_dispatch *)) {
  uv_loop_t *loop = irpc_dispatch_loop(irpc_slice_dispatch_raw(sd));
  prod_fini(&S);
  prod_init(&S, loop, kind, n, ret_elem[kind], 1 << 10);
  assert_irpc_ok(irpc_slice_dispatch_set_stream(sd, S.w));
  if (mode == 2) {
    write_raw(S.w, bad_elem[kind].bytes, bad_elem[kind].len);
    S.endless = 1;
  }
  assert_irpc_ok(reply(sd));
  if (mode != 1) {
    produce(&S);
    return;
  }
  for (int32_t k = 0; k < n; k++) {
    make_item(kind, k, S.batch, &S.sc, 0);
    assert_irpc_ok(irpc_slice_stream_write(S.s, S.batch, 1));
  }
  if (ret_elem[kind]->wire_size > 1)
    write_raw(S.w, "\x01", 1);
  else
    write_raw(S.w, "\x28\x01", 2); /* a segment of 10 bytes, 1 sent */
  assert_irpc_ok(irpc_slice_stream_end(S.s));
  S.n = -1;
}

#define IMPL(name, kind, reply)                                                \
  static void impl_##name(void *impl, irpc_slice_dispatch *sd, int32_t n,      \
                          int32_t mode) {                                      \
    (void)impl;                                                                \
    serve(sd, kind, n, mode, reply);                                           \
  }
IMPL(colors, K_COLOR, StreamKinds_Kinds_colors_reply)
IMPL(codes, K_CODE, StreamKinds_Kinds_codes_reply)
IMPL(shapes, K_SHAPE, StreamKinds_Kinds_shapes_reply)
IMPL(points, K_POINT, StreamKinds_Kinds_points_reply)
IMPL(readings, K_READING, StreamKinds_Kinds_readings_reply)
IMPL(records, K_RECORD, StreamKinds_Kinds_records_reply)
IMPL(seqs, K_SEQ, StreamKinds_Kinds_seqs_reply)
IMPL(dicts, K_DICT, StreamKinds_Kinds_dicts_reply)
IMPL(maybe, K_MAYBE, StreamKinds_Kinds_maybe_reply)
IMPL(maybeRecords, K_MAYBEREC, StreamKinds_Kinds_maybeRecords_reply)
IMPL(stamps, K_STAMP, reply_stamps)

/* The server's consumer of a request stream. */
typedef struct sink {
  irpc_slice_dispatch *sd;
  irpc_slice_stream_reader *s;
  int kind;
  int32_t count;
  int bad;
  int ended, end_err;
  prod *echo; /* echo: the items go back through this producer */
} sink;

static sink U;

static void sink_items(void *ud, const void *items, size_t n) {
  sink *u = ud;
  const irpc_slice_stream_elem *el =
      u->kind == K_POINT ? &StreamKinds_Kinds_putPoints_param_elem
      : u->echo          ? &StreamKinds_Kinds_echo_param_elem
                         : &StreamKinds_Kinds_putRecords_param_elem;
  for (size_t i = 0; i < n; i++, u->count++)
    if (!item_ok(u->kind, u->count,
                 (const unsigned char *)items + i * el->item_size))
      u->bad = 1;
  if (u->echo) /* the same C type both ways */
    assert_irpc_ok(irpc_slice_stream_write(u->echo->s, items, n));
}

static void sink_end(void *ud, int err) {
  sink *u = ud;
  u->ended++;
  u->end_err = err;
  if (u->echo) {
    if (err)
      irpc_stream_writer_abort(u->echo->w);
    else
      assert_irpc_ok(irpc_slice_stream_end(u->echo->s));
    return;
  }
  if (err)
    assert_irpc_ok(irpc_slice_dispatch_fail(u->sd, IRPC_STATUS_INVALID_DATA,
                                            irpc_strerror(err)));
  else if (u->kind == K_POINT)
    assert_irpc_ok(
        StreamKinds_Kinds_putPoints_reply(u->sd, u->bad ? -1 : u->count));
  else
    assert_irpc_ok(
        StreamKinds_Kinds_putRecords_reply(u->sd, u->bad ? -1 : u->count));
  u->sd = NULL;
}

static const irpc_slice_stream_handler sink_handler = {
    .struct_size = sizeof(irpc_slice_stream_handler),
    .on_items = sink_items,
    .on_end = sink_end,
};

static void sink_take(irpc_slice_dispatch *sd, int kind, prod *echo) {
  irpc_slice_stream_reader_free(U.s);
  memset(&U, 0, sizeof U);
  U.sd = sd;
  U.kind = kind;
  U.echo = echo;
  assert_irpc_ok(irpc_slice_dispatch_take_stream(sd, &sink_handler, &U, &U.s));
}

static void impl_putRecords(void *impl, irpc_slice_dispatch *sd,
                            irpc_str label) {
  (void)impl;
  assert_true(str_is(label, "records"));
  sink_take(sd, K_RECORD, NULL);
}

static void impl_putPoints(void *impl, irpc_slice_dispatch *sd) {
  (void)impl;
  sink_take(sd, K_POINT, NULL);
}

static void impl_echo(void *impl, irpc_slice_dispatch *sd) {
  (void)impl;
  uv_loop_t *loop = irpc_dispatch_loop(irpc_slice_dispatch_raw(sd));
  prod_fini(&S);
  /* written as received, without waiting: room for all of them */
  prod_init(&S, loop, K_MAYBEREC, 0, &StreamKinds_Kinds_echo_return_elem,
            1 << 20);
  S.n = -1;
  assert_irpc_ok(irpc_slice_dispatch_set_stream(sd, S.w));
  sink_take(sd, K_MAYBEREC, &S);
  assert_irpc_ok(StreamKinds_Kinds_echo_reply(sd));
}

static const StreamKinds_Kinds_ops kinds_ops = {
    .colors = impl_colors,
    .codes = impl_codes,
    .shapes = impl_shapes,
    .points = impl_points,
    .readings = impl_readings,
    .records = impl_records,
    .seqs = impl_seqs,
    .dicts = impl_dicts,
    .maybe = impl_maybe,
    .maybeRecords = impl_maybeRecords,
    .stamps = impl_stamps,
    .putRecords = impl_putRecords,
    .putPoints = impl_putPoints,
    .echo = impl_echo,
};

static const irpc_slice_iface *const served[] = {&StreamKinds_Kinds_iface,
                                                 NULL};

/* ---- The client ---- */

typedef struct cli {
  int kind;
  int done, err;
  int take_rc;
  int64_t first;
  int32_t ret;
  irpc_slice_stream_reader *s;
  int32_t items;
  int bad;
  int ended, end_err;
} cli;

static cli C;

static void c_items(void *ud, const void *items, size_t n) {
  cli *c = ud;
  const irpc_slice_stream_elem *el = ret_elem[c->kind];
  for (size_t i = 0; i < n; i++, c->items++)
    if (!item_ok(c->kind, c->items,
                 (const unsigned char *)items + i * el->item_size))
      c->bad = 1;
}

static void c_end(void *ud, int err) {
  cli *c = ud;
  c->ended++;
  c->end_err = err;
}

static const irpc_slice_stream_handler c_handler = {
    .struct_size = sizeof(irpc_slice_stream_handler),
    .on_items = c_items,
    .on_end = c_end,
};

static void got(irpc_slice_reply *reply, int err) {
  C.done++;
  C.err = err;
  C.take_rc = irpc_slice_reply_take_stream(reply, &c_handler, &C, &C.s);
}

static void void_cb(irpc_slice_reply *reply, int err, void *ud) {
  (void)ud;
  got(reply, err);
}

static void stamps_cb(irpc_slice_reply *reply, int err,
                      const StreamKinds_Kinds_stamps_ret *ret, void *ud) {
  (void)ud;
  C.first = ret ? ret->first : 0;
  got(reply, err);
}

static uint64_t last_status;
static char last_message[200];

static void count_cb(irpc_slice_reply *reply, int err, const int32_t *ret,
                     void *ud) {
  (void)ud;
  C.done++;
  C.err = err;
  C.ret = ret ? *ret : -2;
  last_status = irpc_slice_reply_status(reply);
  const char *m = irpc_slice_reply_message(reply);
  snprintf(last_message, sizeof last_message, "%s", m ? m : "");
}

static void cli_reset(int kind) {
  irpc_slice_stream_reader_free(C.s);
  memset(&C, 0, sizeof C);
  C.kind = kind;
}

/* The operations of every kind but K_STAMP: they return nothing. */
typedef int (*void_call)(const StreamKinds_KindsProxy *p, int32_t n,
                         int32_t mode, const irpc_slice_call_opts *opts,
                         void (*cb)(irpc_slice_reply *, int, void *), void *ud);
static const void_call void_calls[K_STAMP] = {
    StreamKinds_Kinds_colors,   StreamKinds_Kinds_codes,
    StreamKinds_Kinds_shapes,   StreamKinds_Kinds_points,
    StreamKinds_Kinds_readings, StreamKinds_Kinds_records,
    StreamKinds_Kinds_seqs,     StreamKinds_Kinds_dicts,
    StreamKinds_Kinds_maybe,    StreamKinds_Kinds_maybeRecords,
};

static int call_kind(const StreamKinds_KindsProxy *p, int kind, int32_t n,
                     int32_t mode) {
  if (kind == K_STAMP)
    return StreamKinds_Kinds_stamps(p, n, mode, NULL, stamps_cb, NULL);
  return void_calls[kind](p, n, mode, NULL, void_cb, NULL);
}

typedef struct rig {
  net_rig net;
  irpc_dispatcher *disp;
  irpc_invoker *client;
  StreamKinds_KindsProxy proxy;
} rig;

static void rig_start_opt(rig *r, int kind, int opted_in) {
  net_rig_init(&r->net, kind);
  if (opted_in) {
    r->net.sicerpc.stream_request = irpc_slice_stream_request;
    r->net.sicerpc.stream_request_user_data = (void *)served;
  }
  assert_irpc_ok(
      StreamKinds_Kinds_map(r->net.router, NULL, &kinds_ops, NULL, &r->disp));
  r->net.disps[r->net.ndisps++] = r->disp;
  net_rig_start(&r->net);
  r->client = net_client(&r->net);
  r->proxy = StreamKinds_KindsProxy_from(r->client, NULL);
}

static void rig_start(rig *r, int kind) {
  rig_start_opt(r, kind, 1);
}

static void rig_stop(rig *r) {
  irpc_slice_stream_reader_free(C.s);
  C.s = NULL;
  irpc_slice_stream_reader_free(U.s);
  U.s = NULL;
  prod_fini(&S);
  net_client_close(&r->net, r->client);
  net_rig_fini(&r->net);
}

/* Calls the operation of `kind` and runs until the client's consumer and
 * the server's producer ended. */
static void run_kind(rig *r, int kind, int32_t n, int32_t mode) {
  uv_loop_t *loop = &r->net.loop;
  cli_reset(kind);
  assert_irpc_ok(call_kind(&r->proxy, kind, n, mode));
  kit_run_until(loop, &C.done);
  assert_int_equal(C.done, 1);
  assert_irpc_ok(C.err);
  assert_irpc_ok(C.take_rc);
  kit_run_until(loop, &C.ended);
  kit_run_until(loop, &S.ended);
  assert_int_equal(C.ended, 1);
  assert_int_equal(S.ended, 1);
  assert_false(C.bad);
  if (kind == K_STAMP)
    assert_int_equal(C.first, -77);
}

/* ---- Tests ---- */

static const int nets[] = {NET_MEMORY, NET_TCP};

/* Server to client, every kind: all the items, in order, decoded right;
 * the server waited for room. */
static void test_return_streams(void **state) {
  (void)state;
  for (size_t t = 0; t < 2; t++) {
    rig r;
    rig_start(&r, nets[t]);
    for (int kind = 0; kind < K_COUNT; kind++) {
      run_kind(&r, kind, 3000, 0);
      assert_irpc_ok(C.end_err);
      assert_int_equal(C.items, 3000);
      assert_irpc_ok(S.end_err);
      assert_true(S.eagain > 0);
      /* and a stream with no element */
      run_kind(&r, kind, 0, 0);
      assert_irpc_ok(C.end_err);
      assert_int_equal(C.items, 0);
    }
    rig_stop(&r);
  }
}

/* The wire size of each fixed-size element, as IceRPC frames it. */
static void test_fixed_sizes(void **state) {
  (void)state;
  assert_int_equal(StreamKinds_Kinds_colors_return_elem.wire_size, 1);
  assert_int_equal(StreamKinds_Kinds_codes_return_elem.wire_size, 4);
  assert_int_equal(StreamKinds_Kinds_points_return_elem.wire_size, 8);
  assert_int_equal(StreamKinds_Kinds_readings_return_elem.wire_size, 13);
  int variable[] = {K_SHAPE, K_RECORD,   K_SEQ,  K_DICT,
                    K_MAYBE, K_MAYBEREC, K_STAMP};
  for (size_t i = 0; i < sizeof variable / sizeof variable[0]; i++)
    assert_int_equal(ret_elem[variable[i]]->wire_size, 0);
  assert_int_equal(StreamKinds_Kinds_putPoints_param_elem.wire_size, 8);
}

/* A stream ending inside an element: the items before it, then
 * IRPC_ETRUNCATED. */
static void test_truncated(void **state) {
  (void)state;
  for (size_t t = 0; t < 2; t++) {
    rig r;
    rig_start(&r, nets[t]);
    for (int kind = 0; kind < K_COUNT; kind++) {
      if (ret_elem[kind]->wire_size == 1)
        continue; /* no part of a 1-byte element */
      run_kind(&r, kind, 5, 1);
      assert_int_equal(C.end_err, IRPC_ETRUNCATED);
      assert_int_equal(C.items, 5);
      assert_irpc_ok(S.end_err);
    }
    rig_stop(&r);
  }
}

/* A bad element: its error, no item after it, and the server's writer
 * stopped. */
static void test_bad_element(void **state) {
  (void)state;
  for (size_t t = 0; t < 2; t++) {
    rig r;
    rig_start(&r, nets[t]);
    for (int kind = 0; kind < K_COUNT; kind++) {
      if (!bad_elem[kind].bytes)
        continue;
      run_kind(&r, kind, 0, 2);
      assert_int_equal(C.end_err, bad_elem[kind].err);
      assert_int_equal(C.items, 0);
      assert_int_equal(S.end_err, IRPC_ESTOPPED);
    }
    rig_stop(&r);
  }
}

/* Client to server: records and points, the client's producer waiting for
 * room; then the records both ways at once. */
static void test_request_streams(void **state) {
  (void)state;
  static prod P;
  for (size_t t = 0; t < 2; t++) {
    rig r;
    rig_start(&r, nets[t]);
    uv_loop_t *loop = &r.net.loop;
    irpc_slice_call_opts opts;
    irpc_slice_call_opts_init(&opts);

    cli_reset(K_RECORD);
    prod_init(&P, loop, K_RECORD, 5000,
              &StreamKinds_Kinds_putRecords_param_elem, 2 << 10);
    opts.stream = P.w;
    assert_irpc_ok(StreamKinds_Kinds_putRecords(
        &r.proxy, (irpc_str){"records", 7}, &opts, count_cb, NULL));
    produce(&P);
    kit_run_until(loop, &C.done);
    assert_irpc_ok(C.err);
    assert_int_equal(C.ret, 5000);
    kit_run_until(loop, &P.ended);
    assert_irpc_ok(P.end_err);
    assert_true(P.eagain > 0);
    assert_int_equal(U.ended, 1);
    prod_fini(&P);

    cli_reset(K_POINT);
    prod_init(&P, loop, K_POINT, 20000, &StreamKinds_Kinds_putPoints_param_elem,
              2 << 10);
    opts.stream = P.w;
    assert_irpc_ok(
        StreamKinds_Kinds_putPoints(&r.proxy, &opts, count_cb, NULL));
    produce(&P);
    kit_run_until(loop, &C.done);
    assert_irpc_ok(C.err);
    assert_int_equal(C.ret, 20000);
    kit_run_until(loop, &P.ended);
    assert_irpc_ok(P.end_err);
    assert_true(P.eagain > 0);
    prod_fini(&P);

    /* both ways: optional records up, the same back */
    cli_reset(K_MAYBEREC);
    prod_init(&P, loop, K_MAYBEREC, 2000, &StreamKinds_Kinds_echo_param_elem,
              2 << 10);
    opts.stream = P.w;
    assert_irpc_ok(StreamKinds_Kinds_echo(&r.proxy, &opts, void_cb, NULL));
    produce(&P);
    kit_run_until(loop, &C.done);
    assert_irpc_ok(C.err);
    assert_irpc_ok(C.take_rc);
    kit_run_until(loop, &C.ended);
    assert_irpc_ok(C.end_err);
    assert_int_equal(C.items, 2000);
    assert_false(C.bad);
    assert_false(U.bad);
    kit_run_until(loop, &S.ended);
    assert_irpc_ok(S.end_err);
    kit_run_until(loop, &P.ended);
    assert_irpc_ok(P.end_err);
    prod_fini(&P);
    rig_stop(&r);
  }
}

/* A bad record uploaded: the server's consumer ends with IRPC_EUTF8, the
 * call fails InvalidData, and the client's writer is stopped. */
static void test_bad_upload(void **state) {
  (void)state;
  static prod P;
  rig r;
  rig_start(&r, NET_MEMORY);
  uv_loop_t *loop = &r.net.loop;
  irpc_slice_call_opts opts;
  irpc_slice_call_opts_init(&opts);
  cli_reset(K_RECORD);
  prod_init(&P, loop, K_RECORD, 0, &StreamKinds_Kinds_putRecords_param_elem,
            2 << 10);
  opts.stream = P.w;
  assert_irpc_ok(StreamKinds_Kinds_putRecords(
      &r.proxy, (irpc_str){"records", 7}, &opts, count_cb, NULL));
  write_raw(P.w, bad_elem[K_RECORD].bytes, bad_elem[K_RECORD].len);
  P.endless = 1;
  produce(&P);
  kit_run_until(loop, &C.done);
  assert_int_equal(C.done, 1);
  assert_int_equal(C.err, IRPC_ESTATUS);
  kit_run_until(loop, &U.ended);
  assert_int_equal(U.end_err, IRPC_EUTF8);
  assert_int_equal(U.count, 0);
  kit_run_until(loop, &P.ended);
  assert_int_equal(P.ended, 1);
  assert_int_equal(P.end_err, IRPC_ESTOPPED);
  prod_fini(&P);
  rig_stop(&r);
}

/* A server that did not opt in to streamed requests
 * (irpc_icerpc_options.stream_request unset) reads such a request whole,
 * continuation included, then answers InternalError naming
 * irpc_slice_stream_request: the call fails once, the upload ends. */
static void test_not_opted_in(void **state) {
  (void)state;
  static prod P;
  rig r;
  rig_start_opt(&r, NET_MEMORY, 0);
  uv_loop_t *loop = &r.net.loop;
  irpc_slice_call_opts opts;
  irpc_slice_call_opts_init(&opts);
  cli_reset(K_RECORD);
  prod_init(&P, loop, K_RECORD, 200, &StreamKinds_Kinds_putRecords_param_elem,
            2 << 10);
  opts.stream = P.w;
  assert_irpc_ok(StreamKinds_Kinds_putRecords(
      &r.proxy, (irpc_str){"records", 7}, &opts, count_cb, NULL));
  produce(&P);
  kit_run_until(loop, &C.done);
  assert_int_equal(C.done, 1);
  assert_int_equal(C.err, IRPC_ESTATUS);
  assert_int_equal(last_status, IRPC_STATUS_INTERNAL_ERROR);
  assert_non_null(strstr(last_message, "irpc_slice_stream_request"));
  kit_run_until(loop, &P.ended);
  assert_int_equal(P.ended, 1);
  prod_fini(&P);
  rig_stop(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixed_sizes),
      cmocka_unit_test(test_return_streams),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_bad_element),
      cmocka_unit_test(test_request_streams),
      cmocka_unit_test(test_bad_upload),
      cmocka_unit_test(test_not_opted_in),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
