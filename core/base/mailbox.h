/* A mailbox: the one way into a loop from another thread. Any thread posts
 * a mail (a callback in a node the poster owns); the loop's thread runs the
 * mails in the order they were posted, from a uv_async_t. A mutex guards
 * the list only while a mail is pushed or the list is taken whole: the
 * loop runs the mails without it. See docs/internals/THREADING.md. */
#ifndef IRPC_CORE_MAILBOX_H
#define IRPC_CORE_MAILBOX_H

#include <uv.h>

#include "list.h"

typedef struct irpc__mail irpc__mail;
struct irpc__mail {
  irpc__link link;
  void (*fn)(irpc__mail *m); /* runs on the mailbox's loop */
};

typedef struct irpc__mailbox irpc__mailbox;
typedef void (*irpc__mailbox_closed_cb)(irpc__mailbox *mb);

struct irpc__mailbox {
  uv_async_t async;
  uv_mutex_t mutex;
  irpc__list mails; /* irpc__mail, oldest first; under mutex */
  irpc__mailbox_closed_cb closed;
  void *data; /* the owner's */
};

/* On the loop's thread. `ref` 0 keeps the mailbox from holding the loop
 * alive (irpc__mailbox_ref changes it later).
 * Errors: libuv's (UV_ENOMEM, ...). */
int irpc__mailbox_init(irpc__mailbox *mb, uv_loop_t *loop, int ref);

/* From any thread, until irpc__mailbox_close has started: `m->fn` runs on
 * the loop, after the mails posted before it. */
void irpc__mailbox_post(irpc__mailbox *mb, irpc__mail *m);

/* On the loop's thread: whether the mailbox keeps the loop running. */
void irpc__mailbox_ref(irpc__mailbox *mb, int ref);

/* On the loop's thread, once no thread will post again: the mails still
 * queued run first, then the handle closes and `closed` (may be NULL) runs
 * on a later turn; the memory may be freed from there. */
void irpc__mailbox_close(irpc__mailbox *mb, irpc__mailbox_closed_cb closed);

#endif
