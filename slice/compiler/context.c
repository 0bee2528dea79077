/* irpc-slicec: the library entry points (slicec.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

slicec_context *slicec_context_new(void) {
  slicec_context *c = calloc(1, sizeof(*c));
  return c;
}

void slicec_context_free(slicec_context *c) {
  if (!c)
    return;
  sc_arena_free(&c->arena);
  free(c);
}

void slicec_set_diag_callback(slicec_context *c, slicec_diag_fn fn,
                              void *user_data) {
  c->diag_fn = fn;
  c->diag_ud = user_data;
}

int slicec_define(slicec_context *c, const char *name) {
  if (!name || !((name[0] >= 'a' && name[0] <= 'z') ||
                 (name[0] >= 'A' && name[0] <= 'Z')))
    return -1;
  for (const char *s = name; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_'))
      return -1;
  char *copy = sc_strdup(&c->arena, name);
  if (!copy)
    return -1;
  size_t before = c->defines.n;
  sc_vec_push(&c->arena, &c->defines, copy);
  return c->defines.n > before ? 0 : -1;
}

static sc_file *find_file(slicec_context *c, const char *canon) {
  for (size_t i = 0; i < c->files.n; i++) {
    sc_file *f = c->files.items[i];
    if (strcmp(f->canon, canon) == 0)
      return f;
  }
  return NULL;
}

static int add_text(slicec_context *c, const char *name, const char *canon,
                    char *text, size_t len, bool reference) {
  sc_file *old = find_file(c, canon);
  if (old) {
    /* Given as a source anywhere, it is a source. A file that an #include
     * brought in is no duplicate. */
    if (!reference)
      old->pub->reference = false;
    if (old->from_include) {
      old->from_include = false;
      return 0;
    }
    slicec_loc loc = {old->pub->path, 0, 0};
    sc_lint(c, NULL, 0, loc, "DuplicateFile",
            "slice file was provided more than once");
    return 0;
  }
  sc_file *f = sc_alloc(&c->arena, sizeof(*f));
  slicec_file *pub = sc_alloc(&c->arena, sizeof(*pub));
  char *path = sc_strdup(&c->arena, name);
  char *canon_copy = sc_strdup(&c->arena, canon);
  if (!f || !pub || !path || !canon_copy) {
    sc_oom(c);
    return -1;
  }
  pub->path = path;
  pub->reference = reference;
  pub->mode = SLICEC_MODE_SLICE2;
  pub->ice = sc_is_ice_path(name);
  f->ice = pub->ice;
  f->pub = pub;
  f->canon = canon_copy;
  f->text = text;
  f->len = len;
  size_t before = c->files.n;
  sc_vec_push(&c->arena, &c->files, f);
  if (c->files.n == before) {
    sc_oom(c);
    return -1;
  }
  return 0;
}

static int add_buffer(slicec_context *c, const char *name, const char *canon,
                      const char *text, size_t len, bool reference) {
  char *copy = sc_alloc(&c->arena, len + 1);
  if (!copy) {
    sc_oom(c);
    return -1;
  }
  memcpy(copy, text, len);
  return add_text(c, name, canon, copy, len, reference);
}

int slicec_add_buffer(slicec_context *c, const char *name, const char *text,
                      size_t len, bool reference) {
  return add_buffer(c, name, name, text, len, reference);
}

int slicec_add_include_dir(slicec_context *c, const char *dir) {
  char *copy = dir ? sc_strdup(&c->arena, dir) : NULL;
  if (!copy)
    return -1;
  size_t before = c->include_dirs.n;
  sc_vec_push(&c->arena, &c->include_dirs, copy);
  return c->include_dirs.n > before ? 0 : -1;
}

/* An included file larger than this is refused (a source file given on
 * the command line is read whatever its size). */
#define MAX_INCLUDE_SIZE ((size_t)64 << 20)

