/* Compression and bounded decompression over buffer chains, with any
 * codec (codec.h): irpc_compress, irpc_decompress, and the pieces the
 * payload writer (writer.c) compresses with. */
#include <string.h>

#include "irpc/alloc.h"
#include "irpc/compress.h"
#include "irpc/error.h"
#include "stream.h"

/* Output blocks: about a quarter of the input, between these. */
#define OUT_BLOCK_MIN ((size_t)512)
#define OUT_BLOCK ((size_t)64 << 10)
/* Output goes on into the room left in the last block while there is at
 * least this much, so that blocks are filled rather than left part empty
 * each time a codec stops to take more input. */
#define OUT_MIN_ROOM ((size_t)1024)
/* Writable space at the end of `out`: the `*left` bytes remaining in its
 * last block (as the previous write left them), or a fresh block of
 * `block` bytes. */
static int out_reserve(irpc_buf *out, size_t block, size_t left, uint8_t **o,
                       size_t *avail) {
  return irpc_buf_reserve(out, left >= OUT_MIN_ROOM ? left : block, o, avail);
}

/* Payloads up to this size are compressed in one piece when that is much
 * faster (zstd on contiguous input, brotli on many small segments): the
 * extra memory is bounded by about twice this. */
#define ONE_PIECE_MAX ((size_t)4 << 20)

size_t irpc__cstream_produced(const cstream *cs) {
  return irpc_buf_len(cs->out) - cs->start;
}

/* Feeds [p, p + len) to the codec with `op`, writing the output into
 * blocks of the output chain. Returns 0, 1 (the output passed
 * give_up_above: stop) or a negative error. */
int irpc__cstream_feed(cstream *cs, const uint8_t *p, size_t len, int op) {
  int st = IRPC__STEP_MORE_OUT;
  while (len > 0 || (op != IRPC__OP_RUN && st != IRPC__STEP_END)) {
    uint8_t *o;
    size_t avail;
    int rc = out_reserve(cs->out, cs->hint, cs->left, &o, &avail);
    if (rc)
      return rc;
    size_t before = avail;
    st = irpc__codec_step(&cs->c, &p, &len, &o, &avail, op);
    if (st < 0)
      return st;
    rc = irpc_buf_commit(cs->out, before - avail);
    if (rc)
      return rc;
    cs->left = avail;
    if (irpc__cstream_produced(cs) > cs->give_up_above)
      return 1;
  }
  return 0;
}

int irpc__cstream_init(cstream *cs, int format, int level, size_t total,
                       irpc_buf *out, size_t give_up_above) {
  size_t hint = total / 4;
  cs->hint = hint < OUT_BLOCK_MIN ? OUT_BLOCK_MIN
             : hint > OUT_BLOCK   ? OUT_BLOCK
                                  : hint;
  cs->out = out;
  cs->left = 0;
  cs->start = irpc_buf_len(out);
  cs->give_up_above = give_up_above;
  return irpc__codec_init(&cs->c, format, 0, level, total);
}

/* A codec's one-shot compression of contiguous input, into one output
 * block. Returns 0, 1 (the output would pass give_up_above) or an error. */
static int one_shot(cstream *cs, irpc_bytes src) {
  size_t cap = cs->c.ops->bound(&cs->c, src.len); /* not 0: see the caller */
  if (cap > cs->give_up_above)
    cap = cs->give_up_above + 1; /* room to tell "too big" apart */
  uint8_t *o;
  size_t avail, written = 0;
  int rc = irpc_buf_reserve(cs->out, cap, &o, &avail);
  if (rc == 0)
    rc = cs->c.ops->one_shot(&cs->c, src.base, src.len, o, cap, &written);
  if (rc == 0)
    rc = irpc_buf_commit(cs->out, written);
  if (rc)
    return rc;
  return written > cs->give_up_above ? 1 : 0;
}

/* Compresses `in` (left unchanged) into `out`. Gives up with 1 (nothing
 * useful) as soon as the output exceeds `give_up_above` bytes. */
