/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * state: the session table written at shutdown and read at start, so a
 * planned restart keeps every tunnel where it was without learning.
 */
#ifndef WGLB_STATE_H
#define WGLB_STATE_H

#include "backend.h"
#include "proxy.h"

/* Seconds between saves while running, so that a crash leaves a recent file. */
#define STATE_SAVE_INTERVAL 30.0

/*
 * Write every bound session to path (via a temporary file and rename);
 * quiet saves (the periodic ones) log only failures. 0 or -errno.
 */
int state_save(struct proxy *px, const char *path, bool quiet);
/*
 * Read path and recreate its sessions; the file is removed afterwards so
 * that it is never read twice. A missing file is fine; an old (older than
 * max_age seconds), foreign or corrupt one is ignored with a log line.
 * Returns the number of sessions restored.
 */
unsigned state_load(struct proxy *px, struct backend_set *bs, const char *path, double max_age);

#endif
