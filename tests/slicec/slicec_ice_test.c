/* irpc-slicec: the .ice front end. A .ice file must give the model that the
 * same definitions written as .slice files in Slice1 mode give (compared
 * element by element, positions aside), ZeroC's own definitions compile,
 * and mistakes are reported with their position. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "slicec_testlib.h"

#ifndef ICE_FILES
#error "ICE_FILES: the folder of the .ice test files"
#endif
#ifndef ZEROC_SLICE_DIR
#define ZEROC_SLICE_DIR "/usr/share/ice/slice"
#endif

/* ---- the model, element by element ---------------------------------------
 */

typedef struct cmp {
  char where[512];
  char why[512];
  bool docs; /* compare doc comments too */
} cmp;

static bool differ(cmp *k, const char *where, const char *fmt, const char *a,
                   const char *b) {
  snprintf(k->where, sizeof k->where, "%s", where);
  snprintf(k->why, sizeof k->why, fmt, a ? a : "(null)", b ? b : "(null)");
  return false;
}

static bool same_str(cmp *k, const char *where, const char *a, const char *b) {
  if ((!a && !b) || (a && b && strcmp(a, b) == 0))
    return true;
  return differ(k, where, "'%s' vs '%s'", a, b);
}

static bool same_int(cmp *k, const char *where, long long a, long long b) {
  if (a == b)
    return true;
  char x[32], y[32];
  snprintf(x, sizeof x, "%lld", a);
  snprintf(y, sizeof y, "%lld", b);
  return differ(k, where, "%s vs %s", x, y);
}

static bool same_attrs(cmp *k, const char *where, slicec_attr_list a,
                       slicec_attr_list b) {
  if (!same_int(k, where, (long long)a.n, (long long)b.n))
    return false;
  for (size_t i = 0; i < a.n; i++) {
    if (!same_str(k, where, a.items[i]->directive, b.items[i]->directive) ||
        !same_int(k, where, (long long)a.items[i]->nargs,
                  (long long)b.items[i]->nargs))
      return false;
    for (size_t j = 0; j < a.items[i]->nargs; j++)
      if (!same_str(k, where, a.items[i]->args[j], b.items[i]->args[j]))
        return false;
  }
  return true;
}

static bool same_doc(cmp *k, const char *where, const slicec_doc *a,
                     const slicec_doc *b) {
  if (!k->docs)
    return true;
  if (!a || !b)
    return a == b || differ(k, where, "doc %s vs %s", a ? "present" : "none",
                            b ? "present" : "none");
  if (!same_str(k, where, a->overview, b->overview) ||
      !same_int(k, where, (long long)a->ntags, (long long)b->ntags))
    return false;
  for (size_t i = 0; i < a->ntags; i++)
    if (!same_int(k, where, a->tags[i]->kind, b->tags[i]->kind) ||
        !same_str(k, where, a->tags[i]->name, b->tags[i]->name) ||
        !same_str(k, where, a->tags[i]->text, b->tags[i]->text))
      return false;
  return true;
}

static bool same_type(cmp *k, const char *where, const slicec_type_ref *a,
                      const slicec_type_ref *b) {
  if (!a || !b)
    return a == b || differ(k, where, "type %s vs %s", a ? "set" : "none",
                            b ? "set" : "none");
  if (!same_int(k, where, a->kind, b->kind) ||
      !same_int(k, where, a->optional, b->optional) ||
      !same_attrs(k, where, a->attrs, b->attrs))
    return false;
  switch (a->kind) {
  case SLICEC_TYPE_PRIMITIVE:
    return same_int(k, where, a->primitive, b->primitive);
  case SLICEC_TYPE_SEQUENCE:
    return same_type(k, where, a->element, b->element);
  case SLICEC_TYPE_DICTIONARY:
    return same_type(k, where, a->key, b->key) &&
           same_type(k, where, a->value, b->value);
  case SLICEC_TYPE_RESULT:
    return same_type(k, where, a->success, b->success) &&
           same_type(k, where, a->failure, b->failure);
  case SLICEC_TYPE_DEFINED:
    return same_str(k, where, a->def ? a->def->scoped_name : NULL,
                    b->def ? b->def->scoped_name : NULL);
  }
  return false;
}

