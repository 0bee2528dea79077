/* The /kv service of the kv example: its operations and their payloads,
 * encoded by hand (no Slice).
 *   put:    payload = u16 key length (LE) | key | value   -> Ok, empty
 *   get:    payload = key                                -> Ok, value; NotFound
 *   delete: payload = key                                -> Ok, empty; NotFound
 */
#ifndef IRPC_EXAMPLE_KV_H
#define IRPC_EXAMPLE_KV_H
#define KV_PATH "/kv"
#define KV_MAX_KEY 256
#endif
