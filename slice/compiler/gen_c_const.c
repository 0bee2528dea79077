/* irpc-slicec: C for the constants of .ice files (gen_c_const.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_c_const.h"

typedef struct buf {
  char *p;
  size_t n, cap;
  bool oom;
} buf;

static void put(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
  if (b->oom)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k =
        vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
      b->oom = true;
      return;
    }
    if (b->p && b->n + (size_t)k < b->cap) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = (b->cap ? b->cap : 64) * 2 + (size_t)k;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

/* A doc comment: the overview, its lines prefixed, and no end of comment
 * inside. */
static void put_doc(buf *b, const slicec_doc *doc) {
  if (!doc || !*doc->overview)
    return;
  put(b, "/* ");
  for (const char *s = doc->overview; *s; s++) {
    if (*s == '\n')
      put(b, "\n * ");
    else if (s[0] == '*' && s[1] == '/')
      put(b, "* ");
    else
      put(b, "%c", *s);
  }
  put(b, " */\n");
}

static void put_string(buf *b, const char *s, size_t len) {
  put(b, "\"");
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\')
      put(b, "\\%c", ch);
    else if (ch == '\n')
      put(b, "\\n");
    else if (ch == '\t')
      put(b, "\\t");
    else if (ch < 0x20 || ch >= 0x7f ||
             (ch == '?' && i + 1 < len && s[i + 1] == '?'))
      put(b, "\\%03o", ch); /* also breaks up trigraphs */
    else
      put(b, "%c", ch);
  }
  put(b, "\"");
}

static void put_double(buf *b, double f, bool single) {
  char num[64];
  snprintf(num, sizeof num, "%.17g", f);
  /* A C floating literal needs a point or an exponent. */
  bool real = strpbrk(num, ".e") != NULL;
  put(b, "%s%s%s", num, real ? "" : ".0", single ? "f" : "");
}

char *slicec_gen_c_const(const slicec_def *d, const char *cname,
                         const char *enum_cname) {
  if (!d || d->kind != SLICEC_DEF_CONST || !d->u.cnst.value || !cname)
    return NULL;
  const slicec_value *v = d->u.cnst.value;
  const slicec_type_ref *t = slicec_type_unalias(d->u.cnst.type);
  if (!t)
    return NULL;
  buf b = {0};
  put_doc(&b, d->doc);
  put(&b, "#define %s ", cname);
  switch (v->kind) {
  case SLICEC_VALUE_BOOL:
    put(&b, "%s", v->b ? "true" : "false");
    break;
  case SLICEC_VALUE_INT: {
    const char *ct = "int64_t";
    if (t->kind == SLICEC_TYPE_PRIMITIVE) {
      switch (t->primitive) {
      case SLICEC_UINT8:
        ct = "uint8_t";
        break;
      case SLICEC_INT16:
        ct = "int16_t";
        break;
      case SLICEC_INT32:
        ct = "int32_t";
        break;
      default:
        break;
      }
    }
    if (strcmp(ct, "int64_t") == 0) {
      if (v->i == INT64_MIN)
        put(&b, "(-INT64_C(9223372036854775807) - 1)");
      else
        put(&b, "INT64_C(%lld)", (long long)v->i);
    } else {
      put(&b, "((%s)%lld)", ct, (long long)v->i);
    }
    break;
  }
  case SLICEC_VALUE_FLOAT:
    put_double(&b, v->f,
               t->kind == SLICEC_TYPE_PRIMITIVE &&
                   t->primitive == SLICEC_FLOAT32);
    break;
  case SLICEC_VALUE_STRING:
    put_string(&b, v->str, v->len);
    break;
  case SLICEC_VALUE_ENUMERATOR:
    if (!v->enumerator || !enum_cname) {
      free(b.p);
      return NULL;
    }
    put(&b, "((%s)%lld) /* %s */", enum_cname, (long long)v->enumerator->value,
        v->enumerator->name);
    break;
  }
  put(&b, "\n");
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}
