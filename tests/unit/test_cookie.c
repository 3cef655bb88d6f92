/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cookies: wglbd's own cookie replies must open as a WireGuard client
 * opens them, and the mac2 computed with the cookie must verify. The
 * reference here is the protocol reference's vector (section 11.2) and
 * a direct libsodium decryption, not wglbd's own opening code.
 */
#include "config.h"

#include <arpa/inet.h>
#include <blake2.h>
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "wg.h"
#include "vectors.h"

static void init(void)
{
	cr_assert(sodium_init() >= 0);
}

TestSuite(cookie, .init = init);

Test(cookie, key_and_cookie_match_the_vector)
{
	uint8_t pub[32], key[32], want[32], cookie[16];
	struct wg_cookie_issuer ci;
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(40000) };

	unhex(pub, 32, vec_s_r_pub);
	wg_cookie_key(key, pub);
	unhex(want, 32, "f38243a909cf26b7ec109798fd3dfdbdb7592367db444819154f6582389fdc1b");
	cr_assert_arr_eq(key, want, 32);

	inet_pton(AF_INET, "198.51.100.7", &src.sin_addr);
	wg_cookie_issuer_init(&ci, pub);
	memset(ci.secret, 0x55, 32);
	ci.born = 100;
	wg_cookie_for(&ci, (struct sockaddr *)&src, 101, cookie);
	unhex(want, 16, "54f03c0a1dd77283049dedebc816953c");
	cr_assert_arr_eq(cookie, want, 16);
	/* the same address as IPv4-mapped IPv6 gets the same cookie */
	{
		struct sockaddr_in6 m = { .sin6_family = AF_INET6, .sin6_port = htons(40000) };
		uint8_t c2[16];

		inet_pton(AF_INET6, "::ffff:198.51.100.7", &m.sin6_addr);
		wg_cookie_for(&ci, (struct sockaddr *)&m, 101, c2);
		cr_assert_arr_eq(c2, cookie, 16);
	}
	/* another port, another cookie */
	src.sin_port = htons(40001);
	wg_cookie_for(&ci, (struct sockaddr *)&src, 101, want);
	cr_assert_arr_neq(want, cookie, 16);
	wg_cookie_issuer_wipe(&ci);
}

Test(cookie, mac2_matches_the_vector)
{
	uint8_t msg[148], cookie[16], want[16];

	unhex(msg, 148, vec_msg1);
	unhex(cookie, 16, "54f03c0a1dd77283049dedebc816953c");
	wg_mac2_write(WG_MSG_INITIATION, msg, cookie);
	unhex(want, 16, "dc7d1d4c5eea629c667bc02e6703b115");
	cr_assert_arr_eq(msg + 132, want, 16);
	cr_assert(wg_mac2_valid(WG_MSG_INITIATION, msg, cookie));
	cookie[0] ^= 1;
	cr_assert(!wg_mac2_valid(WG_MSG_INITIATION, msg, cookie));
	cookie[0] ^= 1;
	msg[10] ^= 1;
	cr_assert(!wg_mac2_valid(WG_MSG_INITIATION, msg, cookie), "mac2 covers the message");
	cr_assert_eq(wg_mac2_offset(WG_MSG_RESPONSE), 76);
	cr_assert_eq(wg_mac2_offset(WG_MSG_DATA), 0);
}

