/* Per-thread pools of small objects (pool.h). */
#include <pthread.h>
#include <stdint.h>

#include "irpc/alloc.h"
#include "pool.h"

#define CLASSES 6
#define BIG (CLASSES - 1)

/* Each class's object size, and the most free objects it keeps: enough
 * for 64 calls in flight on a loop with both sides on it (frames and
 * blocks share the 1 KiB class, arena chunks and segment arrays the 2 KiB
 * one), bounded so that a burst does not stay held by an idle loop (at
 * most 256 KiB a small class, 896 KiB in all). The last class is the
 * read blocks' (exactly IRPC__POOL_BIG): a 1 MiB message read at once
 * holds four or five of them until it is freed, and a bulk transfer frees
 * them as fast as it takes them (2 MiB at most kept). */
static const size_t class_size[CLASSES] = {
    512, 1024, 2048, 4096, IRPC__POOL_MAX, IRPC__POOL_BIG};
static const unsigned class_bound[CLASSES] = {256, 256, 128,
                                              32,  16,  IRPC__POOL_BIG_BOUND};

typedef struct pool_free {
  struct pool_free *next;
} pool_free;

typedef struct pool_class {
  pool_free *head;
  unsigned n;
} pool_class;

typedef struct pool_thread {
  unsigned users; /* schedulers of this thread */
  pool_class cls[CLASSES];
} pool_thread;

static _Thread_local pool_thread pool;

/* The class of `size` (at most IRPC__POOL_MAX). */
static unsigned class_of(size_t size) {
  unsigned k = 0;
  while (size > class_size[k])
    k++;
  return k;
}

/* The class of an object of `size` bytes, or CLASSES when it has none. */
static unsigned class_for(size_t size) {
  if (size <= IRPC__POOL_MAX)
    return class_of(size);
  return size == IRPC__POOL_BIG ? BIG : CLASSES;
}

size_t irpc__pool_size(size_t size) {
  return size > IRPC__POOL_MAX ? size : class_size[class_of(size)];
}

void *irpc__pool_get(size_t size) {
  unsigned k = class_for(size);
  if (k == CLASSES)
    return irpc_malloc(size);
  pool_class *c = &pool.cls[k];
  pool_free *f = c->head;
  if (!f)
    return irpc_malloc(class_size[k]);
  IRPC__UNPOISON(f, class_size[k]);
  c->head = f->next;
  c->n--;
  return f;
}

void irpc__pool_put(void *obj, size_t size) {
  if (!obj)
    return;
  unsigned k = class_for(size);
  if (k == CLASSES || pool.users == 0 || pool.cls[k].n >= class_bound[k]) {
    irpc_free(obj);
    return;
  }
  pool_class *c = &pool.cls[k];
  pool_free *f = obj;
  f->next = c->head;
  c->head = f;
  c->n++;
  IRPC__POISON((uint8_t *)obj + sizeof(pool_free),
               class_size[k] - sizeof(pool_free));
}

static void drain(pool_thread *p) {
  for (unsigned k = 0; k < CLASSES; k++) {
    pool_class *c = &p->cls[k];
    while (c->head) {
      pool_free *f = c->head;
      IRPC__UNPOISON(f, class_size[k]);
      c->head = f->next;
      irpc_free(f);
    }
    c->n = 0;
  }
}

/* A thread that ends with schedulers still attached (never released, or
 * released on another thread) gives its pool back then. */
static pthread_key_t end_key;
static pthread_once_t end_once = PTHREAD_ONCE_INIT;
static int end_key_ok;

static void thread_end(void *arg) {
  pool_thread *p = arg;
  p->users = 0;
  drain(p);
}

static void end_key_init(void) {
  end_key_ok = pthread_key_create(&end_key, thread_end) == 0;
}

void *irpc__pool_attach(void) {
  if (pool.users++ == 0) {
    pthread_once(&end_once, end_key_init);
    if (end_key_ok)
      pthread_setspecific(end_key, &pool);
  }
  return &pool;
}

void irpc__pool_detach(void *attached) {
  if (attached != &pool || pool.users == 0 || --pool.users > 0)
    return;
  drain(&pool);
}
