/* SPDX-License-Identifier: GPL-2.0-or-later */
/* wglbctl: command-line client of wglbd's control socket. */
#include "config.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: wglbctl -V | -h\n"
		   "The control socket commands arrive with a later wglbd release;\n"
		   "until then wglbd reports its counters on SIGUSR1 and re-reads\n"
		   "backend weight and state on SIGHUP.\n");
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "-V") == 0) {
		printf("wglbctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 1;
}