int irpc__compress_chain(int format, int level, const irpc_buf *in,
                         irpc_buf *out, size_t give_up_above) {
  cstream cs;
  int rc = irpc__cstream_init(&cs, format, level, irpc_buf_len(in), out,
                              give_up_above);
  if (rc)
    return rc;
  size_t nseg = irpc_buf_segment_count(in);
  if (cs.c.ops->one_shot && nseg == 1 &&
      cs.c.ops->bound(&cs.c, irpc_buf_len(in)) != 0) {
    rc = one_shot(&cs, irpc_buf_segment(in, 0));
    irpc__codec_end(&cs.c);
    return rc;
  }
  size_t total = irpc_buf_len(in);
  if (cs.c.ops->gather && nseg > 1 && total <= ONE_PIECE_MAX) {
    /* A payload that arrived in many small segments goes in as one piece
     * (brotli's fast levels end a metablock at every step). */
    uint8_t *tmp = irpc_malloc(total);
    if (tmp) {
      irpc_buf_copyout(in, 0, tmp, total);
      rc = irpc__cstream_feed(&cs, tmp, total, IRPC__OP_RUN);
      if (rc == 0)
        rc = irpc__cstream_feed(&cs, NULL, 0, IRPC__OP_END);
      irpc_free(tmp);
      irpc__codec_end(&cs.c);
      return rc;
    }
  }
  for (size_t i = 0; i < nseg && rc == 0; i++) {
    irpc_bytes seg = irpc_buf_segment(in, i);
    rc = irpc__cstream_feed(&cs, seg.base, seg.len, IRPC__OP_RUN);
  }
  if (rc == 0)
    rc = irpc__cstream_feed(&cs, NULL, 0, IRPC__OP_END);
  irpc__codec_end(&cs.c);
  return rc;
}

/* A checkpoint of a compression that may still fall back to the payload as
 * it is: flushes the codec (every byte read so far is in the output) and
 * sets *sure when the output so far plus the most the `remaining` input
 * bytes can add stays below `total`. Returns cstream_feed's result. */
int irpc__cstream_checkpoint(cstream *cs, size_t total, size_t remaining,
                             int *sure) {
  int rc = irpc__cstream_feed(cs, NULL, 0, IRPC__OP_FLUSH);
  *sure =
      rc == 0 &&
      irpc__cstream_produced(cs) + irpc__codec_bound(&cs->c, remaining) < total;
  return rc;
}

/* Compresses `in` into `out` consuming `in` as it goes, so that the whole
 * payload and its whole compressed form are never held together.
 *
 * The catch is the fallback: a payload that does not shrink is sent as it
 * is, so its bytes must still exist. Consumed segments are therefore held
 * (shared, not copied) until the result is sure to shrink: at checkpoints
 * the codec is flushed, and once the output plus the most the rest of the
 * input can add is below the input size, the held bytes are released and
 * the compression can no longer give up. A compressible payload passes the
 * check after a few hundred KiB to a few MiB; a payload that does not
 * compress is held to the end and restored into `in` (returns 1). */
int irpc__compress_chain_consume(int format, int level, irpc_buf *in,
                                 irpc_buf *out, size_t give_up_above) {
  size_t total = irpc_buf_len(in);
  const irpc__codec_ops *ops = irpc__codec_find(format);
  if (!ops)
    return IRPC_ENOTSUP;
  if (total <= RELEASE_CHECK ||
      (total <= ONE_PIECE_MAX &&
       (ops->gather || (ops->one_shot && irpc_buf_segment_count(in) == 1))))
    return irpc__compress_chain(format, level, in, out, give_up_above);
  irpc_buf *held;
  int rc = irpc_buf_new(&held);
  if (rc)
    return rc;
  cstream cs;
  rc = irpc__cstream_init(&cs, format, level, total, out, give_up_above);
  if (rc) {
    irpc_buf_free(held);
    return rc;
  }
  size_t consumed = 0, check = RELEASE_CHECK;
  int holding = 1;
  while (rc == 0 && irpc_buf_segment_count(in) > 0) {
    irpc_bytes seg = irpc_buf_segment(in, 0);
    rc = irpc__cstream_feed(&cs, seg.base, seg.len, IRPC__OP_RUN);
    if (rc == 0 && holding)
      rc = irpc_buf_append_ref(held, in, 0, seg.len);
    if (rc)
      break;
    irpc_buf_consume(in, seg.len); /* releases the block once unshared */
    consumed += seg.len;
    if (holding && consumed >= check && consumed < total) {
      check *= 2;
      int sure;
      rc = irpc__cstream_checkpoint(&cs, total, total - consumed, &sure);
      if (sure) {
        irpc_buf_clear(held);
        holding = 0;
        cs.give_up_above = SIZE_MAX; /* there is nothing to fall back to */
      }
    }
  }
  if (rc == 0)
    rc = irpc__cstream_feed(&cs, NULL, 0, IRPC__OP_END);
  irpc__codec_end(&cs.c);
  if (rc != 0 && holding) {
    /* Put the payload back together: held bytes, then what is left. */
    int mrc = irpc_buf_move(held, in);
    if (mrc == 0)
      mrc = irpc_buf_move(in, held);
    if (mrc)
      rc = mrc;
  }
  irpc_buf_free(held);
  return rc;
}

