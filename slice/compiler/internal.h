/* irpc-slicec internals shared by the phases: arena, growable lists, the
 * symbol table, diagnostics, tokens and the context. Not installed. */
#ifndef IRPC_SLICEC_INTERNAL_H
#define IRPC_SLICEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slicec.h"

/* ---- arena: bump allocation, freed all at once -------------------------- */

typedef struct sc_block sc_block;
typedef struct sc_arena {
  sc_block *head;
  bool failed; /* an allocation failed: the context reports out of memory */
} sc_arena;

void *sc_alloc(sc_arena *a, size_t size); /* zeroed; NULL on failure */
char *sc_strndup(sc_arena *a, const char *s, size_t n);
char *sc_strdup(sc_arena *a, const char *s);
char *sc_printf(sc_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sc_arena_free(sc_arena *a);

/* ---- growable list of pointers (in the arena) --------------------------- */

typedef struct sc_vec {
  void **items;
  size_t n, cap;
} sc_vec;

void sc_vec_push(sc_arena *a, sc_vec *v, void *item);

/* ---- symbol table: scoped name -> entry --------------------------------- */

/* SC_SYM_LOCAL: a `local` definition of a .ice file, which is not in the
 * model; kept so that a use of it is reported as such. */
typedef enum sc_sym_kind {
  SC_SYM_MODULE,
  SC_SYM_DEF,
  SC_SYM_LOCAL
} sc_sym_kind;

typedef struct sc_sym {
  const char *name;
  sc_sym_kind kind;
  slicec_def *def; /* SC_SYM_DEF */
  slicec_loc loc;  /* first declaration */
} sc_sym;

typedef struct sc_map {
  sc_sym **slots;
  size_t cap, n;
} sc_map;

sc_sym *sc_map_get(const sc_map *m, const char *name);
/* Inserts a new entry for name; returns it, or the existing one with
 * *existed set. NULL when out of memory. */
sc_sym *sc_map_put(sc_arena *a, sc_map *m, const char *name, bool *existed);

/* ---- tokens ------------------------------------------------------------- */

typedef enum sc_tok_kind {
  T_EOF,
  T_IDENT,
  T_INT,
  T_STRING,
  T_DOC,
  /* keywords */
  T_MODULE,
  T_STRUCT,
  T_EXCEPTION,
  T_CLASS,
  T_INTERFACE,
  T_ENUM,
  T_CUSTOM,
  T_TYPEALIAS,
  T_RESULT,
  T_SEQUENCE,
  T_DICTIONARY,
  T_BOOL,
  T_INT8,
  T_UINT8,
  T_INT16,
  T_UINT16,
  T_INT32,
  T_UINT32,
  T_VARINT32,
  T_VARUINT32,
  T_INT64,
  T_UINT64,
  T_VARINT62,
  T_VARUINT62,
  T_FLOAT32,
  T_FLOAT64,
  T_STRING_KW,
  T_COMPACT,
  T_IDEMPOTENT,
  T_STREAM,
  T_TAG,
  T_UNCHECKED,
  /* punctuation */
  T_LPAREN,
  T_RPAREN,
  T_LBRACKET,
  T_RBRACKET,
  T_LLBRACKET,
  T_RRBRACKET,
  T_LBRACE,
  T_RBRACE,
  T_LT,
  T_GT,
  T_COMMA,
  T_COLON,
  T_DCOLON,
  T_EQ,
  T_QUESTION,
  T_ARROW,
  T_MINUS,
  /* .ice only */
  T_SEMI,
  T_STAR,
  T_PLUS,
  T_FLOAT,
  T_ERROR /* the lexer reported an error at this token */
} sc_tok_kind;

typedef struct sc_tok {
  sc_tok_kind kind;
  const char *text; /* arena copy: identifier (unescaped), literal, doc */
  size_t len;
  uint32_t line, col;
  bool escaped; /* \ident: never a keyword, contextual ones included; on a
                   .ice T_DOC, a doc block (slash, two stars) rather than `///`
                 */
  size_t off, raw_len; /* .ice: the token as written in the file text */
} sc_tok;

const char *sc_tok_describe(sc_tok_kind k); /* "'struct'", "identifier" */

/* ---- integers: literals are checked against i128, values kept in u64 ---- */

typedef struct sc_int {
  bool negative;
  bool big; /* magnitude > UINT64_MAX (still within the i128 range) */
  uint64_t mag;
} sc_int;

/* ---- internal wrappers around model nodes (the public part first) ------- */

typedef struct sc_def {
  slicec_def pub;
  struct sc_file *file;
  struct sc_def *proxy; /* .ice interface: its `custom NameProxy` */
  int mark;             /* scratch for graph walks */
  size_t index;         /* in the context's all_defs */
} sc_def;

typedef struct sc_enumerator {
  slicec_enumerator pub;
  sc_int v;
  slicec_loc value_loc; /* the `= n` literal, or the name */
} sc_enumerator;

/* ---- per-file state ------------------------------------------------------ */

typedef struct sc_file {
  slicec_file *pub;
  bool ice;               /* .ice syntax */
  bool processed;         /* preprocessed, lexed and parsed */
  bool from_include;      /* added by an #include */
  sc_vec modules;         /* slicec_module*: every module block (.ice) */
  const char *canon;      /* the canonical path, to spot a file given twice */
  slicec_attr_list attrs; /* file attributes, for allow() lookups */
  char *text; /* the source after preprocessing (same lines and columns) */
  size_t len;
  sc_vec defs; /* slicec_def* */
  sc_vec file_attrs;
  bool has_mode;
} sc_file;

/* A name to resolve once every file is parsed. */
typedef enum sc_ref_role {
  SC_REF_TYPE,       /* a type use: any type definition */
  SC_REF_IFACE_BASE, /* must be an interface */
  SC_REF_CLASS_BASE, /* must be a class */
  SC_REF_EXC_BASE,   /* must be an exception */
  SC_REF_THROWS,     /* must be an exception */
  /* .ice: a type; an interface by value is a class instance (AnyClass?),
   * and a class is optional (a class reference may be null). */
  SC_REF_ICE_TYPE,
  SC_REF_PROXY /* .ice `Name*`: an interface; def becomes its proxy type */
} sc_ref_role;

typedef struct sc_ref {
  slicec_type_ref *ref; /* SLICEC_TYPE_DEFINED, spelled set */
  sc_ref_role role;
  const char *scope; /* module scoped name, "" for none */
  sc_file *file;
  const slicec_def **out; /* for bases and throws: where to store the def */
  const slicec_attr_list *allow[3]; /* for the Deprecated lint */
} sc_ref;

/* A `local` definition of a .ice file (not in the model). */
typedef struct sc_local {
  const char *scoped_name;
  slicec_loc loc;
} sc_local;

/* A .ice constant's value or member's default, checked once the names
 * are resolved. */
typedef struct sc_value_ref {
  slicec_value *value;         /* loc and literal set by the parser */
  const slicec_type_ref *type; /* the constant's or member's type */
  sc_tok_kind tok;             /* T_INT, T_FLOAT, T_STRING, T_IDENT */
  const char *text;            /* the token (a name: the scoped name) */
  size_t len;
  bool negative;     /* written with '-' */
  const char *scope; /* where a name is looked up */
  const char *what;  /* "constant 'X'", "data member 'y'" */
} sc_value_ref;

/* ---- the context ----------------------------------------------------------
 */

struct slicec_context {
  sc_arena arena;
  slicec_diag_fn diag_fn;
  void *diag_ud;
  size_t nerrors, nwarnings;
  sc_vec defines;  /* char* */
  sc_vec files;    /* sc_file* */
  sc_vec refs;     /* sc_ref* */
  sc_vec all_defs; /* slicec_def*, every file */
  sc_map syms;
  sc_vec include_dirs;         /* char*: -I, for .ice #include */
  sc_vec locals;               /* sc_local*: local definitions of .ice files */
  sc_vec values;               /* sc_value_ref*: .ice constants and defaults */
  bool need_service_address;   /* a .ice file uses Object* */
  bool source_service_address; /* a source .ice file does */
  int include_depth;
  slicec_ast ast;
  bool compiled;
  bool oom_reported;
};

/* ---- diagnostics ----------------------------------------------------------
 */

void sc_error(slicec_context *c, slicec_loc loc, const char *code,
              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A lint (warning) unless `allow` lists it or All; allow lists are checked
 * innermost first: attrs of the element and of its parents, then the
 * file's. */
void sc_lint(slicec_context *c, const slicec_attr_list *const *allow,
             size_t nallow, slicec_loc loc, const char *lint, const char *fmt,
             ...) __attribute__((format(printf, 6, 7)));
void sc_oom(slicec_context *c);

static inline slicec_loc sc_loc(const sc_file *f, uint32_t line, uint32_t col) {
  slicec_loc l = {f->pub->path, line, col};
  return l;
}

/* ---- phases -----------------------------------------------------------------
 */

/* Blanks out directive lines and disabled lines of f->text (newlines kept,
 * so positions do not move); reports bad directives. */
void sc_preprocess(slicec_context *c, sc_file *f);

/* Lexes f->text; returns the token array (ending with T_EOF), allocated
 * with malloc (the caller frees it), or NULL when out of memory. The Slice1
 * words `mode`, `class`, `exception`, `throws` and `AnyClass` are not
 * keywords at slicec HEAD: they lex as identifiers and the parser
 * recognizes them where they can appear. */
sc_tok *sc_lex(slicec_context *c, sc_file *f, size_t *ntoks);

/* Parses the tokens into f->pub and queues names to resolve. */
void sc_parse(slicec_context *c, sc_file *f, const sc_tok *toks, size_t n);

/* Resolves every name across files. */
void sc_resolve(slicec_context *c);
/* Looks a name up from a module scope outwards (`::` absolute). */
sc_sym *sc_lookup(slicec_context *c, const char *scope, const char *name);

/* The .ice front end (ice_pp.c, ice_lex.c, ice_parse.c, ice_check.c). */
bool sc_is_ice_path(const char *path);
/* Preprocesses a .ice file in place, as sc_preprocess; `#include`d files
 * are added (as references unless given as sources) and processed at
 * once, before the rest of the file. */
void sc_ice_preprocess(slicec_context *c, sc_file *f);
sc_tok *sc_ice_lex(slicec_context *c, sc_file *f, size_t *ntoks);
void sc_ice_parse(slicec_context *c, sc_file *f, const sc_tok *toks, size_t n);
/* Declares ::IceRpc::ServiceAddress (`Object*`) in a built-in reference
 * file when no file does. */
void sc_add_service_address(slicec_context *c);
/* After the resolver: constants' values and members' defaults. */
void sc_ice_resolve_values(slicec_context *c);
/* After the checker: what the C generator cannot do yet (classes). */
void sc_ice_check(slicec_context *c);
/* Adds, preprocesses, lexes and parses one file (context.c); used for
 * #include. Returns the file, NULL when it cannot be read. */
sc_file *sc_include_file(slicec_context *c, const char *path, slicec_loc at);
/* Runs the front end over one file once. */
void sc_process_file(slicec_context *c, sc_file *f);

/* The checks of every rule (cycles, redefinitions, members, enums, ...). */
void sc_check(slicec_context *c);

/* Attribute validation and the flags they set; part of the checker. */
void sc_check_attributes(slicec_context *c);

/* Doc comments: parsing into slicec_doc, and their lints. */
const slicec_doc *sc_doc_parse(slicec_context *c, sc_file *f,
                               const sc_tok *const *lines, size_t n);
void sc_check_docs(slicec_context *c);

/* Helpers over the model. */
bool sc_is_integral(slicec_primitive p);
slicec_attr_list sc_freeze_attrs(slicec_context *c, sc_vec *v);

#define SC_LIST(c, v, T) ((const T *const *)sc_freeze((c), (v)))
void **sc_freeze(slicec_context *c, sc_vec *v);

/* Character classes of identifiers, shared by both front ends. */
static inline bool sc_is_alpha(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}
static inline bool sc_is_digit(char ch) {
  return ch >= '0' && ch <= '9';
}
static inline bool sc_is_word(char ch) {
  return sc_is_alpha(ch) || sc_is_digit(ch) || ch == '_';
}

#endif
