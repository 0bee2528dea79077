/* A producer and a consumer of payload continuations (irpc/stream.h) for
 * the stream tests: the producer writes a known pattern as its writer
 * takes it, the consumer checks what its reader hands over. Each asserts
 * that its end came once. */
#ifndef IRPC_TESTS_STREAM_KIT_H
#define IRPC_TESTS_STREAM_KIT_H

#include <stddef.h>
#include <stdint.h>

#include <irpc/irpc.h>
#include <uv.h>

/* The byte at offset `off` of the pattern. */
uint8_t stream_pattern(uint64_t off);

/* Writes `total` pattern bytes, `chunk` at a time, as the writer takes
 * them, then ends the writer. */
typedef struct producer {
  irpc_stream_writer *w;
  uint64_t total, sent;
  uint64_t base; /* the pattern's offset of the first byte written */
  size_t chunk;
  uint64_t abort_at; /* abort once this many were written (0: never) */
  uint64_t hold_at;  /* write no more once this many were written (0: no) */
  int hold;          /* write nothing until released */
  int free_on_end;   /* free the writer in on_end */
  int end_called;
  int end_rc; /* what irpc_stream_writer_end returned */
  int ended;
  int end_err;
  int eagain; /* writes the writer refused with IRPC_EAGAIN */
} producer;

/* A producer of `total` bytes in chunks of 64 KiB, its writer new. */
void producer_init(producer *p, uv_loop_t *loop, uint64_t total);
/* Writes what it may now (also what on_writable calls). */
void produce(producer *p);
void producer_fini(producer *p);

/* Checks that its reader hands over `prefix`, then the pattern. */
typedef struct consumer {
  irpc_stream_reader *r;
  uint64_t got;
  const char *prefix; /* bytes expected before the pattern (a payload) */
  int bad;
  uint64_t stop_at; /* free the reader once this many came (0: never) */
  int stopped;
  int slow;   /* pause after each chunk; resumed by the test */
  int paused; /* paused by on_data */
  /* keep what arrives in `kept` until it holds `keep` bytes */
  size_t keep;
  irpc_buf *kept;
  int ended;
  int end_err;
} consumer;

/* Its reader's callbacks, for ops of a reader that does more at its end
 * (user data: the consumer). */
void consumer_on_data(irpc_stream_reader *r, irpc_buf *data, void *ud);
void consumer_on_end(irpc_stream_reader *r, int err, void *ud);
/* Starts reading `r` (not NULL) into `c`, set up beforehand. */
void consumer_start(consumer *c, irpc_stream_reader *r);
/* Frees the reader and what was kept. */
void consumer_fini(consumer *c);

#endif
