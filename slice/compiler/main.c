/* irpc-slicec: the command line. Parses arguments and calls the library. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen_c.h"
#include "slicec.h"

static const char usage[] =
    "usage: irpc-slicec [OPTIONS] SOURCE...\n"
    "\n"
    "Checks Slice files and writes C for them: X.slice.h and X.slice.c for\n"
    "each SOURCE (see docs/internals/SLICE_GEN.md). A file named *.ice is\n"
    "read in ZeroC's Slice syntax (docs/internals/SLICEC.md).\n"
    "A SOURCE or REFERENCE that is a directory stands for every .slice and\n"
    ".ice file under it.\n"
    "\n"
    "options:\n"
    "  -R FILE|DIR         a reference file: its definitions are visible to\n"
    "                      the sources, but nothing is generated for it\n"
    "  -D NAME             define a preprocessor symbol\n"
    "  -I DIR              search DIR for the files .ice files #include\n"
    "  --output-dir DIR    where generated files go, created if missing\n"
    "                      (default: .)\n"
    "  --dump-ast          print the checked model on stdout (and generate\n"
    "                      nothing)\n"
    "  -h, --help          print this help\n"
    "\n"
    "Diagnostics go to stderr as FILE:LINE:COL: error: MESSAGE [CODE].\n"
    "The exit status is 0 when there is no error, 1 when there is any, 2 on\n"
    "a bad command line.\n";

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_path(slicec_context *c, const char *path, bool reference);

static int add_dir(slicec_context *c, const char *dir, bool reference) {
  DIR *d = opendir(dir);
  if (!d)
    return slicec_add_file(c, dir, reference); /* reports why */
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      char **nn = realloc(names, cap * sizeof(*nn));
      if (!nn) {
        rc = -1;
        break;
      }
      names = nn;
    }
    size_t len = strlen(dir) + strlen(e->d_name) + 2;
    names[n] = malloc(len);
    if (!names[n]) {
      rc = -1;
      break;
    }
    snprintf(names[n++], len, "%s/%s", dir, e->d_name);
  }
  closedir(d);
  if (n)
    qsort(names, n, sizeof(*names), name_cmp);
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (rc == 0 && stat(names[i], &st) == 0) {
      size_t l = strlen(names[i]);
      if (S_ISDIR(st.st_mode))
        rc = add_dir(c, names[i], reference) ? -1 : rc;
      else if ((l > 6 && strcmp(names[i] + l - 6, ".slice") == 0) ||
               (l > 4 && strcmp(names[i] + l - 4, ".ice") == 0))
        rc = slicec_add_file(c, names[i], reference) ? -1 : rc;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

static int add_path(slicec_context *c, const char *path, bool reference) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return add_dir(c, path, reference);
  return slicec_add_file(c, path, reference);
}

/* Creates `dir` and the folders above it that are missing (as mkdir -p);
 * 0, or -1 with errno set. */
static int make_dirs(const char *dir) {
  char path[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(path, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != 0)
      continue;
    char c = path[i];
    path[i] = 0;
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
      return -1;
    path[i] = c;
  }
  return 0;
}

int main(int argc, char **argv) {
  slicec_context *c = slicec_context_new();
  if (!c) {
    fputs("irpc-slicec: out of memory\n", stderr);
    return 1;
  }
  bool dump = false, any_source = false, failed = false;
  const char *output_dir = ".";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      slicec_context_free(c);
      return 0;
    }
    if (strcmp(a, "--dump-ast") == 0) {
      dump = true;
      continue;
    }
    if (strncmp(a, "-I", 2) == 0 && a[2]) {
      if (slicec_add_include_dir(c, a + 2) != 0)
        failed = true;
      continue;
    }
    bool needs = strcmp(a, "-R") == 0 || strcmp(a, "-D") == 0 ||
                 strcmp(a, "-I") == 0 || strcmp(a, "--output-dir") == 0;
    if (needs && i + 1 >= argc) {
      fprintf(stderr, "irpc-slicec: %s needs a value\n%s", a, usage);
      slicec_context_free(c);
      return 2;
    }
    if (strcmp(a, "-R") == 0) {
      failed |= add_path(c, argv[++i], true) != 0;
    } else if (strcmp(a, "-D") == 0) {
      if (slicec_define(c, argv[++i]) != 0) {
        fprintf(stderr, "irpc-slicec: -D %s: not a valid symbol name\n",
                argv[i]);
        slicec_context_free(c);
        return 2;
      }
    } else if (strcmp(a, "-I") == 0) {
      if (slicec_add_include_dir(c, argv[++i]) != 0)
        failed = true;
    } else if (strcmp(a, "--output-dir") == 0) {
      output_dir = argv[++i];
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "irpc-slicec: unknown option %s\n%s", a, usage);
      slicec_context_free(c);
      return 2;
    } else {
      any_source = true;
      failed |= add_path(c, a, false) != 0;
    }
  }
  if (!any_source) {
    fprintf(stderr, "irpc-slicec: no source file\n%s", usage);
    slicec_context_free(c);
    return 2;
  }
  int rc = slicec_compile(c);
  size_t gen_errors = 0;
  if (rc == 0 && dump)
    slicec_dump_ast(slicec_get_ast(c), stdout);
  else if (rc == 0 && !failed && make_dirs(output_dir) != 0) {
    fprintf(stderr, "irpc-slicec: cannot create %s: %s\n", output_dir,
            strerror(errno));
    failed = true;
  } else if (rc == 0 && !failed)
    gen_errors = slicec_gen_c(slicec_get_ast(c), output_dir, NULL, NULL);
  size_t errors = slicec_error_count(c) + gen_errors;
  size_t warnings = slicec_warning_count(c);
  if (errors || warnings)
    fprintf(stderr, "irpc-slicec: %zu error%s, %zu warning%s\n", errors,
            errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
  slicec_context_free(c);
  return rc == 0 && !failed && gen_errors == 0 ? 0 : 1;
}
