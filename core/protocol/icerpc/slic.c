/* Slic v1 without I/O: a frame reader that accepts its input in arbitrary
 * pieces, per-stream flow control, and an output chain that stream data is
 * framed into only while it is short, round robin across the streams.
 *
 * Nothing here calls the owner back: what happens is queued (each stream
 * carries its own node and pending events, the connection its own for the
 * handshake and the end), and irpc__slic_drain delivers it once the
 * owner's call returned. A released stream stays on the queue, its memory
 * valid, until its on_stream_released was delivered. */
#include <string.h>
#include <uv.h>

#include "base/buf_internal.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "slic.h"
#include "base/varuint62.h"
#include "base/defaults.h"
#include "base/pool.h"

#define INT31_MAX 2147483647u

/* Frame layout: the type (1 byte), the body size, then for stream frames
 * the stream id, both varuint62. */
#define FRAME_HEADER_MAX (1 + 2 * IRPC__VARUINT62_WIDTH_MAX)
/* We write the size of a control frame in 2 bytes, of stream data in 4. */
#define CONTROL_SIZE_WIDTH 2
#define STREAM_SIZE_WIDTH 4
#define STREAM_HEADER_MAX (1 + STREAM_SIZE_WIDTH + IRPC__VARUINT62_WIDTH_MAX)
/* Initialize and InitializeAck parameters: a 1-byte count, then for each
 * known one a 1-byte key, a 1-byte length and its value. */
#define PARAMS_MAX                                                             \
  (1 + (IRPC__SLIC_P_MAX_FRAME + 1) * (2 + IRPC__VARUINT62_WIDTH_MAX))
/* Initialize: the version, then the parameters; the largest body we
 * write. */
#define INITIALIZE_BODY_MAX (1 + PARAMS_MAX)
#define EMIT_FRAME_MAX                                                         \
  (1 + CONTROL_SIZE_WIDTH + IRPC__VARUINT62_WIDTH_MAX + INITIALIZE_BODY_MAX)
/* Frame bodies up to this size are read into the connection itself. */
#define BODY_INLINE 48

enum { ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_FAILED };
enum { RD_HEADER, RD_BODY, RD_DATA };

/* Stream flags. */
enum {
  SF_REMOTE = 1 << 0,
  SF_BIDI = 1 << 1,
  SF_STARTED = 1 << 2,       /* has an id */
  SF_READS_CLOSED = 1 << 3,  /* for the release rules of the protocol */
  SF_WRITES_CLOSED = 1 << 4, /* idem */
  SF_FIN_QUEUED = 1 << 5,    /* the owner wrote its last data */
  SF_LAST_SENT = 1 << 6,     /* StreamLast or StreamWritesClosed framed */
  SF_RECV_LAST = 1 << 7,     /* StreamLast received */
  SF_DEFER_RC = 1 << 8,      /* StreamReadsClosed goes with our last frame */
  SF_RELEASED = 1 << 9,
  SF_IN_RING = 1 << 10,
  SF_TRUNC = 1 << 11,    /* received data was dropped */
  SF_WRITABLE = 1 << 12, /* on the list of on_stream_writable to call */
  SF_PACED = 1 << 13     /* sent its share of this turn (the paced ring) */
};

/* Events pending on a stream, delivered in this order. */
enum {
  EV_STREAM = 1 << 0,
  EV_READABLE = 1 << 1,
  EV_EPIPE = 1 << 2,    /* on_stream_error(UV_EPIPE) */
  EV_TRUNC = 1 << 3,    /* on_stream_error(IRPC_ETRUNCATED) */
  EV_END = 1 << 4,      /* on_stream_error(the connection's error) */
  EV_RELEASED = 1 << 5, /* then freed */
  EV_SLOT = 1 << 6      /* on_stream_slot after the release */
};

/* A place on the event queue: in every stream, and in the connection for
 * on_connected and on_closed. */
typedef struct evnode {
  struct evnode *next;
  uint8_t queued; /* on the queue, or being delivered */
} evnode;

struct irpc__slic_stream {
  irpc__slic *c;
  uint64_t id;
  void *user;
  uint32_t flags;
  uint64_t credit;          /* bytes we may still send (the peer's window) */
  uint64_t window;          /* bytes the peer may still send */
  uint64_t unacked;         /* bytes read since the last StreamWindowUpdate */
  irpc__slic_stream *hnext; /* hash chain; reap list once released */
  irpc__slic_stream *next, *prev;   /* every live stream */
  irpc__slic_stream *snext, *sprev; /* the send ring, or the paced one */
  uint64_t sent_turn;               /* the turn of turn_sent */
  uint64_t turn_sent;               /* bytes framed in that turn */
  irpc__slic_stream *wnext;         /* the writable list */
  evnode node;                      /* its events (evbits) */
  uint8_t evbits;
  int end_err;      /* for EV_END */
  size_t low_water; /* on_stream_writable once out is below; 0 = off */
  /* Read blocks `in` refers to since it was last empty (take_data). */
  const irpc__blk *pin_last;
  unsigned pins;
  irpc_buf in;
  irpc_buf out;
};

struct irpc__slic {
  irpc__slic_events ev;
  void *ud;
  irpc__slic_params local;
  irpc__slic_params peer;
  uint8_t is_client;
  uint8_t state;
  uint8_t rd;
  uint8_t version_sent;
  uint8_t eof;
  uint8_t notified; /* on_output was called for the output now pending */
  uint8_t draining;
  uint8_t read_armed;
  uint8_t write_armed;
  int err;
  int closed_err; /* for on_closed */
  /* The event queue (FIFO) and the connection's own nodes. */
  evnode *evq_head, *evq_tail;
  evnode connected_node;
  evnode closed_node;
  irpc_buf out;
  /* Streams: a hash table by id (started streams), a list of all. */
  irpc__slic_stream **tab;
  size_t tab_cap;
  size_t nstreams;
  irpc__slic_stream *all;
  irpc__slic_stream *ring;
  irpc__slic_stream *paced;    /* streams waiting for the next turn */
  uint64_t turn;               /* irpc__slic_set_turn; 0: no pacing */
  uint64_t shared_turn;        /* the last turn two streams had output */
  irpc__slic_stream *writable; /* on_stream_writable due (wnext) */
  irpc__slic_stream *spare;    /* released streams kept for reuse (hnext) */
  unsigned nspare;
  uint64_t next_local[2]; /* [0] bidirectional, [1] unidirectional */
  uint64_t next_remote[2];
  uint64_t nlocal[2];
  uint64_t nremote[2];
  /* Reader. */
  uint8_t hdr[FRAME_HEADER_MAX];
  uint8_t hdr_len;
  uint8_t ftype;
  uint8_t target_last;
  uint64_t fid;
  uint64_t fleft; /* body bytes still to come */
  uint8_t *body;
  size_t body_len;
  irpc__slic_stream *target;
  uint8_t body_small[BODY_INLINE];
  /* Idle timeout and pings. */
  uint64_t idle_ms;
  uint64_t last_read;
  uint64_t last_write;
  int64_t pending_pongs; /* our Pings not answered yet */
  uint64_t queued_pongs; /* Pongs queued and not taken yet */
};

/* ---- Utilities ---- */

static int kind(int bidi) {
  return bidi ? 0 : 1;
}

static uint64_t now_ms(irpc__slic *c) {
  if (c->ev.now_ms)
    return c->ev.now_ms(c->ud);
  return uv_hrtime() / IRPC__NS_PER_MS;
}

/* Streams kept for reuse: a connection making calls one after another
 * allocates none. */
#define SPARE_STREAMS 8