static bool same_members(cmp *k, const char *where, slicec_member_list a,
                         slicec_member_list b) {
  if (!same_int(k, where, (long long)a.n, (long long)b.n))
    return false;
  for (size_t i = 0; i < a.n; i++) {
    const slicec_member *x = a.items[i], *y = b.items[i];
    char w[512];
    snprintf(w, sizeof w, "%s member %s", where, x->name);
    if (!same_str(k, w, x->name, y->name) ||
        !same_type(k, w, x->type, y->type) ||
        !same_int(k, w, x->tagged, y->tagged) ||
        !same_int(k, w, x->tag, y->tag) ||
        !same_int(k, w, x->stream, y->stream) ||
        !same_int(k, w, (long long)x->index, (long long)y->index) ||
        !same_attrs(k, w, x->attrs, y->attrs) ||
        !same_doc(k, w, x->doc, y->doc))
      return false;
  }
  return true;
}

static bool same_def_lists(cmp *k, const char *where,
                           const slicec_def *const *a, size_t na,
                           const slicec_def *const *b, size_t nb) {
  if (!same_int(k, where, (long long)na, (long long)nb))
    return false;
  for (size_t i = 0; i < na; i++)
    if (!same_str(k, where, a[i] ? a[i]->scoped_name : NULL,
                  b[i] ? b[i]->scoped_name : NULL))
      return false;
  return true;
}

static bool same_def(cmp *k, const slicec_def *a, const slicec_def *b) {
  const char *w = a->scoped_name;
  if (!same_int(k, w, a->kind, b->kind) || !same_str(k, w, a->name, b->name) ||
      !same_str(k, w, a->module ? a->module->scoped_name : NULL,
                b->module ? b->module->scoped_name : NULL) ||
      !same_int(k, w, a->file->mode, b->file->mode) ||
      !same_int(k, w, a->file->reference, b->file->reference) ||
      !same_int(k, w, a->deprecated, b->deprecated) ||
      !same_attrs(k, w, a->attrs, b->attrs) || !same_doc(k, w, a->doc, b->doc))
    return false;
  switch (a->kind) {
  case SLICEC_DEF_STRUCT:
    return same_int(k, w, a->u.st.compact, b->u.st.compact) &&
           same_members(k, w, a->u.st.fields, b->u.st.fields);
  case SLICEC_DEF_ENUM:
    if (!same_int(k, w, a->u.en.unchecked, b->u.en.unchecked) ||
        !same_int(k, w, a->u.en.compact, b->u.en.compact) ||
        !same_type(k, w, a->u.en.underlying, b->u.en.underlying) ||
        !same_int(k, w, (long long)a->u.en.nenumerators,
                  (long long)b->u.en.nenumerators))
      return false;
    for (size_t i = 0; i < a->u.en.nenumerators; i++) {
      const slicec_enumerator *x = a->u.en.enumerators[i],
                              *y = b->u.en.enumerators[i];
      if (!same_str(k, w, x->name, y->name) ||
          !same_int(k, w, x->value, y->value) ||
          !same_int(k, w, x->explicit_value, y->explicit_value) ||
          !same_doc(k, w, x->doc, y->doc))
        return false;
    }
    return true;
  case SLICEC_DEF_CUSTOM:
    return true;
  case SLICEC_DEF_ALIAS:
    return same_type(k, w, a->u.alias.type, b->u.alias.type);
  case SLICEC_DEF_INTERFACE:
    if (!same_def_lists(k, w, a->u.iface.bases, a->u.iface.nbases,
                        b->u.iface.bases, b->u.iface.nbases) ||
        !same_def_lists(k, w, a->u.iface.all_bases, a->u.iface.nall_bases,
                        b->u.iface.all_bases, b->u.iface.nall_bases) ||
        !same_int(k, w, (long long)a->u.iface.nops, (long long)b->u.iface.nops))
      return false;
    for (size_t i = 0; i < a->u.iface.nops; i++) {
      const slicec_operation *x = a->u.iface.ops[i], *y = b->u.iface.ops[i];
      char ow[512];
      snprintf(ow, sizeof ow, "%s op %s", w, x->name);
      if (!same_str(k, ow, x->name, y->name) ||
          !same_int(k, ow, x->idempotent, y->idempotent) ||
          !same_int(k, ow, x->oneway, y->oneway) ||
          !same_int(k, ow, x->compress_args, y->compress_args) ||
          !same_int(k, ow, x->compress_return, y->compress_return) ||
          !same_int(k, ow, x->sliced_args, y->sliced_args) ||
          !same_int(k, ow, x->sliced_return, y->sliced_return) ||
          !same_int(k, ow, x->returns_tuple, y->returns_tuple) ||
          !same_members(k, ow, x->params, y->params) ||
          !same_members(k, ow, x->returns, y->returns) ||
          !same_def_lists(k, ow, x->throws, x->nthrows, y->throws,
                          y->nthrows) ||
          !same_str(k, ow, x->iface->scoped_name, y->iface->scoped_name) ||
          !same_attrs(k, ow, x->attrs, y->attrs) ||
          !same_doc(k, ow, x->doc, y->doc))
        return false;
    }
    return true;
  case SLICEC_DEF_CLASS:
    return same_str(k, w, a->u.cls.base ? a->u.cls.base->scoped_name : NULL,
                    b->u.cls.base ? b->u.cls.base->scoped_name : NULL) &&
           same_members(k, w, a->u.cls.fields, b->u.cls.fields);
  case SLICEC_DEF_EXCEPTION:
    return same_str(k, w, a->u.exc.base ? a->u.exc.base->scoped_name : NULL,
                    b->u.exc.base ? b->u.exc.base->scoped_name : NULL) &&
           same_members(k, w, a->u.exc.fields, b->u.exc.fields);
  case SLICEC_DEF_CONST:
    return true;
  }
  return false;
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(const slicec_def *const *)a)->scoped_name,
                (*(const slicec_def *const *)b)->scoped_name);
}

