/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log: levelled messages on stderr. Under systemd (JOURNAL_STREAM set)
 * each line carries a "<N>" priority prefix for the journal instead of a
 * timestamp, which the journal adds itself.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

static enum log_level cur_level = LOG_LVL_INFO;
static const char *log_ident = "wglbd";
static int to_journal;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARNING] = "warning",
	[LOG_LVL_NOTICE] = "notice",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

/* syslog priorities, for sd-daemon style prefixes */
static const int level_prio[] = {
	[LOG_LVL_ERROR] = 3,
	[LOG_LVL_WARNING] = 4,
	[LOG_LVL_NOTICE] = 5,
	[LOG_LVL_INFO] = 6,
	[LOG_LVL_DEBUG] = 7,
};

void log_init(const char *ident)
{
	if (ident)
		log_ident = ident;
	to_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

bool log_enabled(enum log_level lvl)
{
	return lvl <= cur_level;
}

const char *log_level_name(enum log_level lvl)
{
	if ((unsigned)lvl > LOG_LVL_DEBUG)
		return "unknown";
	return level_names[lvl];
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i <= LOG_LVL_DEBUG; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warn") == 0) {
		*out = LOG_LVL_WARNING;
		return 0;
	}
	return -EINVAL;
}

static void log_vwrite(enum log_level lvl, const char *suffix, const char *fmt, va_list ap)
{
	char msg[1024];
	char head[64];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (to_journal) {
		snprintf(head, sizeof head, "<%d>", level_prio[lvl]);
	} else {
		struct timeval tv;
		struct tm tm;

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		snprintf(head, sizeof head, "%02d:%02d:%02d.%03ld %s[%s] ", tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (long)(tv.tv_usec / 1000), log_ident, level_names[lvl]);
	}
	fprintf(stderr, "%s%s%s%s\n", head, msg, suffix ? ": " : "", suffix ? suffix : "");
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	log_vwrite(lvl, NULL, fmt, ap);
	va_end(ap);
}

void log_errno(enum log_level lvl, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	log_vwrite(lvl, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, NULL, fmt, ap);
	va_end(ap);
	abort();
}