static void evq_push(irpc__slic *c, evnode *n) {
  if (n->queued)
    return;
  n->queued = 1;
  n->next = NULL;
  if (c->evq_tail)
    c->evq_tail->next = n;
  else
    c->evq_head = n;
  c->evq_tail = n;
}

/* Queues events of a stream; none once its release is queued. */
static void post(irpc__slic_stream *s, uint8_t bits) {
  if (s->flags & SF_RELEASED)
    return;
  s->evbits |= bits;
  evq_push(s->c, &s->node);
}

static int writable_due(const irpc__slic_stream *s) {
  return s->low_water && s->c->state == ST_OPEN &&
         !(s->flags &
           (SF_WRITES_CLOSED | SF_FIN_QUEUED | SF_LAST_SENT | SF_RELEASED)) &&
         irpc_buf_len(&s->out) < s->low_water;
}

/* Puts a stream whose queued data went below its low watermark on the
 * writable list; irpc__slic_drain calls on_stream_writable. */
static void check_writable(irpc__slic_stream *s) {
  if ((s->flags & SF_WRITABLE) || !writable_due(s))
    return;
  s->flags |= SF_WRITABLE;
  s->wnext = s->c->writable;
  s->c->writable = s;
}

static void unlist_writable(irpc__slic_stream *s) {
  if (!(s->flags & SF_WRITABLE))
    return;
  irpc__slic_stream **pp = &s->c->writable;
  while (*pp != s)
    pp = &(*pp)->wnext;
  *pp = s->wnext;
  s->wnext = NULL;
  s->flags &= ~(uint32_t)SF_WRITABLE;
}

/* Once per request: the owner asks again after writing more. Each entry
 * is taken off before its call. */
static void emit_writable(irpc__slic *c) {
  while (c->writable) {
    irpc__slic_stream *s = c->writable;
    unlist_writable(s);
    if (!writable_due(s))
      continue;
    s->low_water = 0;
    if (c->ev.on_stream_writable)
      c->ev.on_stream_writable(c->ud, s);
  }
}

/* ---- Stream table ---- */

static size_t hidx(size_t cap, uint64_t id) {
  return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (cap - 1);
}

static void hash_insert(irpc__slic *c, irpc__slic_stream *s) {
  size_t i = hidx(c->tab_cap, s->id);
  s->hnext = c->tab[i];
  c->tab[i] = s;
}

static void hash_remove(irpc__slic *c, irpc__slic_stream *s) {
  irpc__slic_stream **pp = &c->tab[hidx(c->tab_cap, s->id)];
  while (*pp != s)
    pp = &(*pp)->hnext;
  *pp = s->hnext;
  s->hnext = NULL;
}

static irpc__slic_stream *hash_find(const irpc__slic *c, uint64_t id) {
  if (!c->tab)
    return NULL;
  irpc__slic_stream *s = c->tab[hidx(c->tab_cap, id)];
  while (s && s->id != id)
    s = s->hnext;
  return s;
}

/* Makes room for `need` streams, so that inserting never fails later. */
static int reserve(irpc__slic *c, size_t need) {
  if (need <= c->tab_cap)
    return 0;
  size_t cap = c->tab_cap ? c->tab_cap * 2 : 8;
  irpc__slic_stream **tab = irpc_calloc(cap, sizeof(*tab));
  if (!tab)
    return IRPC_ENOMEM;
  for (size_t i = 0; i < c->tab_cap; i++) {
    while (c->tab[i]) {
      irpc__slic_stream *s = c->tab[i];
      c->tab[i] = s->hnext;
      size_t j = hidx(cap, s->id);
      s->hnext = tab[j];
      tab[j] = s;
    }
  }
  irpc_free(c->tab);
  c->tab = tab;
  c->tab_cap = cap;
  return 0;
}

/* ---- Send ring ---- */

/* Inserts `s` first into the ring at *head. */
static void ring_insert(irpc__slic_stream **head, irpc__slic_stream *s) {
  if (!*head) {
    s->snext = s->sprev = s;
    *head = s;
    return;
  }
  irpc__slic_stream *tail = (*head)->sprev;
  s->sprev = tail;
  s->snext = *head;
  tail->snext = s;
  (*head)->sprev = s;
  *head = s;
}

static void ring_unlink(irpc__slic_stream **head, irpc__slic_stream *s) {
  if (s->snext == s) {
    *head = NULL;
    return;
  }
  s->sprev->snext = s->snext;
  s->snext->sprev = s->sprev;
  if (*head == s)
    *head = s->snext;
}

/* Next to go: a stream that just got data (a small call, say) does not
 * wait behind a stream that just had its turn; the others keep their
 * order. A stream that sent its share of this turn waits for the next. */
static void ring_add(irpc__slic_stream *s) {
  if (s->flags & (SF_IN_RING | SF_PACED))
    return;
  s->flags |= SF_IN_RING;
  ring_insert(&s->c->ring, s);
}

static void ring_remove(irpc__slic_stream *s) {
  if (s->flags & SF_IN_RING)
    ring_unlink(&s->c->ring, s);
  else if (s->flags & SF_PACED)
    ring_unlink(&s->c->paced, s);
  s->flags &= ~(uint32_t)(SF_IN_RING | SF_PACED);
}

static int sendable(const irpc__slic_stream *s) {
  if (s->flags & (SF_WRITES_CLOSED | SF_LAST_SENT | SF_RELEASED))
    return 0;
  size_t len = irpc_buf_len(&s->out);
  return len ? s->credit > 0 : (s->flags & SF_FIN_QUEUED) != 0;
}

/* ---- Connection end ---- */

static void release(irpc__slic_stream *s);

static void drop_input(irpc__slic_stream *s) {
  if (irpc_buf_len(&s->in))
    s->flags |= SF_TRUNC;
  irpc_buf_clear(&s->in);
}

/* Every stream ends with `err`, then on_closed(err) is queued. */
static void release_all(irpc__slic *c, int err) {
  while (c->all) {
    irpc__slic_stream *s = c->all;
    drop_input(s);
    s->evbits &= (uint8_t)~EV_READABLE;
    s->end_err = err;
    post(s, EV_END);
    release(s);
  }
  c->closed_err = err;
  evq_push(c, &c->closed_node);
}

/* Abortive end: no frame any more, pending output dropped. */
static void fail(irpc__slic *c, int err) {
  if (c->state == ST_FAILED)
    return;
  int notify = c->state != ST_CLOSING;
  c->state = ST_FAILED;
  c->err = err;
  irpc_buf_clear(&c->out);
  if (notify)
    release_all(c, err);
}

/* ---- Frame output ---- */

/* Appends a frame with a 2-byte size, as IceRPC writes every frame but
 * stream data. Nothing is written once the connection is closed. */
static int emit(irpc__slic *c, int type, uint64_t id, const uint8_t *body,
                size_t len) {
  uint8_t f[EMIT_FRAME_MAX];
  if (c->state >= ST_CLOSING)
    return 0;
  size_t n = 1 + CONTROL_SIZE_WIDTH;
  f[0] = (uint8_t)type;
  if (type >= IRPC__SLIC_STREAM)
    n += irpc__varuint62_put_min(f + n, id);
  if (len)
    memcpy(f + n, body, len);
  n += len;
  irpc__varuint62_put(f + 1, n - 1 - CONTROL_SIZE_WIDTH, CONTROL_SIZE_WIDTH);
  if (irpc_buf_append(&c->out, f, n) != 0) {
    fail(c, IRPC_ENOMEM);
    return IRPC_ENOMEM;
  }
  return 0;
}

static int emit_vu(irpc__slic *c, int type, uint64_t id, uint64_t v) {
  uint8_t b[IRPC__VARUINT62_WIDTH_MAX];
  return emit(c, type, id, b, irpc__varuint62_put_min(b, v));
}