int irpc_compress(int format, int level, const irpc_buf *in, irpc_buf *out) {
  if (!in || !out)
    return IRPC_EINVAL;
  if (!irpc__codec_find(format))
    return IRPC_ENOTSUP;
  if (!irpc__codec_level_ok(format, level))
    return IRPC_EINVAL;
  return irpc__compress_chain(format, level, in, out, SIZE_MAX);
}

/* ---- Bounded decompression over chains ---- */

typedef struct dstream {
  irpc__codec c;
  irpc_buf *out;
  uint64_t produced, max_size;
  size_t left; /* room left in the last output block */
  int st;      /* the last step's IRPC__STEP_* */
} dstream;

/* One codec step of [*p, *p + *len) into the output, at most up to the
 * cap. Returns 0, 1 (no progress and no input left: wants the next
 * segment) or a negative error: IRPC_ELIMIT (past the cap), IRPC_EDATA. */
static int dstream_step(dstream *d, const uint8_t **p, size_t *len) {
  uint64_t room = d->max_size - d->produced;
  uint8_t scratch[1];
  uint8_t *o;
  size_t avail, got = 0;
  int spare = room == 0;
  if (spare) {
    /* At the cap: any further byte is one too many. */
    o = scratch;
    avail = sizeof(scratch);
  } else {
    int rc = out_reserve(d->out, OUT_BLOCK, d->left, &o, &got);
    if (rc)
      return rc;
    avail = got > room ? (size_t)room : got;
  }
  size_t before_out = avail, before_in = *len;
  int st = irpc__codec_step(&d->c, p, len, &o, &avail, IRPC__OP_RUN);
  if (st < 0)
    return st;
  d->st = st;
  size_t wrote = before_out - avail;
  if (spare && wrote > 0)
    return IRPC_ELIMIT;
  if (!spare) {
    int rc = irpc_buf_commit(d->out, wrote);
    if (rc)
      return rc;
    d->left = got - wrote;
  }
  d->produced += wrote;
  if (wrote > 0 || before_in != *len || st == IRPC__STEP_END)
    return 0;
  /* Stuck with input left: at the cap it wants to write more. */
  return *len == 0 ? 1 : spare ? IRPC_ELIMIT : IRPC_EDATA;
}

/* Feeds one segment (NULL, 0: the end of the input). */
static int dstream_feed(dstream *d, const uint8_t *p, size_t len) {
  while (len > 0 || d->st == IRPC__STEP_MORE_OUT) {
    if (d->st == IRPC__STEP_END && !d->c.ops->multi_frame)
      return IRPC_EDATA; /* bytes after the end of the stream */
    int rc = dstream_step(d, &p, &len);
    if (rc)
      return rc < 0 ? rc : 0;
  }
  return 0;
}

int irpc_decompress(int format, irpc_buf *in, int consume, uint64_t max_size,
                    irpc_buf *out) {
  if (!in || !out)
    return IRPC_EINVAL;
  dstream d = {.out = out, .max_size = max_size, .st = IRPC__STEP_NEED_IN};
  int rc = irpc__codec_init(&d.c, format, 1, 0, 0);
  if (rc)
    return rc;
  for (size_t i = 0;;) {
    size_t nseg = irpc_buf_segment_count(in);
    int last = consume ? nseg == 0 : i >= nseg;
    irpc_bytes seg =
        last ? (irpc_bytes){NULL, 0} : irpc_buf_segment(in, consume ? 0 : i);
    rc = dstream_feed(&d, seg.base, seg.len);
    if (rc || last)
      break;
    if (consume)
      irpc_buf_consume(in, seg.len);
    else
      i++;
  }
  if (rc == 0 && d.st != IRPC__STEP_END)
    rc = IRPC_EDATA; /* truncated */
  irpc__codec_end(&d.c);
  return rc;
}

