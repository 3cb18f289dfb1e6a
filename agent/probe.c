#include "agent/probe.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/spawn.h"

//  Read a process's command line with NULs turned into spaces. Returns
//  the length, or -1.
static ssize_t
s_read_cmdline (const char *proc_root, const char *pid, char *buf, size_t size)
{
    char path[1200];
    snprintf (path, sizeof path, "%s/%s/cmdline", proc_root, pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read (fd, buf + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t) n;
    }
    close (fd);
    while (len > 0 && buf[len - 1] == '\0')
        len--;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[len] = '\0';
    return (ssize_t) len;
}

int
agent_proc_find (const char *proc_root, const char *needle, pid_t skip_pid)
{
    DIR *dir = opendir (proc_root);
    if (!dir)
        return -1;
    if (!needle || !*needle) {
        closedir (dir);
        return 0;
    }
    char *buf = malloc (AGENT_CMDLINE_MAX + 1);
    if (!buf) {
        closedir (dir);
        return -1;
    }
    int found = 0;
    struct dirent *entry;
    while (!found && (entry = readdir (dir))) {
        const char *name = entry->d_name;
        bool numeric = *name != '\0';
        for (const char *c = name; *c; c++)
            if (!isdigit ((unsigned char) *c))
                numeric = false;
        if (!numeric || strlen (name) > 10)
            continue;
        if (strtol (name, NULL, 10) == (long) skip_pid)
            continue;
        //  Vanished processes, zombies and kernel threads read as empty
        if (s_read_cmdline (proc_root, name, buf, AGENT_CMDLINE_MAX + 1) <= 0)
            continue;
        if (strstr (buf, needle))
            found = 1;
    }
    free (buf);
    closedir (dir);
    return found;
}

const char *
agent_gpu_probe (const char *nvidia_smi, int timeout_ms, agent_stop_t *stop)
{
    if (!nvidia_smi || !*nvidia_smi)
        return AGENT_GPU_NONE;
    char *argv[] = {(char *) nvidia_smi, NULL};
    agent_run_t run;
    if (agent_run (argv, NULL, NULL, timeout_ms, stop, &run) == 0)
        return AGENT_GPU_HEALTHY;
    if (run.not_found && !run.timed_out)
        return AGENT_GPU_NONE;
    return AGENT_GPU_UNHEALTHY;
}

int
agent_disk_free_pct (const char *path)
{
    struct statvfs fs;
    if (statvfs (path, &fs) != 0 || fs.f_blocks == 0)
        return -1;
    double pct = 100.0 * (double) fs.f_bavail / (double) fs.f_blocks;
    return (int) agent_clamp (pct, 0, 100);
}

void
agent_boot_id (char *out, size_t size)
{
    out[0] = '\0';
    FILE *file = fopen ("/proc/sys/kernel/random/boot_id", "re");
    if (!file)
        return;
    if (fgets (out, (int) size, file)) {
        size_t len = strlen (out);
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
            out[--len] = '\0';
    }
    fclose (file);
}