static size_t put_param(uint8_t *p, uint64_t key, uint64_t v) {
  size_t w = irpc__varuint62_size(v);
  size_t n = irpc__varuint62_put(p, key, 1);
  n += irpc__varuint62_put(p + n, w, 1);
  return n + irpc__varuint62_put(p + n, v, w);
}

/* ParameterFields in IceRPC's order: the required ones first. */
static size_t put_params(const irpc__slic_params *lp, uint8_t *p) {
  size_t n = 1;
  uint64_t count = 2;
  n += put_param(p + n, IRPC__SLIC_P_MAX_FRAME, lp->max_frame_size);
  n += put_param(p + n, IRPC__SLIC_P_INITIAL_WINDOW, lp->initial_window);
  if (lp->idle_timeout_ms) {
    n += put_param(p + n, IRPC__SLIC_P_IDLE_TIMEOUT, lp->idle_timeout_ms);
    count++;
  }
  if (lp->max_bidi_streams) {
    n += put_param(p + n, IRPC__SLIC_P_MAX_BIDI, lp->max_bidi_streams);
    count++;
  }
  if (lp->max_uni_streams) {
    n += put_param(p + n, IRPC__SLIC_P_MAX_UNI, lp->max_uni_streams);
    count++;
  }
  irpc__varuint62_put(p, count, 1);
  return n;
}

/* ---- Stream state ---- */

static void release(irpc__slic_stream *s) {
  irpc__slic *c = s->c;
  if (s->flags & SF_RELEASED)
    return;
  ring_remove(s);
  unlist_writable(s);
  s->flags |= SF_RELEASED | SF_READS_CLOSED | SF_WRITES_CLOSED;
  if (s->flags & SF_STARTED)
    hash_remove(c, s);
  if (s->prev)
    s->prev->next = s->next;
  else
    c->all = s->next;
  if (s->next)
    s->next->prev = s->prev;
  c->nstreams--;
  int k = kind(s->flags & SF_BIDI);
  if (s->flags & SF_REMOTE)
    c->nremote[k]--;
  else
    c->nlocal[k]--;
  if (c->target == s)
    c->target = NULL;
  drop_input(s);
  irpc_buf_clear(&s->out);
  uint8_t bits = EV_RELEASED;
  if (!(s->flags & SF_REMOTE) && c->state == ST_OPEN)
    bits |= EV_SLOT;
  s->evbits |= bits;
  evq_push(c, &s->node);
}

static void maybe_release(irpc__slic_stream *s) {
  uint32_t both = SF_READS_CLOSED | SF_WRITES_CLOSED;
  if ((s->flags & both) == both)
    release(s);
}

/* Writes are closed on a remote stream: a StreamReadsClosed we held back
 * goes now. */
static int flush_deferred(irpc__slic_stream *s) {
  if (!(s->flags & SF_DEFER_RC))
    return 0;
  s->flags &= ~(uint32_t)SF_DEFER_RC;
  return emit(s->c, IRPC__SLIC_STREAM_READS_CLOSED, s->id, NULL, 0);
}

/* Every byte up to StreamLast was read. A remote stream tells the peer
 * (which then frees its slot); a remote bidirectional one holds the frame
 * back until its own writes end, as IceRPC does. */
static void close_reads_graceful(irpc__slic_stream *s) {
  uint32_t f = s->flags;
  s->flags |= SF_READS_CLOSED;
  if ((f & SF_REMOTE) && (f & SF_BIDI) && !(f & SF_WRITES_CLOSED))
    s->flags |= SF_DEFER_RC;
  else if (f & SF_REMOTE)
    emit(s->c, IRPC__SLIC_STREAM_READS_CLOSED, s->id, NULL, 0);
  maybe_release(s);
}

static void maybe_end_reads(irpc__slic_stream *s) {
  if ((s->flags & (SF_RECV_LAST | SF_READS_CLOSED)) == SF_RECV_LAST &&
      irpc_buf_len(&s->in) == 0)
    close_reads_graceful(s);
}

static irpc__slic_stream *new_stream(irpc__slic *c, int bidi, int remote) {
  irpc__slic_stream *s = c->spare;
  if (s) {
    c->spare = s->hnext;
    c->nspare--;
    memset(s, 0, sizeof(*s));
  } else if ((s = irpc__pool_get(sizeof(*s)))) {
    memset(s, 0, sizeof(*s));
  } else {
    return NULL;
  }
  s->c = c;
  s->id = UINT64_MAX;
  s->flags = (bidi ? SF_BIDI : 0) | (remote ? SF_REMOTE : 0);
  if (!bidi)
    s->flags |= remote ? SF_WRITES_CLOSED : SF_READS_CLOSED;
  s->credit = c->peer.initial_window;
  s->window = c->local.initial_window;
  irpc__buf_init(&s->in);
  irpc__buf_init(&s->out);
  s->next = c->all;
  if (c->all)
    c->all->prev = s;
  c->all = s;
  c->nstreams++;
  return s;
}

/* ---- Stream data output ---- */

static void start(irpc__slic_stream *s) {
  irpc__slic *c = s->c;
  int k = kind(s->flags & SF_BIDI);
  s->id = c->next_local[k];
  c->next_local[k] += IRPC__SLIC_ID_STEP;
  s->flags |= SF_STARTED;
  hash_insert(c, s);
}

/* Moves a frame (header `h`, then the first `n` bytes of `data`) to the
 * output. When the frame takes all of `data`, the header goes into the
 * headroom of its first block and the blocks move: no copy, and usually
 * no allocation. Errors: IRPC_ENOMEM (nothing queued, `data` unchanged). */
static int queue_frame(irpc__slic *c, irpc_buf *data, const uint8_t *h,
                       size_t hlen, size_t n) {
  if (n > 0 && n == irpc_buf_len(data)) {
    if (irpc_buf_prepend(data, h, hlen) != 0)
      return IRPC_ENOMEM;
    if (irpc_buf_move(&c->out, data) != 0) {
      irpc_buf_consume(data, hlen);
      return IRPC_ENOMEM;
    }
    return 0;
  }
  size_t mark = irpc_buf_len(&c->out);
  if (irpc_buf_append(&c->out, h, hlen) != 0 ||
      (n && irpc_buf_append_ref(&c->out, data, 0, n) != 0)) {
    irpc_buf_truncate(&c->out, mark);
    return IRPC_ENOMEM;
  }
  irpc_buf_consume(data, n);
  return 0;
}

/* Frames the next piece of a stream: at most its credit, the peer's
 * frame size and max_pending_output (a turn's quantum, so that another
 * stream's frame waits behind at most that much of this one in the
 * output), with a 4-byte size as IceRPC writes it. */
