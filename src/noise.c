/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * noise: WireGuard's Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, initiator side.
 * X25519 and ChaCha20-Poly1305 come from libsodium, BLAKE2s from libb2;
 * HMAC and HKDF are composed here because neither library offers them on
 * BLAKE2s. Every intermediate secret is wiped before returning.
 */
#include "config.h"

#include <blake2.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "noise.h"

static const uint8_t construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const uint8_t identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

static void hash2(uint8_t out[32], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	blake2s_state st;

	blake2s_init(&st, 32);
	blake2s_update(&st, a, alen);
	if (blen)
		blake2s_update(&st, b, blen);
	blake2s_final(&st, out, 32);
}

/* H := HASH(H || x) */
static void mix_hash(uint8_t h[32], const uint8_t *x, size_t n)
{
	hash2(h, h, 32, x, n);
}

void noise_hmac(uint8_t out[32], const uint8_t key[32], const uint8_t *a, size_t alen,
		const uint8_t *b, size_t blen)
{
	uint8_t pad[BLAKE2S_BLOCKBYTES] = { 0 }, inner[32];
	blake2s_state st;

	memcpy(pad, key, 32);
	for (size_t i = 0; i < sizeof pad; i++)
		pad[i] ^= 0x36;
	blake2s_init(&st, 32);
	blake2s_update(&st, pad, sizeof pad);
	if (alen)
		blake2s_update(&st, a, alen);
	if (blen)
		blake2s_update(&st, b, blen);
	blake2s_final(&st, inner, 32);
	for (size_t i = 0; i < sizeof pad; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	blake2s_init(&st, 32);
	blake2s_update(&st, pad, sizeof pad);
	blake2s_update(&st, inner, 32);
	blake2s_final(&st, out, 32);
	sodium_memzero(pad, sizeof pad);
	sodium_memzero(inner, sizeof inner);
	sodium_memzero(&st, sizeof st);
}

void noise_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t ck[32], const uint8_t *in,
	       size_t inlen)
{
	uint8_t prk[32], o[32], n;

	noise_hmac(prk, ck, in, inlen, NULL, 0);
	n = 1;
	noise_hmac(o, prk, &n, 1, NULL, 0);
	if (t1)
		memcpy(t1, o, 32);
	if (t2 || t3) {
		n = 2;
		noise_hmac(o, prk, o, 32, &n, 1);
		if (t2)
			memcpy(t2, o, 32);
	}
	if (t3) {
		n = 3;
		noise_hmac(o, prk, o, 32, &n, 1);
		memcpy(t3, o, 32);
	}
	sodium_memzero(prk, sizeof prk);
	sodium_memzero(o, sizeof o);
}