/* Every definition of the model but constants (.slice has none), sorted
 * by scoped name. */
static size_t collect(const slicec_ast *ast, const slicec_def **out,
                      size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < ast->nfiles; i++)
    for (size_t j = 0; j < ast->files[i]->ndefs; j++)
      if (ast->files[i]->defs[j]->kind != SLICEC_DEF_CONST && n < cap)
        out[n++] = ast->files[i]->defs[j];
  qsort(out, n, sizeof(*out), by_name);
  return n;
}

static void expect_same(const slicec_ast *ice, const slicec_ast *slice,
                        bool docs) {
  const slicec_def *a[256], *b[256];
  size_t na = collect(ice, a, 256), nb = collect(slice, b, 256);
  cmp k = {.docs = docs};
  bool ok = true;
  for (size_t i = 0; ok && i < na && i < nb; i++) {
    ok = same_str(&k, "definitions", a[i]->scoped_name, b[i]->scoped_name) &&
         same_def(&k, a[i], b[i]);
  }
  if (ok && na != nb) {
    ok = false;
    snprintf(k.why, sizeof k.why, "%zu definitions vs %zu", na, nb);
  }
  if (!ok) {
    print_message(".ice and .slice differ at %s: %s\n", k.where, k.why);
    fail();
  }
}

/* Compiles `paths`; those `refs` names (a string of '0' and '1', one a
 * path; NULL: none) are references. */
static slicec_context *compile(st_diags *d, const char *const *paths,
                               const char *refs, const char *include_dir) {
  slicec_context *c = st_context(d);
  assert_int_equal(slicec_define(c, "IRPC_ICE_TEST"), 0);
  if (include_dir)
    assert_int_equal(slicec_add_include_dir(c, include_dir), 0);
  for (size_t i = 0; paths[i]; i++)
    assert_int_equal(slicec_add_file(c, paths[i], refs && refs[i] == '1'), 0);
  int rc = slicec_compile(c);
  if (rc != 0 || d->n) {
    st_print(d);
    fail();
  }
  return c;
}

