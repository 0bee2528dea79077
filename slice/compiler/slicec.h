/* irpc-slicec: the Slice compiler front end as a library.
 *
 *   slicec_context *c = slicec_context_new();
 *   slicec_set_diag_callback(c, on_diag, app);   (default: stderr)
 *   slicec_define(c, "FOO");                     (-D FOO)
 *   slicec_add_file(c, "Greeter.slice", false);  (a source file)
 *   slicec_add_file(c, "Base.slice", true);      (-R: a reference file)
 *   if (slicec_compile(c) == 0)
 *     generate(slicec_get_ast(c));               (ast.h)
 *   slicec_context_free(c);
 *
 * slicec_compile runs the phases in order over every file added: the
 * preprocessor, the lexer and parser (each file on its own), the resolver
 * (names across all files) and the checker. It reports every problem it
 * finds, through the diagnostic callback, and carries on past errors as far
 * as the input allows. `.slice` files see each other's definitions only
 * through being compiled together. A file whose name ends in `.ice` is read
 * in ZeroC's Slice syntax (Slice1 mode); its `#include`s add the files they
 * name as references (docs/internals/SLICEC.md).
 *
 * A context is single-use (add, compile once, read, free) and not
 * thread-safe; separate contexts are independent.
 */
#ifndef IRPC_SLICEC_H
#define IRPC_SLICEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ast.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct slicec_context slicec_context;

typedef enum slicec_severity { SLICEC_ERROR, SLICEC_WARNING } slicec_severity;

/* One diagnostic.
 *
 * `code` identifies the rule. Errors use slicec's codes where slicec (at its
 * current version) has the same rule: "E002" (syntax), "E010"
 * (redefinition), ... Rules that slicec dropped with Slice1 mode, and rules
 * irpc adds, use codes from "E100" up (docs/internals/SLICEC.md lists them
 * all). Warnings are slicec's lints and use its lint names as code:
 * "Deprecated", "BrokenDocLink", "IncorrectDocComment",
 * "MalformedDocComment", "DuplicateFile". A `[allow(Name)]` or
 * `[allow(All)]` on the element, an enclosing element or the file silences
 * a lint.
 *
 * `loc.line` is 0 for a diagnostic with no position (a file that cannot be
 * read). The strings are valid during the callback only. */
typedef struct slicec_diag {
  slicec_severity severity;
  const char *code;
  const char *message;
  slicec_loc loc;
} slicec_diag;

typedef void (*slicec_diag_fn)(const slicec_diag *diag, void *user_data);

/* A new, empty context, or NULL when out of memory. */
slicec_context *slicec_context_new(void);

/* Frees the context, and with it the model returned by slicec_get_ast.
 * NULL is a no-op. */
void slicec_context_free(slicec_context *c);

/* Sets where diagnostics go. The default (fn NULL) prints each as
 * "file:line:col: error: message [code]" on stderr
 * (slicec_format_diag). */
void slicec_set_diag_callback(slicec_context *c, slicec_diag_fn fn,
                              void *user_data);

/* Defines a preprocessor symbol for every file, like `-D NAME`. Returns 0,
 * or -1 when out of memory or `name` is not an identifier. */
int slicec_define(slicec_context *c, const char *name);

/* Adds a file to compile; `reference` marks a file whose definitions are
 * visible to the others but for which nothing is generated (`-R`). The file
 * is read now. Returns 0, or -1 when it cannot be read (also reported as
 * error E001) or when out of memory. Adding the same path twice reports the
 * DuplicateFile lint and ignores the second, except that a file given
 * both as a source and as a reference is a source. */
int slicec_add_file(slicec_context *c, const char *path, bool reference);

/* Adds a directory to search for `#include <...>` and `#include "..."` in
 * .ice files, like `-I DIR` (in the order added; a quoted include looks
 * in the including file's directory first). Returns 0, or -1 when out of
 * memory. */
int slicec_add_include_dir(slicec_context *c, const char *dir);

/* Adds source text under the name `name` (used in locations). The text is
 * copied; it need not be NUL-terminated. Returns 0, or -1 when out of
 * memory. */
int slicec_add_buffer(slicec_context *c, const char *name, const char *text,
                      size_t len, bool reference);

/* Preprocesses, parses, resolves and checks every file added. Returns 0
 * when no error was reported (warnings allowed), or -1. May be called once
 * per context. */
int slicec_compile(slicec_context *c);

/* The model built by slicec_compile (ast.h), owned by the context. Never
 * NULL after slicec_compile; before it, an empty model. */
const slicec_ast *slicec_get_ast(const slicec_context *c);

/* The number of errors and warnings reported so far. */
size_t slicec_error_count(const slicec_context *c);
size_t slicec_warning_count(const slicec_context *c);

/* Writes one diagnostic the way the default callback does, followed by a
 * newline. */
void slicec_format_diag(const slicec_diag *d, FILE *out);

/* Prints the model in a stable, indented text form (one element a line,
 * resolved names, tags, values and flags); used by `irpc-slicec
 * --dump-ast` and by tests. */
void slicec_dump_ast(const slicec_ast *ast, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
