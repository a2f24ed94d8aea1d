/* SHA-256 as FIPS 180-4 describes it.
 *
 * A cache hit hashes ~300 KB of headers for its key (and the entry it reads), so this is on
 * the path to a cached program's first event: x86-64 processors with the SHA extensions
 * (every AMD Zen, Intel since Ice Lake and Goldmont) run the rounds in hardware, ~10x the
 * portable code's speed; the rest run the portable rounds below. */
#include "sha256.h"

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86_SHA 1
#endif

static const uint32_t round_constants[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

/* One round of the portable code. The eight working variables rotate by renaming (the
 * caller passes them in 8 shifted orders), not by moving them: the round writes only d and
 * h, which become the next round's e and a. */
static inline void round_step(uint32_t a, uint32_t b, uint32_t c, uint32_t *d, uint32_t e,
			      uint32_t f, uint32_t g, uint32_t *h, uint32_t constant_and_word)
{
	uint32_t t1 = *h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
		      constant_and_word;
	uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
	*d += t1;
	*h = t1 + t2;
}

static void compress_portable(uint32_t state[8], const unsigned char *p, size_t nblocks)
{
	for (; nblocks > 0; nblocks--, p += 64) {
		uint32_t w[64];
		for (size_t i = 0; i < 16; i++)
			w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
			       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
		for (int i = 16; i < 64; i++) {
			uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
			uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
			w[i] = w[i - 16] + s0 + w[i - 7] + s1;
		}
		uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
		uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
		for (int i = 0; i < 64; i += 8) {
			const uint32_t *k = round_constants + i, *x = w + i;
			round_step(a, b, c, &d, e, f, g, &h, k[0] + x[0]);
			round_step(h, a, b, &c, d, e, f, &g, k[1] + x[1]);
			round_step(g, h, a, &b, c, d, e, &f, k[2] + x[2]);
			round_step(f, g, h, &a, b, c, d, &e, k[3] + x[3]);
			round_step(e, f, g, &h, a, b, c, &d, k[4] + x[4]);
			round_step(d, e, f, &g, h, a, b, &c, k[5] + x[5]);
			round_step(c, d, e, &f, g, h, a, &b, k[6] + x[6]);
			round_step(b, c, d, &e, f, g, h, &a, k[7] + x[7]);
		}
		state[0] += a;
		state[1] += b;
		state[2] += c;
		state[3] += d;
		state[4] += e;
		state[5] += f;
		state[6] += g;
		state[7] += h;
	}
}

#ifdef HAVE_X86_SHA
/* The SHA extensions keep the state as two vectors, ABEF and CDGH (high word first), and
 * do two rounds per SHA256RNDS2 with the two words of message plus constant in the low
 * half of its third operand; SHA256MSG1/MSG2 compute the message schedule four words at a
 * time. */
__attribute__((target("sha,sse4.1"))) static void compress_x86_sha(uint32_t state[8],
								      const unsigned char *p,
								      size_t nblocks)
{
	/* Message words are big-endian. */
	const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]);
	__m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]);
	__m128i cdab = _mm_shuffle_epi32(dcba, 0xb1);
	__m128i efgh = _mm_shuffle_epi32(hgfe, 0x1b);
	__m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
	__m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xf0);
	for (; nblocks > 0; nblocks--, p += 64) {
		__m128i abef_before = abef, cdgh_before = cdgh;
		__m128i w[16]; /* the schedule, four words each */
		for (size_t i = 0; i < 16; i++) {
			if (i < 4)
				w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)),
							byte_swap);
			else
				w[i] = _mm_sha256msg2_epu32(
					_mm_add_epi32(_mm_sha256msg1_epu32(w[i - 4], w[i - 3]),
						      _mm_alignr_epi8(w[i - 1], w[i - 2], 4)),
					w[i - 1]);
			__m128i wk = _mm_add_epi32(
				w[i], _mm_loadu_si128((const __m128i *)&round_constants[4 * i]));
			cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
			abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e));
		}
		abef = _mm_add_epi32(abef, abef_before);
		cdgh = _mm_add_epi32(cdgh, cdgh_before);
	}
	__m128i feba = _mm_shuffle_epi32(abef, 0x1b);
	__m128i dchg = _mm_shuffle_epi32(cdgh, 0xb1);
	_mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xf0));
	_mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}

static int have_x86_sha(void)
{
	static int known = -1;
	if (known < 0) {
		unsigned eax, ebx, ecx, edx;
		int sha = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & (1u << 29));
		int sse41 = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 19));
		known = sha && sse41;
	}
	return known;
}
#endif

static void compress(uint32_t state[8], const unsigned char *p, size_t nblocks)
{
#ifdef HAVE_X86_SHA
	if (have_x86_sha()) {
		compress_x86_sha(state, p, nblocks);
		return;
	}
#endif
	compress_portable(state, p, nblocks);
}

void sha256_init(struct sha256 *h)
{
	static const uint32_t initial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(h->state, initial, sizeof(initial));
	h->length = 0;
	h->used = 0;
}

void sha256_update(struct sha256 *h, const void *data, size_t len)
{
	const unsigned char *p = data;
	h->length += len;
	if (h->used > 0) {
		size_t n = 64 - h->used < len ? 64 - h->used : len;
		memcpy(h->block + h->used, p, n);
		h->used += n;
		p += n;
		len -= n;
		if (h->used < 64)
			return;
		compress(h->state, h->block, 1);
		h->used = 0;
	}
	/* Whole blocks straight from the caller's buffer. */
	size_t whole = len / 64;
	if (whole > 0) {
		compress(h->state, p, whole);
		p += 64 * whole;
		len -= 64 * whole;
	}
	memcpy(h->block, p, len);
	h->used = len;
}

void sha256_update_str(struct sha256 *h, const char *s)
{
	sha256_update(h, s ? s : "", (s ? strlen(s) : 0) + 1);
}

void sha256_hex(struct sha256 *h, char out[65])
{
	uint64_t bits = h->length * 8;
	unsigned char tail[72] = {0x80}; /* the padding: 0x80, zeros, then the length */
	size_t pad = h->used < 56 ? 56 - h->used : 120 - h->used;
	for (int i = 0; i < 8; i++)
		tail[pad + i] = (unsigned char)(bits >> (56 - 8 * i));
	sha256_update(h, tail, pad + 8);
	for (size_t i = 0; i < 8; i++)
		snprintf(out + 8 * i, 9, "%08x", h->state[i]);
}
