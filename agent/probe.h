/*  What the agent observes on its machine: processes (in-use scan, CRD
    daemon), the GPU (nvidia-smi), free disk space, the boot id. */
#ifndef LL_AGENT_PROBE_H
#define LL_AGENT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "agent/stop.h"

#define AGENT_CMDLINE_MAX (64 * 1024)  //  command line bytes examined

//  Scan proc_root (normally /proc) for a process other than skip_pid whose
//  command line (arguments joined with spaces) contains needle. 1 found,
//  0 not found, -1 when proc_root cannot be read. An empty needle is never
//  found.
int agent_proc_find (const char *proc_root, const char *needle, pid_t skip_pid);

//  GPU health values as the allocator stores them.
#define AGENT_GPU_HEALTHY   "Healthy"
#define AGENT_GPU_UNHEALTHY "Unhealthy"
#define AGENT_GPU_NONE      "N/A"

//  Run nvidia_smi once (no arguments) with a timeout: exit 0 Healthy, not
//  installed (empty path, cannot execute, exit 127) N/A, anything else
//  (exit code, signal, timeout) Unhealthy. Returns one of the constants.
const char *
agent_gpu_probe (const char *nvidia_smi, int timeout_ms, agent_stop_t *stop);

//  Percent of free space (for unprivileged users) on the file system of
//  path, 0..100; -1 on error.
int agent_disk_free_pct (const char *path);

//  The kernel boot id into out (36 characters + NUL); "" when unknown.
void agent_boot_id (char *out, size_t size);

#endif
