/* The compress payload writer: chooses the format the receiver reads,
 * compresses a payload whole (write) or as it is sent (begin, next, end),
 * and decompresses a received payload in place. */
#include <string.h>

#include "ic_internal.h"
#include "irpc/alloc.h"
#include "irpc/compress.h"
#include "irpc/error.h"
#include "model/compression.h"
#include "stream.h"
#include "base/struct_size.h"

typedef struct wcfg {
  uint8_t formats[IRPC_COMPRESS_MAX_PREFERENCES];
  int8_t levels[3]; /* zstd, brotli, deflate */
  /* The compress feature asked for it: an IceRPC peer, which announces
   * nothing, is then assumed to read IRPC_COMPRESSION_FORMATS_ICERPC. */
  uint8_t contract;
  /* A response for a caller that listed `accept` (the middleware's): that
   * list, not the connection's announcement, says what it reads. */
  uint8_t has_accept;
  uint64_t accept;
  uint64_t min_size;
} wcfg;

static int wcfg_level(const wcfg *w, int format) {
  return format == IRPC_COMPRESSION_ZSTD     ? w->levels[0]
         : format == IRPC_COMPRESSION_BROTLI ? w->levels[1]
                                             : w->levels[2];
}

/* The format to compress a payload of `len` bytes with for this peer, or
 * 0 to send it as is. Undoes first what an earlier attempt (to another
 * peer) decided. */
static int writer_format(const wcfg *w, irpc_fields *fields,
                         uint64_t peer_formats, size_t len) {
  irpc_fields_remove(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT);
  if (len == 0 || len < w->min_size)
    return 0;
  uint64_t reads;
  if (peer_formats & IRPC_COMPRESSION_UNANNOUNCED)
    reads = w->contract ? peer_formats & IRPC_COMPRESSION_FORMATS_ICERPC : 0;
  else
    reads = w->has_accept ? w->accept : peer_formats;
  for (int i = 0; i < IRPC_COMPRESS_MAX_PREFERENCES && w->formats[i]; i++)
    if (reads & IRPC_COMPRESSION_BIT(w->formats[i]))
      return w->formats[i];
  return 0; /* nothing the receiver reads */
}

static int writer_mark(irpc_fields *fields, int format) {
  uint8_t v = (uint8_t)format;
  return irpc_fields_set(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v, 1);
}

static int writer_write(const void *config, irpc_fields *fields,
                        uint64_t peer_formats, irpc_buf *in, int may_consume,
                        irpc_buf *out) {
  const wcfg *w = config;
  size_t len = irpc_buf_len(in);
  int format = writer_format(w, fields, peer_formats, len);
  if (!format)
    return IRPC_PAYLOAD_UNCHANGED;
  int level = wcfg_level(w, format);
  int rc = may_consume
               ? irpc__compress_chain_consume(format, level, in, out, len - 1)
               : irpc__compress_chain(format, level, in, out, len - 1);
  if (rc != 0) {
    irpc_buf_clear(out);
    return rc > 0 ? IRPC_PAYLOAD_UNCHANGED : rc; /* did not shrink */
  }
  rc = writer_mark(fields, format);
  if (rc)
    irpc_buf_clear(out);
  return rc;
}

/* ---- The streaming writer: a request compressed as it is sent ----
 *
 * The application's payload is read, never consumed, from a position that
 * moves on with each pull; the output goes out piece by piece. The choice
 * between compressing and sending the payload as it is must be made before
 * anything is sent (the field is in the header), so `begin` compresses a
 * prefix until the output is sure to shrink (the checkpoints of
 * compress_chain_consume) and keeps that output for the first pull. */

/* Input read per codec call while pulling: bounds how far a pull goes past
 * what was asked for. */
#define PULL_SLICE ((size_t)64 << 10)
/* A payload not proved to shrink after max(this, 1/8 of it) of input is
 * sent as it is: this bounds the output held before the first pull. */
#define PREFIX_MAX ((size_t)8 << 20)

typedef struct wstream {
  cstream cs;      /* writes into `ahead` */
  irpc_buf *ahead; /* output not pulled yet */
  const irpc_buf *in;
  size_t seg, off; /* read position in `in` */
  size_t consumed, total;
  int ended; /* the end of the compressed stream is in `ahead` */
} wstream;