static int send_frame(irpc__slic_stream *s) {
  irpc__slic *c = s->c;
  size_t len = irpc_buf_len(&s->out);
  uint64_t n = len;
  if (n > s->credit)
    n = s->credit;
  if (n > c->peer.max_frame_size)
    n = c->peer.max_frame_size;
  if (n > c->local.max_pending_output)
    n = c->local.max_pending_output; /* the quantum of a turn */
  int last = (s->flags & SF_FIN_QUEUED) && n == len;
  /* Reads aborted before the stream had an id: the peer learns it now. */
  uint32_t rc_now = SF_BIDI | SF_READS_CLOSED;
  int tell_rc = !(s->flags & SF_STARTED) && (s->flags & rc_now) == rc_now;
  if (!(s->flags & SF_STARTED))
    start(s);
  uint8_t h[STREAM_HEADER_MAX];
  h[0] = last ? IRPC__SLIC_STREAM_LAST : IRPC__SLIC_STREAM;
  size_t idw = irpc__varuint62_put_min(h + 1 + STREAM_SIZE_WIDTH, s->id);
  irpc__varuint62_put(h + 1, idw + n, STREAM_SIZE_WIDTH);
  if (queue_frame(c, &s->out, h, 1 + STREAM_SIZE_WIDTH + idw, (size_t)n) != 0) {
    fail(c, IRPC_ENOMEM);
    return IRPC_ENOMEM;
  }
  s->credit -= n;
  if (s->sent_turn != c->turn) {
    s->sent_turn = c->turn;
    s->turn_sent = 0;
  }
  s->turn_sent += n;
  if (tell_rc && emit(c, IRPC__SLIC_STREAM_READS_CLOSED, s->id, NULL, 0))
    return IRPC_ENOMEM;
  if (!last)
    return 0;
  s->flags |= SF_LAST_SENT;
  if (!(s->flags & SF_REMOTE))
    return 0; /* closed by the peer's StreamReadsClosed */
  s->flags |= SF_WRITES_CLOSED;
  int rc = flush_deferred(s);
  maybe_release(s);
  return rc;
}

/* Streams send at most SHARED_QUANTA quanta of max_pending_output a loop
 * turn while the connection is shared (two streams had output at once in
 * the last SHARED_TURNS turns), and ALONE_QUANTA while one stream has it
 * to itself (once the owner counts turns, irpc__slic_set_turn): the rest
 * goes on after the loop read its input again, and another stream's
 * frames, such as a small call's, go out in the turn they were written,
 * behind at most one share. */
#define SHARED_QUANTA 1
#define ALONE_QUANTA 16
#define SHARED_TURNS 16

static int paced_out(const irpc__slic_stream *s) {
  const irpc__slic *c = s->c;
  if (!c->turn || s->sent_turn != c->turn)
    return 0;
  int shared = c->shared_turn && c->turn - c->shared_turn <= SHARED_TURNS;
  uint64_t quanta = shared ? SHARED_QUANTA : ALONE_QUANTA;
  return s->turn_sent >= quanta * c->local.max_pending_output;
}

static void pump(irpc__slic *c) {
  while (c->state == ST_OPEN && c->ring &&
         irpc_buf_len(&c->out) < c->local.max_pending_output) {
    irpc__slic_stream *s = c->ring;
    if (paced_out(s)) {
      ring_remove(s);
      s->flags |= SF_PACED;
      ring_insert(&c->paced, s);
      continue;
    }
    if (s->snext != s || c->paced)
      c->shared_turn = c->turn;
    c->ring = s->snext;
    if (send_frame(s) != 0)
      break;
    if (!sendable(s))
      ring_remove(s);
    check_writable(s);
  }
}

/* ---- Connection establishment ---- */

static int decode_params(irpc__slic *c, irpc__vu_reader *r) {
  irpc__slic_params p = {0};
  unsigned seen = 0;
  uint64_t count = irpc__vu_read(r);
  for (uint64_t i = 0; i < count && !r->bad; i++) {
    uint64_t key = irpc__vu_read(r);
    size_t len = 0;
    const uint8_t *v = irpc__vu_read_bytes(r, &len);
    if (r->bad)
      return IRPC_EPROTO;
    if (key > IRPC__SLIC_P_MAX_FRAME)
      continue; /* unknown parameters are ignored */
    uint64_t val = 0;
    size_t used = irpc__varuint62_get(v, len, &val);
    if ((seen & (1u << key)) || used == 0 || used != len)
      return IRPC_EPROTO;
    if (val > INT31_MAX)
      return IRPC_ELIMIT;
    seen |= 1u << key;
    uint64_t *dst[] = {&p.max_bidi_streams, &p.max_uni_streams,
                       &p.idle_timeout_ms, &p.initial_window,
                       &p.max_frame_size};
    *dst[key] = val;
  }
  if (r->bad || r->left)
    return IRPC_EPROTO;
  if (!(seen & (1u << IRPC__SLIC_P_MAX_FRAME)) ||
      !(seen & (1u << IRPC__SLIC_P_INITIAL_WINDOW)) ||
      p.max_frame_size < IRPC__SLIC_MIN_FRAME ||
      p.initial_window < IRPC__SLIC_MIN_WINDOW ||
      ((seen & (1u << IRPC__SLIC_P_IDLE_TIMEOUT)) && p.idle_timeout_ms == 0))
    return IRPC_EPROTO;
  if (p.max_frame_size > IRPC__SLIC_MAX_FRAME)
    return IRPC_ELIMIT;
  c->peer = p;
  return 0;
}

static void connected(irpc__slic *c) {
  uint64_t a = c->local.idle_timeout_ms, b = c->peer.idle_timeout_ms;
  c->idle_ms = !a ? b : !b ? a : a < b ? a : b;
  c->state = ST_OPEN;
  c->last_read = c->last_write = now_ms(c);
  c->read_armed = c->write_armed = 1;
  evq_push(c, &c->connected_node);
}

static int on_initialize(irpc__slic *c, irpc__vu_reader *r) {
  uint64_t version = irpc__vu_read(r);
  if (r->bad)
    return IRPC_EPROTO;
  if (version != IRPC__SLIC_VERSION) {
    /* Offer ours once; the client answers with a new Initialize or
     * leaves. */
    if (c->version_sent)
      return IRPC_EPROTO;
    c->version_sent = 1;
    const uint8_t versions[] = {1 << 2, IRPC__SLIC_VERSION << 2};
    return emit(c, IRPC__SLIC_VERSION_FRAME, 0, versions, sizeof(versions));
  }
  int rc = decode_params(c, r);
  if (rc)
    return rc;
  uint8_t b[PARAMS_MAX];
  rc = emit(c, IRPC__SLIC_INITIALIZE_ACK, 0, b, put_params(&c->local, b));
  if (rc == 0)
    connected(c);
  return rc;
}

static int on_version(irpc__slic *c, irpc__vu_reader *r) {
  int ours = 0;
  uint64_t count = irpc__vu_read(r);
  for (uint64_t i = 0; i < count && !r->bad; i++)
    ours |= irpc__vu_read(r) == IRPC__SLIC_VERSION;
  if (r->bad || r->left || ours)
    return IRPC_EPROTO;
  return UV_ECONNREFUSED;
}

/* ---- Close ---- */

static int close_code_err(uint64_t code) {
  switch (code) {
  case IRPC__SLIC_CLOSE_NO_ERROR:
    return IRPC_ECLOSEDBYPEER;
  case IRPC__SLIC_CLOSE_REFUSED:
    return UV_ECONNREFUSED;
  case IRPC__SLIC_CLOSE_SERVER_BUSY:
    return IRPC_ESERVERBUSY;
  default:
    return UV_ECONNABORTED;
  }
}

/* Graceful end: our Close (if `send`) is the last frame; the transport
 * stays up for the FIN exchange (irpc__slic_want_shutdown). */
static void close_graceful(irpc__slic *c, int err, int send, uint64_t code) {
  if (send && emit_vu(c, IRPC__SLIC_CLOSE, 0, code) != 0)
    return;
  c->state = ST_CLOSING;
  c->err = err;
  release_all(c, err);
}

/* ---- Frame input ---- */

static int on_ping(irpc__slic *c, const uint8_t *body, size_t n) {
  if (n != 8)
    return IRPC_EPROTO;
  if (++c->queued_pongs > c->local.max_outstanding_pongs)
    return IRPC_ELIMIT;
  return emit(c, IRPC__SLIC_PONG, 0, body, 8);
}