/* The .slice files of a folder, sorted; the first `first` comes first. */
static size_t slice_files(const char *dir, const char *first, char out[][512],
                          size_t cap) {
  DIR *dd = opendir(dir);
  assert_non_null(dd);
  size_t n = 0;
  struct dirent *e;
  snprintf(out[n++], 512, "%s/%s", dir, first);
  while ((e = readdir(dd)) && n < cap) {
    size_t l = strlen(e->d_name);
    if (l > 6 && strcmp(e->d_name + l - 6, ".slice") == 0 &&
        strcmp(e->d_name, first) != 0)
      snprintf(out[n++], 512, "%s/%s", dir, e->d_name);
  }
  closedir(dd);
  return n;
}

static void test_features_equal_slice1(void **state) {
  (void)state;
  st_diags d1, d2;
  const char *ice[] = {ICE_FILES "/Features.ice", NULL};
  slicec_context *ci = compile(&d1, ice, NULL, ICE_FILES "/inc");
  char names[16][512];
  size_t n = slice_files(ICE_FILES "/Features", "Demo.slice", names, 16);
  const char *paths[17];
  for (size_t i = 0; i < n; i++)
    paths[i] = names[i];
  paths[n] = NULL;
  /* Base.slice stands for the included Base.ice: a reference.
   * ServiceAddress.slice stands for the built-in file, which a source
   * uses: a source. */
  slicec_context *cs = st_context(&d2);
  for (size_t i = 0; i < n; i++) {
    bool ref = strstr(paths[i], "Base.slice") != NULL;
    assert_int_equal(slicec_add_file(cs, paths[i], ref), 0);
  }
  if (slicec_compile(cs) != 0 || d2.n) {
    st_print(&d2);
    fail();
  }
  expect_same(slicec_get_ast(ci), slicec_get_ast(cs), true);
  slicec_context_free(ci);
  slicec_context_free(cs);
}

static bool have_zeroc(void) {
  struct stat st;
  return stat(ZEROC_SLICE_DIR "/Ice/Locator.ice", &st) == 0;
}

static void test_zeroc_locator_equal_slice1(void **state) {
  (void)state;
  if (!have_zeroc())
    skip();
  st_diags d1, d2;
  const char *ice[] = {ZEROC_SLICE_DIR "/Ice/Locator.ice", NULL};
  slicec_context *ci = compile(&d1, ice, NULL, ZEROC_SLICE_DIR);
  const char *slice[] = {ICE_FILES "/zeroc/Locator.slice",
                         ICE_FILES "/zeroc/Identity.slice",
                         ICE_FILES "/zeroc/Process.slice",
                         ICE_FILES "/zeroc/ServiceAddress.slice", NULL};
  slicec_context *cs = compile(&d2, slice, "0110", NULL);
  expect_same(slicec_get_ast(ci), slicec_get_ast(cs), false);
  /* Included files are references; the doc comments are kept. */
  const slicec_ast *ast = slicec_get_ast(ci);
  assert_int_equal(ast->nfiles, 4);
  assert_false(ast->files[0]->reference);
  assert_true(ast->files[0]->ice);
  assert_true(ast->files[1]->reference);  /* Identity.ice */
  assert_true(ast->files[2]->reference);  /* Process.ice */
  assert_false(ast->files[3]->reference); /* the built-in ServiceAddress */
  const slicec_def *locator = NULL;
  for (size_t i = 0; i < ast->files[0]->ndefs; i++)
    if (strcmp(ast->files[0]->defs[i]->name, "Locator") == 0)
      locator = ast->files[0]->defs[i];
  assert_non_null(locator);
  assert_non_null(locator->doc);
  assert_non_null(strstr(locator->doc->overview, "The Ice locator interface"));
  const slicec_operation *find = locator->u.iface.ops[0];
  assert_string_equal(find->name, "findObjectById");
  assert_int_equal(find->doc->ntags, 3);
  assert_int_equal(find->doc->tags[0]->kind, SLICEC_DOC_PARAM);
  assert_string_equal(find->doc->tags[0]->name, "id");
  assert_string_equal(find->doc->tags[0]->text, "The identity.");
  assert_int_equal(find->doc->tags[2]->kind, SLICEC_DOC_THROWS);
  assert_string_equal(find->doc->tags[2]->name, "ObjectNotFoundException");
  slicec_context_free(ci);
  slicec_context_free(cs);
}

/* Every file of ZeroC's Ice/ compiles, except Metrics.ice, whose
 * interface MetricsAdmin needs IceMX's classes; BuiltinSequences.ice
 * compiles without ObjectSeq (a warning). */
