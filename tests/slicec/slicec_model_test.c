/* irpc-slicec: the model (ast.h) built from valid input: what a generator
 * reads. */
#include <stdlib.h>

#include "slicec_testlib.h"

/* Compiles the files (NULL-terminated name, text pairs; a name starting
 * with '@' is a reference file) and expects no diagnostic. */
static slicec_context *compile_ok(st_diags *d, const char *const *files) {
  slicec_context *c = st_context(d);
  for (size_t i = 0; files[i]; i += 2) {
    bool ref = files[i][0] == '@';
    st_add(c, files[i] + ref, files[i + 1], ref);
  }
  int rc = slicec_compile(c);
  if (rc != 0 || d->n) {
    st_print(d);
    fail();
  }
  return c;
}

static const slicec_def *find(const slicec_ast *ast, const char *scoped) {
  for (size_t i = 0; i < ast->nfiles; i++)
    for (size_t k = 0; k < ast->files[i]->ndefs; k++)
      if (strcmp(ast->files[i]->defs[k]->scoped_name, scoped) == 0)
        return ast->files[i]->defs[k];
  return NULL;
}

static void test_interface_and_operations(void **state) {
  (void)state;
  const char *const files[] = {
      "greeter.slice",
      "module VisitorCenter\n"
      "/// A greeter.\n"
      "/// More text.\n"
      "interface Greeter {\n"
      "  /// Greets.\n"
      "  /// @param name: the name.\n"
      "  /// @returns: a greeting.\n"
      "  idempotent greet(name: string) -> string\n"
      "  [oneway] [compress(Args, Return)] [deprecated(\"old\")]\n"
      "  tell(tag(2) loud: bool?, name: string)\n"
      "  pair() -> (a: int32, tag(1) b: string?)\n"
      "  up(x: int32, data: stream uint8) -> stream varuint62\n"
      "}\n",
      NULL};
  st_diags d;
  slicec_context *c = compile_ok(&d, files);
  const slicec_ast *ast = slicec_get_ast(c);
  assert_int_equal(ast->nfiles, 1);
  const slicec_file *f = ast->files[0];
  assert_string_equal(f->path, "greeter.slice");
  assert_false(f->reference);
  assert_int_equal(f->mode, SLICEC_MODE_SLICE2);
  assert_string_equal(f->module->scoped_name, "VisitorCenter");
  assert_int_equal(f->ndefs, 1);

  const slicec_def *g = f->defs[0];
  assert_int_equal(g->kind, SLICEC_DEF_INTERFACE);
  assert_string_equal(g->name, "Greeter");
  assert_string_equal(g->scoped_name, "VisitorCenter::Greeter");
  assert_ptr_equal(g->file, f);
  assert_ptr_equal(g->module, f->module);
  assert_int_equal(g->loc.line, 4);
  assert_int_equal(g->loc.col, 11);
  assert_string_equal(g->doc->overview, "A greeter.\nMore text.");
  assert_int_equal(g->u.iface.nops, 4);

  const slicec_operation *greet = g->u.iface.ops[0];
  assert_string_equal(greet->name, "greet");
  assert_ptr_equal(greet->iface, g);
  assert_true(greet->idempotent);
  assert_false(greet->oneway);
  assert_int_equal(greet->params.n, 1);
  assert_string_equal(greet->params.items[0]->name, "name");
  assert_int_equal(greet->params.items[0]->type->kind, SLICEC_TYPE_PRIMITIVE);
  assert_int_equal(greet->params.items[0]->type->primitive, SLICEC_STRING);
  assert_false(greet->returns_tuple);
  assert_int_equal(greet->returns.n, 1);
  assert_string_equal(greet->returns.items[0]->name, "returnValue");
  assert_string_equal(greet->doc->overview, "Greets.");
  assert_int_equal(greet->doc->ntags, 2);
  assert_int_equal(greet->doc->tags[0]->kind, SLICEC_DOC_PARAM);
  assert_string_equal(greet->doc->tags[0]->name, "name");
  assert_string_equal(greet->doc->tags[0]->text, "the name.");
  assert_int_equal(greet->doc->tags[1]->kind, SLICEC_DOC_RETURNS);
  assert_null(greet->doc->tags[1]->name);
  assert_string_equal(greet->doc->tags[1]->text, "a greeting.");

  const slicec_operation *tell = g->u.iface.ops[1];
  assert_true(tell->oneway);
  assert_true(tell->compress_args);
  assert_true(tell->compress_return);
  assert_false(tell->idempotent);
  assert_int_equal(tell->returns.n, 0);
  assert_non_null(slicec_attr_find(tell->attrs, "deprecated"));
  assert_string_equal(slicec_attr_find(tell->attrs, "deprecated")->args[0],
                      "old");
  const slicec_member *loud = tell->params.items[0];
  assert_true(loud->tagged);
  assert_int_equal(loud->tag, 2);
  assert_true(loud->type->optional);
  assert_int_equal(tell->params.items[1]->index, 1);

  const slicec_operation *pair = g->u.iface.ops[2];
  assert_true(pair->returns_tuple);
  assert_int_equal(pair->returns.n, 2);
  assert_string_equal(pair->returns.items[1]->name, "b");
  assert_true(pair->returns.items[1]->tagged);

  const slicec_operation *up = g->u.iface.ops[3];
  assert_false(up->params.items[0]->stream);
  assert_true(up->params.items[1]->stream);
  assert_true(up->returns.items[0]->stream);
  assert_int_equal(up->returns.items[0]->type->primitive, SLICEC_VARUINT62);
  slicec_context_free(c);
}

