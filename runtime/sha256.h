/* SHA-256, for cache keys: a key names everything an object depends on, so it must not
 * collide by accident. */
#ifndef BPFLUA_SHA256_H
#define BPFLUA_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t state[8];
	uint64_t length;
	unsigned char block[64];
	size_t used;
};

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* Adds a string and its terminating NUL, so that ("ab","c") and ("a","bc") differ. */
void sha256_update_str(struct sha256 *h, const char *s);
/* Writes 64 hex digits and a NUL. */
void sha256_hex(struct sha256 *h, char out[65]);

#endif