static int on_pong(irpc__slic *c, const uint8_t *body, size_t n) {
  if (--c->pending_pongs < 0 || n != 8)
    return IRPC_EPROTO;
  /* We only send 0 (write ping) and 1 (read ping). */
  for (size_t i = 1; i < 8; i++)
    if (body[i])
      return IRPC_EPROTO;
  return body[0] > 1 ? IRPC_EPROTO : 0;
}

static int is_remote_id(const irpc__slic *c, uint64_t id) {
  return (int)(id & 1) == (c->is_client ? 1 : 0);
}

static int is_unknown(const irpc__slic *c, uint64_t id) {
  int k = kind(!(id & 2));
  return id >= (is_remote_id(c, id) ? c->next_remote[k] : c->next_local[k]);
}

static int on_window_update(irpc__slic *c, irpc__slic_stream *s,
                            irpc__vu_reader *r) {
  uint64_t inc = irpc__vu_read(r);
  if (r->bad || r->left)
    return IRPC_EPROTO;
  if (!s)
    return 0;
  if ((s->flags & (SF_REMOTE | SF_BIDI)) == SF_REMOTE)
    return IRPC_EPROTO; /* a remote unidirectional stream sends nothing */
  if (inc > INT31_MAX || s->credit + inc > INT31_MAX)
    return IRPC_EPROTO;
  s->credit += inc;
  if (sendable(s)) {
    ring_add(s);
    pump(c);
  }
  return 0;
}

/* The peer stopped reading: our writes are over. */
static void on_reads_closed(irpc__slic *c, irpc__slic_stream *s) {
  if (s->flags & SF_WRITES_CLOSED)
    return;
  int unfinished = !(s->flags & SF_LAST_SENT);
  irpc_buf_clear(&s->out);
  ring_remove(s);
  s->flags |= SF_WRITES_CLOSED | SF_LAST_SENT;
  flush_deferred(s);
  if (unfinished)
    post(s, EV_EPIPE);
  maybe_release(s);
}

/* The peer aborted its writes: reads fail with IRPC_ETRUNCATED. */
static void on_writes_closed(irpc__slic *c, irpc__slic_stream *s) {
  if (s->flags & (SF_READS_CLOSED | SF_RECV_LAST))
    return;
  drop_input(s);
  s->flags |= SF_READS_CLOSED | SF_TRUNC;
  s->evbits &= (uint8_t)~EV_READABLE;
  post(s, EV_TRUNC);
  maybe_release(s);
}

static int on_stream_control(irpc__slic *c, irpc__vu_reader *r) {
  uint64_t id = c->fid;
  if (is_unknown(c, id))
    return IRPC_EPROTO;
  irpc__slic_stream *s = hash_find(c, id); /* NULL: released, stale */
  if (c->ftype == IRPC__SLIC_STREAM_WINDOW_UPDATE)
    return on_window_update(c, s, r);
  if (r->left)
    return IRPC_EPROTO;
  if (s && c->ftype == IRPC__SLIC_STREAM_READS_CLOSED)
    on_reads_closed(c, s);
  else if (s)
    on_writes_closed(c, s);
  return 0;
}

static int on_control(irpc__slic *c) {
  irpc__vu_reader r = {c->body, c->body_len, 0};
  int hs = c->state == ST_HANDSHAKE;
  int t = c->ftype;
  if (t == IRPC__SLIC_INITIALIZE)
    return hs && !c->is_client ? on_initialize(c, &r) : IRPC_EPROTO;
  if (t == IRPC__SLIC_INITIALIZE_ACK || t == IRPC__SLIC_VERSION_FRAME) {
    if (!hs || !c->is_client)
      return IRPC_EPROTO;
    if (t == IRPC__SLIC_VERSION_FRAME)
      return on_version(c, &r);
    int rc = decode_params(c, &r);
    if (rc == 0)
      connected(c);
    return rc;
  }
  if (hs)
    return IRPC_EPROTO;
  switch (t) {
  case IRPC__SLIC_CLOSE: {
    uint64_t code = irpc__vu_read(&r);
    if (r.bad || r.left)
      return IRPC_EPROTO;
    close_graceful(c, close_code_err(code), 0, 0);
    return 0;
  }
  case IRPC__SLIC_PING:
    return on_ping(c, c->body, c->body_len);
  case IRPC__SLIC_PONG:
    return on_pong(c, c->body, c->body_len);
  default:
    return on_stream_control(c, &r);
  }
}

static irpc__slic_stream *open_remote(irpc__slic *c, uint64_t id, int *err) {
  int bidi = !(id & 2), k = kind(bidi);
  uint64_t max = bidi ? c->local.max_bidi_streams : c->local.max_uni_streams;
  *err = IRPC_EPROTO;
  if (id != c->next_remote[k] || c->nremote[k] >= max ||
      c->fleft > c->local.initial_window)
    return NULL;
  *err = IRPC_ENOMEM;
  if (reserve(c, c->nstreams + 1) != 0)
    return NULL;
  irpc__slic_stream *s = new_stream(c, bidi, 1);
  if (!s)
    return NULL;
  s->id = id;
  s->flags |= SF_STARTED;
  hash_insert(c, s);
  c->next_remote[k] += IRPC__SLIC_ID_STEP;
  c->nremote[k]++;
  post(s, EV_STREAM);
  *err = 0;
  return s;
}

/* A Stream or StreamLast header: finds (or opens) the stream the data
 * goes to, checks the limits; c->target stays NULL for stale ids. */
static int on_data_header(irpc__slic *c) {
  uint64_t id = c->fid;
  int last = c->ftype == IRPC__SLIC_STREAM_LAST;
  int remote = is_remote_id(c, id);
  int err = 0;
  if (c->state != ST_OPEN || (!remote && (id & 2)) || (!c->fleft && !last))
    return IRPC_EPROTO;
  if (c->fleft > c->local.max_frame_size)
    return IRPC_ELIMIT;
  irpc__slic_stream *s = hash_find(c, id);
  if (!s && is_unknown(c, id)) {
    if (!remote)
      return IRPC_EPROTO;
    s = open_remote(c, id, &err);
    if (!s)
      return err;
  }
  c->target = NULL;
  c->target_last = (uint8_t)last;
  c->rd = RD_DATA;
  if (!s || c->state != ST_OPEN ||
      (s->flags & (SF_READS_CLOSED | SF_RECV_LAST | SF_RELEASED)))
    return 0;
  if (c->fleft > s->window)
    return IRPC_EPROTO;
  s->window -= c->fleft;
  c->target = s;
  return 0;
}

/* Header bytes needed, given those already there. */
static size_t hdr_need(const irpc__slic *c) {
  if (c->hdr_len < 2)
    return 2;
  size_t need = 1 + irpc__varuint62_width(c->hdr[1]);
  if (c->hdr[0] < IRPC__SLIC_STREAM)
    return need;
  if (c->hdr_len < need + 1)
    return need + 1;
  return need + irpc__varuint62_width(c->hdr[need]);
}

/* The whole header is there and hdr_check passed it. */
static int hdr_parse(irpc__slic *c) {
  uint64_t size, id = 0;
  size_t used, idw = 0;
  int t = c->hdr[0];
  size = 0;
  used = irpc__varuint62_get(c->hdr + 1, c->hdr_len - 1u, &size);
  int data = t == IRPC__SLIC_STREAM || t == IRPC__SLIC_STREAM_LAST;
  if (t >= IRPC__SLIC_STREAM) {
    idw = irpc__varuint62_get(c->hdr + 1 + used, c->hdr_len - 1 - used, &id);
    if (idw > size)
      return IRPC_EPROTO;
  }
  c->ftype = (uint8_t)t;
  c->fid = id;
  c->fleft = size - idw;
  if (data)
    return on_data_header(c);
  c->body = c->body_small;
  c->body_len = 0;
  if (c->fleft > sizeof(c->body_small)) {
    c->body = irpc_malloc((size_t)c->fleft);
    if (!c->body) {
      c->body = c->body_small;
      return IRPC_ENOMEM;
    }
  }
  c->rd = RD_BODY;
  return 0;
}