/* Feeds the input up to `upto` bytes read in all. */
static int wstream_feed(wstream *st, size_t upto) {
  int rc = 0;
  while (rc == 0 && st->consumed < upto) {
    irpc_bytes seg = irpc_buf_segment(st->in, st->seg);
    size_t n = seg.len - st->off;
    if (n > upto - st->consumed)
      n = upto - st->consumed;
    rc = irpc__cstream_feed(&st->cs, seg.base + st->off, n, IRPC__OP_RUN);
    st->off += n;
    st->consumed += n;
    if (st->off == seg.len) {
      st->seg++;
      st->off = 0;
    }
  }
  return rc;
}

/* Compresses a prefix until the output is sure to shrink. Returns 0, 1
 * (send the payload as it is: not sure by the end of the prefix, or it
 * did not shrink) or a negative error. */
static int wstream_decide(wstream *st) {
  size_t limit = st->total / 8 > PREFIX_MAX ? st->total / 8 : PREFIX_MAX;
  for (size_t check = RELEASE_CHECK;; check *= 2) {
    int rc = wstream_feed(st, check < st->total ? check : st->total);
    if (rc)
      return rc;
    if (st->consumed == st->total) {
      rc = irpc__cstream_feed(&st->cs, NULL, 0, IRPC__OP_END);
      st->ended = 1;
      return rc ? rc : irpc__cstream_produced(&st->cs) < st->total ? 0 : 1;
    }
    int sure;
    rc = irpc__cstream_checkpoint(&st->cs, st->total, st->total - st->consumed,
                                  &sure);
    if (rc || sure)
      return rc;
    if (check >= limit)
      return 1;
  }
}

static void writer_end(void *state) {
  wstream *st = state;
  irpc__codec_end(&st->cs.c);
  irpc_buf_free(st->ahead);
  irpc_free(st);
}

static int writer_begin(const void *config, irpc_fields *fields,
                        uint64_t peer_formats, const irpc_buf *in,
                        void **state) {
  const wcfg *w = config;
  size_t total = irpc_buf_len(in);
  int format = writer_format(w, fields, peer_formats, total);
  if (!format)
    return IRPC_PAYLOAD_UNCHANGED;
  wstream *st = irpc_calloc(1, sizeof(*st));
  if (!st)
    return IRPC_ENOMEM;
  int rc = irpc_buf_new(&st->ahead);
  if (rc == 0)
    rc = irpc__cstream_init(&st->cs, format, wcfg_level(w, format), total,
                            st->ahead, SIZE_MAX);
  if (rc) {
    irpc_buf_free(st->ahead);
    irpc_free(st);
    return rc;
  }
  st->in = in;
  st->total = total;
  rc = wstream_decide(st);
  if (rc == 0)
    rc = writer_mark(fields, format);
  if (rc) {
    writer_end(st);
    return rc > 0 ? IRPC_PAYLOAD_UNCHANGED : rc;
  }
  *state = st;
  return 0;
}

static int writer_next(void *state, irpc_buf *out, size_t want, int *done) {
  wstream *st = state;
  int rc = 0;
  while (rc == 0 && !st->ended && irpc_buf_len(st->ahead) < want) {
    if (st->consumed < st->total) {
      size_t room = st->total - st->consumed;
      rc = wstream_feed(st,
                        st->consumed + (room < PULL_SLICE ? room : PULL_SLICE));
    } else {
      rc = irpc__cstream_feed(&st->cs, NULL, 0, IRPC__OP_END);
      st->ended = 1;
    }
  }
  if (rc == 0)
    rc = irpc_buf_move(out, st->ahead);
  if (rc)
    return rc;
  st->cs.left = 0; /* its last block went with the rest */
  *done = st->ended;
  return 0;
}

/* A payload with a continuation: compressed as one stream with it, chunk
 * by chunk; its size is unknown, so min_size does not apply. */
static int writer_begin_cont(const void *config, irpc_fields *fields,
                             uint64_t peer_formats, const irpc_buf *in,
                             irpc_buf *out,
                             const irpc_stream_transform_ops **xf,
                             void **state) {
  const wcfg *w = config;
  int format = writer_format(w, fields, peer_formats, SIZE_MAX);
  if (!format)
    return IRPC_PAYLOAD_UNCHANGED;
  int rc = irpc__compress_begin_cont(format, wcfg_level(w, format), in, out, xf,
                                     state);
  if (rc == 0 && (rc = writer_mark(fields, format)) != 0) {
    (*xf)->free(*state);
    irpc_buf_clear(out);
  }
  return rc;
}

