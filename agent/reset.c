#include "agent/reset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/spawn.h"
#include "runtime/log.h"

#define S_PIDS_MAX  4096  //  processes ended at most in one reset
#define S_DEPTH_MAX 64    //  folders deep below $HOME

//  The parent of pid from <proc>/<pid>/stat, or -1.
static pid_t
s_parent (const char *proc, pid_t pid)
{
    char path[AGENT_PATH_MAX + 32], text[512];
    snprintf (path, sizeof path, "%s/%d/stat", proc, (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    size_t n = fread (text, 1, sizeof text - 1, f);
    fclose (f);
    text[n] = '\0';
    const char *close = strrchr (text, ')');  //  the name may hold ") "
    int ppid = -1;
    char state;
    if (!close || sscanf (close + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t) ppid;
}

//  True when pid must be left alone: the agent, an ancestor, a child.
static bool
s_spared (const char *proc, pid_t pid, const pid_t *ancestors, int count)
{
    pid_t me = getpid ();
    if (pid == me || pid <= 1 || s_parent (proc, pid) == me)
        return true;
    for (int i = 0; i < count; i++)
        if (ancestors[i] == pid)
            return true;
    return false;
}

//  The processes of the session: pids into out (at most max).
static int
s_session_pids (const agent_settings_t *settings, pid_t *out, int max)
{
    //  The kernel's view, never LABLINK_PROC_ROOT: these pids are signalled,
    //  and terraform/local gives each VM its own proc/ for detection only
    const char *proc = "/proc";
    pid_t ancestors[64];
    int count = 0;
    for (pid_t p = getppid (); p > 1 && count < 64; p = s_parent (proc, p))
        ancestors[count++] = p;
    bool by_user = settings->session_user[0] != '\0';
    uid_t uid = 0;
    if (by_user) {
        struct passwd *pw = getpwnam (settings->session_user);
        if (!pw)
            return -1;
        uid = pw->pw_uid;
    }
    pid_t sid = getsid (0);
    if (!by_user && sid != getpid ())
        return -2;  //  its session is not its own: nothing is safe to end
    pid_t group = getpgrp ();
    DIR *dir = opendir (proc);
    if (!dir)
        return -1;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) && n < max) {
        char *end = NULL;
        long value = strtol (entry->d_name, &end, 10);
        if (!end || *end || value <= 1)
            continue;
        pid_t pid = (pid_t) value;
        if (s_spared (proc, pid, ancestors, count) || getpgid (pid) == group)
            continue;
        bool member;
        if (by_user) {
            char path[AGENT_PATH_MAX + 32];
            struct stat st;
            snprintf (path, sizeof path, "%s/%d", proc, (int) pid);
            member = stat (path, &st) == 0 && st.st_uid == uid;
        }
        else
            member = getsid (pid) == sid;
        if (member)
            out[n++] = pid;
    }
    closedir (dir);
    return n;
}

static void
s_sleep_ms (int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep (&ts, NULL);
}

int
agent_reset_processes (const agent_settings_t *settings)
{
    pid_t *pids = calloc (S_PIDS_MAX, sizeof *pids);
    int n = pids ? s_session_pids (settings, pids, S_PIDS_MAX) : -1;
    if (n < 0) {
        free (pids);
        return n;
    }
    for (int i = 0; i < n; i++)
        kill (pids[i], SIGTERM);
    for (int waited = 0; n > 0 && waited < AGENT_RESET_GRACE_MS; waited += 50) {
        bool alive = false;
        for (int i = 0; i < n && !alive; i++)
            alive = kill (pids[i], 0) == 0;
        if (!alive)
            break;
        s_sleep_ms (50);
    }
    for (int i = 0; i < n; i++)
        kill (pids[i], SIGKILL);
    free (pids);
    return n;
}

//  --- emptying $HOME -------------------------------------------------------

//  Paths below $HOME that stay (relative, without a leading '/').
typedef struct {
    char paths[AGENT_LOG_FILES + 1][AGENT_PATH_MAX];
    int count;
} s_keep_t;

static void
s_keep_add (s_keep_t *keep, const char *home, const char *path)
{
    size_t len = strlen (home);
    if (keep->count <= AGENT_LOG_FILES && strncmp (path, home, len) == 0
        && path[len] == '/' && path[len + 1])
        snprintf (keep->paths[keep->count++], AGENT_PATH_MAX, "%s",
                  path + len + 1);
}

//  0 = remove, 1 = keep whole, 2 = keep something inside (descend)
static int
s_keep_check (const s_keep_t *keep, const char *rel)
{
    size_t len = strlen (rel);
    int verdict = 0;
    for (int i = 0; i < keep->count; i++) {
        if (strcmp (keep->paths[i], rel) == 0)
            return 1;
        if (strncmp (keep->paths[i], rel, len) == 0
            && keep->paths[i][len] == '/')
            verdict = 2;
    }
    return verdict;
}

//  One emptying of $HOME: what stays, the file system it may not leave,
//  where the reason for a failure goes.
typedef struct {
    s_keep_t keep;
    dev_t dev;
    char *error;
    size_t errsize;
} s_walk_t;

static int s_empty (s_walk_t *walk, int fd, const char *rel, int depth);

//  Remove name (in dirfd; rel is its path below $HOME) unless kept.
static int
s_remove (
    s_walk_t *walk, int dirfd, const char *name, const char *rel, int depth)
{
    char *error = walk->error;
    size_t errsize = walk->errsize;
    int verdict = s_keep_check (&walk->keep, rel);
    if (verdict == 1)
        return 0;
    struct stat st;
    if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR (st.st_mode))
        return verdict == 0 && unlinkat (dirfd, name, 0) != 0 ? -1 : 0;
    if (st.st_dev != walk->dev) {
        snprintf (error, errsize, "~/%s is another file system", rel);
        return -1;
    }
    if (depth >= S_DEPTH_MAX) {
        snprintf (error, errsize, "~/%s is nested too deeply", rel);
        return -1;
    }
    int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0 && errno == EACCES && fchmodat (dirfd, name, 0700, 0) == 0)
        fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    fchmod (fd, st.st_mode | S_IRWXU);  //  a student's read-only folder
    int rc = s_empty (walk, fd, rel, depth + 1);
    if (rc == 0 && verdict == 0 && unlinkat (dirfd, name, AT_REMOVEDIR) != 0)
        rc = -1;
    return rc;
}