static void frame_done(irpc__slic *c) {
  if (c->body != c->body_small)
    irpc_free(c->body);
  c->body = c->body_small;
  c->body_len = 0;
  c->target = NULL;
  c->rd = RD_HEADER;
  c->hdr_len = 0;
}

static size_t take_body(irpc__slic *c, const uint8_t *p, size_t len) {
  size_t n = len < c->fleft ? len : (size_t)c->fleft;
  if (n)
    memcpy(c->body + c->body_len, p, n);
  c->body_len += n;
  c->fleft -= n;
  if (c->fleft == 0) {
    int rc = on_control(c);
    frame_done(c);
    if (rc)
      fail(c, rc);
  }
  return n;
}

/* What a stream's unread bytes may keep of the loop's read blocks: a
 * reader that keeps up empties `in` every few frames, and one that pauses
 * pins at most this many blocks (256 KiB each) besides what it holds;
 * past them, its data is copied. */
#define MAX_PINS 4

/* Data frames' bytes are kept where they were read (a reference to the
 * loop's read block, no copy) when the piece is large; small pieces, and
 * bytes that did not come from a read block, are copied. */
static int keep_data(irpc__slic_stream *s, const uint8_t *p, size_t n) {
  irpc__blk *k = irpc__rblk_of(p, n);
  if (irpc_buf_len(&s->in) == 0) {
    s->pin_last = NULL;
    s->pins = 0;
  }
  if (k && k != s->pin_last && s->pins >= MAX_PINS)
    k = NULL;
  if (!k)
    return irpc_buf_append(&s->in, p, n);
  int rc = irpc__buf_append_rblk(&s->in, k, p, n);
  if (rc == 0 && k != s->pin_last) {
    s->pin_last = k;
    s->pins++;
  }
  return rc;
}

static size_t take_data(irpc__slic *c, const uint8_t *p, size_t len) {
  size_t n = len < c->fleft ? len : (size_t)c->fleft;
  irpc__slic_stream *s = c->target;
  if (s && n && keep_data(s, p, n) != 0) {
    fail(c, IRPC_ENOMEM);
    return n;
  }
  c->fleft -= n;
  if (c->fleft == 0) {
    if (s && c->target_last)
      s->flags |= SF_RECV_LAST;
    frame_done(c);
  } else if (!n) {
    return 0;
  }
  if (s)
    post(s, EV_READABLE); /* reads may close once it was delivered */
  return n;
}

/* Rejects a bad type or size as soon as its bytes are there, without
 * waiting for the rest of the header. */
static int hdr_check(const irpc__slic *c) {
  int t = c->hdr[0];
  if (t < IRPC__SLIC_INITIALIZE || t > IRPC__SLIC_STREAM_WRITES_CLOSED)
    return IRPC_EPROTO;
  uint64_t size;
  if (c->hdr_len < 2 ||
      !irpc__varuint62_get(c->hdr + 1, c->hdr_len - 1u, &size))
    return 0;
  int data = t == IRPC__SLIC_STREAM || t == IRPC__SLIC_STREAM_LAST;
  if (size > INT31_MAX || (!data && size > IRPC__SLIC_MAX_CONTROL_BODY))
    return IRPC_ELIMIT;
  return t >= IRPC__SLIC_STREAM && size == 0 ? IRPC_EPROTO : 0;
}

static size_t take_header(irpc__slic *c, const uint8_t *p, size_t len) {
  size_t need = hdr_need(c);
  int rc;
  if (c->hdr_len < need) {
    size_t n = need - c->hdr_len;
    n = n < len ? n : len;
    memcpy(c->hdr + c->hdr_len, p, n);
    c->hdr_len += (uint8_t)n;
    rc = hdr_check(c);
    if (rc)
      fail(c, rc);
    return n;
  }
  rc = hdr_parse(c);
  if (rc)
    fail(c, rc);
  return 0;
}

/* Stops before the next byte once events are queued, so that the owner
 * handles each frame's events before the next frame is read. */
static int feed_loop(irpc__slic *c, const uint8_t *p, size_t len,
                     size_t *used) {
  for (;;) {
    if (c->state == ST_FAILED)
      return c->err;
    if (c->state == ST_CLOSING) {
      *used += len;
      return 0; /* only the peer's FIN matters now */
    }
    if (len && c->evq_head)
      return 0;
    size_t n;
    if (c->rd == RD_HEADER) {
      if (!len && c->hdr_len < hdr_need(c))
        return 0;
      n = take_header(c, p, len);
    } else if (c->rd == RD_BODY) {
      if (!len && c->fleft)
        return 0;
      n = take_body(c, p, len);
    } else {
      if (!len && c->fleft)
        return 0;
      n = take_data(c, p, len);
    }
    p += n;
    len -= n;
    *used += n;
  }
}

/* ---- Public: connection ---- */

void irpc__slic_params_default(irpc__slic_params *p) {
  p->max_bidi_streams = IRPC__DEFAULT_MAX_BIDI_STREAMS;
  /* one more for the peer's control stream */
  p->max_uni_streams = IRPC__DEFAULT_MAX_UNI_STREAMS + 1;
  p->idle_timeout_ms = IRPC__DEFAULT_IDLE_TIMEOUT_MS;
  p->initial_window = IRPC__DEFAULT_STREAM_WINDOW;
  p->max_frame_size = IRPC__DEFAULT_STREAM_FRAME_SIZE;
  p->max_pending_output = IRPC__DEFAULT_SLIC_PENDING_OUTPUT;
  p->max_outstanding_pongs = IRPC__DEFAULT_SLIC_OUTSTANDING_PONGS;
}

static int params_valid(const irpc__slic_params *p) {
  return p->max_bidi_streams <= INT31_MAX && p->max_uni_streams <= INT31_MAX &&
         p->idle_timeout_ms <= INT31_MAX &&
         p->initial_window >= IRPC__SLIC_MIN_WINDOW &&
         p->initial_window <= IRPC__SLIC_MAX_WINDOW &&
         p->max_frame_size >= IRPC__SLIC_MIN_FRAME &&
         p->max_frame_size <= IRPC__SLIC_MAX_FRAME &&
         p->max_pending_output > 0 && p->max_outstanding_pongs > 0;
}

int irpc__slic_new(irpc__slic **out, int is_client,
                   const irpc__slic_params *params, const irpc__slic_events *ev,
                   void *ud) {
  irpc__slic_params p;
  if (params)
    p = *params;
  else
    irpc__slic_params_default(&p);
  if (!out || !params_valid(&p))
    return IRPC_EINVAL;
  irpc__slic *c = irpc_calloc(1, sizeof(*c));
  if (!c)
    return IRPC_ENOMEM;
  c->local = p;
  c->is_client = is_client != 0;
  irpc__buf_init(&c->out);
  c->body = c->body_small;
  /* QUIC's numbering: bit 0 the initiator, bit 1 the direction. */
  c->next_local[0] = irpc__slic_first_id(c->is_client, 1);
  c->next_local[1] = irpc__slic_first_id(c->is_client, 0);
  c->next_remote[0] = irpc__slic_first_id(!c->is_client, 1);
  c->next_remote[1] = irpc__slic_first_id(!c->is_client, 0);
  if (c->is_client) {
    uint8_t b[INITIALIZE_BODY_MAX];
    b[0] = IRPC__SLIC_VERSION << 2;
    if (emit(c, IRPC__SLIC_INITIALIZE, 0, b, 1 + put_params(&p, b + 1))) {
      irpc__slic_free(c);
      return IRPC_ENOMEM;
    }
  }
  /* Only now: a failure above is the return value, never an on_closed
   * event into an owner that is still being built. */
  if (ev)
    c->ev = *ev;
  c->ud = ud;
  *out = c;
  return 0;
}