const irpc_payload_writer_ops irpc__compress_writer = {
    .struct_size = sizeof(irpc_payload_writer_ops),
    .name = "compress",
    .write = writer_write,
    .begin = writer_begin,
    .next = writer_next,
    .end = writer_end,
    .begin_continuation = writer_begin_cont,
};

static void wcfg_from(wcfg *w, const irpc_compress_options *o, int contract) {
  memset(w, 0, sizeof(*w));
  memcpy(w->formats, o->formats, sizeof(w->formats));
  w->levels[0] = (int8_t)o->zstd_level;
  w->levels[1] = (int8_t)o->brotli_level;
  w->levels[2] = (int8_t)o->deflate_level;
  w->contract = (uint8_t)(contract != 0);
  w->min_size = o->min_size;
}

int irpc__compress_use_on_request(irpc_outgoing_request *r,
                                  const irpc_compress_options *o,
                                  int contract) {
  if (!r || !o || irpc__compress_options_check(o))
    return IRPC_EINVAL;
  wcfg w;
  wcfg_from(&w, o, contract);
  return irpc_outgoing_request_use_writer(r, &irpc__compress_writer, &w,
                                          sizeof(w));
}

int irpc_compress_use_on_request(irpc_outgoing_request *r,
                                 const irpc_compress_options *o) {
  irpc_compress_options c;
  int err;
  if (o && !(o = IRPC__VIEW(o, &c, irpc_compress_options, &err)))
    return err;
  return irpc__compress_use_on_request(r, o, 1);
}

int irpc__compress_use_on_response_for(irpc_outgoing_response *r,
                                       const irpc_compress_options *o,
                                       int contract, uint64_t accept) {
  if (!r || !o || irpc__compress_options_check(o))
    return IRPC_EINVAL;
  wcfg w;
  wcfg_from(&w, o, contract);
  w.has_accept = 1;
  w.accept = accept;
  return irpc_outgoing_response_use_writer(r, &irpc__compress_writer, &w,
                                           sizeof(w));
}

int irpc_compress_use_on_response(irpc_outgoing_response *r,
                                  const irpc_compress_options *o) {
  irpc_compress_options c;
  int err;
  if (o && !(o = IRPC__VIEW(o, &c, irpc_compress_options, &err)))
    return err;
  if (!r || !o || irpc__compress_options_check(o))
    return IRPC_EINVAL;
  wcfg w;
  wcfg_from(&w, o, 1);
  return irpc_outgoing_response_use_writer(r, &irpc__compress_writer, &w,
                                           sizeof(w));
}

/* Decompresses a payload whose compression field is `field` in place.
 * Returns 0 (also when the format is unknown: left alone, IceRPC's rule),
 * or IRPC_EDATA, IRPC_ELIMIT, IRPC_ENOMEM. */
int irpc__decompress_stream(irpc_fields *fields, irpc_stream_reader *r,
                            uint64_t max_chunk) {
  irpc_bytes v;
  if (irpc_fields_get(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v))
    return 0;
  if (v.len != 1)
    return IRPC_EDATA;
  if (v.base[0] == IRPC_COMPRESSION_NONE)
    return 0;
  if (!(irpc_compress_formats_readable() &
        irpc__compress_format_bit(v.base[0])))
    return IRPC_ENOTSUP;
  int rc = irpc__decompress_cont(v.base[0], max_chunk, r);
  if (rc == 0)
    irpc_fields_remove(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT);
  return rc;
}

int irpc__decompress_payload(irpc_fields *fields, irpc_buf *payload,
                             uint64_t max_size) {
  irpc_bytes v;
  if (irpc_fields_get(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT, &v))
    return 0;
  if (v.len != 1)
    return IRPC_EDATA;
  if (v.base[0] == IRPC_COMPRESSION_NONE)
    return 0; /* IceRPC's NotCompressed: nothing to do */
  if (!(irpc_compress_formats_readable() &
        irpc__compress_format_bit(v.base[0])))
    return IRPC_ENOTSUP;
  irpc_buf *tmp;
  int rc = irpc_buf_new(&tmp);
  if (rc)
    return rc;
  rc = irpc_decompress(v.base[0], payload, 1, max_size, tmp);
  if (rc == 0) {
    irpc_buf_clear(payload);
    rc = irpc_buf_move(payload, tmp);
    irpc_fields_remove(fields, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT);
  }
  irpc_buf_free(tmp);
  return rc;
}