//  Remove everything in the folder fd (closed here) but what is kept.
static int
s_empty (s_walk_t *walk, int fd, const char *rel, int depth)
{
    char *error = walk->error;
    size_t errsize = walk->errsize;
    DIR *dir = fdopendir (fd);
    if (!dir) {
        close (fd);
        return -1;
    }
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir (dir))) {
        if (strcmp (entry->d_name, ".") == 0
            || strcmp (entry->d_name, "..") == 0)
            continue;
        char sub[AGENT_PATH_MAX];
        int n = snprintf (sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "",
                          entry->d_name);
        if (n < 0 || (size_t) n >= sizeof sub) {
            snprintf (error, errsize, "a path in ~/%s is too long", rel);
            rc = -1;
        }
        else {
            rc = s_remove (walk, dirfd (dir), entry->d_name, sub, depth);
            if (rc != 0 && !*error)
                snprintf (error, errsize, "cannot remove ~/%s: %s", sub,
                          strerror (errno));
        }
    }
    closedir (dir);
    return rc;
}

//  0 when home may be emptied (a real folder the agent was given), else -1
//  with the reason.
static int
s_home_check (const agent_settings_t *settings, char *error, size_t errsize)
{
    const char *home = settings->home;
    //  A home that is a system folder (or no HOME at all) is never emptied
    static const char *const system[] = {"/",     "/tmp",  "/var", "/usr",
                                         "/etc",  "/home", "/opt", "/srv",
                                         "/root", NULL};
    bool refused = !settings->home_set || home[0] != '/';
    for (int i = 0; system[i] && !refused; i++)
        refused = strcmp (home, system[i]) == 0;
    struct stat st;
    if (refused || lstat (home, &st) != 0 || !S_ISDIR (st.st_mode)) {
        snprintf (error, errsize, "HOME %s is not a folder that can be reset",
                  home);
        return -1;
    }
    return 0;
}

//  Empty home, keeping the agent's own files. 0 or -1.
static int
s_empty_home (const agent_settings_t *settings, char *error, size_t errsize)
{
    const char *home = settings->home;
    struct stat st;
    if (lstat (home, &st) != 0)
        return -1;
    s_walk_t *walk = calloc (1, sizeof *walk);
    if (!walk)
        return -1;
    walk->dev = st.st_dev;
    walk->error = error;
    walk->errsize = errsize;
    s_keep_add (&walk->keep, home, settings->state_dir);
    for (int i = 0; i < settings->log_count; i++)
        s_keep_add (&walk->keep, home, settings->logs[i].path);
    int fd = open (home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    int rc = fd < 0 ? -1 : s_empty (walk, fd, "", 0);
    if (rc != 0 && !*error)
        snprintf (error, errsize, "cannot empty %s: %s", home,
                  strerror (errno));
    free (walk);
    return rc;
}

int
agent_reset_desktop (const agent_settings_t *settings,
                     agent_stop_t *stop,
                     char *error,
                     size_t errsize)
{
    error[0] = '\0';
    if (s_home_check (settings, error, errsize) != 0)
        return -1;  //  before anything is ended or removed
    int ended = agent_reset_processes (settings);
    if (ended == -2) {
        snprintf (error, errsize,
                  "the agent does not lead its session: start it with setsid "
                  "or set LABLINK_SESSION_USER");
        return -1;
    }
    if (ended < 0) {
        snprintf (error, errsize, "cannot list the session's processes%s%s",
                  settings->session_user[0] ? " of " : "",
                  settings->session_user);
        return -1;
    }
    ll_info ("agent: reset: %d session process%s ended", ended,
             ended == 1 ? "" : "es");
    if (s_empty_home (settings, error, errsize) != 0)
        return -1;
    struct stat st;
    if (stat (settings->skeleton_dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
        ll_warn ("agent: reset: no skeleton folder %s: the home stays empty",
                 settings->skeleton_dir);
        return 0;
    }
    char from[AGENT_PATH_MAX + 4], to[AGENT_PATH_MAX + 4];
    snprintf (from, sizeof from, "%s/.", settings->skeleton_dir);
    snprintf (to, sizeof to, "%s/", settings->home);
    char *argv[] = {"cp", "-a", "--", from, to, NULL};
    agent_run_t run;
    if (agent_run (argv, NULL, NULL, 120 * 1000, stop, &run) != 0) {
        snprintf (error, errsize, "copying the skeleton %s failed (exit %d)",
                  settings->skeleton_dir, run.exit_code);
        return -1;
    }
    return 0;
}