static void test_zeroc_ice_folder(void **state) {
  (void)state;
  if (!have_zeroc())
    skip();
  DIR *dd = opendir(ZEROC_SLICE_DIR "/Ice");
  assert_non_null(dd);
  struct dirent *e;
  size_t ok = 0, refused = 0, total = 0;
  while ((e = readdir(dd))) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".ice") != 0)
      continue;
    total++;
    char path[512];
    snprintf(path, sizeof path, ZEROC_SLICE_DIR "/Ice/%s", e->d_name);
    st_diags d;
    slicec_context *c = st_context(&d);
    assert_int_equal(slicec_add_include_dir(c, ZEROC_SLICE_DIR), 0);
    assert_int_equal(slicec_add_file(c, path, false), 0);
    int rc = slicec_compile(c);
    bool classes = strcmp(e->d_name, "Metrics.ice") == 0;
    bool seqs = strcmp(e->d_name, "BuiltinSequences.ice") == 0;
    for (size_t i = 0; (classes || seqs) && i < d.n; i++) {
      if (!strstr(d.lines[i], "classes are not supported yet")) {
        print_message("%s: %s\n", e->d_name, d.lines[i]);
        fail();
      }
    }
    if (classes) {
      assert_int_equal(rc, -1);
      refused++;
    } else if (seqs) {
      assert_int_equal(rc, 0);
      assert_int_equal(d.errors, 0);
      assert_int_equal(d.warnings, 1);
      assert_non_null(strstr(d.lines[0], "54:18 UnsupportedClass type alias "
                                         "'Ice::ObjectSeq' is left out"));
      ok++;
    } else {
      if (rc != 0 || d.n) {
        print_message("%s:\n", e->d_name);
        st_print(&d);
        fail();
      }
      ok++;
    }
    slicec_context_free(c);
  }
  closedir(dd);
  assert_int_equal(refused, 1);
  print_message("%zu files of Ice/ compile\n", ok);
  assert_int_equal(ok, total - 1);
  assert_true(ok >= 30);
}

/* ---- constants and defaults ----------------------------------------------
 */

static const slicec_def *find_def(const slicec_ast *ast, const char *name) {
  for (size_t i = 0; i < ast->nfiles; i++)
    for (size_t j = 0; j < ast->files[i]->ndefs; j++)
      if (strcmp(ast->files[i]->defs[j]->scoped_name, name) == 0)
        return ast->files[i]->defs[j];
  return NULL;
}

static const slicec_value *const_value(const slicec_ast *ast,
                                       const char *name) {
  const slicec_def *d = find_def(ast, name);
  assert_non_null(d);
  assert_int_equal(d->kind, SLICEC_DEF_CONST);
  assert_non_null(d->u.cnst.value);
  return d->u.cnst.value;
}