static void free_stream(irpc__slic_stream *s) {
  irpc__buf_fini(&s->in);
  irpc__buf_fini(&s->out);
  irpc__pool_put(s, sizeof(*s));
}

static int is_stream_node(const irpc__slic *c, const evnode *n) {
  return n != &c->connected_node && n != &c->closed_node;
}

#define NODE_STREAM(n)                                                         \
  ((irpc__slic_stream *)(void *)((char *)(n)-offsetof(irpc__slic_stream, node)))

void irpc__slic_free(irpc__slic *c) {
  if (!c)
    return;
  /* Released streams whose release was not delivered, then the others. */
  for (evnode *n = c->evq_head, *next; n; n = next) {
    next = n->next;
    if (is_stream_node(c, n) && (NODE_STREAM(n)->flags & SF_RELEASED))
      free_stream(NODE_STREAM(n));
  }
  while (c->all) {
    irpc__slic_stream *s = c->all;
    c->all = s->next;
    free_stream(s);
  }
  while (c->spare) {
    irpc__slic_stream *s = c->spare;
    c->spare = s->hnext;
    irpc__pool_put(s, sizeof(*s));
  }
  irpc__buf_fini(&c->out);
  irpc_free(c->tab);
  if (c->body != c->body_small)
    irpc_free(c->body);
  irpc_free(c);
}

int irpc__slic_feed(irpc__slic *c, const uint8_t *data, size_t len,
                    size_t *used) {
  *used = 0;
  if (c->state == ST_FAILED)
    return IRPC_ECLOSED;
  if (len && c->state != ST_HANDSHAKE) {
    c->last_read = now_ms(c);
    c->read_armed = 1;
  }
  return feed_loop(c, data, len, used);
}

void irpc__slic_feed_eof(irpc__slic *c) {
  if (!c->eof) {
    c->eof = 1;
    if (c->state == ST_HANDSHAKE)
      fail(c, c->version_sent ? UV_ECONNREFUSED : UV_ECONNABORTED);
    else if (c->state == ST_OPEN)
      fail(c, UV_ECONNRESET); /* the peer vanished without a Close */
  }
}

void irpc__slic_set_turn(irpc__slic *c, uint64_t turn) {
  if (turn == c->turn)
    return;
  c->turn = turn;
  while (c->paced) {
    irpc__slic_stream *s = c->paced;
    ring_remove(s);
    if (sendable(s))
      ring_add(s);
  }
}

int irpc__slic_paced(const irpc__slic *c) {
  return c->paced != NULL;
}

size_t irpc__slic_take_output(irpc__slic *c, irpc_buf *out) {
  pump(c);
  size_t n = irpc_buf_len(&c->out);
  if (n && irpc_buf_move(out, &c->out) != 0) {
    fail(c, IRPC_ENOMEM);
    n = 0;
  }
  if (n) {
    c->queued_pongs = 0;
    if (c->idle_ms && c->state == ST_OPEN) {
      c->last_write = now_ms(c);
      c->write_armed = 1;
    }
  }
  return n;
}

int irpc__slic_want_shutdown(const irpc__slic *c) {
  return c->state == ST_CLOSING && (c->is_client || c->eof);
}

int irpc__slic_closed(const irpc__slic *c) {
  return c->state >= ST_CLOSING && irpc_buf_len(&c->out) == 0;
}

int irpc__slic_finished(const irpc__slic *c) {
  return irpc__slic_closed(c) && (c->state == ST_FAILED || c->eof);
}

/* The client's "write ping" goes out this long after its last write:
 * WRITE_PING_TENTHS tenths of the idle timeout. */
#define WRITE_PING_TENTHS 6
static uint64_t write_ping_ms(const irpc__slic *c) {
  return c->idle_ms * WRITE_PING_TENTHS / 10;
}

uint64_t irpc__slic_next_deadline(const irpc__slic *c) {
  if (!c->idle_ms || (c->state != ST_OPEN && c->state != ST_CLOSING))
    return UINT64_MAX;
  uint64_t d = c->last_read + c->idle_ms;
  if (!c->is_client || c->state != ST_OPEN)
    return d;
  uint64_t rp = c->last_read + c->idle_ms / 2;
  uint64_t wp = c->last_write + write_ping_ms(c);
  if (c->read_armed && c->pending_pongs == 0 && rp < d)
    d = rp;
  if (c->write_armed && wp < d)
    d = wp;
  return d;
}

/* Only the client pings: a "read ping" (payload 1) half an idle timeout
 * after the last read, unless a Pong is pending, and a "write ping"
 * (payload 0) at 0.6 of it after the last write. */
static void ping(irpc__slic *c, uint64_t now) {
  static const uint8_t one[8] = {1}, zero[8] = {0};
  if (c->read_armed && now >= c->last_read + c->idle_ms / 2) {
    c->read_armed = 0;
    if (c->pending_pongs == 0) {
      c->pending_pongs = 1;
      if (emit(c, IRPC__SLIC_PING, 0, one, 8))
        return;
    }
  }
  if (c->write_armed && now >= c->last_write + write_ping_ms(c)) {
    c->write_armed = 0;
    if (++c->pending_pongs > 0)
      emit(c, IRPC__SLIC_PING, 0, zero, 8);
  }
}

void irpc__slic_tick(irpc__slic *c) {
  if (c->idle_ms && (c->state == ST_OPEN || c->state == ST_CLOSING)) {
    uint64_t now = now_ms(c);
    if (now >= c->last_read + c->idle_ms)
      fail(c, IRPC_EIDLE);
    else if (c->is_client && c->state == ST_OPEN)
      ping(c, now);
  }
}

void irpc__slic_close(irpc__slic *c, uint64_t code) {
  if (code > IRPC_VARUINT62_MAX)
    code = IRPC__SLIC_CLOSE_ABORTED;
  if (c->state == ST_HANDSHAKE)
    fail(c, IRPC_ECLOSED);
  else if (c->state == ST_OPEN)
    close_graceful(c, IRPC_ECLOSED, 1, code);
}

void irpc__slic_abort(irpc__slic *c, int err) {
  fail(c, err ? err : IRPC_ECLOSED);
}

int irpc__slic_ended(const irpc__slic *c) {
  return c->state >= ST_CLOSING;
}

/* The events of one stream, in their order; it is freed after its
 * on_stream_released. Events it raises meanwhile join the same pass. */
static void deliver_stream(irpc__slic *c, irpc__slic_stream *s) {
  const irpc__slic_events *ev = &c->ev;
  while (s->evbits) {
    uint8_t b = s->evbits & (uint8_t)-s->evbits; /* the lowest */
    s->evbits &= (uint8_t)~b;
    switch (b) {
    case EV_STREAM:
      if (ev->on_stream)
        ev->on_stream(c->ud, s);
      break;
    case EV_READABLE:
      if (ev->on_readable)
        ev->on_readable(c->ud, s);
      if (!(s->flags & SF_RELEASED))
        maybe_end_reads(s);
      break;
    case EV_EPIPE:
    case EV_TRUNC:
    case EV_END:
      if (ev->on_stream_error)
        ev->on_stream_error(c->ud, s,
                            b == EV_EPIPE   ? UV_EPIPE
                            : b == EV_TRUNC ? IRPC_ETRUNCATED
                                            : s->end_err);
      break;
    case EV_RELEASED:
      if (ev->on_stream_released)
        ev->on_stream_released(c->ud, s);
      break;
    default: /* EV_SLOT, the last */
      if (ev->on_stream_slot)
        ev->on_stream_slot(c->ud, (s->flags & SF_BIDI) != 0);
      break;
    }
  }
  s->node.queued = 0;
  if (!(s->flags & SF_RELEASED))
    return;
  irpc__buf_fini(&s->in);
  irpc__buf_fini(&s->out);
  if (c->nspare < SPARE_STREAMS) {
    s->hnext = c->spare;
    c->spare = s;
    c->nspare++;
  } else {
    irpc__pool_put(s, sizeof(*s));
  }
}