static void test_types_resolve(void **state) {
  (void)state;
  const char *const files[] = {
      "a.slice",
      "module A::B\n"
      "typealias Names = Sequence<string>\n"
      "typealias More = Names\n"
      "compact struct Key { id: int32 }\n"
      "struct S {\n"
      "  a: Key\n"
      "  b: ::A::C::T?\n"
      "  c: C::T\n"
      "  d: More\n"
      "  e: Dictionary<Key, Sequence<Key?>>\n"
      "  f: Result<[cs::generic(\"List\")] Names, string>\n"
      "}\n",
      "c.slice",
      "[[cs::namespace(\"X\")]]\nmodule A::C\nstruct T { x: A::B::Key }\n",
      NULL};
  st_diags d;
  slicec_context *c = compile_ok(&d, files);
  const slicec_ast *ast = slicec_get_ast(c);
  const slicec_def *s = find(ast, "A::B::S");
  const slicec_def *key = find(ast, "A::B::Key");
  const slicec_def *t = find(ast, "A::C::T");
  const slicec_def *names = find(ast, "A::B::Names");
  const slicec_def *more = find(ast, "A::B::More");
  assert_non_null(s);
  assert_non_null(t);
  assert_true(key->u.st.compact);
  const slicec_member_list f = s->u.st.fields;
  assert_int_equal(f.n, 6);
  assert_int_equal(f.items[0]->type->kind, SLICEC_TYPE_DEFINED);
  assert_ptr_equal(f.items[0]->type->def, key);
  assert_string_equal(f.items[0]->type->spelled, "Key");
  assert_ptr_equal(f.items[1]->type->def, t);
  assert_true(f.items[1]->type->optional);
  assert_string_equal(f.items[1]->type->spelled, "::A::C::T");
  assert_ptr_equal(f.items[2]->type->def, t);
  /* Aliases: the use points at the alias; unalias reaches the sequence. */
  assert_ptr_equal(f.items[3]->type->def, more);
  const slicec_type_ref *u = slicec_type_unalias(f.items[3]->type);
  assert_int_equal(u->kind, SLICEC_TYPE_SEQUENCE);
  assert_ptr_equal(u, names->u.alias.type);
  assert_int_equal(u->element->primitive, SLICEC_STRING);
  const slicec_type_ref *dict = f.items[4]->type;
  assert_int_equal(dict->kind, SLICEC_TYPE_DICTIONARY);
  assert_ptr_equal(dict->key->def, key);
  assert_int_equal(dict->value->kind, SLICEC_TYPE_SEQUENCE);
  assert_true(dict->value->element->optional);
  const slicec_type_ref *res = f.items[5]->type;
  assert_int_equal(res->kind, SLICEC_TYPE_RESULT);
  assert_ptr_equal(res->success->def, names);
  assert_int_equal(res->success->attrs.n, 1);
  assert_string_equal(res->success->attrs.items[0]->directive, "cs::generic");
  assert_int_equal(res->failure->primitive, SLICEC_STRING);
  assert_ptr_equal(t->u.st.fields.items[0]->type->def, key);
  assert_int_equal(ast->files[1]->attrs.n, 1);
  assert_string_equal(ast->files[1]->attrs.items[0]->args[0], "X");
  slicec_context_free(c);
}