/* ---- Continuations: chunk by chunk ----
 *
 * The payload and its continuation are one compressed stream, as IceRPC
 * sends them: the payload is compressed and flushed, then each chunk of
 * the continuation is compressed and flushed (every byte written so far is
 * decodable by the receiver, so a slow feed is never held back), and the
 * end of the continuation ends the compressed stream. */

typedef struct ccont {
  cstream cs;
} ccont;

static int ccont_run(ccont *c, const irpc_buf *in, int op, irpc_buf *out) {
  c->cs.out = out;
  c->cs.left = 0;
  c->cs.start = irpc_buf_len(out);
  int rc = 0;
  size_t n = irpc_buf_segment_count(in);
  for (size_t i = 0; i < n && rc == 0; i++) {
    irpc_bytes seg = irpc_buf_segment(in, i);
    rc = irpc__cstream_feed(&c->cs, seg.base, seg.len, IRPC__OP_RUN);
  }
  if (rc == 0)
    rc = irpc__cstream_feed(&c->cs, NULL, 0, op);
  return rc > 0 ? IRPC_EDATA : rc; /* no give-up: never 1 */
}

static int ccont_feed(void *state, irpc_buf *in, int last, irpc_buf *out) {
  return ccont_run(state, in, last ? IRPC__OP_END : IRPC__OP_FLUSH, out);
}

static void ccont_free(void *state) {
  ccont *c = state;
  irpc__codec_end(&c->cs.c);
  irpc_free(c);
}

static const irpc_stream_transform_ops ccont_ops = {
    .struct_size = sizeof(irpc_stream_transform_ops),
    .name = "compress",
    .feed = ccont_feed,
    .free = ccont_free,
};

int irpc__compress_begin_cont(int format, int level, const irpc_buf *payload,
                              irpc_buf *out,
                              const irpc_stream_transform_ops **xf,
                              void **state) {
  ccont *c = irpc_calloc(1, sizeof(*c));
  if (!c)
    return IRPC_ENOMEM;
  /* The size is unknown (SIZE_MAX): zstd must not be promised one. */
  int rc = irpc__cstream_init(&c->cs, format, level, SIZE_MAX, out, SIZE_MAX);
  if (rc) {
    irpc_free(c);
    return rc;
  }
  rc = ccont_run(c, payload, IRPC__OP_FLUSH, out);
  if (rc) {
    ccont_free(c);
    return rc;
  }
  *xf = &ccont_ops;
  *state = c;
  return 0;
}

typedef struct dcont {
  dstream d;
  uint64_t max_chunk;
} dcont;

/* Each chunk may decompress to at most max_chunk bytes. */
static int dcont_feed(void *state, irpc_buf *in, int last, irpc_buf *out) {
  dcont *c = state;
  c->d.out = out;
  c->d.left = 0;
  c->d.produced = 0;
  c->d.max_size = c->max_chunk;
  int rc = 0;
  size_t n = irpc_buf_segment_count(in);
  for (size_t i = 0; i < n && rc == 0; i++) {
    irpc_bytes seg = irpc_buf_segment(in, i);
    rc = dstream_feed(&c->d, seg.base, seg.len);
  }
  if (rc == 0 && last) {
    rc = dstream_feed(&c->d, NULL, 0);
    if (rc == 0 && c->d.st != IRPC__STEP_END)
      rc = IRPC_EDATA; /* truncated */
  }
  return rc;
}

static void dcont_free(void *state) {
  dcont *c = state;
  irpc__codec_end(&c->d.c);
  irpc_free(c);
}

static const irpc_stream_transform_ops dcont_ops = {
    .struct_size = sizeof(irpc_stream_transform_ops),
    .name = "decompress",
    .feed = dcont_feed,
    .free = dcont_free,
};

int irpc__decompress_cont(int format, uint64_t max_chunk,
                          irpc_stream_reader *r) {
  dcont *c = irpc_calloc(1, sizeof(*c));
  if (!c)
    return IRPC_ENOMEM;
  c->d.st = IRPC__STEP_NEED_IN;
  c->max_chunk = max_chunk;
  int rc = irpc__codec_init(&c->d.c, format, 1, 0, 0);
  if (rc) {
    irpc_free(c);
    return rc;
  }
  rc = irpc_stream_reader_set_transform(r, &dcont_ops, c);
  if (rc)
    dcont_free(c);
  return rc;
}
