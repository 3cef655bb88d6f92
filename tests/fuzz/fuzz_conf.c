/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_conf: the configuration parser (conf.c on top of inih), on any
 * bytes as file contents. A file that loads must load again the same way
 * (conf_diff against itself finds nothing), and every failure must say why.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "fuzz_conf: %s:%d: invariant failed: %s\n",  \
				__FILE__, __LINE__, #cond);                          \
			abort();                                                     \
		}                                                                    \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf *load(const uint8_t *data, size_t size, char **err, size_t *err_len)
{
	FILE *in, *ef;
	struct conf *c;

	ef = open_memstream(err, err_len);
	CHECK(ef);
	/* fmemopen refuses a zero-sized buffer: give it one byte it never reads */
	in = fmemopen(size ? (void *)data : (void *)"", size ? size : 1, "r");
	CHECK(in);
	if (!size)
		fgetc(in);
	c = conf_load_stream(in, "fuzz.conf", ef);
	fclose(in);
	fclose(ef);
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	char *err = NULL;
	size_t err_len = 0;
	struct conf *c;

	if (!quiet) {
		log_set_level(LOG_LVL_ERROR);
		quiet = true;
	}
	c = load(data, size, &err, &err_len);
	if (!c) {
		/* a refused file is reported, as FILE:LINE: message lines */
		CHECK(err_len > 0);
		CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
		CHECK(err[err_len - 1] == '\n');
	} else {
		struct conf *again;
		char *err2 = NULL;
		size_t err2_len = 0;
		struct conf_diff d;

		CHECK(c->n_listen > 0 && c->n_listen <= CONF_MAX_LISTEN);
		CHECK(c->n_backends > 0);
		CHECK(c->max_sessions > 0);
		for (unsigned i = 0; i < c->n_backends; i++) {
			CHECK(c->backends[i].weight > 0);
			CHECK(strlen(c->backends[i].name) <= CONF_NAME_MAX);
			CHECK(conf_find_backend(c, c->backends[i].name) == &c->backends[i]);
		}
		/* the same bytes load to the same configuration */
		again = load(data, size, &err2, &err2_len);
		CHECK(again);
		CHECK(conf_diff(c, again, &d) == 0);
		CHECK(!d.listen_changed && !d.user_changed && !d.control_changed &&
		      !d.metrics_changed && d.n_removed == 0);
		for (unsigned i = 0; i < again->n_backends; i++)
			CHECK(d.backends[i] == CHANGE_NONE);
		conf_diff_free(&d);
		conf_free(again);
		free(err2);
		conf_free(c);
	}
	free(err);
	return 0;
}