static void test_enums(void **state) {
  (void)state;
  const char *const files[] = {
      "e.slice",
      "module M\n"
      "unchecked enum Big : uint64 { A = 18446744073709551615, B = 0x10 }\n"
      "enum Small : int8 { A = -128, B, C = 0b11, D }\n"
      "compact enum Shape { Circle(r: float64), Square(side: float64), Empty() "
      "}\n"
      "enum Color { Red, Green = 10, Blue }\n",
      NULL};
  st_diags d;
  slicec_context *c = compile_ok(&d, files);
  const slicec_ast *ast = slicec_get_ast(c);
  const slicec_def *big = find(ast, "M::Big");
  assert_true(big->u.en.unchecked);
  assert_int_equal(big->u.en.underlying->primitive, SLICEC_UINT64);
  assert_true((uint64_t)big->u.en.enumerators[0]->value == UINT64_MAX);
  assert_int_equal(big->u.en.enumerators[1]->value, 16);
  const slicec_def *small = find(ast, "M::Small");
  int64_t want[] = {-128, -127, 3, 4};
  for (int i = 0; i < 4; i++)
    assert_int_equal(small->u.en.enumerators[i]->value, want[i]);
  assert_true(small->u.en.enumerators[0]->explicit_value);
  assert_false(small->u.en.enumerators[1]->explicit_value);
  const slicec_def *shape = find(ast, "M::Shape");
  assert_true(shape->u.en.compact);
  assert_null(shape->u.en.underlying);
  assert_int_equal(shape->u.en.nenumerators, 3);
  assert_true(shape->u.en.enumerators[2]->has_fields);
  assert_int_equal(shape->u.en.enumerators[2]->fields.n, 0);
  assert_string_equal(shape->u.en.enumerators[1]->fields.items[0]->name,
                      "side");
  const slicec_def *color = find(ast, "M::Color");
  assert_int_equal(color->u.en.enumerators[2]->value, 11);
  assert_false(color->u.en.enumerators[0]->has_fields);
  slicec_context_free(c);
}

static void test_strings_and_escapes(void **state) {
  (void)state;
  const char *const files[] = {
      "s.slice",
      "module \\module\n"
      "[deprecated(\"a \\\"b\\\" \\\\ c\")] [cs::attribute(x, \"y, z\")]\n"
      "struct \\struct { \\tag: int32 }\n",
      NULL};
  st_diags d;
  slicec_context *c = compile_ok(&d, files);
  const slicec_def *s = find(slicec_get_ast(c), "module::struct");
  assert_non_null(s);
  assert_string_equal(s->name, "struct");
  assert_true(s->deprecated);
  assert_string_equal(s->deprecation_reason, "a \"b\" \\ c");
  const slicec_attr *a = slicec_attr_find(s->attrs, "cs::attribute");
  assert_int_equal(a->nargs, 2);
  assert_string_equal(a->args[0], "x");
  assert_string_equal(a->args[1], "y, z");
  assert_string_equal(s->u.st.fields.items[0]->name, "tag");
  slicec_context_free(c);
}

static void test_inheritance(void **state) {
  (void)state;
  const char *const files[] = {"i.slice",
                               "module M\n"
                               "interface D : B, C { d() }\n"
                               "interface B : A { b() }\n"
                               "interface C : A { c() }\n"
                               "interface A { a() }\n",
                               NULL};
  st_diags d;
  slicec_context *c = compile_ok(&d, files);
  const slicec_ast *ast = slicec_get_ast(c);
  const slicec_def *dd = find(ast, "M::D");
  const slicec_def *a = find(ast, "M::A");
  assert_int_equal(dd->u.iface.nbases, 2);
  assert_ptr_equal(dd->u.iface.bases[0], find(ast, "M::B"));
  assert_ptr_equal(dd->u.iface.bases[1], find(ast, "M::C"));
  /* Every ancestor once, each after its own bases. */
  assert_int_equal(dd->u.iface.nall_bases, 3);
  assert_ptr_equal(dd->u.iface.all_bases[0], a);
  assert_ptr_equal(dd->u.iface.all_bases[1], find(ast, "M::B"));
  assert_ptr_equal(dd->u.iface.all_bases[2], find(ast, "M::C"));
  assert_int_equal(a->u.iface.nall_bases, 0);
  slicec_context_free(c);
}