static void test_constants(void **state) {
  (void)state;
  st_diags d;
  const char *ice[] = {ICE_FILES "/Features.ice", NULL};
  slicec_context *c = compile(&d, ice, NULL, ICE_FILES "/inc");
  const slicec_ast *ast = slicec_get_ast(c);
  const slicec_value *v = const_value(ast, "Demo::MaxShapes");
  assert_int_equal(v->kind, SLICEC_VALUE_INT);
  assert_int_equal(v->i, 16);
  assert_string_equal(v->literal, "0x10");
  v = const_value(ast, "Demo::Big");
  assert_true(v->i == INT64_MIN);
  v = const_value(ast, "Demo::Mask");
  assert_int_equal(v->i, 255); /* octal 0377 */
  assert_int_equal(find_def(ast, "Demo::Mask")->u.cnst.type->primitive,
                   SLICEC_UINT8);
  v = const_value(ast, "Demo::Half");
  assert_int_equal(v->kind, SLICEC_VALUE_FLOAT);
  assert_true(v->f == 0.5);
  v = const_value(ast, "Demo::Avogadro");
  assert_true(v->f == 6.02214076e23);
  v = const_value(ast, "Demo::Greeting");
  assert_int_equal(v->kind, SLICEC_VALUE_STRING);
  assert_int_equal(v->len, 11);
  assert_memory_equal(v->str, "hi\t\"you\"A\xc3\xa9", 11);
  v = const_value(ast, "Demo::Yes");
  assert_int_equal(v->kind, SLICEC_VALUE_BOOL);
  assert_true(v->b);
  v = const_value(ast, "Demo::Favorite");
  assert_int_equal(v->kind, SLICEC_VALUE_ENUMERATOR);
  assert_string_equal(v->enumerator->name, "Green");
  assert_int_equal(v->enumerator->value, 5);
  v = const_value(ast, "Demo::Other");
  assert_string_equal(v->enumerator->name, "Red");
  v = const_value(ast, "Demo::Copy");
  assert_int_equal(v->i, 16);
  assert_string_equal(v->literal, "MaxShapes");
  /* Defaults of data members. */
  const slicec_def *shape = find_def(ast, "Demo::Shape");
  assert_non_null(shape->u.st.fields.items[0]->default_value);
  assert_string_equal(
      shape->u.st.fields.items[0]->default_value->enumerator->name, "Blue");
  assert_null(shape->u.st.fields.items[1]->default_value);
  assert_true(shape->u.st.fields.items[3]->default_value->b);
  /* Local definitions are left out; the proxy type follows its interface. */
  assert_null(find_def(ast, "Demo::Painter"));
  assert_null(find_def(ast, "Demo::ObjectList"));
  const slicec_def *board = find_def(ast, "Demo::Draw::Board");
  const slicec_def *proxy = find_def(ast, "Demo::Draw::BoardProxy");
  assert_int_equal(proxy->kind, SLICEC_DEF_CUSTOM);
  assert_ptr_equal(board->module, proxy->module);
  assert_string_equal(board->module->scoped_name, "Demo::Draw");
  assert_string_equal(ast->files[0]->module->scoped_name, "Demo");
  slicec_context_free(c);
}

/* ---- diagnostics ----------------------------------------------------------
 */

typedef struct ice_case {
  const char *name;
  const char *src;
  const char *want[4]; /* errors make the compile fail; warnings do not */
} ice_case;