void noise_tai64n(uint8_t out[NOISE_TAI64N_LEN], const struct timespec *ts)
{
	uint64_t sec = 0x400000000000000aULL + (uint64_t)ts->tv_sec;
	/* WireGuard rounds down to 2^24 ns so the label leaks less timing */
	uint32_t ns = (uint32_t)ts->tv_nsec & ~0xffffffu;

	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(sec >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(ns >> (24 - 8 * i));
}

static void clamp(uint8_t k[32])
{
	k[0] &= 248;
	k[31] = (k[31] & 127) | 64;
}

int noise_peer_init(struct noise_peer *p, const uint8_t s_priv[WG_KEY_LEN],
		    const uint8_t r_pub[WG_KEY_LEN], const uint8_t *psk)
{
	uint8_t c0[32];

	memset(p, 0, sizeof *p);
	memcpy(p->s_priv, s_priv, WG_KEY_LEN);
	clamp(p->s_priv);
	memcpy(p->r_pub, r_pub, WG_KEY_LEN);
	if (psk)
		memcpy(p->psk, psk, WG_KEY_LEN);
	if (crypto_scalarmult_curve25519_base(p->s_pub, p->s_priv) != 0 ||
	    crypto_scalarmult_curve25519(p->ss, p->s_priv, p->r_pub) != 0) {
		noise_peer_wipe(p);
		return -EINVAL;
	}
	hash2(c0, construction, sizeof construction - 1, NULL, 0);
	hash2(p->h0, c0, 32, identifier, sizeof identifier - 1);
	mix_hash(p->h0, p->r_pub, WG_KEY_LEN);
	wg_mac1_key(p->mac1_key_r, p->r_pub);
	wg_mac1_key(p->mac1_key_i, p->s_pub);
	return 0;
}

void noise_peer_wipe(struct noise_peer *p)
{
	sodium_memzero(p, sizeof *p);
}

void noise_handshake_wipe(struct noise_handshake *hs)
{
	sodium_memzero(hs, sizeof *hs);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int noise_create_initiation(const struct noise_peer *p, struct noise_handshake *hs,
			    uint8_t msg[WG_INITIATION_LEN], uint32_t sender,
			    const uint8_t tai64n[NOISE_TAI64N_LEN], const uint8_t *e_priv)
{
	uint8_t e_pub[32], dh[32], k[32], c0[32];
	int rc = -EINVAL;

	memset(msg, 0, WG_INITIATION_LEN);
	memset(hs, 0, sizeof *hs);
	if (e_priv)
		memcpy(hs->e_priv, e_priv, 32);
	else
		randombytes_buf(hs->e_priv, 32);
	clamp(hs->e_priv);
	hash2(c0, construction, sizeof construction - 1, NULL, 0);
	memcpy(hs->c, c0, 32);
	memcpy(hs->h, p->h0, 32);

	if (crypto_scalarmult_curve25519_base(e_pub, hs->e_priv) != 0)
		goto out;
	memcpy(msg + 8, e_pub, 32);
	noise_kdf(hs->c, NULL, NULL, hs->c, e_pub, 32);
	mix_hash(hs->h, e_pub, 32);

	/* es */
	if (crypto_scalarmult_curve25519(dh, hs->e_priv, p->r_pub) != 0)
		goto out;
	noise_kdf(hs->c, k, NULL, hs->c, dh, 32);
	crypto_aead_chacha20poly1305_ietf_encrypt(msg + 40, NULL, p->s_pub, 32, hs->h, 32, NULL,
						  zero_nonce, k);
	mix_hash(hs->h, msg + 40, 48);

	/* ss, precomputed */
	noise_kdf(hs->c, k, NULL, hs->c, p->ss, 32);
	crypto_aead_chacha20poly1305_ietf_encrypt(msg + 88, NULL, tai64n, NOISE_TAI64N_LEN, hs->h,
						  32, NULL, zero_nonce, k);
	mix_hash(hs->h, msg + 88, 28);

	msg[0] = WG_MSG_INITIATION;
	put_le32(msg + 4, sender);
	wg_mac1_write(WG_MSG_INITIATION, msg, p->mac1_key_r);
	memcpy(hs->mac1, msg + 116, WG_MAC_LEN);
	hs->sender = sender;
	rc = 0;
out:
	sodium_memzero(dh, sizeof dh);
	sodium_memzero(k, sizeof k);
	if (rc)
		noise_handshake_wipe(hs);
	return rc;
}

const char *noise_result_name(enum noise_result r)
{
	switch (r) {
	case NOISE_OK:
		return "ok";
	case NOISE_BAD_INDEX:
		return "bad_index";
	case NOISE_BAD_MAC1:
		return "bad_mac1";
	case NOISE_BAD_DH:
		return "bad_dh";
	case NOISE_BAD_AEAD:
		return "bad_aead";
	}
	return "unknown";
}

enum noise_result noise_consume_response(const struct noise_peer *p, struct noise_handshake *hs,
					 const uint8_t msg[WG_RESPONSE_LEN], uint32_t *r_index)
{
	const uint8_t *e_r = msg + 12;
	uint8_t dh[32], t[32], k[32], empty[1];
	unsigned long long mlen;
	enum noise_result res = NOISE_BAD_INDEX;

	if (wg_receiver_index(WG_MSG_RESPONSE, msg) != hs->sender)
		goto out;
	res = NOISE_BAD_MAC1;
	if (!wg_mac1_valid(WG_MSG_RESPONSE, msg, p->mac1_key_i))
		goto out;
	res = NOISE_BAD_DH;
	noise_kdf(hs->c, NULL, NULL, hs->c, e_r, 32);
	mix_hash(hs->h, e_r, 32);
	/* ee */
	if (crypto_scalarmult_curve25519(dh, hs->e_priv, e_r) != 0)
		goto out;
	noise_kdf(hs->c, NULL, NULL, hs->c, dh, 32);
	/* se */
	if (crypto_scalarmult_curve25519(dh, p->s_priv, e_r) != 0)
		goto out;
	noise_kdf(hs->c, NULL, NULL, hs->c, dh, 32);
	/* psk */
	noise_kdf(hs->c, t, k, hs->c, p->psk, 32);
	mix_hash(hs->h, t, 32);
	res = NOISE_BAD_AEAD;
	if (crypto_aead_chacha20poly1305_ietf_decrypt(empty, &mlen, NULL, msg + 44, 16, hs->h, 32,
						      zero_nonce, k) != 0 || mlen != 0)
		goto out;
	*r_index = wg_sender_index(msg);
	res = NOISE_OK;
out:
	sodium_memzero(dh, sizeof dh);
	sodium_memzero(t, sizeof t);
	sodium_memzero(k, sizeof k);
	noise_handshake_wipe(hs);
	return res;
}