static void test_slice1(void **state) {
  (void)state;
  const char *const files[] = {
      "s1.slice",
      "mode = Slice1\n"
      "module Ice\n"
      "class Base(7) { next: Base?, tag(255) note: string? }\n"
      "class Derived : Base { any: AnyClass? }\n"
      "exception Failed { reason: string }\n"
      "exception NotFound : Failed {}\n"
      "enum Old { A, B = 5 }\n"
      "interface Locator {\n"
      "  /// @throws NotFound: when not found.\n"
      "  find(id: string) -> Base? throws (NotFound, Failed)\n"
      "  ping() throws Failed\n"
      "}\n",
      NULL};
  st_diags d;
  slicec_context *c = compile_ok(&d, files);
  const slicec_ast *ast = slicec_get_ast(c);
  assert_int_equal(ast->files[0]->mode, SLICEC_MODE_SLICE1);
  const slicec_def *base = find(ast, "Ice::Base");
  assert_true(base->u.cls.has_compact_id);
  assert_int_equal(base->u.cls.compact_id, 7);
  assert_ptr_equal(find(ast, "Ice::Derived")->u.cls.base, base);
  const slicec_def *nf = find(ast, "Ice::NotFound");
  assert_ptr_equal(nf->u.exc.base, find(ast, "Ice::Failed"));
  const slicec_def *loc = find(ast, "Ice::Locator");
  const slicec_operation *fnd = loc->u.iface.ops[0];
  assert_int_equal(fnd->nthrows, 2);
  assert_ptr_equal(fnd->throws[0], nf);
  assert_ptr_equal(fnd->throws[1], find(ast, "Ice::Failed"));
  assert_int_equal(loc->u.iface.ops[1]->nthrows, 1);
  assert_int_equal(find(ast, "Ice::Old")->u.en.enumerators[1]->value, 5);
  slicec_context_free(c);
}

/* 60 layers of two structs, each using both of the next layer: 2^60 paths
 * and no cycle. The cycle check must stay fast and find nothing; a cycle
 * added at the bottom is found. */
static void test_many_paths(void **state) {
  (void)state;
  for (int with_cycle = 0; with_cycle < 2; with_cycle++) {
    char *src = malloc(16384);
    assert_non_null(src);
    size_t n = (size_t)sprintf(src, "module M\n");
    for (int i = 0; i < 60; i++)
      for (int k = 0; k < 2; k++) {
        if (i < 59)
          n += (size_t)sprintf(src + n, "struct %c%d { x: S%d, y: T%d }\n",
                               k ? 'T' : 'S', i, i + 1, i + 1);
        else
          n += (size_t)sprintf(src + n, "struct %c%d { %s }\n", k ? 'T' : 'S',
                               i, with_cycle ? "z: S0" : "");
      }
    st_diags d;
    slicec_context *c = st_context(&d);
    st_add(c, "paths.slice", src, false);
    free(src);
    assert_int_equal(slicec_compile(c), with_cycle ? -1 : 0);
    if (with_cycle) {
      assert_true(d.errors > 0);
      assert_true(st_match(d.lines[0], "2:8 E032 type M::S0 illegally "
                                       "references itself"));
    } else {
      assert_int_equal(d.n, 0);
    }
    slicec_context_free(c);
  }
}

static void test_reference_files_and_defines(void **state) {
  (void)state;
  st_diags d;
  slicec_context *c = st_context(&d);
  assert_int_equal(slicec_define(c, "EXTRA"), 0);
  assert_int_equal(slicec_define(c, "1bad"), -1);
  st_add(c, "ref.slice", "module R\ncustom Stamp\n", true);
  st_add(c, "src.slice",
         "module S\n#if EXTRA\nstruct T { s: R::Stamp }\n#else\nstruct T { "
         "s: Nope }\n#endif\n",
         false);
  assert_int_equal(slicec_compile(c), 0);
  assert_int_equal(d.n, 0);
  const slicec_ast *ast = slicec_get_ast(c);
  assert_true(ast->files[0]->reference);
  assert_false(ast->files[1]->reference);
  assert_ptr_equal(find(ast, "S::T")->u.st.fields.items[0]->type->def,
                   find(ast, "R::Stamp"));
  /* A context compiles once. */
  assert_int_equal(slicec_compile(c), -1);
  slicec_context_free(c);
}