static const ice_case cases[] = {
    {"syntax error with its position",
     "module M {\n  struct S { int x }\n}\n",
     {"2:20 E002 expected ';', found '}'"}},
    {"definitions need a module",
     "struct S { int x; }\n",
     {"1:1 E002 'struct' definitions must be inside a module"}},
    {"keyword as a name",
     "module M { struct int { int x; } }\n",
     {"1:19 E002 keyword 'int' cannot be used as a name; escape it as "
      "'\\int'"}},
    {"recovery: one error a definition",
     "module M {\n  struct A { int; }\n  struct B { int y; }\n"
     "  struct C { bool }\n}\n",
     {"2:17 E002 expected a name, found ';'",
      "4:19 E002 expected a name, found '}'"}},
    {"class: left out",
     "module M { class C { int x; } }\n",
     {"1:18 UnsupportedClass class 'M::C' is left out of the generated code: "
      "it is a class, and classes are not supported yet"}},
    {"Object by value",
     "module M { interface I { void f(Object o); } }\n",
     {"1:33 E120 'Object' by value is a class instance: classes are not "
      "supported yet (a proxy is written 'Object*')"}},
    {"Value, in a sequence: left out",
     "module M { sequence<Value> VS; }\n",
     {"1:28 UnsupportedClass type alias 'M::VS' is left out of the generated "
      "code: it contains a class"}},
    {"interface by value",
     "module M { interface I {} exception E { I i; } }\n",
     {"1:41 E120 'I' by value is a class instance"}},
    {"a struct containing a class",
     "module M { class C {} struct S { C c; } "
     "interface I { void f(S s); } }\n",
     {"1:18 UnsupportedClass class 'M::C'",
      "1:30 UnsupportedClass struct 'M::S' is left out",
      "1:62 E120 'M::S' contains a class"}},
    {"local used by a definition",
     "module M { local struct L { int x; } struct S { L l; } }\n",
     {"1:49 E033 'M::L' is a local definition"}},
    {"LocalObject outside local",
     "module M { interface I { void f(LocalObject o); } }\n",
     {"1:33 E002 'LocalObject' can only be used in local definitions"}},
    {"optional in a struct",
     "module M { struct S { optional(1) int x; } }\n",
     {"1:23 E002 struct members cannot be optional"}},
    {"tag range",
     "module M { interface I { void f(optional(2147483648) int x); } }\n",
     {"1:42 E021 tag values must be within the range"}},
    {"duplicate tag",
     "module M { exception E { optional(1) int a; optional(1) int b; } }\n",
     {"1:61 E012 tags must be unique"}},
    {"in parameter after out",
     "module M { interface I { void f(out int a, int b); } }\n",
     {"1:48 E002 in parameter 'b' follows an out parameter"}},
    {"proxy of a built-in type",
     "module M { interface I { void f(int* p); } }\n",
     {"1:36 E002 'int*' is not a proxy"}},
    {"proxy of a struct",
     "module M { struct S { int x; } interface I { void f(S* p); } }\n",
     {"1:53 E017 type mismatch: expected an interface but found a struct"}},
    {"unknown type",
     "module M { struct S { Nope n; } }\n",
     {"1:23 E033 no element with identifier 'Nope' exists"}},
    {"constant out of range",
     "module M { const byte B = 256; const short S = -32769;\n"
     "  const int I = 2147483648; const long L = 9223372036854775808; }\n",
     {"1:27 E122 256 is out of the range of byte",
      "1:48 E122 -32769 is out of the range of short",
      "2:17 E122 2147483648 is out of the range of int",
      "2:44 E122 9223372036854775808 does not fit in 64 bits"}},
    {"constant of the wrong kind",
     "module M { enum E { A } const string S = 5; const bool B = 1;\n"
     "  const E X = B2; const float F = \"x\"; }\n",
     {"1:42 E122 5 is not a string", "1:60 E122 1 is not a bool",
      "2:15 E122 'B2' is neither a constant nor an enumerator",
      "2:35 E122 \"x\" is not a float"}},
    {"float constant out of range",
     "module M { const float F = 1e39; const double D = 1e999; }\n",
     {"1:28 E122 1e39 is out of the range of float",
      "1:51 E122 1e999 is out of the range of double"}},
    {"enumerators: unique values",
     "module M { enum E { A = 1, B = 1 } }\n",
     {"1:32 E022 enumerator values must be unique"}},
    {"enumerator from a constant",
     "module M { const int K = 7; enum E { A = K, B } const int N = -1;\n"
     "  enum F { X = N } }\n",
     {"2:16 E020 invalid enumerator 'X'"}},
    {"redefinition",
     "module M { struct S { int x; } module M2 {} struct S { int y; } }\n",
     {"1:52 E010 redefinition of 'S'"}},
    {"proxy name taken",
     "module M { interface I {} struct IProxy { int x; } }\n",
     {"1:34 E010 redefinition of 'IProxy'"}},
    {"exception used as a type",
     "module M { exception E {} struct S { E e; } }\n",
     {"1:38 E017 type mismatch: expected a type but found an exception"}},
    {"throws a struct",
     "module M { struct S { int x; } interface I { void f() throws S; } }\n",
     {"1:62 E017 type mismatch: expected an exception but found a struct"}},
    {"base of the wrong kind",
     "module M { struct S { int x; } interface I extends S {} }\n",
     {"1:52 E017 expected an interface but found a struct"}},
    {"preprocessor: #error, bad directive",
     "#if 1 + 2 == 3 && !defined(X)\n#error stop here\n#endif\n",
     {"2:1 E002 #error stop here"}},
    {"preprocessor: unknown directive",
     "#frobnicate\nmodule M {}\n",
     {"1:1 E002 unknown preprocessor directive #frobnicate"}},
    {"preprocessor: unbalanced",
     "#ifdef X\nmodule M {}\n",
     {"1:1 E002 #if without #endif"}},
    {"preprocessor: division by zero",
     "#if 1 / 0\n#endif\n",
     {"1:7 E002 division by zero"}},
    {"include not found",
     "#include <Nope/Missing.ice>\nmodule M {}\n",
     {"1:1 E001 cannot find 'Nope/Missing.ice' to include"}},
    {"include of a non-.ice file",
     "#include \"x.slice\"\nmodule M {}\n",
     {"1:1 E002 only .ice files can be included"}},
    {"lexer: bad escape and unterminated comment",
     "module M { const string S = \"\\q\"; }\n/* open",
     {"1:30 E002 unknown escape sequence", "2:1 E002 unterminated block "
                                           "comment"}},
    {"file metadata after a definition",
     "module M {}\n[[\"x\"]]\n",
     {"2:1 E002 file metadata '[[...]]' must come before any definition"}},
    {"our metadata: unknown neutral attribute placement",
     "module M { [\"c:oneway\"] struct S { int x; } }\n",
     {"1:13 E023 oneway"}},
    {"comments and directives in comments",
     "/*\n#error not a directive\n*/\nmodule M { /** doc */ struct S { int "
     "x; } } // end\n",
     {NULL}},
    {"#if with values and precedence",
     "#define V 3\n#if V * 2 + 1 == 7 || 0 && 0\nmodule M {}\n#else\n#error "
     "no\n#endif\n",
     {NULL}},
};