static int read_file(slicec_context *c, const char *path, bool reference,
                     slicec_loc loc, size_t max) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    sc_error(c, loc, "E001", "unable to read '%s': %s", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  int rc = -1;
  while (buf) {
    if (len == cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb)
        break;
      buf = nb;
      cap *= 2;
    }
    size_t n = fread(buf + len, 1, cap - len, fp);
    len += n;
    if (len > max) {
      sc_error(c, loc, "E001", "unable to read '%s': larger than %zu MiB", path,
               max >> 20);
      free(buf);
      fclose(fp);
      return -1;
    }
    if (n == 0) {
      if (ferror(fp)) {
        sc_error(c, loc, "E001", "unable to read '%s': %s", path,
                 strerror(errno));
        free(buf);
        fclose(fp);
        return -1;
      }
      char *canon = realpath(path, NULL);
      rc = add_buffer(c, path, canon ? canon : path, buf, len, reference);
      free(canon);
      break;
    }
  }
  if (!buf || rc < 0)
    sc_oom(c);
  free(buf);
  fclose(fp);
  return rc;
}

int slicec_add_file(slicec_context *c, const char *path, bool reference) {
  slicec_loc loc = {path, 0, 0};
  return read_file(c, path, reference, loc, SIZE_MAX);
}

sc_file *sc_include_file(slicec_context *c, const char *path, slicec_loc at) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
    sc_error(c, at, "E001", "unable to read '%s': %s", path,
             stat(path, &st) != 0 ? strerror(errno) : "not a regular file");
    return NULL;
  }
  char *canon = realpath(path, NULL);
  sc_file *f = find_file(c, canon ? canon : path);
  if (!f) {
    size_t before = c->files.n;
    if (read_file(c, path, true, at, MAX_INCLUDE_SIZE) == 0 &&
        c->files.n > before) {
      f = c->files.items[c->files.n - 1];
      f->from_include = true;
    }
  }
  free(canon);
  if (f)
    sc_process_file(c, f);
  return f;
}

void sc_process_file(slicec_context *c, sc_file *f) {
  if (f->processed)
    return;
  f->processed = true;
  /* As slicec does, a file whose directives are wrong is not parsed: what
   * the parser would see is unknown. */
  size_t errors = c->nerrors;
  if (f->ice)
    sc_ice_preprocess(c, f);
  else
    sc_preprocess(c, f);
  if (c->nerrors > errors) {
    f->pub->defs = NULL;
    return;
  }
  size_t n = 0;
  sc_tok *toks = f->ice ? sc_ice_lex(c, f, &n) : sc_lex(c, f, &n);
  if (!toks) {
    sc_oom(c);
    return;
  }
  if (f->ice)
    sc_ice_parse(c, f, toks, n);
  else
    sc_parse(c, f, toks, n);
  free(toks);
}

int slicec_compile(slicec_context *c) {
  if (c->compiled)
    return -1;
  c->compiled = true;
  /* Files an #include adds are appended and processed at the include. */
  for (size_t i = 0; i < c->files.n; i++)
    sc_process_file(c, c->files.items[i]);
  if (c->need_service_address)
    sc_add_service_address(c);
  c->ast.files = (const slicec_file *const *)c->files.items;
  c->ast.nfiles = c->files.n;
  /* Pointers in the model point at each file's slicec_file. */
  sc_vec pubs = {0};
  for (size_t i = 0; i < c->files.n; i++)
    sc_vec_push(&c->arena, &pubs, ((sc_file *)c->files.items[i])->pub);
  c->ast.files = (const slicec_file *const *)pubs.items;
  sc_check_attributes(c);
  sc_resolve(c);
  sc_ice_resolve_values(c);
  sc_check(c);
  sc_ice_check(c);
  sc_check_docs(c);
  if (c->arena.failed)
    sc_oom(c);
  return c->nerrors ? -1 : 0;
}

const slicec_ast *slicec_get_ast(const slicec_context *c) {
  return &c->ast;
}

size_t slicec_error_count(const slicec_context *c) {
  return c->nerrors;
}

size_t slicec_warning_count(const slicec_context *c) {
  return c->nwarnings;
}