/* A reply built by wglbd, opened the way a client does: by hand with libsodium. */
Test(cookie, reply_opens_like_a_client_opens_it)
{
	uint8_t pub[32], key[32], msg[148], reply[64], cookie[16], out[16];
	unsigned long long n;
	struct wg_cookie_issuer ci;
	struct sockaddr_in6 src = { .sin6_family = AF_INET6, .sin6_port = htons(5555) };

	unhex(pub, 32, vec_s_r_pub);
	unhex(msg, 148, vec_msg1);
	inet_pton(AF_INET6, "2001:db8::7", &src.sin6_addr);
	wg_cookie_issuer_init(&ci, pub);
	wg_cookie_for(&ci, (struct sockaddr *)&src, 1, cookie);
	wg_cookie_reply(&ci, WG_MSG_INITIATION, msg, cookie, reply);

	cr_assert_eq(reply[0], 3);
	cr_assert_eq(reply[1] | reply[2] | reply[3], 0);
	cr_assert_arr_eq(reply + 4, msg + 4, 4, "receiver = the challenged sender index");
	{
		enum drop_reason why;

		cr_assert_eq(wg_classify(reply, sizeof reply, &why), WG_MSG_COOKIE);
	}
	/* HASH("cookie--" || pub), XChaCha20-Poly1305, AAD = mac1 of the initiation */
	{
		blake2s_state st;

		blake2s_init(&st, 32);
		blake2s_update(&st, (const uint8_t *)"cookie--", 8);
		blake2s_update(&st, pub, 32);
		blake2s_final(&st, key, 32);
	}
	cr_assert_eq(crypto_aead_xchacha20poly1305_ietf_decrypt(out, &n, NULL, reply + 32, 32,
								msg + 116, 16, reply + 8, key), 0);
	cr_assert_eq(n, 16);
	cr_assert_arr_eq(out, cookie, 16);
	/* and wglbd's own opener agrees; a wrong AAD fails */
	cr_assert_eq(wg_cookie_open(reply, key, msg + 116, out), 0);
	cr_assert_arr_eq(out, cookie, 16);
	msg[116] ^= 1;
	cr_assert_neq(wg_cookie_open(reply, key, msg + 116, out), 0);
	/* two replies never share a nonce */
	{
		uint8_t r2[64];

		wg_cookie_reply(&ci, WG_MSG_INITIATION, msg, cookie, r2);
		cr_assert_arr_neq(r2 + 8, reply + 8, 24);
	}
	wg_cookie_issuer_wipe(&ci);
}

Test(cookie, secret_rotates_after_two_minutes)
{
	uint8_t pub[32], c1[16], c2[16], c3[16];
	struct wg_cookie_issuer ci;
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(1) };

	unhex(pub, 32, vec_s_r_pub);
	wg_cookie_issuer_init(&ci, pub);
	wg_cookie_for(&ci, (struct sockaddr *)&src, 1000, c1);
	wg_cookie_for(&ci, (struct sockaddr *)&src, 1000 + WG_COOKIE_SECRET_AGE - 1, c2);
	cr_assert_arr_eq(c1, c2, 16);
	wg_cookie_for(&ci, (struct sockaddr *)&src, 1000 + WG_COOKIE_SECRET_AGE + 1, c3);
	cr_assert_arr_neq(c1, c3, 16);
	wg_cookie_issuer_wipe(&ci);
}

/* A real cookie reply from wireguard-go (tests/data/wg) opens with wglbd's opener. */
Test(cookie, opens_a_captured_wireguard_go_reply)
{
	char hex[400], line[200];
	uint8_t reply[64], init[148], pub[32], key[32], cookie[16], want[16];
	size_t len;
	FILE *f;

	f = fopen(WGLB_TEST_DATA "/wg/cookie.hex", "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(hex, sizeof hex, f));
	fclose(f);
	hex[strcspn(hex, "\n")] = 0;
	unhex(reply, 64, hex);
	f = fopen(WGLB_TEST_DATA "/wg/cookie-initiation.hex", "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(hex, sizeof hex, f));
	fclose(f);
	hex[strcspn(hex, "\n")] = 0;
	unhex(init, 148, hex);
	f = fopen(WGLB_TEST_DATA "/wg/keys.txt", "r");
	cr_assert_not_null(f);
	pub[0] = 0;
	while (fgets(line, sizeof line, f)) {
		char b64[64];

		if (sscanf(line, "server_public = %63s", b64) == 1)
			cr_assert_eq(wg_key_from_base64(pub, b64), 0);
	}
	fclose(f);
	wg_cookie_key(key, pub);
	cr_assert_eq(wg_cookie_open(reply, key, init + 116, cookie), 0);
	/* the retry wireguard-go sent carries mac2 made with that cookie */
	f = fopen(WGLB_TEST_DATA "/wg/initiation-mac2.hex", "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(hex, sizeof hex, f));
	fclose(f);
	hex[strcspn(hex, "\n")] = 0;
	unhex(init, 148, hex);
	cr_assert(wg_mac2_valid(WG_MSG_INITIATION, init, cookie));
	(void)len;
	(void)want;
}
