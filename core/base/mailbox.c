/* The mailbox (mailbox.h). */
#include <stdlib.h>

#include "mailbox.h"

static void run_mails(irpc__mailbox *mb) {
  for (;;) {
    uv_mutex_lock(&mb->mutex);
    irpc__list taken = mb->mails;
    mb->mails.head = mb->mails.tail = NULL;
    mb->mails.len = 0;
    uv_mutex_unlock(&mb->mutex);
    if (!taken.head)
      return;
    irpc__link *l;
    while ((l = irpc__list_pop_front(&taken))) {
      irpc__mail *m = IRPC__CONTAINER_OF(l, irpc__mail, link);
      m->fn(m);
    }
  }
}

static void on_async(uv_async_t *a) {
  run_mails(a->data);
}

int irpc__mailbox_init(irpc__mailbox *mb, uv_loop_t *loop, int ref) {
  mb->mails.head = mb->mails.tail = NULL;
  mb->mails.len = 0;
  mb->closed = NULL;
  int rc = uv_mutex_init(&mb->mutex);
  if (rc)
    return rc;
  rc = uv_async_init(loop, &mb->async, on_async);
  if (rc) {
    uv_mutex_destroy(&mb->mutex);
    return rc;
  }
  mb->async.data = mb;
  if (!ref)
    uv_unref((uv_handle_t *)&mb->async);
  return 0;
}

void irpc__mailbox_post(irpc__mailbox *mb, irpc__mail *m) {
  uv_mutex_lock(&mb->mutex);
  irpc__list_push_back(&mb->mails, &m->link);
  uv_mutex_unlock(&mb->mutex);
  uv_async_send(&mb->async);
}

void irpc__mailbox_ref(irpc__mailbox *mb, int ref) {
  if (ref)
    uv_ref((uv_handle_t *)&mb->async);
  else
    uv_unref((uv_handle_t *)&mb->async);
}

static void on_closed(uv_handle_t *h) {
  irpc__mailbox *mb = h->data;
  uv_mutex_destroy(&mb->mutex);
  if (mb->closed)
    mb->closed(mb);
}

void irpc__mailbox_close(irpc__mailbox *mb, irpc__mailbox_closed_cb closed) {
  run_mails(mb);
  mb->closed = closed;
  uv_close((uv_handle_t *)&mb->async, on_closed);
}