static void test_diagnostics(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    st_diags d;
    slicec_context *c = st_context(&d);
    st_add(c, "t.ice", cases[i].src, false);
    int rc = slicec_compile(c);
    size_t n = 0;
    while (n < 4 && cases[i].want[n])
      n++;
    st_expect(&d, cases[i].want, n, cases[i].name);
    assert_int_equal(rc, d.errors ? -1 : 0);
    assert_int_equal(d.errors + d.warnings, n);
    for (size_t k = 0; k < d.n; k++)
      assert_string_equal(d.files[k], "t.ice");
    slicec_context_free(c);
  }
}

/* A file included from a source is a reference, and also a source when
 * given as one, without a DuplicateFile warning. */
static void test_include_and_source(void **state) {
  (void)state;
  st_diags d;
  slicec_context *c = st_context(&d);
  assert_int_equal(slicec_add_include_dir(c, ICE_FILES "/inc"), 0);
  assert_int_equal(slicec_define(c, "IRPC_ICE_TEST"), 0);
  assert_int_equal(slicec_add_file(c, ICE_FILES "/Features.ice", false), 0);
  assert_int_equal(slicec_add_file(c, ICE_FILES "/inc/Base.ice", false), 0);
  assert_int_equal(slicec_compile(c), 0);
  assert_int_equal(d.n, 0);
  const slicec_ast *ast = slicec_get_ast(c);
  assert_int_equal(ast->nfiles, 3); /* and the built-in ServiceAddress */
  assert_false(ast->files[1]->reference);
  /* Used by a source: generated too. */
  assert_string_equal(ast->files[2]->path,
                      "<built-in>/IceRpc/ServiceAddress.slice");
  assert_false(ast->files[2]->reference);
  slicec_context_free(c);
}

/* A .ice file may use the interfaces of .slice files: `I*` is the
 * `custom IProxy` declared beside I. */
static void test_proxy_of_slice_interface(void **state) {
  (void)state;
  st_diags d;
  slicec_context *c = st_context(&d);
  st_add(c, "a.slice",
         "mode = Slice1\nmodule A\ninterface I { f() }\ncustom IProxy\n"
         "interface J { g() }\n",
         false);
  st_add(c, "b.ice",
         "module B { interface K { A::I* get(); void put(A::J* j); } }\n",
         false);
  assert_int_equal(slicec_compile(c), -1);
  const char *want[] = {"1:48 E033 'A::J*' has no proxy type: declare 'custom "
                        "JProxy' beside interface 'A::J'"};
  st_expect(&d, want, 1, "proxy of a .slice interface");
  const slicec_def *k = find_def(slicec_get_ast(c), "B::K");
  assert_non_null(k);
  assert_string_equal(
      k->u.iface.ops[0]->returns.items[0]->type->def->scoped_name, "A::IProxy");
  slicec_context_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_features_equal_slice1),
      cmocka_unit_test(test_zeroc_locator_equal_slice1),
      cmocka_unit_test(test_zeroc_ice_folder),
      cmocka_unit_test(test_constants),
      cmocka_unit_test(test_diagnostics),
      cmocka_unit_test(test_include_and_source),
      cmocka_unit_test(test_proxy_of_slice_interface),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
