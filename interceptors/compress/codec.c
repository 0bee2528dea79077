/* The codec dispatch: the ops table of each format this build has, and the
 * allocator the codec libraries share. */
#include <string.h>

#include "codec.h"
#include "irpc/alloc.h"
#include "irpc/compress.h"
#include "irpc/error.h"
#include "model/compression.h"

/* Extra room on a codec's own bound: a flush per checkpoint adds a few
 * bytes, and an error here only delays releasing the input. */
#define BOUND_SLACK ((size_t)1024)
#define BOUND_SLACK_SHIFT 7 /* plus 1/128 of the remaining input */

static const irpc__codec_ops *const codecs[] = {
    &irpc__codec_zstd, &irpc__codec_brotli, &irpc__codec_deflate};

_Static_assert(IRPC__COMPRESSION_FORMATS_BUILT ==
                   (IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_ZSTD) |
                    IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_BROTLI) |
                    IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_DEFLATE)),
               "the formats the core announces are those with a codec here");

const irpc__codec_ops *irpc__codec_find(int format) {
  for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
    if (codecs[i]->format == format)
      return codecs[i];
  return NULL;
}

int irpc__codec_level_ok(int format, int level) {
  const irpc__codec_ops *ops = irpc__codec_find(format);
  return ops && ops->level_ok(level);
}

int irpc__codec_init(irpc__codec *c, int format, int decompress, int level,
                     size_t size_hint) {
  memset(c, 0, sizeof(*c));
  c->ops = irpc__codec_find(format);
  if (!c->ops)
    return IRPC_ENOTSUP;
  c->decompress = decompress;
  return c->ops->init(c, level, size_hint);
}

size_t irpc__codec_bound(irpc__codec *c, size_t remaining) {
  size_t b = c->ops->bound(c, remaining);
  if (b == 0 || b > SIZE_MAX / 2)
    return SIZE_MAX / 2;
  return b + (remaining >> BOUND_SLACK_SHIFT) + BOUND_SLACK;
}

void *irpc__codec_alloc(void *opaque, size_t n) {
  (void)opaque;
  return irpc_malloc(n);
}

void irpc__codec_free(void *opaque, void *p) {
  (void)opaque;
  irpc_free(p);
}
