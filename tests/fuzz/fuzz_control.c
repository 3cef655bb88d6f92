/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_control: the control socket's request parser, on any bytes as the
 * line a client sent (cut at the first NUL, as the daemon's reader sees
 * it). A parsed request must name a known command and a valid argument;
 * a refused one must carry a message.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "fuzz_control: %s:%d: invariant failed: %s\n", \
				__FILE__, __LINE__, #cond);                            \
			abort();                                                       \
		}                                                                      \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size heap copy, so ASan sees any read past the terminator */
	char *line = malloc(size + 1);
	struct control_request req;
	char err[128];
	int r;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	err[0] = '\0';
	r = control_parse(line, &req, err, sizeof err);
	if (r == 0) {
		size_t n = strlen(req.arg);

		CHECK((unsigned)req.cmd < CMD__COUNT);
		CHECK(n <= CONF_NAME_MAX);
		CHECK(strspn(req.arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789-_.") == n);
		CHECK(strcmp(control_cmd_name(req.cmd), "unknown") != 0);
		/* the command is the line's first word */
		CHECK(strstr(line, control_cmd_name(req.cmd)) != NULL);
	} else {
		CHECK(r < 0);
		CHECK(err[0] != '\0');
	}
	/* a small error buffer truncates, never overflows */
	{
		char tiny[4];

		control_parse(line, &req, tiny, sizeof tiny);
	}
	free(line);
	return 0;
}