void irpc__slic_drain(irpc__slic *c) {
  if (c->draining)
    return;
  c->draining = 1;
  for (;;) {
    evnode *n = c->evq_head;
    if (n) {
      c->evq_head = n->next;
      if (!c->evq_head)
        c->evq_tail = NULL;
      if (n == &c->connected_node) {
        n->queued = 0;
        if (c->ev.on_connected)
          c->ev.on_connected(c->ud);
      } else if (n == &c->closed_node) {
        if (c->ev.on_closed)
          c->ev.on_closed(c->ud, c->closed_err);
      } else {
        deliver_stream(c, NODE_STREAM(n));
      }
      continue;
    }
    if (!c->writable)
      break;
    emit_writable(c);
  }
  if (irpc_buf_len(&c->out) == 0) {
    c->notified = 0;
  } else if (!c->notified) {
    c->notified = 1;
    if (c->ev.on_output)
      c->ev.on_output(c->ud);
  }
  c->draining = 0;
}

const irpc__slic_params *irpc__slic_peer_params(const irpc__slic *c) {
  return &c->peer;
}

/* ---- Public: streams ---- */

int irpc__slic_stream_open(irpc__slic *c, int bidi, irpc__slic_stream **out) {
  if (c->state >= ST_CLOSING)
    return IRPC_ECLOSED;
  int k = kind(bidi);
  uint64_t max = bidi ? c->peer.max_bidi_streams : c->peer.max_uni_streams;
  if (c->state == ST_HANDSHAKE || c->nlocal[k] >= max)
    return IRPC_EBUSY;
  if (reserve(c, c->nstreams + 1) != 0)
    return IRPC_ENOMEM;
  irpc__slic_stream *s = new_stream(c, bidi, 0);
  if (!s)
    return IRPC_ENOMEM;
  c->nlocal[k]++;
  *out = s;
  return 0;
}

int irpc__slic_stream_write(irpc__slic_stream *s, irpc_buf *data, int last) {
  irpc__slic *c = s->c;
  if (c->state != ST_OPEN ||
      (s->flags & (SF_WRITES_CLOSED | SF_FIN_QUEUED | SF_LAST_SENT)))
    return IRPC_ECLOSED;
  if (data && irpc_buf_len(data)) {
    int rc = irpc_buf_move(&s->out, data);
    if (rc)
      return rc;
  }
  if (last)
    s->flags |= SF_FIN_QUEUED;
  if (sendable(s)) {
    ring_add(s);
    pump(c);
  }
  return 0;
}

void irpc__slic_stream_flush(irpc__slic_stream *s) {
  irpc__slic *c = s->c;
  while (c->state == ST_OPEN && sendable(s) && send_frame(s) == 0)
    ;
  if (!sendable(s))
    ring_remove(s);
}

/* Credits the peer once half the window was read, as IceRPC does. No
 * update after StreamLast: the peer sends nothing more. */
static void credit_window(irpc__slic_stream *s, size_t n) {
  irpc__slic *c = s->c;
  if (!n || c->state != ST_OPEN ||
      (s->flags & (SF_RECV_LAST | SF_READS_CLOSED)))
    return;
  s->unacked += n;
  if (s->unacked < c->local.initial_window / 2)
    return;
  uint64_t inc = s->unacked;
  s->unacked = 0;
  s->window += inc;
  emit_vu(c, IRPC__SLIC_STREAM_WINDOW_UPDATE, s->id, inc);
}

size_t irpc__slic_stream_read(irpc__slic_stream *s, irpc_buf *out, size_t max) {
  size_t avail = irpc_buf_len(&s->in);
  size_t n = avail < max ? avail : max;
  int rc = 0;
  if (n == avail && n)
    rc = irpc_buf_move(out, &s->in);
  else if (n) {
    rc = irpc_buf_append_ref(out, &s->in, 0, n);
    if (rc == 0)
      irpc_buf_consume(&s->in, n);
  }
  if (rc)
    return 0;
  credit_window(s, n);
  if (!(s->flags & SF_RELEASED))
    maybe_end_reads(s);
  return n;
}

void irpc__slic_stream_notify_writable(irpc__slic_stream *s, size_t low) {
  s->low_water = low;
  if (!low)
    unlist_writable(s);
  else
    check_writable(s);
}

size_t irpc__slic_stream_queued(const irpc__slic_stream *s) {
  return irpc_buf_len(&s->out);
}

int irpc__slic_stream_write_done(const irpc__slic_stream *s) {
  return (s->flags & (SF_FIN_QUEUED | SF_LAST_SENT)) ==
             (SF_FIN_QUEUED | SF_LAST_SENT) &&
         irpc_buf_len(&s->out) == 0;
}

size_t irpc__slic_stream_readable(const irpc__slic_stream *s) {
  return irpc_buf_len(&s->in);
}

int irpc__slic_stream_read_done(const irpc__slic_stream *s) {
  return (s->flags & (SF_RECV_LAST | SF_TRUNC)) == SF_RECV_LAST &&
         irpc_buf_len(&s->in) == 0;
}

void irpc__slic_stream_abort_read(irpc__slic_stream *s) {
  irpc__slic *c = s->c;
  if (s->flags & SF_READS_CLOSED)
    return;
  drop_input(s);
  /* A local stream that got StreamLast has nothing to tell the peer. */
  int tell = (s->flags & SF_STARTED) &&
             ((s->flags & SF_REMOTE) || !(s->flags & SF_RECV_LAST));
  s->flags |= SF_READS_CLOSED;
  if (tell)
    emit(c, IRPC__SLIC_STREAM_READS_CLOSED, s->id, NULL, 0);
  maybe_release(s);
}

void irpc__slic_stream_abort_write(irpc__slic_stream *s) {
  irpc__slic *c = s->c;
  if (s->flags & SF_WRITES_CLOSED)
    return;
  irpc_buf_clear(&s->out);
  ring_remove(s);
  if ((s->flags & (SF_STARTED | SF_LAST_SENT)) == SF_STARTED) {
    s->flags |= SF_LAST_SENT;
    if (emit(c, IRPC__SLIC_STREAM_WRITES_CLOSED, s->id, NULL, 0) == 0)
      flush_deferred(s);
  }
  s->flags |= SF_WRITES_CLOSED;
  maybe_release(s);
}

uint64_t irpc__slic_stream_id(const irpc__slic_stream *s) {
  return (s->flags & SF_STARTED) ? s->id : UINT64_MAX;
}

int irpc__slic_stream_bidi(const irpc__slic_stream *s) {
  return (s->flags & SF_BIDI) != 0;
}

int irpc__slic_stream_remote(const irpc__slic_stream *s) {
  return (s->flags & SF_REMOTE) != 0;
}

int irpc__slic_stream_released(const irpc__slic_stream *s) {
  return (s->flags & SF_RELEASED) != 0;
}

void irpc__slic_stream_set_user(irpc__slic_stream *s, void *user) {
  s->user = user;
}

void *irpc__slic_stream_user(const irpc__slic_stream *s) {
  return s->user;
}
