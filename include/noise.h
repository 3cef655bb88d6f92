/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * noise: the initiator half of WireGuard's Noise_IKpsk2 handshake, as used
 * by the health probe: build message 1, consume message 2. Nothing here
 * derives transport keys beyond what proves the responder holds the
 * service private key.
 */
#ifndef WGLB_NOISE_H
#define WGLB_NOISE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "wg.h"

#define NOISE_TAI64N_LEN 12

/* The probe's view of one responder: fixed per (probe key, service key, psk). */
struct noise_peer {
	uint8_t s_priv[WG_KEY_LEN];
	uint8_t s_pub[WG_KEY_LEN];
	uint8_t r_pub[WG_KEY_LEN];        /* the service (responder) public key */
	uint8_t psk[WG_KEY_LEN];
	uint8_t h0[WG_KEY_LEN];           /* HASH(H0 || r_pub) */
	uint8_t ss[WG_KEY_LEN];           /* DH(s_priv, r_pub) */
	uint8_t mac1_key_r[WG_KEY_LEN];   /* mac1 of messages we send */
	uint8_t mac1_key_i[WG_KEY_LEN];   /* mac1 of responses to us */
};

/* One initiation in flight. */
struct noise_handshake {
	uint8_t e_priv[WG_KEY_LEN];
	uint8_t c[WG_KEY_LEN];
	uint8_t h[WG_KEY_LEN];
	uint8_t mac1[WG_MAC_LEN];
	uint32_t sender;
};

/* HMAC-BLAKE2s (RFC 2104 on BLAKE2s-256), key 32 bytes, over a || b. */
void noise_hmac(uint8_t out[32], const uint8_t key[32], const uint8_t *a, size_t alen,
		const uint8_t *b, size_t blen);
/* HKDF with BLAKE2s: n outputs (1..3) into t1..t3. */
void noise_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t ck[32], const uint8_t *in,
	       size_t inlen);
/* TAI64N label of a wall-clock time, nanoseconds rounded down as WireGuard does. */
void noise_tai64n(uint8_t out[NOISE_TAI64N_LEN], const struct timespec *ts);

/* psk may be NULL (all zero). 0, or -EINVAL when a DH result is zero. */
int noise_peer_init(struct noise_peer *p, const uint8_t s_priv[WG_KEY_LEN],
		    const uint8_t r_pub[WG_KEY_LEN], const uint8_t *psk);
void noise_peer_wipe(struct noise_peer *p);

/*
 * Build a 148-byte initiation with sender index and timestamp. e_priv is
 * the ephemeral secret to use (tests), or NULL for a fresh random one.
 * mac2 is left zero. 0 or -EINVAL.
 */
int noise_create_initiation(const struct noise_peer *p, struct noise_handshake *hs,
			    uint8_t msg[WG_INITIATION_LEN], uint32_t sender,
			    const uint8_t tai64n[NOISE_TAI64N_LEN], const uint8_t *e_priv);

enum noise_result {
	NOISE_OK,
	NOISE_BAD_INDEX,      /* not an answer to this initiation */
	NOISE_BAD_MAC1,
	NOISE_BAD_DH,
	NOISE_BAD_AEAD,       /* wrong service key or psk on the responder */
};
const char *noise_result_name(enum noise_result r);

/* Check a 92-byte response to hs; *r_index gets the responder's index. Wipes hs. */
enum noise_result noise_consume_response(const struct noise_peer *p, struct noise_handshake *hs,
					 const uint8_t msg[WG_RESPONSE_LEN], uint32_t *r_index);
void noise_handshake_wipe(struct noise_handshake *hs);

#endif