static void test_duplicate_file(void **state) {
  (void)state;
  st_diags d;
  slicec_context *c = st_context(&d);
  st_add(c, "x.slice", "module M\nstruct S {}\n", false);
  st_add(c, "x.slice", "module M\nstruct S {}\n", false);
  assert_int_equal(slicec_compile(c), 0);
  const char *want[] = {"0:0 DuplicateFile provided more than once"};
  st_expect(&d, want, 1, "duplicate file");
  assert_int_equal(slicec_get_ast(c)->nfiles, 1);
  slicec_context_free(c);

  /* A reference that is also given as a source is a source. */
  c = st_context(&d);
  st_add(c, "y.slice", "module M\nstruct S {}\n", true);
  st_add(c, "y.slice", "module M\nstruct S {}\n", false);
  assert_int_equal(slicec_compile(c), 0);
  assert_false(slicec_get_ast(c)->files[0]->reference);
  slicec_context_free(c);
}

static void test_errors_are_all_reported(void **state) {
  (void)state;
  st_diags d;
  slicec_context *c = st_context(&d);
  st_add(c, "a.slice",
         "module M\nstruct A { x: Nope }\nstruct B { tag(1) y: int32 }\n"
         "struct C { z }\ninterface I : A {}\nenum E : uint8 { X = 300 }\n",
         false);
  assert_int_equal(slicec_compile(c), -1);
  const char *want[] = {"2:15 E033", "3:19 E016", "4:14 E002", "5:15 E017",
                        "6:22 E020"};
  st_expect(&d, want, 5, "several errors");
  /* The model is still walkable: the unresolved reference is NULL. */
  const slicec_def *a = find(slicec_get_ast(c), "M::A");
  assert_null(a->u.st.fields.items[0]->type->def);
  slicec_context_free(c);
}

static void test_unreadable_file(void **state) {
  (void)state;
  st_diags d;
  slicec_context *c = st_context(&d);
  assert_int_equal(slicec_add_file(c, "/nonexistent/x.slice", false), -1);
  assert_int_equal(d.n, 1);
  assert_true(st_match(d.lines[0], "0:0 E001 unable to read"));
  slicec_context_free(c);
}

static void test_dump(void **state) {
  (void)state;
  const char *const files[] = {
      "d.slice",
      "module M\n/// Doc \"q\".\ninterface I { [oneway] op(tag(1) x: int32?) "
      "}\nenum E : int8 { A = -1 }\n",
      NULL};
  st_diags d;
  slicec_context *c = compile_ok(&d, files);
  char buf[2048] = {0};
  FILE *out = fmemopen(buf, sizeof(buf) - 1, "w");
  assert_non_null(out);
  slicec_dump_ast(slicec_get_ast(c), out);
  fclose(out);
  assert_non_null(strstr(buf, "file d.slice\n  module M\n"));
  assert_non_null(strstr(buf, "doc \"Doc \\\"q\\\".\""));
  assert_non_null(strstr(buf, "op op oneway @3:24"));
  assert_non_null(strstr(buf, "param tag(1) x: int32? @3:34"));
  assert_non_null(strstr(buf, "A = -1 @4:17"));
  slicec_context_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interface_and_operations),
      cmocka_unit_test(test_types_resolve),
      cmocka_unit_test(test_enums),
      cmocka_unit_test(test_strings_and_escapes),
      cmocka_unit_test(test_inheritance),
      cmocka_unit_test(test_slice1),
      cmocka_unit_test(test_many_paths),
      cmocka_unit_test(test_reference_files_and_defines),
      cmocka_unit_test(test_duplicate_file),
      cmocka_unit_test(test_errors_are_all_reported),
      cmocka_unit_test(test_unreadable_file),
      cmocka_unit_test(test_dump),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
