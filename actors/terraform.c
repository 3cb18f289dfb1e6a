#include "actors/terraform.h"
#include "runtime/export_check.h"
#include "actors/s3.h"
#include "actors/tfvars.h"
#include "runtime/actor.h"
#include "runtime/aws.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/schedule.h"
#include "runtime/metrics.h"
#include "runtime/token.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TF_TICK_MS         100      //  poll period while an operation runs
#define TF_IDLE_TICK_MS    500      //  poll period otherwise (reconnects)
#define TF_OUTPUT_MAX      1048576  //  bytes of output kept per operation
#define TF_CAPTURE_MAX     4194304  //  bytes of stdout kept for parsing
#define TF_FLUSH_MS        250      //  output reaches the database this often
#define TF_KILL_GRACE_MS   3000     //  SIGTERM/SIGINT -> SIGKILL
#define TF_STOP_GRACE_MS   1500     //  the same when the allocator stops
#define TF_DRAIN_MS        500      //  pipes kept open after the child exits
#define TF_AFTER_MAX_S     60       //  output / state list steps
#define TF_READ_CHUNK      65536    //  bytes read per wake-up
#define TF_LOCK_BUSY       1        //  s_acquire: another operation runs
#define TF_INIT_MARKER     ".lablink-init"
#define TF_TFVARS          "terraform.runtime.tfvars"
#define TF_BACKEND_TF      "lablink_backend.tf"    //  the s3 backend block
#define TF_BACKEND_CONFIG  "lablink.s3.tfbackend"  //  its settings
#define TF_LOCK_WAIT_MAX_S 30  //  -lock-timeout (at most half the limit)
#define TF_STALE_REASON    "interrupted: the allocator running it stopped"
#define TF_SHUTDOWN_REASON "interrupted: the allocator was stopped"
#define TF_MAX_NAME        256
#define TF_REBOOT_SCRIPT   "vm-reboot.sh"  //  the provider's reboot
#define TF_ARGV_MAX        (LL_BULK_MAX + 16)

typedef enum {
    STEP_INIT,
    STEP_MAIN,
    STEP_OUTPUT,
    STEP_STATE,
    STEP_REBOOT,
    STEP_EXPORT
} step_t;

#define TF_EXPORT_WAIT_MS 100         //  "nothing yet": ask again then
#define TF_EXPORT_SAY     (32 << 20)  //  a progress line this often

//  One pipe from the child, cut into lines.
typedef struct {
    int fd;                         //  read end, -1 once closed
    char line[LL_TF_LINE_MAX + 1];  //  the line being assembled
    size_t len;                     //  bytes in line
    bool capture;                   //  stdout kept whole (output, state)
} stream_t;

typedef struct {
    int64_t id;              //  operations.id
    char kind[16];           //  launch | destroy | destroy-vm | replace-vm
                             //  | move-vm | reboot-vm
    char *target;            //  the VMs named (space-separated), or NULL
    zlist_t *names;          //  names this operation adds or removes (owned)
    char *moved_to;          //  move-vm: the new name (owned), else NULL
    int failed_vms;          //  reboot-vm: VMs whose reboot failed
    char before[16];         //  reboot-vm: the rebooting VM's status before
    char export_id[40];      //  export-destroy: the exporter's export id
    char *export_path;       //  ... the zip being written (.part), owned
    int export_fd;           //  ... its descriptor, -1 when closed
    uint64_t export_bytes;   //  ... bytes written
    uint64_t export_said;    //  ... bytes when progress was last said
    int64_t export_next_ms;  //  ... when to ask the exporter again
    zhash_t *tokens;         //  name -> token minted for it (owned, secret)
    step_t step;             //  what the child is doing
    pid_t pid;               //  the child, 0 when none
    stream_t out, err;       //  its stdout and stderr
    char *capture;           //  stdout of output / state steps
    size_t capture_len;      //  bytes in capture
    int64_t deadline_ms;     //  the step must end by then
    int64_t op_deadline_ms;  //  init + apply/destroy must end by then
    int64_t kill_at_ms;      //  SIGKILL at this time once terminated
    int kill_stage;          //  0 none, 1 SIGTERM/SIGINT sent, 2 SIGKILL sent
    bool timed_out;          //  the deadline killed it
    bool exited;             //  the child was reaped
    int status;              //  its wait status
    int64_t exited_ms;       //  when it was reaped
    size_t stored;           //  output bytes kept so far
    int64_t seq;             //  number of the next output line
    bool truncated;          //  output reached TF_OUTPUT_MAX
    char *pending;           //  output not yet in the database
    size_t pending_len;      //  bytes in pending
    size_t pending_cap;      //  capacity of pending
    int64_t flush_ms;        //  next database flush
    int done, total;         //  VMs created / destroyed / rebooted, of
    bool progress_dirty;     //  done/total changed since the last flush
    bool backup_failed;      //  terraform succeeded, its S3 backup did not
    char *error;             //  first reason of failure, or NULL
    int64_t started_ms;      //  ll_now_ms () when it began (metrics)
} op_t;

typedef struct {
    ll_actor_t actor;     //  pipe, ROUTER LL_ENDPOINT_TERRAFORM, database
    zsock_t *pub;         //  LL_ENDPOINT_OPERATIONS
    zsock_t *exporter;    //  DEALER to LL_ENDPOINT_EXPORTER
    char *module_dir;     //  the terraform module (absolute)
    char *work_dir;       //  state, tfvars, symlinks (absolute)
    char *key_file;       //  the allocator's ssh private key
    char *exe_dir;        //  folder of our own executable
    ll_aws_chain_t *aws;  //  AWS credentials (aws provider or s3 state)
    char *init_id;        //  module + backend settings of this operation
    op_t *op;             //  the running operation, or NULL
    bool locked;          //  we hold the advisory lock
    bool swept;           //  operations left by a killed allocator failed
} self_t;

//  --- small helpers ------------------------------------------------------

static char *
s_path_join (const char *a, const char *b)
{
    size_t n = strlen (a) + strlen (b) + 2;
    char *p = malloc (n);
    snprintf (p, n, "%s/%s", a, b);
    return p;
}

//  Absolute path of path (relative to the current directory).
static char *
s_absolute (const char *path)
{
    if (path[0] == '/')
        return strdup (path);
    char cwd[PATH_MAX];
    if (!getcwd (cwd, sizeof cwd))
        return strdup (path);
    return s_path_join (cwd, path);
}

static int
s_mkdirs (const char *path, mode_t mode)
{
    char *copy = strdup (path);
    for (char *p = copy + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir (copy, mode);
            *p = '/';
        }
    int rc = mkdir (copy, mode);
    free (copy);
    return rc == 0 || errno == EEXIST ? 0 : -1;
}

static bool
s_file_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

//  Read a small file into a new string (NULL on failure).
static char *
s_read_file (const char *path, size_t max)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    char *text = malloc (max + 1);
    size_t got = fread (text, 1, max, f);
    fclose (f);
    text[got] = '\0';
    return text;
}

//  Write text to path with mode, atomically (temporary file + rename).
static int
s_write_file (const char *path, const char *text, mode_t mode)
{
    size_t n = strlen (path) + 8;
    char *tmp = malloc (n);
    snprintf (tmp, n, "%s.tmp", path);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int rc = -1;
    if (fd >= 0) {
        size_t len = strlen (text);
        ssize_t w = write (fd, text, len);
        rc = (w == (ssize_t) len && fchmod (fd, mode) == 0) ? 0 : -1;
        close (fd);
        if (rc == 0)
            rc = rename (tmp, path);
        if (rc != 0)
            unlink (tmp);
    }
    free (tmp);
    return rc;
}

//  Array text for a text[] parameter: {"a","b"} (names are [A-Za-z0-9._-]).
static char *
s_pg_array (zlist_t *names)
{
    size_t n = 3;
    for (char *s = zlist_first (names); s; s = zlist_next (names))
        n += strlen (s) + 3;
    char *out = malloc (n);
    size_t len = 0;
    out[len++] = '{';
    for (char *s = zlist_first (names); s; s = zlist_next (names))
        len += (size_t) snprintf (out + len, n - len, "%s\"%s\"",
                                  len > 1 ? "," : "", s);
    out[len++] = '}';
    out[len] = '\0';
    return out;
}

static zlist_t *
s_names_new (void)
{
    zlist_t *list = zlist_new ();
    zlist_autofree (list);
    zlist_comparefn (list, (zlist_compare_fn *) strcmp);  //  zlist_exists
    return list;
}

//  Whether the operation's terraform step destroys the whole fleet.
static bool
s_all_go (const op_t *op)
{
    return strcmp (op->kind, "destroy") == 0
           || strcmp (op->kind, "export-destroy") == 0;
}

//  --- database ---------------------------------------------------------

//  Run a statement, clear the result; 0 or -1.
static int
s_exec (self_t *self, const char *name, int n, const char *const *values)
{
    PGresult *res = ll_db_exec (self->actor.db, name, n, values);
    PQclear (res);
    return res ? 0 : -1;
}

static void
s_release (self_t *self)
{
    if (self->locked && s_exec (self, "tf_unlock", 0, NULL) != 0)
        ll_warn ("terraform: cannot release the advisory lock: %s",
                 ll_db_error (self->actor.db));
    self->locked = false;
}

//  Take the lock that makes us the one allocator running terraform. 0 when
//  taken (stale operations of a stopped allocator are then failed),
//  TF_LOCK_BUSY with *busy = the running operation's id (0 if unknown), or
//  -1 when the database is unavailable.
static int
s_acquire (self_t *self, int64_t *busy)
{
    *busy = 0;
    if (ll_db_ensure (self->actor.db) != 0)
        return -1;
    PGresult *res = ll_db_exec (self->actor.db, "tf_lock_try", 0, NULL);
    if (!res)
        return -1;
    bool got = PQntuples (res) == 1 && PQgetvalue (res, 0, 0)[0] == 't';
    PQclear (res);
    if (!got) {
        res = ll_db_exec (self->actor.db, "op_active", 0, NULL);
        if (res && PQntuples (res) == 1)
            *busy = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
        PQclear (res);
        return TF_LOCK_BUSY;
    }
    self->locked = true;
    const char *reason[] = {TF_STALE_REASON};
    res = ll_db_exec (self->actor.db, "op_fail_stale", 1, reason);
    for (int i = 0; res && i < PQntuples (res); i++)
        ll_warn ("terraform: operation %s was left unfinished; marked failed",
                 PQgetvalue (res, i, 0));
    PQclear (res);
    if (s_exec (self, "fleet_settle", 0, NULL) != 0) {
        s_release (self);
        return -1;
    }
    return 0;
}

//  Once after start, when the database answers: fail what an allocator
//  killed mid-operation left running, so that operation does not show
//  "running" until someone launches again. If another allocator holds the
//  lock, its operation is live: nothing to do.
static void
s_sweep (self_t *self)
{
    int64_t busy;
    int rc = s_acquire (self, &busy);
    if (rc == 0)
        s_release (self);
    if (rc >= 0)
        self->swept = true;
}

//  --- the operation's output ----------------------------------------------

static void
s_publish (
    self_t *self, op_t *op, const char *kind, const char *a, const char *b)
{
    char topic[32];
    snprintf (topic, sizeof topic, LL_OP_TOPIC_PREFIX "%lld",
              (long long) op->id);
    zsock_send (self->pub, "ssss", topic, kind, a, b);
}

static void
s_publish_progress (self_t *self, op_t *op)
{
    char done[16], total[16];
    snprintf (done, sizeof done, "%d", op->done);
    snprintf (total, sizeof total, "%d", op->total);
    s_publish (self, op, "progress", done, total);
    op->progress_dirty = true;
}

static void
s_pending_add (op_t *op, const char *text, size_t len)
{
    if (op->pending_len + len + 1 > op->pending_cap) {
        op->pending_cap = (op->pending_len + len + 1) * 2;
        op->pending = realloc (op->pending, op->pending_cap);
    }
    memcpy (op->pending + op->pending_len, text, len);
    op->pending_len += len;
    op->pending[op->pending_len] = '\0';
}

//  One line of output: kept (up to the cap), published, counted.
static void
s_emit (self_t *self, op_t *op, const char *line)
{
    ll_tf_line_t kind = ll_tf_line_kind (line);
    bool move = strcmp (op->kind, "move-vm") == 0;
    if ((kind == LL_TF_LINE_CREATED && op->step == STEP_MAIN && !s_all_go (op))
        || (kind == LL_TF_LINE_DESTROYED && s_all_go (op)
            && op->step == STEP_MAIN)
        || (kind == LL_TF_LINE_DESTROYED
            && (strcmp (op->kind, "destroy-vm") == 0 || move))) {
        if (op->done < op->total)
            op->done++;
        s_publish_progress (self, op);
    }
    if (op->truncated)
        return;
    size_t len = strlen (line);
    char seq[24];
    snprintf (seq, sizeof seq, "%lld", (long long) op->seq);
    if (op->stored + len + 1 > TF_OUTPUT_MAX) {
        static const char mark[] = "[output truncated]";
        s_pending_add (op, mark, sizeof mark - 1);
        s_pending_add (op, "\n", 1);
        s_publish (self, op, "line", seq, mark);
        op->seq++;
        op->truncated = true;
        return;
    }
    s_pending_add (op, line, len);
    s_pending_add (op, "\n", 1);
    op->stored += len + 1;
    s_publish (self, op, "line", seq, line);
    op->seq++;
}

//  A line of our own in the output (what the allocator did).
static void
s_say (self_t *self, op_t *op, const char *format, ...)
{
    char line[LL_TF_LINE_MAX + 1];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof line, format, args);
    va_end (args);
    s_emit (self, op, line);
}

static void
s_flush (self_t *self, op_t *op)
{
    if (!op->pending_len && !op->progress_dirty)
        return;
    char id[24], done[16], total[16];
    snprintf (id, sizeof id, "%lld", (long long) op->id);
    snprintf (done, sizeof done, "%d", op->done);
    snprintf (total, sizeof total, "%d", op->total);
    const char *values[] = {id, op->pending ? op->pending : "", done, total};
    if (ll_db_ensure (self->actor.db) == 0
        && s_exec (self, "op_append", 4, values) == 0) {
        op->pending_len = 0;
        if (op->pending)
            op->pending[0] = '\0';
        op->progress_dirty = false;
    }
    //  else kept for the next flush (the text is capped anyway)
    op->flush_ms = ll_now_ms () + TF_FLUSH_MS;
}

//  --- the child process ------------------------------------------------

static void
s_stream_close (stream_t *stream)
{
    if (stream->fd >= 0)
        close (stream->fd);
    stream->fd = -1;
}

static void
s_stream_line (self_t *self, op_t *op, stream_t *stream)
{
    stream->line[stream->len] = '\0';
    size_t len = ll_tf_clean_line (stream->line, stream->len);
    stream->len = 0;
    if (len > 0)
        s_emit (self, op, stream->line);
}

//  Read what the pipe has; false at end of file.
static bool
s_stream_read (self_t *self, op_t *op, stream_t *stream)
{
    char chunk[TF_READ_CHUNK];
    ssize_t n = read (stream->fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0) {
        if (stream->len)
            s_stream_line (self, op, stream);
        s_stream_close (stream);
        return false;
    }
    if (stream->capture) {
        size_t room = TF_CAPTURE_MAX - op->capture_len;
        size_t take = (size_t) n < room ? (size_t) n : room;
        op->capture = realloc (op->capture, op->capture_len + take + 1);
        memcpy (op->capture + op->capture_len, chunk, take);
        op->capture_len += take;
        op->capture[op->capture_len] = '\0';
        return true;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = chunk[i];
        if (c == '\n' || c == '\r')
            s_stream_line (self, op, stream);
        else if (stream->len < LL_TF_LINE_MAX)
            stream->line[stream->len++] = c;
        //  else: the rest of an over-long line is dropped
    }
    return true;
}

//  Environment of the child: ours plus terraform's automation settings and
//  extra_env (NULL-terminated, or NULL): "NAME=value" replaces or adds
//  NAME, a bare "NAME" removes it.
static char **
s_child_env (const char *const *extra_env)
{
    static const char *const automation[] = {
        "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0", NULL};
    const char *const *lists[] = {automation, extra_env};
    size_t n = 0, more = 0;
    while (environ[n])
        n++;
    for (int l = 0; l < 2; l++)
        for (int k = 0; lists[l] && lists[l][k]; k++)
            more++;
    char **env = calloc (n + more + 1, sizeof *env);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (int l = 0; l < 2; l++)
            for (int k = 0; lists[l] && lists[l][k]; k++) {
                const char *item = lists[l][k];
                size_t klen = strcspn (item, "=");
                if (strncmp (environ[i], item, klen) == 0
                    && environ[i][klen] == '=')
                    replaced = true;
            }
        if (!replaced)
            env[j++] = environ[i];
    }
    for (int l = 0; l < 2; l++)
        for (int k = 0; lists[l] && lists[l][k]; k++)
            if (strchr (lists[l][k], '='))
                env[j++] = (char *) lists[l][k];
    env[j] = NULL;
    return env;
}

//  The program argv[0] names: itself when it holds a '/', else the first
//  executable file of that name on PATH (as posix_spawnp looks). 0, or -1
//  with errno.
static int
s_find_program (const char *name, char *path, size_t size)
{
    if (strchr (name, '/')) {
        snprintf (path, size, "%s", name);
        return 0;
    }
    const char *dirs = getenv ("PATH");
    if (!dirs || !*dirs)
        dirs = "/usr/local/bin:/usr/bin:/bin";
    while (*dirs) {
        size_t len = strcspn (dirs, ":");
        snprintf (path, size, "%.*s/%s", (int) len, len ? dirs : ".", name);
        struct stat st;
        if (stat (path, &st) == 0 && S_ISREG (st.st_mode)
            && access (path, X_OK) == 0)
            return 0;
        dirs += len + (dirs[len] == ':');
    }
    errno = ENOENT;
    return -1;
}

//  Start argv (argv[0] looked up in PATH when it has no '/'); stdout and
//  stderr to pipes. 0 or -1 with *reason. The child gets SIGTERM when the
//  thread that started it ends (PR_SET_PDEATHSIG), so an allocator killed
//  with SIGKILL takes its terraform down with it: terraform stops gracefully
//  on SIGTERM (it finishes the calls in flight, writes its state, releases
//  its lock) instead of running on beside the next launch. posix_spawn
//  cannot set that, hence fork: the child makes system calls only.
static int
s_spawn (const char *const *argv,
         const char *const *extra_env,
         pid_t *pid,
         int *out_fd,
         int *err_fd,
         bool new_group,
         char *reason,
         size_t size)
{
    char path[PATH_MAX];
    if (s_find_program (argv[0], path, sizeof path) != 0) {
        snprintf (reason, size, "cannot run %s: %s", argv[0], strerror (errno));
        return -1;
    }
    //  out, err: the child's output; failed: its exec error, if any
    int out[2] = {-1, -1}, err[2] = {-1, -1}, failed[2] = {-1, -1};
    if (pipe (out) != 0 || pipe (err) != 0 || pipe (failed) != 0) {
        snprintf (reason, size, "pipe: %s", strerror (errno));
        for (int i = 0; i < 2; i++) {
            if (out[i] >= 0)
                close (out[i]);
            if (err[i] >= 0)
                close (err[i]);
            if (failed[i] >= 0)
                close (failed[i]);
        }
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        fcntl (out[i], F_SETFD, FD_CLOEXEC);
        fcntl (err[i], F_SETFD, FD_CLOEXEC);
        fcntl (failed[i], F_SETFD, FD_CLOEXEC);
    }
    fcntl (out[0], F_SETFL, O_NONBLOCK);
    fcntl (err[0], F_SETFL, O_NONBLOCK);
    char **env = s_child_env (extra_env);
    pid_t parent = getpid ();
    pid_t child = fork ();
    if (child == 0) {
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != parent)
            _exit (127);  //  the allocator died before prctl
        if (new_group)
            setpgid (0, 0);
        //  The allocator blocks SIGINT/SIGTERM in every thread: the child
        //  must not inherit that, or it could not be stopped
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        int signals[] = {SIGINT, SIGTERM, SIGPIPE, SIGCHLD};
        for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
            sigaction (signals[i], &dfl, NULL);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2 (null, 0) < 0 || dup2 (out[1], 1) < 0
            || dup2 (err[1], 2) < 0)
            _exit (127);
        execve (path, (char **) argv, env);
        int error = errno;
        ssize_t ignored = write (failed[1], &error, sizeof error);
        (void) ignored;
        _exit (127);
    }
    int spawn_error = child < 0 ? errno : 0;
    free (env);
    close (out[1]);
    close (err[1]);
    close (failed[1]);
    if (child > 0) {
        //  Closed by a successful exec (CLOEXEC), or the exec's errno
        int error = 0;
        ssize_t got;
        while ((got = read (failed[0], &error, sizeof error)) < 0
               && errno == EINTR)
            ;
        if (got == (ssize_t) sizeof error) {
            spawn_error = error;
            while (waitpid (child, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    close (failed[0]);
    if (spawn_error) {
        snprintf (reason, size, "cannot run %s: %s", argv[0],
                  strerror (spawn_error));
        close (out[0]);
        close (err[0]);
        return -1;
    }
    *pid = child;
    *out_fd = out[0];
    *err_fd = err[0];
    return 0;
}

//  AWS credentials are needed: the aws provider, or fleet state in S3.
static bool
s_uses_aws (self_t *self)
{
    const ll_config_t *config = self->actor.runtime->config;
    return strcmp (config->provider.kind, "aws") == 0
           || strcmp (ll_config_state_backend (config), "s3") == 0;
}

static char *
s_env_entry (const char *name, const char *value)
{
    size_t n = strlen (name) + strlen (value) + 2;
    char *entry = malloc (n);
    snprintf (entry, n, "%s=%s", name, value);
    return entry;
}

//  The credentials terraform gets, as environment entries in env (room for
//  three and the NULL; the caller wipes and frees them): the ones the
//  allocator found (ll_aws_chain_get), so terraform and the S3 backup use
//  the same. Without any, terraform is left to look for its own.
static void
s_aws_env (self_t *self, op_t *op, char **env)
{
    if (!s_uses_aws (self) || !self->aws)
        return;
    ll_aws_creds_t creds;
    char why[512];
    if (ll_aws_chain_get (self->aws, &creds, why, sizeof why) != 0) {
        s_say (self, op, "warning: AWS credentials: %s", why);
        return;
    }
    char until[32] = "no expiry";
    if (creds.expires > 0) {
        time_t t = (time_t) creds.expires;
        struct tm tm;
        strftime (until, sizeof until, "until %Y-%m-%dT%H:%M:%SZ",
                  gmtime_r (&t, &tm));
    }
    s_say (self, op, "AWS credentials: %s (%s)", creds.source, until);
    env[0] = s_env_entry ("AWS_ACCESS_KEY_ID", creds.access_key_id);
    env[1] = s_env_entry ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key);
    env[2] = *creds.session_token
                 ? s_env_entry ("AWS_SESSION_TOKEN", creds.session_token)
                 : strdup ("AWS_SESSION_TOKEN");  //  none: not an old one
    env[3] = NULL;
    ll_aws_creds_clear (&creds);
}

//  Start argv as the operation's current step; shown is how the command
//  line appears in the output (nothing secret in it); extra_env
//  (NULL-terminated, or NULL) is added to the environment with the AWS
//  credentials.
static int
s_op_spawn (self_t *self,
            op_t *op,
            step_t step,
            const char *const *argv,
            const char *shown,
            const char *const *extra_env,
            int64_t deadline_ms)
{
    op->step = step;
    op->exited = false;
    op->kill_stage = 0;
    op->timed_out = false;
    op->capture_len = 0;
    op->out.len = op->err.len = 0;
    op->out.capture = step == STEP_OUTPUT || step == STEP_STATE;
    op->err.capture = false;
    s_say (self, op, "$ %s", shown);
    char *aws_env[4] = {NULL};
    s_aws_env (self, op, aws_env);
    const char *env[8];
    size_t e = 0;
    for (int i = 0; aws_env[i]; i++)
        env[e++] = aws_env[i];
    for (int i = 0; extra_env && extra_env[i] && e < 7; i++)
        env[e++] = extra_env[i];
    env[e] = NULL;
    char reason[512];
    int spawned = s_spawn (argv, env, &op->pid, &op->out.fd, &op->err.fd, true,
                           reason, sizeof reason);
    for (int i = 0; aws_env[i]; i++) {
        sodium_memzero (aws_env[i], strlen (aws_env[i]));
        free (aws_env[i]);
    }
    if (spawned != 0) {
        op->pid = 0;
        s_say (self, op, "%s", reason);
        if (!op->error)
            op->error = strdup (reason);
        return -1;
    }
    op->deadline_ms = deadline_ms;
    return 0;
}

//  Run the operation's next terraform command: args after "-chdir=...".
static int
s_op_run (self_t *self,
          op_t *op,
          step_t step,
          const char *const *args,
          int64_t deadline_ms)
{
    const char *argv[TF_ARGV_MAX];
    size_t n = 0;
    char chdir_arg[PATH_MAX + 16];
    snprintf (chdir_arg, sizeof chdir_arg, "-chdir=%s", self->work_dir);
    argv[n++] = self->actor.runtime->config->provider.terraform_bin;
    argv[n++] = chdir_arg;
    for (size_t i = 0; args[i] && n < TF_ARGV_MAX - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char shown[LL_TF_LINE_MAX];
    size_t len = (size_t) snprintf (shown, sizeof shown, "terraform");
    for (size_t i = 2; i < n && len < sizeof shown; i++)
        len +=
            (size_t) snprintf (shown + len, sizeof shown - len, " %s", argv[i]);
    return s_op_spawn (self, op, step, argv, shown, NULL, deadline_ms);
}

//  --- operations: begin, steps, end -------------------------------------

//  --- agent tokens, minted per launch -------------------------------------

static void
s_token_free (void *item)
{
    char *token = item;
    sodium_memzero (token, strlen (token));
    free (token);
}

static void
s_tokens_destroy (zhash_t **tokens_p)
{
    zhash_destroy (tokens_p);  //  s_token_free wipes each token
}

//  Mint a token for a VM being launched (or replaced), store its hash and
//  a new generation on the VM's row (the row is made when absent; an older
//  token of the name is revoked by the database's trigger), keep the token
//  in tokens for terraform.runtime.tfvars. 0 or -1.
static int
s_mint (self_t *self, zhash_t *tokens, const char *name)
{
    char token[LL_TOKEN_MAX], hash[LL_TOKEN_HASH_HEX];
    if (ll_token_mint (name, token, sizeof token) != 0)
        return -1;
    ll_token_hash (token, hash);
    const char *values[] = {name, hash};
    int rc = s_exec (self, "vm_launch_token", 2, values);
    if (rc == 0) {
        zhash_update (tokens, name, strdup (token));
        zhash_freefn (tokens, name, s_token_free);
    }
    sodium_memzero (token, sizeof token);
    return rc;
}

static op_t *
s_op_new (int64_t id, const char *kind, const char *target)
{
    op_t *op = calloc (1, sizeof *op);
    op->started_ms = ll_now_ms ();
    op->id = id;
    snprintf (op->kind, sizeof op->kind, "%s", kind);
    op->target = target ? strdup (target) : NULL;
    op->names = s_names_new ();
    op->out.fd = op->err.fd = op->export_fd = -1;
    op->flush_ms = ll_now_ms () + TF_FLUSH_MS;
    //  Every line this thread logs until the operation ends names it
    char text[24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    ll_log_context_set ("operation_id", text);
    return op;
}

static void
s_op_destroy (op_t **op_p)
{
    op_t *op = *op_p;
    if (!op)
        return;
    s_stream_close (&op->out);
    s_stream_close (&op->err);
    zlist_destroy (&op->names);
    s_tokens_destroy (&op->tokens);
    free (op->target);
    free (op->moved_to);
    if (op->export_fd >= 0)
        close (op->export_fd);
    free (op->export_path);
    free (op->capture);
    free (op->pending);
    free (op->error);
    free (op);
    *op_p = NULL;
    ll_log_context_set ("operation_id", NULL);
}

//  Finish the running operation: status row, lock, events.
static void
s_op_end (self_t *self, bool ok)
{
    op_t *op = self->op;
    if (!ok && !op->error)
        op->error = strdup ("failed");
    s_say (self, op, "%s", ok ? "operation succeeded" : "operation failed");
    s_flush (self, op);
    char id[24];
    snprintf (id, sizeof id, "%lld", (long long) op->id);
    const char *values[] = {id, ok ? "succeeded" : "failed",
                            ok ? NULL : op->error};
    if (s_exec (self, "op_finish", 3, values) != 0)
        ll_error ("terraform: cannot record the end of operation %s: %s", id,
                  ll_db_error (self->actor.db));
    const char *audit[] = {"terraform", op->kind, op->target,
                           ok ? "ok" : "failed", ok ? NULL : op->error};
    s_exec (self, "tf_audit", 5, audit);
    s_publish (self, op, "status", ok ? "succeeded" : "failed",
               ok ? "" : op->error);
    ll_metrics_operation (self->actor.runtime->metrics, op->kind, ok,
                          (double) (ll_now_ms () - op->started_ms) / 1000.0);
    if (ok)
        ll_info ("terraform: operation %s (%s) succeeded", id, op->kind);
    else
        ll_warn ("terraform: operation %s (%s) failed: %s", id, op->kind,
                 op->error);
    s_release (self);
    s_op_destroy (&self->op);
}

static void
s_op_fail (self_t *self, const char *reason)
{
    op_t *op = self->op;
    if (!op->error)
        op->error = strdup (reason);
    s_op_end (self, false);
}

//  The allocator's ed25519 key pair, made once with ssh-keygen.
static int
s_ensure_key (self_t *self, op_t *op, char **public_key)
{
    char *pub = NULL;
    size_t n = strlen (self->key_file) + 5;
    char *pub_path = malloc (n);
    snprintf (pub_path, n, "%s.pub", self->key_file);
    if (!s_file_exists (self->key_file)) {
        char *dir = strdup (self->key_file);
        char *slash = strrchr (dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            s_mkdirs (dir, 0700);
        }
        free (dir);
        const char *argv[] = {"ssh-keygen", "-q",
                              "-t",         "ed25519",
                              "-N",         "",
                              "-C",         "lablink-allocator",
                              "-f",         self->key_file,
                              NULL};
        pid_t pid;
        int out = -1, err = -1;
        char reason[256];
        int status = -1;
        if (s_spawn (argv, NULL, &pid, &out, &err, false, reason, sizeof reason)
            == 0) {
            close (out);
            close (err);
            while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
                ;
        }
        if (status != 0) {
            s_say (self, op, "cannot make the allocator's ssh key %s",
                   self->key_file);
            free (pub_path);
            return -1;
        }
        s_say (self, op, "made the allocator's ssh key %s (ed25519)",
               self->key_file);
    }
    pub = s_read_file (pub_path, 4096);
    free (pub_path);
    if (!pub)
        return -1;
    char *eol = strchr (pub, '\n');
    if (eol)
        *eol = '\0';
    *public_key = pub;
    return 0;
}

//  Point the working directory at the module's files (symlinks, refreshed
//  for every operation so module updates are seen).
static int
s_link_module (self_t *self)
{
    DIR *dir = opendir (self->module_dir);
    if (!dir)
        return -1;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        const char *name = entry->d_name;
        if (name[0] == '.' || strncmp (name, "terraform.tfstate", 17) == 0
            || strcmp (name, TF_TFVARS) == 0)
            continue;
        char *target = s_path_join (self->module_dir, name);
        char *link = s_path_join (self->work_dir, name);
        struct stat st;
        if (lstat (link, &st) == 0 && S_ISLNK (st.st_mode))
            unlink (link);
        if (symlink (target, link) != 0 && errno != EEXIST)
            ll_warn ("terraform: cannot link %s: %s", link, strerror (errno));
        free (target);
        free (link);
    }
    closedir (dir);
    return 0;
}

//  The state backend's files in the working directory: for s3 a backend
//  block (TF_BACKEND_TF) and its settings (TF_BACKEND_CONFIG: the bucket,
//  a key per deployment and environment, the lock); for local neither.
//  *id receives what identifies the backend (for the init marker). 0 or -1.
static int
s_write_backend (self_t *self, char **id)
{
    const ll_config_t *config = self->actor.runtime->config;
    char *block = s_path_join (self->work_dir, TF_BACKEND_TF);
    char *settings = s_path_join (self->work_dir, TF_BACKEND_CONFIG);
    int rc = 0;
    if (strcmp (ll_config_state_backend (config), "s3") != 0) {
        unlink (block);
        unlink (settings);
        *id = strdup ("local");
    }
    else {
        char prefix[512], key[640];
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream (&text, &size);
        if (ll_config_s3_prefix (config, prefix, sizeof prefix) != 0 || !f) {
            if (f)
                fclose (f);
            free (text);
            free (block);
            free (settings);
            return -1;
        }
        snprintf (key, sizeof key, "%s/client/terraform.tfstate", prefix);
        fputs ("# Written by lablink-allocator: the client fleet's state "
               "(provider.state_backend s3).\n",
               f);
        fputs ("bucket = ", f);
        ll_tf_hcl_string (f, config->bucket_name);
        fputs ("\nkey = ", f);
        ll_tf_hcl_string (f, key);
        fputs ("\nregion = ", f);
        ll_tf_hcl_string (f, config->app.region);
        fputs ("\nencrypt = true\n", f);
        if (*config->provider.state_lock_table) {
            fputs ("dynamodb_table = ", f);
            ll_tf_hcl_string (f, config->provider.state_lock_table);
            fputs ("\n", f);
        }
        else
            fputs ("use_lockfile = true\n", f);
        if (*config->provider.state_backend_config)
            fprintf (f, "# and %s\n", config->provider.state_backend_config);
        fclose (f);
        rc = s_write_file (block,
                           "# Written by lablink-allocator: settings in "
                           "lablink.s3.tfbackend\n"
                           "terraform {\n  backend \"s3\" {}\n}\n",
                           0644)
                         == 0
                     && s_write_file (settings, text, 0644) == 0
                 ? 0
                 : -1;
        *id = text;
    }
    free (block);
    free (settings);
    return rc;
}

//  terraform.runtime.tfvars for the fleet as it should be after this
//  operation (the names being removed left out).
static int
s_write_tfvars (self_t *self, op_t *op, const char *public_key)
{
    const ll_config_t *config = self->actor.runtime->config;
    PGresult *res = ll_db_exec (self->actor.db, "fleet_list", 0, NULL);
    if (!res)
        return -1;
    //  A VM this operation launches gets the token minted for it; the
    //  others keep the one they were launched with, carried from the last
    //  file (terraform's inputs of a running VM must not change: on AWS the
    //  token is in its user_data). Only the hashes are in the database.
    char *path = s_path_join (self->work_dir, TF_TFVARS);
    char *previous = s_read_file (path, 16 * 1024 * 1024);
    int rows = PQntuples (res);
    const char **names = calloc ((size_t) rows + 1, sizeof *names);
    char **tokens = calloc ((size_t) rows + 1, sizeof *tokens);
    size_t count = 0;
    bool destroying_all = s_all_go (op);
    for (int i = 0; i < rows; i++) {
        const char *name = PQgetvalue (res, i, 0);
        const char *state = PQgetvalue (res, i, 2);
        if (!destroying_all && strcmp (state, "removing") == 0)
            continue;
        const char *fresh = op->tokens ? zhash_lookup (op->tokens, name) : NULL;
        tokens[count] = calloc (1, LL_TOKEN_MAX);
        if (fresh)
            snprintf (tokens[count], LL_TOKEN_MAX, "%s", fresh);
        else if (previous)
            ll_tfvars_token_of (previous, name, tokens[count], LL_TOKEN_MAX);
        names[count++] = name;
    }
    if (previous) {
        sodium_memzero (previous, strlen (previous));
        free (previous);
    }

    char *url = ll_tf_allocator_url (config);
    char *script = NULL;
    if (config->startup_script.enabled && *config->startup_script.path)
        script = s_read_file (config->startup_script.path, 64 * 1024);
    bool local = strcmp (config->provider.kind, "local") == 0;
    char *agent_bin = NULL, *start_host = NULL;
    if (local && self->exe_dir) {
        //  Beside the allocator in a build or install folder
        agent_bin = s_path_join (self->exe_dir, "lablink-agent");
        if (!s_file_exists (agent_bin))
            zstr_free (&agent_bin);
        start_host =
            s_path_join (self->exe_dir, "../agent/standins/start-host");
        if (!s_file_exists (start_host))
            zstr_free (&start_host);
    }
    const char *ip = getenv ("ALLOCATOR_PUBLIC_IP");
    const char *group = getenv ("CLOUD_INIT_LOG_GROUP");
    ll_tfvars_t vars = {
        .allocator_ip = ip ? ip : (local ? "127.0.0.1" : ""),
        .allocator_url = url ? url : "",
        .machine_type = config->machine.machine_type,
        .image_name = config->machine.image,
        .repository = config->machine.repository
                              && strcmp (config->machine.repository, "None")
                          ? config->machine.repository
                          : "",
        .client_ami_id = config->machine.ami_id,
        .subject_software = config->machine.software,
        .resource_suffix = config->environment,
        .cloud_init_output_log_group = group ? group : "",
        .region = config->app.region,
        .startup_on_error = config->startup_script.on_error,
        .gpu_support = ll_tf_gpu_type (config->machine.machine_type),
        .names = names,
        .tokens = (const char *const *) tokens,
        .count = count,
        .ssh_public_key = public_key,
        .startup_script = script,
        .agent_bin = agent_bin,
        .crd_start_host = start_host,
    };
    char *text = ll_tfvars_render (&vars);
    int rc = text ? s_write_file (path, text, 0600) : -1;
    if (rc == 0)
        s_say (self, op, "wrote %s: %zu VM%s", TF_TFVARS, count,
               count == 1 ? "" : "s");
    if (text) {
        sodium_memzero (text, strlen (text));
        free (text);
    }
    for (size_t i = 0; i < count; i++) {
        sodium_memzero (tokens[i], strlen (tokens[i]));
        free (tokens[i]);
    }
    free (tokens);
    free (names);
    free (path);
    free (url);
    free (script);
    free (agent_bin);
    free (start_host);
    PQclear (res);
    return rc;
}

//  Copy the tfvars to S3 (reference 2.4 step 9) when the bucket is in use:
//  the aws provider or state in S3. 0, or -1 with the reason in op->error
//  (the operation then fails, although terraform succeeded).
static int
s_backup_tfvars (self_t *self, op_t *op)
{
    const ll_config_t *config = self->actor.runtime->config;
    if (strcmp (config->provider.kind, "aws") != 0
        && strcmp (ll_config_state_backend (config), "s3") != 0)
        return 0;
    char prefix[512], key[640], error[512] = "";
    char *path = s_path_join (self->work_dir, TF_TFVARS);
    char *text = s_read_file (path, 1024 * 1024);
    free (path);
    ll_aws_creds_t creds = {0};
    if (ll_config_s3_prefix (config, prefix, sizeof prefix) != 0)
        snprintf (error, sizeof error,
                  "deployment_name or environment "
                  "cannot name an S3 key");
    else if (!text)
        snprintf (error, sizeof error, "cannot read %s", TF_TFVARS);
    else if (!self->aws
             || ll_aws_chain_get (self->aws, &creds, error, sizeof error)
                    != 0) {
        if (!*error)
            snprintf (error, sizeof error, "no AWS credentials");
    }
    else {
        snprintf (key, sizeof key, "%s/client/" TF_TFVARS, prefix);
        //  An S3-compatible endpoint (tests, MinIO), as AWS's tools take it
        const char *endpoint = getenv ("AWS_ENDPOINT_URL_S3");
        if (!endpoint || !*endpoint)
            endpoint = getenv ("AWS_ENDPOINT_URL");
        if (!endpoint || !*endpoint)
            endpoint = getenv ("LABLINK_S3_ENDPOINT");
        ll_s3_put_t request = {
            .endpoint = endpoint,
            .region = config->app.region,
            .bucket = config->bucket_name,
            .key = key,
            .access_key_id = creds.access_key_id,
            .secret_access_key = creds.secret_access_key,
            .session_token = creds.session_token,
            .content_type = "text/plain",
            .timeout_s = 10,
        };
        if (ll_s3_put (&request, text, strlen (text), error, sizeof error) == 0)
            s_say (self, op, "backed up %s to s3://%s/%s (%s)", TF_TFVARS,
                   config->bucket_name, key, creds.source);
    }
    ll_aws_creds_clear (&creds);
    if (text) {
        sodium_memzero (text, strlen (text));
        free (text);
    }
    if (!*error)
        return 0;
    char reason[768];
    snprintf (reason, sizeof reason, "the S3 backup of %s failed: %s",
              TF_TFVARS, error);
    s_say (self, op, "%s", reason);
    if (!op->error)
        op->error = strdup (reason);
    return -1;
}

static const char *
s_vm_type (self_t *self)
{
    return strcmp (self->actor.runtime->config->provider.kind, "aws") == 0
               ? "aws_instance"
               : "terraform_data";
}

static int
s_op_limit_s (self_t *self)
{
    int limit = self->actor.runtime->config->provider.operation_timeout_s;
    return limit > 0 ? limit : 1800;
}

//  The main command: apply or destroy.
static int
s_op_run_main (self_t *self, op_t *op)
{
    static const char *const tail[] = {"-auto-approve", "-input=false",
                                       "-no-color", "-var-file=" TF_TFVARS};
    const char *args[TF_ARGV_MAX];
    size_t n = 0;
    args[n++] = s_all_go (op) ? "destroy" : "apply";
    for (size_t i = 0; i < 4; i++)
        args[n++] = tail[i];
    //  Another terraform on the same state (a person, an allocator on
    //  another database) is waited for a little, then the step fails
    char lock[48];
    int wait_s = s_op_limit_s (self) / 2;
    snprintf (lock, sizeof lock, "-lock-timeout=%ds",
              wait_s < TF_LOCK_WAIT_MAX_S ? wait_s : TF_LOCK_WAIT_MAX_S);
    args[n++] = lock;
    //  One -replace per VM being replaced (same names, new machines)
    zlist_t *replace = s_names_new ();
    if (strcmp (op->kind, "replace-vm") == 0)
        for (char *name = zlist_first (op->names); name && n < TF_ARGV_MAX - 1;
             name = zlist_next (op->names)) {
            char arg[TF_MAX_NAME + 64];
            snprintf (arg, sizeof arg, "-replace=%s.vm[\"%s\"]",
                      s_vm_type (self), name);
            zlist_append (replace, arg);
            args[n++] = zlist_last (replace);
        }
    args[n] = NULL;
    int rc = s_op_run (self, op, STEP_MAIN, args, op->op_deadline_ms);
    zlist_destroy (&replace);
    return rc;
}

//  Deadline of the short steps after the main one.
static int64_t
s_after_deadline (self_t *self)
{
    int limit = s_op_limit_s (self) < TF_AFTER_MAX_S ? s_op_limit_s (self)
                                                     : TF_AFTER_MAX_S;
    return ll_now_ms () + (int64_t) limit * 1000;
}

//  Reconciliation after a failure: which names does terraform hold?
static int
s_op_run_state (self_t *self, op_t *op)
{
    static const char *const args[] = {"state", "list", NULL};
    return s_op_run (self, op, STEP_STATE, args, s_after_deadline (self));
}

static int
s_op_run_output (self_t *self, op_t *op)
{
    static const char *const args[] = {"output", "-json", "-no-color", NULL};
    return s_op_run (self, op, STEP_OUTPUT, args, s_after_deadline (self));
}

//  --- console actions: reboot, replacement with the student kept --------

//  The n-th name of list (0-based), or NULL.
static char *
s_nth (zlist_t *list, int n)
{
    int i = 0;
    for (char *name = zlist_first (list); name; name = zlist_next (list), i++)
        if (i == n)
            return name;
    return NULL;
}

//  Wipe and free the text of terraform.runtime.tfvars (it holds tokens).
static void
s_tfvars_free (char **text_p)
{
    if (*text_p) {
        sodium_memzero (*text_p, strlen (*text_p));
        free (*text_p);
        *text_p = NULL;
    }
}

//  Reboot the next VM of a reboot-vm operation through the provider's
//  script (<module>/vm-reboot.sh NAME WORK_DIR): terraform/local restarts
//  the VM's agent, terraform/aws reboots the instance. When none is left
//  the operation ends: failed when any VM could not be rebooted.
static void
s_reboot_continue (self_t *self, op_t *op)
{
    char *script = s_path_join (self->module_dir, TF_REBOOT_SCRIPT);
    char *path = s_path_join (self->work_dir, TF_TFVARS);
    char *tfvars = s_read_file (path, 16 * 1024 * 1024);
    free (path);
    char *name;
    while ((name = s_nth (op->names, op->done + op->failed_vms))) {
        const char *argv[] = {
            script, name, self->work_dir,
            self->actor.runtime->config->provider.terraform_bin, NULL};
        const char *values[] = {name};
        PGresult *res =
            ll_db_exec (self->actor.db, "vm_reboot_begin", 1, values);
        snprintf (op->before, sizeof op->before, "%s",
                  res && PQntuples (res) == 1 ? PQgetvalue (res, 0, 0) : "");
        PQclear (res);
        char shown[TF_MAX_NAME + 64];
        snprintf (shown, sizeof shown, "%s %s", TF_REBOOT_SCRIPT, name);
        //  The VM's token, as at launch (terraform/local restarts its
        //  agent with it; it is never on a command line)
        char token[LL_TOKEN_MAX] = "", entry[LL_TOKEN_MAX + 16];
        if (tfvars)
            ll_tfvars_token_of (tfvars, name, token, sizeof token);
        snprintf (entry, sizeof entry, "API_TOKEN=%s", token);
        const char *env[] = {entry, NULL};
        int spawned = s_op_spawn (self, op, STEP_REBOOT, argv, shown, env,
                                  s_after_deadline (self));
        sodium_memzero (token, sizeof token);
        sodium_memzero (entry, sizeof entry);
        if (spawned == 0) {
            s_tfvars_free (&tfvars);
            free (script);
            return;
        }
        const char *undo[] = {name, op->before};
        s_exec (self, "vm_reboot_undo", 2, undo);
        op->failed_vms++;
        s_publish_progress (self, op);
    }
    s_tfvars_free (&tfvars);
    free (script);
    if (op->failed_vms) {
        char reason[96];
        snprintf (reason, sizeof reason, "%d of %d VM%s could not be rebooted",
                  op->failed_vms, op->total, op->total == 1 ? "" : "s");
        free (op->error);
        op->error = strdup (reason);
    }
    s_op_end (self, op->failed_vms == 0);
}

//  After a replacement: each assigned student keeps the VM and gets a
//  fresh delivery (vm_redeliver says which codes are spent).
static void
s_redeliver (self_t *self, op_t *op)
{
    char *array = s_pg_array (op->names);
    const char *values[] = {array};
    PGresult *res = ll_db_exec (self->actor.db, "vm_redeliver", 1, values);
    if (!res)
        s_say (self, op, "warning: cannot renew the students' deliveries: %s",
               ll_db_error (self->actor.db));
    for (int i = 0; res && i < PQntuples (res); i++)
        s_say (self, op, "%s: its student stays assigned; %s",
               PQgetvalue (res, i, 0),
               PQgetvalue (res, i, 2)[0] == 't'
                   ? "their code is delivered to the new VM"
                   : "their code was used already: their page asks for a new "
                     "CRD command");
    PQclear (res);
    free (array);
}

//  A move-vm's apply succeeded: the student of the old VM moves to the new
//  one, and the old name leaves the fleet, in one transaction.
static int
s_move_student (self_t *self, op_t *op)
{
    zlist_t *old = s_names_new ();
    zlist_append (old, op->target);
    char *array = s_pg_array (old);
    zlist_destroy (&old);
    const char *move[] = {op->target, op->moved_to};
    const char *names[] = {array};
    PGresult *res = NULL;
    int rc = -1;
    if (ll_db_command (self->actor.db, "BEGIN") == 0
        && (res = ll_db_exec (self->actor.db, "vm_move_assignment", 2, move))
        && s_exec (self, "vms_archive", 1, names) == 0
        && s_exec (self, "vms_remove", 1, names) == 0
        && s_exec (self, "fleet_drop", 1, names) == 0
        && ll_db_command (self->actor.db, "COMMIT") == 0)
        rc = 0;
    else
        ll_db_command (self->actor.db, "ROLLBACK");
    if (rc == 0 && PQntuples (res) == 1) {
        s_say (self, op, "the student of %s moved to %s; %s", op->target,
               op->moved_to,
               PQgetvalue (res, 0, 1)[0] == 't'
                   ? "their code is delivered to the new VM"
                   : "their code was used already: their page asks for a new "
                     "CRD command");
        const char *audit[] = {"terraform", "move-student", op->moved_to, "ok",
                               op->target};
        s_exec (self, "tf_audit", 5, audit);
    }
    if (rc == 0)
        s_say (self, op, "removed %s from the fleet", op->target);
    PQclear (res);
    free (array);
    return rc;
}

//  Names leave the fleet and their rows leave vms (archived first).
static int
s_drop_names (self_t *self, zlist_t *names)
{
    if (zlist_size (names) == 0)
        return 0;
    char *array = s_pg_array (names);
    const char *values[] = {array};
    int rc = -1;
    if (ll_db_command (self->actor.db, "BEGIN") == 0
        && s_exec (self, "vms_archive", 1, values) == 0
        && s_exec (self, "vms_remove", 1, values) == 0
        && s_exec (self, "fleet_drop", 1, values) == 0
        && ll_db_command (self->actor.db, "COMMIT") == 0)
        rc = 0;
    else
        ll_db_command (self->actor.db, "ROLLBACK");
    free (array);
    return rc;
}

static int
s_set_state (self_t *self, zlist_t *names, const char *state)
{
    if (zlist_size (names) == 0)
        return 0;
    char *array = s_pg_array (names);
    const char *values[] = {array, state, NULL};
    int rc = s_exec (self, "fleet_set_state", 3, values);
    free (array);
    return rc;
}

//  After `output -json`: Terraform timings, addresses and ports per VM.
static void
s_store_outputs (self_t *self, op_t *op)
{
    ll_tf_vm_t *vms = NULL;
    size_t count = 0;
    char error[256];
    if (ll_tf_parse_outputs (op->capture ? op->capture : "", op->capture_len,
                             &vms, &count, error, sizeof error)
        != 0) {
        s_say (self, op, "warning: cannot read terraform's outputs: %s", error);
        return;
    }
    zhash_t *fleet = zhash_new ();
    PGresult *res = ll_db_exec (self->actor.db, "fleet_list", 0, NULL);
    for (int r = 0; res && r < PQntuples (res); r++)
        zhash_insert (fleet, PQgetvalue (res, r, 0), "");
    PQclear (res);
    int stored = 0;
    for (size_t i = 0; i < count; i++) {
        ll_tf_vm_t *vm = &vms[i];
        if (!ll_token_scope_valid (vm->name) || vm->name[0] == '_')
            continue;
        char seconds[32] = "", port[16] = "";
        if (vm->seconds >= 0)
            snprintf (seconds, sizeof seconds, "%.3f", vm->seconds);
        if (vm->ssh_port > 0)
            snprintf (port, sizeof port, "%d", vm->ssh_port);
        const char *values[] = {
            vm->name,
            ll_tf_parse_time (vm->start_time) >= 0 ? vm->start_time : NULL,
            ll_tf_parse_time (vm->end_time) >= 0 ? vm->end_time : NULL,
            *seconds ? seconds : NULL,
            vm->address,
            *port ? port : NULL};
        //  Only VMs of the fleet get rows
        if (!zhash_lookup (fleet, vm->name))
            continue;
        res = ll_db_exec (self->actor.db, "vm_terraform_times", 6, values);
        if (res && PQntuples (res) == 1) {
            stored++;
            //  A VM's apply time counts once, when terraform first gives it
            if (streq (PQgetvalue (res, 0, 0), "t"))
                ll_metrics_phase (self->actor.runtime->metrics,
                                  LL_PHASE_TERRAFORM, vm->seconds);
        }
        PQclear (res);
    }
    zhash_destroy (&fleet);
    s_say (self, op, "recorded Terraform timings of %d VM%s", stored,
           stored == 1 ? "" : "s");
    ll_tf_vms_free (&vms, count);
}

//  After a failure: names terraform holds stay (active), the others go.
//  If terraform's state cannot be read every name stays: keeping a name
//  can only keep or create a VM, never destroy one nobody asked about.
static void
s_reconcile (self_t *self, op_t *op, bool state_known)
{
    zlist_t *keep = s_names_new ();
    zlist_t *drop = s_names_new ();
    for (char *name = zlist_first (op->names); name;
         name = zlist_next (op->names))
        if (!state_known || ll_tf_state_has_vm (op->capture, name))
            zlist_append (keep, name);
        else
            zlist_append (drop, name);
    if (s_set_state (self, keep, "active") != 0
        || s_drop_names (self, drop) != 0)
        s_say (self, op, "warning: cannot update the fleet: %s",
               ll_db_error (self->actor.db));
    else if (state_known)
        s_say (self, op, "fleet: %zu kept, %zu removed (terraform's state)",
               zlist_size (keep), zlist_size (drop));
    else
        s_say (self, op, "fleet: terraform's state unreadable, %zu kept",
               zlist_size (keep));
    zlist_destroy (&keep);
    zlist_destroy (&drop);
}

static bool
s_step_ok (op_t *op)
{
    return op->exited && WIFEXITED (op->status) && WEXITSTATUS (op->status) == 0
           && !op->timed_out;
}

//  The current step ended: decide the next.
static void
s_op_step_done (self_t *self)
{
    op_t *op = self->op;
    bool ok = s_step_ok (op);
    op->pid = 0;
    char reason[256];
    if (op->timed_out)
        snprintf (reason, sizeof reason, "terraform timed out after %d s",
                  s_op_limit_s (self));
    else if (op->exited && WIFSIGNALED (op->status))
        snprintf (reason, sizeof reason, "terraform killed by signal %d",
                  WTERMSIG (op->status));
    else
        snprintf (reason, sizeof reason, "terraform %s exited with status %d",
                  op->step == STEP_INIT     ? "init"
                  : op->step == STEP_OUTPUT ? "output"
                  : op->step == STEP_STATE  ? "state list"
                  : op->step == STEP_REBOOT ? TF_REBOOT_SCRIPT
                  : s_all_go (op)           ? "destroy"
                                            : "apply",
                  op->exited && WIFEXITED (op->status)
                      ? WEXITSTATUS (op->status)
                      : -1);
    if (!ok)
        s_say (self, op, "%s", reason);

    switch (op->step) {
        case STEP_INIT:
            if (ok) {
                char *marker = s_path_join (self->work_dir, TF_INIT_MARKER);
                s_write_file (marker, self->init_id, 0644);
                free (marker);
                if (s_op_run_main (self, op) == 0)
                    return;
            }
            else if (!op->error)
                op->error = strdup (reason);
            //  Nothing ran: the names of this operation go back
            s_reconcile (self, op, false);
            if (strcmp (op->kind, "launch") == 0) {
                //  ...except that a launch's new names never reached
                //  terraform at all: forget them
                s_drop_names (self, op->names);
            }
            s_op_end (self, false);
            return;
        case STEP_MAIN:
            if (ok) {
                op->backup_failed = s_backup_tfvars (self, op) != 0;
                if (s_all_go (op) || strcmp (op->kind, "destroy-vm") == 0) {
                    zlist_t *gone = op->names;
                    if (s_all_go (op)) {
                        //  Every row goes, also rows of names we never had
                        PGresult *res = ll_db_exec (self->actor.db,
                                                    "vms_hostnames", 0, NULL);
                        for (int i = 0; res && i < PQntuples (res); i++)
                            if (!zlist_exists (gone, PQgetvalue (res, i, 0)))
                                zlist_append (gone, PQgetvalue (res, i, 0));
                        PQclear (res);
                    }
                    if (s_drop_names (self, gone) != 0) {
                        s_op_fail (self, "cannot remove the VM rows");
                        return;
                    }
                    s_say (self, op, "removed %zu VM%s from the fleet",
                           zlist_size (gone),
                           zlist_size (gone) == 1 ? "" : "s");
                    s_op_end (self, !op->backup_failed);
                    return;
                }
                if (strcmp (op->kind, "replace-vm") == 0 && op->target) {
                    //  A fresh machine: a release waiting for it is over
                    const char *values[] = {op->target};
                    if (s_exec (self, "vm_replaced", 1, values) != 0)
                        s_say (self, op, "warning: %s stays withheld: %s",
                               op->target, ll_db_error (self->actor.db));
                }
                if (strcmp (op->kind, "replace-vm") == 0)
                    s_redeliver (self, op);
                if (strcmp (op->kind, "move-vm") == 0
                    && s_move_student (self, op) != 0) {
                    s_say (self, op, "warning: cannot move the student: %s",
                           ll_db_error (self->actor.db));
                    s_reconcile (self, op, false);
                    s_op_fail (self, "cannot move the student to the new VM");
                    return;
                }
                if (s_op_run_output (self, op) == 0)
                    return;
                //  Could not even start: the VMs exist, keep them
                s_set_state (self, op->names, "active");
                s_op_end (self, !op->backup_failed);
                return;
            }
            if (!op->error)
                op->error = strdup (reason);
            if (s_op_run_state (self, op) == 0)
                return;
            s_reconcile (self, op, false);
            s_op_end (self, false);
            return;
        case STEP_OUTPUT:
            s_set_state (self, op->names, "active");
            if (ok)
                s_store_outputs (self, op);
            s_op_end (self, !op->backup_failed);
            return;
        case STEP_STATE:
            s_reconcile (self, op, ok);
            s_op_end (self, false);
            return;
        case STEP_EXPORT:
            return;  //  no child runs while exporting
        case STEP_REBOOT: {
            const char *name = s_nth (op->names, op->done + op->failed_vms);
            const char *values[] = {name};
            const char *undo[] = {name, op->before};
            if (ok && s_exec (self, "vm_reboot_mark", 1, values) == 0) {
                op->done++;
                s_say (self, op, "%s: reboot initiated", name);
            }
            else {
                s_exec (self, "vm_reboot_undo", 2, undo);
                op->failed_vms++;
                s_say (self, op, "%s: not rebooted: %s", name,
                       ok ? ll_db_error (self->actor.db) : reason);
            }
            s_publish_progress (self, op);
            s_reboot_continue (self, op);
            return;
        }
    }
}

//  --- export, then destroy ------------------------------------------------

static void s_op_terraform (self_t *self, op_t *op);

//  The export step failed: nothing is destroyed, the fleet stays.
static void
s_export_fail (self_t *self, op_t *op, const char *reason)
{
    if (op->export_fd >= 0)
        close (op->export_fd);
    op->export_fd = -1;
    if (op->export_path)
        unlink (op->export_path);  //  the data is still on the VMs
    s_say (self, op, "%s: nothing destroyed", reason);
    s_reconcile (self, op, false);
    s_op_fail (self, reason);
}

//  Tell the exporter its reader went away.
static void
s_export_cancel (self_t *self, const char *id)
{
    ll_client_t exporter = ll_client_dealer (self->exporter);
    char *error = NULL;
    ll_ask_export_cancel (&exporter, id, &error);
    free (error);
}

//  Ask the exporter for every VM's files, written to export.keep_dir.
static void
s_export_begin (self_t *self, op_t *op)
{
    const ll_config_t *config = self->actor.runtime->config;
    char *dir = s_absolute (config->export.keep_dir);
    if (s_mkdirs (dir, 0700) != 0) {
        s_say (self, op, "cannot create %s: %s", dir, strerror (errno));
        free (dir);
        s_export_fail (self, op, "cannot create export.keep_dir");
        return;
    }
    ll_client_t exporter = ll_client_dealer (self->exporter);
    char *id = NULL, *name = NULL, *error = NULL;
    int rc =
        ll_ask_export_start (&exporter, "terraform", NULL, &id, &name, &error);
    if (rc != 0 && error && streq (error, LL_REASON_NO_VMS)) {
        s_say (self, op, "no VM to export");
        op->step = STEP_MAIN;
        s_op_terraform (self, op);
    }
    else if (!id || !name) {
        char reason[300];
        snprintf (reason, sizeof reason, "the export could not start: %s",
                  error && streq (error, LL_REASON_BUSY)
                      ? "another export is running"
                  : error ? error
                          : "no answer");
        s_export_fail (self, op, reason);
    }
    else {
        size_t n = strlen (dir) + strlen (name) + 8;
        op->export_path = malloc (n);
        snprintf (op->export_path, n, "%s/%s.part", dir, name);
        op->export_fd = open (op->export_path,
                              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        snprintf (op->export_id, sizeof op->export_id, "%s", id);
        if (op->export_fd < 0) {
            s_say (self, op, "cannot write %s: %s", op->export_path,
                   strerror (errno));
            s_export_cancel (self, id);
            s_export_fail (self, op, "cannot write the export");
        }
        else {
            op->step = STEP_EXPORT;
            op->export_next_ms = ll_now_ms ();
            s_say (self, op, "exporting every VM's data to %s",
                   op->export_path);
        }
    }
    free (id);
    free (name);
    free (error);
    free (dir);
}

//  The zip is complete: check it against its manifest, keep it, destroy.
static void
s_export_done (self_t *self, op_t *op)
{
    bool synced = fsync (op->export_fd) == 0;
    close (op->export_fd);
    op->export_fd = -1;
    if (!synced) {
        s_export_fail (self, op, "the export could not be written to disk");
        return;
    }
    ll_export_check_t check;
    char error[400];
    if (ll_export_check (op->export_path, &check, error, sizeof error) != 0) {
        char reason[500];
        snprintf (reason, sizeof reason, "the export failed its check (%s)",
                  error);
        s_export_fail (self, op, reason);
        return;
    }
    if (check.failed_vms > 0) {
        char reason[200];
        snprintf (reason, sizeof reason,
                  "%d VM%s could not be exported (see MANIFEST.txt in %s)",
                  check.failed_vms, check.failed_vms == 1 ? "" : "s",
                  op->export_path);
        s_export_fail (self, op, reason);
        return;
    }
    //  name.part -> name
    char *final = strdup (op->export_path);
    final[strlen (final) - 5] = '\0';
    if (rename (op->export_path, final) != 0) {
        free (final);
        s_export_fail (self, op, "the export could not be kept");
        return;
    }
    const char *base = strrchr (final, '/') + 1;
    char bytes[24], files[16], op_id[24], host[256] = "";
    snprintf (bytes, sizeof bytes, "%llu",
              (unsigned long long) op->export_bytes);
    snprintf (files, sizeof files, "%d", check.files);
    snprintf (op_id, sizeof op_id, "%lld", (long long) op->id);
    gethostname (host, sizeof host - 1);
    const char *values[] = {base, bytes, files, host, op_id};
    if (s_exec (self, "export_archive_add", 5, values) != 0) {
        free (final);
        s_export_fail (self, op, "the export could not be recorded");
        return;
    }
    s_say (self, op,
           "kept %s: %d files, %llu bytes of data, %llu bytes in all; every "
           "file matches MANIFEST.txt",
           final, check.files, (unsigned long long) check.bytes,
           (unsigned long long) op->export_bytes);
    free (final);
    //  Only now do the VMs lose their credentials
    char *array = s_pg_array (op->names);
    const char *revoke[] = {array};
    int revoked = s_exec (self, "vm_tokens_revoke", 1, revoke);
    free (array);
    if (revoked != 0) {
        s_reconcile (self, op, false);
        s_op_fail (self, "database unavailable");
        return;
    }
    s_op_terraform (self, op);
}

//  One exchange with the exporter: the next part of the zip.
static void
s_export_step (self_t *self, op_t *op)
{
    ll_client_t exporter = ll_client_dealer (self->exporter);
    zmsg_t *reply = NULL;
    char *kind = NULL, *error = NULL;
    if (ll_ask_export_read (&exporter, op->export_id, &kind, &reply, &error)
        != 0) {
        char reason[300];
        snprintf (reason, sizeof reason, "the export failed: %s",
                  error ? error : "no answer");
        free (error);
        s_export_fail (self, op, reason);
        return;
    }
    if (kind && streq (kind, LL_EXPORT_DATA)) {
        zframe_t *data = zmsg_pop (reply);
        const unsigned char *p = data ? zframe_data (data) : NULL;
        size_t left = data ? zframe_size (data) : 0;
        bool ok = true;
        while (ok && left) {
            ssize_t w = write (op->export_fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            ok = w > 0;
            if (ok) {
                p += w;
                left -= (size_t) w;
                op->export_bytes += (uint64_t) w;
            }
        }
        zframe_destroy (&data);
        if (!ok) {
            char reason[200];
            snprintf (reason, sizeof reason, "writing the export failed: %s",
                      strerror (errno));
            s_export_cancel (self, op->export_id);
            s_export_fail (self, op, reason);
        }
        else if (op->export_bytes - op->export_said >= TF_EXPORT_SAY) {
            s_say (self, op, "exported %llu MiB",
                   (unsigned long long) (op->export_bytes >> 20));
            op->export_said = op->export_bytes;
        }
        op->export_next_ms = ll_now_ms ();
    }
    else if (kind && streq (kind, LL_EXPORT_WAIT))
        op->export_next_ms = ll_now_ms () + TF_EXPORT_WAIT_MS;
    else if (kind && streq (kind, LL_EXPORT_END))
        s_export_done (self, op);
    else if (kind && streq (kind, LL_EXPORT_EMPTY)) {
        char *failed = zmsg_popstr (reply);
        long n = failed ? strtol (failed, NULL, 10) : -1;
        free (failed);
        close (op->export_fd);
        op->export_fd = -1;
        unlink (op->export_path);
        if (n == 0) {
            s_say (self, op, "no VM has a %s file: nothing to keep",
                   self->actor.runtime->config->machine.extension);
            s_op_terraform (self, op);
        }
        else {
            char reason[160];
            snprintf (reason, sizeof reason,
                      "%ld VM%s could not be read and none had a file", n,
                      n == 1 ? "" : "s");
            s_export_fail (self, op, reason);
        }
    }
    else
        s_export_fail (self, op, "the exporter's answer was not understood");
    free (kind);
    zmsg_destroy (&reply);
}

//  Start the operation just recorded: key, tfvars, module, then terraform.
static void
s_op_begin (self_t *self)
{
    op_t *op = self->op;
    op->op_deadline_ms = ll_now_ms () + (int64_t) s_op_limit_s (self) * 1000;
    s_publish (self, op, "status", "running", "");
    s_publish_progress (self, op);
    if (strcmp (op->kind, "reboot-vm") == 0) {
        //  No terraform: the provider's script restarts each VM
        char *script = s_path_join (self->module_dir, TF_REBOOT_SCRIPT);
        bool found = access (script, X_OK) == 0;
        free (script);
        if (!found) {
            s_say (self, op, "%s has no executable %s", self->module_dir,
                   TF_REBOOT_SCRIPT);
            s_op_fail (self, "this provider cannot reboot a VM");
            return;
        }
        s_reboot_continue (self, op);
        return;
    }
    if (strcmp (op->kind, "export-destroy") == 0) {
        s_export_begin (self, op);  //  terraform runs once the zip is sound
        return;
    }
    s_op_terraform (self, op);
}

//  The terraform part of an operation: key, tfvars, module, init, then the
//  main command.
static void
s_op_terraform (self_t *self, op_t *op)
{
    char *public_key = NULL;
    if (s_mkdirs (self->work_dir, 0700) != 0) {
        s_say (self, op, "cannot create %s: %s", self->work_dir,
               strerror (errno));
        s_reconcile (self, op, false);
        s_op_fail (self, "cannot create the working directory");
        return;
    }
    if (s_ensure_key (self, op, &public_key) != 0
        || s_write_tfvars (self, op, public_key) != 0
        || s_link_module (self) != 0) {
        free (public_key);
        s_say (self, op, "cannot prepare %s (module %s)", self->work_dir,
               self->module_dir);
        s_reconcile (self, op, false);
        if (strcmp (op->kind, "launch") == 0)
            s_drop_names (self, op->names);
        s_op_fail (self, "cannot prepare the terraform working directory");
        return;
    }
    free (public_key);
    char *backend = NULL;
    if (s_write_backend (self, &backend) != 0) {
        s_say (self, op, "cannot write the state backend's settings in %s",
               self->work_dir);
        s_reconcile (self, op, false);
        if (strcmp (op->kind, "launch") == 0)
            s_drop_names (self, op->names);
        s_op_fail (self, "cannot prepare the terraform working directory");
        return;
    }
    free (self->init_id);
    size_t n = strlen (self->module_dir) + strlen (backend) + 2;
    self->init_id = malloc (n);
    snprintf (self->init_id, n, "%s\n%s", self->module_dir, backend);
    free (backend);
    char *marker = s_path_join (self->work_dir, TF_INIT_MARKER);
    char *initialised = s_read_file (marker, 64 * 1024);
    free (marker);
    bool need_init = !initialised || strcmp (initialised, self->init_id) != 0;
    free (initialised);
    int rc;
    if (need_init) {
        //  A changed backend takes the state with it (local -> s3 on an
        //  upgrade); a fresh directory has nothing to move
        const char *args[8] = {"init",           "-input=false", "-no-color",
                               "-migrate-state", "-force-copy",  NULL};
        char config_arg[PATH_MAX + 32], extra_arg[PATH_MAX + 32];
        const ll_config_t *config = self->actor.runtime->config;
        size_t a = 5;
        if (strcmp (ll_config_state_backend (config), "s3") == 0) {
            snprintf (config_arg, sizeof config_arg, "-backend-config=%s",
                      TF_BACKEND_CONFIG);
            args[a++] = config_arg;
            if (*config->provider.state_backend_config) {
                char *extra =
                    s_absolute (config->provider.state_backend_config);
                snprintf (extra_arg, sizeof extra_arg, "-backend-config=%s",
                          extra);
                free (extra);
                args[a++] = extra_arg;
            }
        }
        args[a] = NULL;
        rc = s_op_run (self, op, STEP_INIT, args, op->op_deadline_ms);
    }
    else
        rc = s_op_run_main (self, op);
    if (rc != 0) {
        op->exited = true;
        op->status = 127 << 8;
        s_op_step_done (self);
    }
}

//  Record a new operation with its names in one transaction; 0 with the
//  id, or -1 (already answered).
static int
s_op_create (self_t *self,
             ll_request_t *req,
             const char *kind,
             int requested,
             int total,
             const char *who,
             const char *target,
             int64_t *id)
{
    char req_text[16], total_text[16];
    snprintf (req_text, sizeof req_text, "%d", requested);
    snprintf (total_text, sizeof total_text, "%d", total);
    const char *values[] = {kind, req_text, total_text, who, target};
    PGresult *res = ll_db_exec (self->actor.db, "op_insert", 5, values);
    if (!res || PQntuples (res) != 1) {
        PQclear (res);
        return -1;
    }
    *id = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    PQclear (res);
    return 0;
}

static void
s_reply_busy (self_t *self, ll_request_t *req, int64_t busy)
{
    char reason[48];
    snprintf (reason, sizeof reason, LL_REASON_BUSY " %lld", (long long) busy);
    ll_request_fail (req, reason);
}

static void
s_reply_id (self_t *self, ll_request_t *req, int64_t id)
{
    char text[24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    ll_request_answer (req, text);
}

//  Common start of every kind: not busy here, lock taken. 0, or -1 after
//  replying.
static int
s_begin_request (self_t *self, ll_request_t *req)
{
    if (self->op) {
        s_reply_busy (self, req, self->op->id);
        return -1;
    }
    int64_t busy = 0;
    int rc = s_acquire (self, &busy);
    if (rc == TF_LOCK_BUSY) {
        s_reply_busy (self, req, busy);
        return -1;
    }
    if (rc != 0) {
        ll_request_fail (req, LL_REASON_DATABASE);
        return -1;
    }
    return 0;
}

//  budget.max_vm_hours / budget.max_usd: may `adding` VMs be launched?
//  0, or -1 with the admin's message (also when the budget cannot be read:
//  a limit that cannot be checked is not passed).
static int
s_budget_refuses (self_t *self, int adding, char *message, size_t size)
{
    const ll_config_t *config = self->actor.runtime->config;
    ll_class_budget_t budget = {.hourly_usd = config->machine.hourly_usd,
                                .max_vm_hours = config->budget.max_vm_hours,
                                .max_usd = config->budget.max_usd};
    if (budget.max_vm_hours <= 0
        && (budget.max_usd <= 0 || budget.hourly_usd <= 0))
        return 0;
    PGresult *use = ll_db_exec (self->actor.db, "budget_usage", 0, NULL);
    PGresult *next =
        use ? ll_db_exec (self->actor.db, "sched_next", 0, NULL) : NULL;
    int rc = -1;
    if (next && PQntuples (use) == 1) {
        budget.vm_hours = strtod (PQgetvalue (use, 0, 0), NULL);
        budget.vms = (int) strtol (PQgetvalue (use, 0, 1), NULL, 10);
        double hours = 1;
        if (PQntuples (next) == 1) {
            double left = (double) (strtoll (PQgetvalue (next, 0, 2), NULL, 10)
                                    - (int64_t) time (NULL));
            if (left > 0)
                hours = left / 3600.0;
        }
        rc = ll_class_budget_allows (&budget, adding, hours, message, size);
    }
    else
        snprintf (message, size, "The budget cannot be checked now.");
    PQclear (use);
    PQclear (next);
    return rc;
}

static void
s_handle_launch (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    const ll_config_t *config = self->actor.runtime->config;
    char *count_text = NULL, *who = NULL;
    if (ll_request_take (req, &count_text, &who) != 0)
        return;
    char *end = NULL;
    long count = strtol (count_text, &end, 10);
    if (*end || count <= 0 || count > config->app.max_vms) {
        ll_request_fail (req, LL_REASON_BAD_COUNT);
        goto done;
    }
    char *url = ll_tf_allocator_url (config);
    if (!url) {
        ll_request_fail (req, LL_REASON_NO_URL);
        goto done;
    }
    free (url);
    if (s_begin_request (self, req) != 0)
        goto done;
    PGresult *res = ll_db_exec (self->actor.db, "fleet_next_ordinal", 0, NULL);
    long next = res && PQntuples (res) == 1
                    ? strtol (PQgetvalue (res, 0, 0), NULL, 10)
                    : -1;
    PQclear (res);
    res = ll_db_exec (self->actor.db, "fleet_list", 0, NULL);
    long fleet = res ? PQntuples (res) : -1;
    PQclear (res);
    if (next < 1 || fleet < 0) {
        s_release (self);
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    if (fleet + count > config->app.max_vms) {
        s_release (self);
        char reason[48];
        snprintf (reason, sizeof reason, LL_REASON_TOO_MANY " %d",
                  config->app.max_vms);
        ll_request_fail (req, reason);
        goto done;
    }
    char refusal[320];
    if (s_budget_refuses (self, (int) count, refusal, sizeof refusal) != 0) {
        s_release (self);
        char reason[340];
        snprintf (reason, sizeof reason, "budget %s", refusal);
        ll_request_fail (req, reason);
        ll_warn ("terraform: launch of %ld refused: %s", count, refusal);
        goto done;
    }
    int64_t id = 0;
    zlist_t *names = s_names_new ();
    zhash_t *tokens = zhash_new ();
    bool ok = ll_db_command (self->actor.db, "BEGIN") == 0
              && s_op_create (self, req, "launch", (int) count, (int) count,
                              who, NULL, &id)
                     == 0;
    for (long i = 0; ok && i < count; i++) {
        char name[TF_MAX_NAME], ordinal[24], op_id[24];
        snprintf (ordinal, sizeof ordinal, "%ld", next + i);
        snprintf (op_id, sizeof op_id, "%lld", (long long) id);
        ok = ll_tf_vm_name (config, (int) (next + i), name, sizeof name) == 0;
        const char *fleet_values[] = {name, ordinal, op_id};
        ok = ok && s_exec (self, "fleet_add", 3, fleet_values) == 0
             && s_mint (self, tokens, name) == 0;
        if (ok)
            zlist_append (names, name);
    }
    ok = ok && s_exec (self, "vm_tokens_prune", 0, NULL) == 0
         && ll_db_command (self->actor.db, "COMMIT") == 0;
    if (!ok) {
        ll_db_command (self->actor.db, "ROLLBACK");
        s_release (self);
        zlist_destroy (&names);
        s_tokens_destroy (&tokens);
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    self->op = s_op_new (id, "launch", NULL);
    zlist_destroy (&self->op->names);
    self->op->names = names;
    self->op->tokens = tokens;
    self->op->total = (int) count;
    s_reply_id (self, req, id);
    ll_info ("terraform: operation %lld: launch %ld VM%s", (long long) id,
             count, count == 1 ? "" : "s");
    s_op_begin (self);
done:
    free (count_text);
    free (who);
}

//  The VMs a request names: first, then those of rest (taken) (DESTROY-VM,
//  REPLACE-VM, REBOOT-VM, MOVE-VM). NULL after answering "unknown-vm
//  <host>" for a name that cannot be a VM; duplicates are dropped.
static zlist_t *
s_request_hosts (ll_request_t *req, const char *first, zmsg_t *rest)
{
    zlist_t *hosts = s_names_new ();
    char *host = strdup (first);
    while (host) {
        if (!ll_token_scope_valid (host) || host[0] == '_'
            || strlen (host) >= TF_MAX_NAME
            || zlist_size (hosts) >= LL_BULK_MAX) {
            char reason[TF_MAX_NAME + 16];
            snprintf (reason, sizeof reason, LL_REASON_UNKNOWN_VM " %.*s",
                      TF_MAX_NAME - 1, host);
            ll_request_fail (req, reason);
            free (host);
            zlist_destroy (&hosts);
            return NULL;
        }
        if (!zlist_exists (hosts, host))
            zlist_append (hosts, host);
        free (host);
        host = rest ? zmsg_popstr (rest) : NULL;
    }
    return hosts;
}

//  The hosts as one text for operations.target ("a b c").
static char *
s_hosts_text (zlist_t *hosts)
{
    size_t n = 1;
    for (char *h = zlist_first (hosts); h; h = zlist_next (hosts))
        n += strlen (h) + 1;
    char *text = calloc (1, n);
    for (char *h = zlist_first (hosts); h; h = zlist_next (hosts)) {
        if (*text)
            strncat (text, " ", n - strlen (text) - 1);
        strncat (text, h, n - strlen (text) - 1);
    }
    return text;
}

//  DESTROY who, EXPORT-DESTROY who, or DESTROY-VM / REPLACE-VM / REBOOT-VM
//  host who [host...]
static void
s_handle_remove (self_t *self, ll_request_t *req, const char *kind)
{
    bool all =
        strcmp (kind, "destroy") == 0 || strcmp (kind, "export-destroy") == 0;
    char *first = NULL, *who = NULL;
    zmsg_t *rest = NULL;
    zlist_t *hosts = NULL;
    char *target = NULL;
    if ((all ? ll_request_take (req, &who)
             : ll_request_take (req, &first, &who, &rest))
        != 0)
        return;
    if (!all && !(hosts = s_request_hosts (req, first, rest)))
        goto done;
    if (s_begin_request (self, req) != 0)
        goto done;
    PGresult *res = ll_db_exec (self->actor.db, "fleet_list", 0, NULL);
    if (!res) {
        s_release (self);
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    zlist_t *names = s_names_new ();
    for (int i = 0; i < PQntuples (res); i++)
        if (all || zlist_exists (hosts, PQgetvalue (res, i, 0)))
            zlist_append (names, PQgetvalue (res, i, 0));
    PQclear (res);
    //  Every VM named must be in the fleet
    for (char *h = hosts ? zlist_first (hosts) : NULL; h;
         h = zlist_next (hosts))
        if (!zlist_exists (names, h)) {
            char reason[TF_MAX_NAME + 16];
            snprintf (reason, sizeof reason, LL_REASON_UNKNOWN_VM " %s", h);
            s_release (self);
            zlist_destroy (&names);
            ll_request_fail (req, reason);
            goto done;
        }
    target = hosts ? s_hosts_text (hosts) : NULL;
    int64_t id = 0;
    zhash_t *tokens = zhash_new ();
    bool ok = ll_db_command (self->actor.db, "BEGIN") == 0
              && s_op_create (self, req, kind, 0, (int) zlist_size (names), who,
                              target, &id)
                     == 0;
    char *array = s_pg_array (names);
    if (ok && (all || strcmp (kind, "destroy-vm") == 0)) {
        //  A VM asked to go loses its credential as the destroy starts;
        //  export-destroy's VMs keep theirs until the zip is sound (back to
        //  active if the export fails)
        char op_id[24];
        snprintf (op_id, sizeof op_id, "%lld", (long long) id);
        const char *values[] = {array, "removing", op_id};
        const char *revoke[] = {array};
        ok = s_exec (self, "fleet_set_state", 3, values) == 0
             && (strcmp (kind, "export-destroy") == 0
                 || s_exec (self, "vm_tokens_revoke", 1, revoke) == 0);
    }
    else if (ok && strcmp (kind, "replace-vm") == 0) {
        const char *values[] = {array};
        ok = s_exec (self, "vm_replace_mark", 1, values) == 0;
        //  Each new VM gets a new token; the old ones die now
        for (char *name = zlist_first (names); ok && name;
             name = zlist_next (names))
            ok = s_mint (self, tokens, name) == 0;
    }
    free (array);
    ok = ok && ll_db_command (self->actor.db, "COMMIT") == 0;
    if (!ok) {
        ll_db_command (self->actor.db, "ROLLBACK");
        s_release (self);
        zlist_destroy (&names);
        s_tokens_destroy (&tokens);
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    self->op = s_op_new (id, kind, target);
    zlist_destroy (&self->op->names);
    self->op->names = names;
    self->op->tokens = tokens;
    self->op->total = (int) zlist_size (names);
    s_reply_id (self, req, id);
    ll_info ("terraform: operation %lld: %s%s%s", (long long) id, kind,
             target ? " " : "", target ? target : "");
    s_op_begin (self);
done:
    zlist_destroy (&hosts);
    zmsg_destroy (&rest);
    free (target);
    free (first);
    free (who);
}

//  MOVE-VM host who: a new VM under a new name takes over host's student;
//  host is destroyed, in one apply.
static void
s_handle_move (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    const ll_config_t *config = self->actor.runtime->config;
    char *first = NULL, *who = NULL;
    if (ll_request_take (req, &first, &who) != 0)
        return;
    zlist_t *hosts = s_request_hosts (req, first, NULL);
    if (!hosts)
        goto done;
    const char *old = zlist_first (hosts);
    if (s_begin_request (self, req) != 0)
        goto done;
    PGresult *res = ll_db_exec (self->actor.db, "fleet_list", 0, NULL);
    bool known = false;
    for (int i = 0; res && i < PQntuples (res); i++)
        if (strcmp (PQgetvalue (res, i, 0), old) == 0
            && strcmp (PQgetvalue (res, i, 2), "active") == 0)
            known = true;
    bool db_ok = res != NULL;
    PQclear (res);
    res = db_ok ? ll_db_exec (self->actor.db, "fleet_next_ordinal", 0, NULL)
                : NULL;
    long next = res && PQntuples (res) == 1
                    ? strtol (PQgetvalue (res, 0, 0), NULL, 10)
                    : -1;
    PQclear (res);
    char name[TF_MAX_NAME];
    if (!db_ok || next < 1
        || ll_tf_vm_name (config, (int) next, name, sizeof name) != 0) {
        s_release (self);
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    if (!known) {
        char reason[TF_MAX_NAME + 16];
        snprintf (reason, sizeof reason, LL_REASON_UNKNOWN_VM " %s", old);
        s_release (self);
        ll_request_fail (req, reason);
        goto done;
    }
    int64_t id = 0;
    char op_id[24], ordinal[24];
    bool ok = ll_db_command (self->actor.db, "BEGIN") == 0
              && s_op_create (self, req, "move-vm", 1, 2, who, old, &id) == 0;
    snprintf (op_id, sizeof op_id, "%lld", (long long) id);
    snprintf (ordinal, sizeof ordinal, "%ld", next);
    zlist_t *gone = s_names_new ();
    zlist_append (gone, (void *) old);
    char *array = s_pg_array (gone);
    zlist_destroy (&gone);
    const char *add[] = {name, ordinal, op_id};
    const char *removing[] = {array, "removing", op_id};
    const char *revoke[] = {array};
    //  The new VM gets its own token; the old one's dies now
    zhash_t *tokens = zhash_new ();
    ok = ok && s_exec (self, "fleet_add", 3, add) == 0
         && s_mint (self, tokens, name) == 0
         && s_exec (self, "fleet_set_state", 3, removing) == 0
         && s_exec (self, "vm_tokens_revoke", 1, revoke) == 0
         && ll_db_command (self->actor.db, "COMMIT") == 0;
    free (array);
    if (!ok) {
        ll_db_command (self->actor.db, "ROLLBACK");
        s_release (self);
        s_tokens_destroy (&tokens);
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    self->op = s_op_new (id, "move-vm", old);
    self->op->tokens = tokens;
    self->op->moved_to = strdup (name);
    zlist_append (self->op->names, (void *) old);
    zlist_append (self->op->names, name);
    self->op->total = 2;
    s_reply_id (self, req, id);
    ll_info ("terraform: operation %lld: move-vm %s to %s", (long long) id, old,
             name);
    s_op_begin (self);
done:
    zlist_destroy (&hosts);
    free (first);
    free (who);
}

static void
s_handle_destroy (void *self, ll_request_t *req)
{
    s_handle_remove (self, req, "destroy");
}

static void
s_handle_destroy_vm (void *self, ll_request_t *req)
{
    s_handle_remove (self, req, "destroy-vm");
}

static void
s_handle_replace_vm (void *self, ll_request_t *req)
{
    s_handle_remove (self, req, "replace-vm");
}

static void
s_handle_reboot_vm (void *self, ll_request_t *req)
{
    s_handle_remove (self, req, "reboot-vm");
}

static void
s_handle_export_destroy (void *self, ll_request_t *req)
{
    s_handle_remove (self, req, "export-destroy");
}

static void
s_handle_op_get (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *id = NULL, *after_text = NULL;
    if (ll_request_take (req, &id, &after_text) != 0)
        return;
    char *end = NULL;
    long long id_value = strtoll (id, &end, 10);
    long long after = strtoll (after_text, NULL, 10);
    if (*end || id_value <= 0) {
        ll_request_fail (req, LL_REASON_OP_MISSING);
        goto done;
    }
    if (self->op && self->op->id == id_value)
        s_flush (self, self->op);  //  the freshest output
    const char *values[] = {id};
    PGresult *res = ll_db_exec (self->actor.db, "op_get", 1, values);
    if (!res) {
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    if (PQntuples (res) != 1) {
        PQclear (res);
        ll_request_fail (req, LL_REASON_OP_MISSING);
        goto done;
    }
    zmsg_t *payload = zmsg_new ();
    //  kind status requested done total
    for (int c = 1; c <= 5; c++)
        ll_msg_put (payload, "s", PQgetvalue (res, 0, c));
    //  error created_by target created_at started_at finished_at
    static const int columns[] = {7, 8, 9, 10, 11, 12};
    for (size_t i = 0; i < 6; i++)
        ll_msg_put (payload, "s", PQgetvalue (res, 0, columns[i]));
    const char *output = PQgetvalue (res, 0, 6);
    long long lines = 0;
    for (const char *p = output; *p; p++)
        if (*p == '\n')
            lines++;
    char count[24];
    snprintf (count, sizeof count, "%lld", lines);
    ll_msg_put (payload, "s", count);
    long long index = 0;
    const char *line = output;
    while (*line) {
        const char *eol = strchr (line, '\n');
        size_t len = eol ? (size_t) (eol - line) : strlen (line);
        if (index >= after)
            ll_msg_put (payload, "b", line, len);
        index++;
        line = eol ? eol + 1 : line + len;
    }
    PQclear (res);
    ll_request_answer (req, &payload);
done:
    free (id);
    free (after_text);
}

static void
s_handle_op_list (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *limit_text = NULL;
    if (ll_request_take (req, &limit_text) != 0)
        return;
    long limit = strtol (limit_text, NULL, 10);
    free (limit_text);
    if (limit < 1 || limit > 100)
        limit = 20;
    char value[16];
    snprintf (value, sizeof value, "%ld", limit);
    const char *values[] = {value};
    PGresult *res = ll_db_exec (self->actor.db, "op_list", 1, values);
    if (!res) {
        ll_request_fail (req, LL_REASON_DATABASE);
        return;
    }
    zmsg_t *rows = zmsg_new ();
    for (int r = 0; r < PQntuples (res); r++)
        for (int c = 0; c < 10; c++)
            ll_msg_put (rows, "s", PQgetvalue (res, r, c));
    PQclear (res);
    ll_request_answer (req, &rows);
}

//  Served on LL_ENDPOINT_TERRAFORM
static const ll_handler_t s_handlers[] = {
    {LL_CMD_LAUNCH, s_handle_launch},
    {LL_CMD_DESTROY, s_handle_destroy},
    {LL_CMD_DESTROY_VM, s_handle_destroy_vm},
    {LL_CMD_REPLACE_VM, s_handle_replace_vm},
    {LL_CMD_REBOOT_VM, s_handle_reboot_vm},
    {LL_CMD_MOVE_VM, s_handle_move},
    {LL_CMD_EXPORT_DESTROY, s_handle_export_destroy},
    {LL_CMD_OP_GET, s_handle_op_get},
    {LL_CMD_OP_LIST, s_handle_op_list},
    {NULL, NULL},
};

//  --- the running child: reap, time out, drain ------------------------------

static void
s_signal_child (op_t *op, int sig)
{
    if (op->pid > 0 && !op->exited)
        if (kill (-op->pid, sig) != 0)
            kill (op->pid, sig);
}

static void
s_op_tick (self_t *self)
{
    op_t *op = self->op;
    if (!op)
        return;
    int64_t now = ll_now_ms ();
    if (op->step == STEP_EXPORT && op->pid == 0) {
        if (now >= op->export_next_ms)
            s_export_step (self, op);
        if (self->op == op && now >= op->flush_ms)
            s_flush (self, op);
        return;
    }
    if (op->pid > 0 && !op->exited) {
        int status = 0;
        pid_t r = waitpid (op->pid, &status, WNOHANG);
        if (r == op->pid) {
            op->exited = true;
            op->status = status;
            op->exited_ms = now;
        }
        else if (r < 0 && errno == ECHILD) {
            op->exited = true;
            op->status = 255 << 8;
            op->exited_ms = now;
        }
    }
    if (op->pid > 0 && !op->exited) {
        if (op->kill_stage == 0 && now >= op->deadline_ms) {
            op->timed_out = true;
            s_say (self, op, "timed out: stopping terraform (SIGTERM)");
            s_signal_child (op, SIGTERM);
            op->kill_stage = 1;
            op->kill_at_ms = now + TF_KILL_GRACE_MS;
        }
        else if (op->kill_stage == 1 && now >= op->kill_at_ms) {
            s_say (self, op, "still running: SIGKILL");
            s_signal_child (op, SIGKILL);
            op->kill_stage = 2;
        }
    }
    if (op->pid > 0 && op->exited
        && ((op->out.fd < 0 && op->err.fd < 0)
            || now - op->exited_ms >= TF_DRAIN_MS)) {
        //  Whatever a left-over grandchild still writes is not ours
        if (op->out.len && !op->out.capture)
            s_stream_line (self, op, &op->out);
        if (op->err.len)
            s_stream_line (self, op, &op->err);
        s_stream_close (&op->out);
        s_stream_close (&op->err);
        s_op_step_done (self);
        return;
    }
    if (now >= op->flush_ms)
        s_flush (self, op);
}

//  $TERM while terraform runs: interrupt it (terraform stops gracefully on
//  SIGINT), then kill; the operation is recorded as failed.
static void
s_op_abort (self_t *self)
{
    op_t *op = self->op;
    if (!op)
        return;
    if (op->step == STEP_EXPORT && op->export_fd >= 0) {
        s_export_cancel (self, op->export_id);
    }
    if (op->pid > 0 && !op->exited) {
        s_signal_child (op, SIGINT);
        int64_t until = ll_now_ms () + TF_STOP_GRACE_MS;
        int status = 0;
        while (ll_now_ms () < until) {
            if (waitpid (op->pid, &status, WNOHANG) == op->pid) {
                op->exited = true;
                break;
            }
            zclock_sleep (50);
        }
        if (!op->exited) {
            s_signal_child (op, SIGKILL);
            waitpid (op->pid, &status, 0);
        }
    }
    s_say (self, op, "%s", TF_SHUTDOWN_REASON);
    free (op->error);
    op->error = strdup (TF_SHUTDOWN_REASON);
    s_op_end (self, false);
}

//  --- actor plumbing ----------------------------------------------------

static self_t *
s_self_new (zsock_t *pipe, ll_runtime_t *runtime)
{
    self_t *self = calloc (1, sizeof *self);
    ll_actor_init (&self->actor, "terraform", pipe, runtime);
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    s_op_destroy (&self->op);
    zsock_destroy (&self->pub);
    zsock_destroy (&self->exporter);
    ll_aws_chain_destroy (&self->aws);
    free (self->init_id);
    ll_actor_fini (&self->actor);
    free (self->module_dir);
    free (self->work_dir);
    free (self->key_file);
    free (self->exe_dir);
    free (self);
    *self_p = NULL;
}

static const char *
s_self_start (void *arg)
{
    self_t *self = arg;
    ll_actor_t *actor = &self->actor;
    const ll_config_t *config = actor->runtime->config;
    const char *error = ll_actor_open (actor, LL_ENDPOINT_TERRAFORM, true);
    if (error)
        return error;
    self->pub = zsock_new (ZMQ_PUB);
    if (!self->pub || zsock_bind (self->pub, LL_ENDPOINT_OPERATIONS) != 0)
        return "cannot bind " LL_ENDPOINT_OPERATIONS;
    self->exporter = zsock_new_dealer (LL_ENDPOINT_EXPORTER);
    if (!self->exporter)
        return "cannot connect to " LL_ENDPOINT_EXPORTER;
    char fallback[PATH_MAX];
    snprintf (fallback, sizeof fallback, "terraform/%s", config->provider.kind);
    self->module_dir = s_absolute (*config->provider.terraform_dir
                                       ? config->provider.terraform_dir
                                       : fallback);
    snprintf (fallback, sizeof fallback, "var/%s", config->provider.kind);
    self->work_dir = s_absolute (
        *config->provider.work_dir ? config->provider.work_dir : fallback);
    if (*config->provider.ssh_key_file)
        self->key_file = s_absolute (config->provider.ssh_key_file);
    else if (*config->export.key_file)
        //  The exporter's client key: VMs authorize exactly the key it uses
        self->key_file = s_absolute (config->export.key_file);
    else
        self->key_file = s_path_join (self->work_dir, "id_ed25519");
    char exe[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr (exe, '/');
        if (slash) {
            *slash = '\0';
            self->exe_dir = strdup (exe);
        }
    }
    if (!s_file_exists (self->module_dir))
        ll_warn ("terraform: module folder %s not found: operations will fail",
                 self->module_dir);
    if (s_uses_aws (self) && !(self->aws = ll_aws_chain_new ()))
        return "cannot start libcurl for AWS credentials";
    return NULL;
}

void
terraform_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    ll_actor_t *actor = &self->actor;
    zsock_signal (pipe, 0);
    while (!actor->terminated) {
        zmq_pollitem_t items[4];
        int n = 0;
        items[n++] = (zmq_pollitem_t){zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
        int router_index = -1;
        if (actor->router) {
            router_index = n;
            items[n++] = (zmq_pollitem_t){zsock_resolve (actor->router), 0,
                                          ZMQ_POLLIN, 0};
        }
        int out_index = -1, err_index = -1;
        op_t *op = self->op;
        if (op && op->out.fd >= 0) {
            out_index = n;
            items[n++] = (zmq_pollitem_t){NULL, op->out.fd, ZMQ_POLLIN, 0};
        }
        if (op && op->err.fd >= 0) {
            err_index = n;
            items[n++] = (zmq_pollitem_t){NULL, op->err.fd, ZMQ_POLLIN, 0};
        }
        int rc = zmq_poll (items, n, op ? TF_TICK_MS : TF_IDLE_TICK_MS);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            ll_actor_handle_pipe (actor, s_self_start, NULL, self);
        if (actor->terminated)
            break;
        if (rc > 0 && router_index >= 0
            && (items[router_index].revents & ZMQ_POLLIN))
            ll_actor_serve (actor, s_handlers, self, false);
        //  the operation may have changed under the router's handling
        if (op && op == self->op) {
            if (out_index >= 0 && op->out.fd >= 0
                && (items[out_index].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
                s_stream_read (self, op, &op->out);
            if (err_index >= 0 && op->err.fd >= 0
                && (items[err_index].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
                s_stream_read (self, op, &op->err);
        }
        if (self->op)
            s_op_tick (self);
        else if (actor->started && !self->swept)
            s_sweep (self);
        else if (actor->started)
            ll_db_ensure (
                self->actor.db);  //  idle: reconnect in the background
    }
    s_op_abort (self);
    s_self_destroy (&self);
}
