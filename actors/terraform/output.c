/*  An operation's output: lines and progress published on
    LL_ENDPOINT_OPERATIONS and flushed to its row, the child's stdout and
    stderr cut into lines (apply/destroy -json events read by ll_tf_event),
    and starting a step's child with the AWS credentials. */
#include "actors/terraform/internal.h"

//  --- the operation's output ----------------------------------------------

void
tf_publish (
    self_t *self, op_t *op, const char *kind, const char *a, const char *b)
{
    char topic[32];
    snprintf (topic, sizeof topic, LL_OP_TOPIC_PREFIX "%lld",
              (long long) op->id);
    zsock_send (self->pub, "ssss", topic, kind, a, b);
}

void
tf_publish_progress (self_t *self, op_t *op)
{
    char done[16], total[16];
    snprintf (done, sizeof done, "%d", op->done);
    snprintf (total, sizeof total, "%d", op->total);
    tf_publish (self, op, "progress", done, total);
    op->progress_dirty = true;
}

//  One line of output: kept (up to the cap), published, counted.
static void
s_emit (self_t *self, op_t *op, const char *line, ll_tf_line_t kind)
{
    bool move = strcmp (op->kind, "move-vm") == 0;
    if ((kind == LL_TF_LINE_CREATED && op->step == STEP_MAIN && !tf_all_go (op))
        || (kind == LL_TF_LINE_DESTROYED && tf_all_go (op)
            && op->step == STEP_MAIN)
        || (kind == LL_TF_LINE_DESTROYED
            && (strcmp (op->kind, "destroy-vm") == 0 || move))) {
        if (op->done < op->total)
            op->done++;
        tf_publish_progress (self, op);
    }
    if (op->truncated)
        return;
    size_t len = strlen (line);
    char seq[24];
    snprintf (seq, sizeof seq, "%lld", (long long) op->seq);
    if (op->stored + len + 1 > TF_OUTPUT_MAX) {
        static const char mark[] = "[output truncated]";
        ll_textbuf_puts (&op->pending, mark);
        ll_textbuf_putc (&op->pending, '\n');
        tf_publish (self, op, "line", seq, mark);
        op->seq++;
        op->truncated = true;
        return;
    }
    ll_textbuf_append (&op->pending, line, len);
    ll_textbuf_putc (&op->pending, '\n');
    op->stored += len + 1;
    tf_publish (self, op, "line", seq, line);
    op->seq++;
}

void
tf_say (self_t *self, op_t *op, const char *format, ...)
{
    char line[LL_TF_LINE_MAX + 1];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof line, format, args);
    va_end (args);
    s_emit (self, op, line, LL_TF_LINE_OTHER);
}

void
tf_flush (self_t *self, op_t *op)
{
    if (!op->pending.len && !op->progress_dirty)
        return;
    char id[24], done[16], total[16];
    snprintf (id, sizeof id, "%lld", (long long) op->id);
    snprintf (done, sizeof done, "%d", op->done);
    snprintf (total, sizeof total, "%d", op->total);
    const char *values[] = {id, ll_textbuf_text (&op->pending), done, total};
    if (ll_db_ensure (self->actor.db) == 0
        && tf_exec (self, "op_append", 4, values) == 0) {
        ll_textbuf_reset (&op->pending);
        op->progress_dirty = false;
    }
    //  else kept for the next flush (the text is capped anyway)
    op->flush_ms = ll_now_ms () + TF_FLUSH_MS;
}

//  --- the child process ------------------------------------------------

void
tf_stream_line (self_t *self, op_t *op, stream_t *stream)
{
    stream->line[stream->len] = '\0';
    size_t len = stream->len;
    stream->len = 0;
    ll_tf_line_t kind = LL_TF_LINE_OTHER;
    char *text = malloc (len + 2);
    if (stream->which != TF_CHILD_OUT || op->step != STEP_MAIN
        || ll_tf_event (stream->line, text, len + 2, &kind) != 0)
        memcpy (text, stream->line, len + 1);
    //  one output line per line of the text (a diagnostic's detail)
    for (char *piece = text; piece;) {
        char *eol = strchr (piece, '\n');
        if (eol)
            *eol = '\0';
        if (ll_tf_clean_line (piece, strlen (piece)) > 0) {
            s_emit (self, op, piece, kind);
            kind = LL_TF_LINE_OTHER;
        }
        piece = eol ? eol + 1 : NULL;
    }
    free (text);
}

int
tf_stream_fd (op_t *op, stream_t *stream)
{
    return op->child ? tf_child_fd (op->child, stream->which) : -1;
}

bool
tf_stream_read (self_t *self, op_t *op, stream_t *stream)
{
    char chunk[TF_READ_CHUNK];
    ssize_t n = tf_child_read (op->child, stream->which, chunk, sizeof chunk);
    if (n == 0)
        return true;
    if (n < 0) {
        if (stream->len)
            tf_stream_line (self, op, stream);
        return false;
    }
    if (stream->capture) {
        size_t room = TF_CAPTURE_MAX - op->capture.len;
        ll_textbuf_append (&op->capture, chunk,
                           (size_t) n < room ? (size_t) n : room);
        return true;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = chunk[i];
        if (c == '\n' || c == '\r')
            tf_stream_line (self, op, stream);
        else if (stream->len < TF_EVENT_MAX)
            stream->line[stream->len++] = c;
        //  else: the rest of an over-long line is dropped
    }
    return true;
}

bool
tf_uses_aws (self_t *self)
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
    if (!tf_uses_aws (self) || !self->aws)
        return;
    ll_aws_creds_t creds;
    char why[512];
    if (ll_aws_chain_get (self->aws, &creds, why, sizeof why) != 0) {
        tf_say (self, op, "warning: AWS credentials: %s", why);
        return;
    }
    char until[32] = "no expiry";
    if (creds.expires > 0) {
        time_t t = (time_t) creds.expires;
        struct tm tm;
        strftime (until, sizeof until, "until %Y-%m-%dT%H:%M:%SZ",
                  gmtime_r (&t, &tm));
    }
    tf_say (self, op, "AWS credentials: %s (%s)", creds.source, until);
    env[0] = s_env_entry ("AWS_ACCESS_KEY_ID", creds.access_key_id);
    env[1] = s_env_entry ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key);
    env[2] = *creds.session_token
                 ? s_env_entry ("AWS_SESSION_TOKEN", creds.session_token)
                 : strdup ("AWS_SESSION_TOKEN");  //  none: not an old one
    env[3] = NULL;
    ll_aws_creds_clear (&creds);
}

int
tf_op_spawn (self_t *self,
             op_t *op,
             step_t step,
             const char *const *argv,
             const char *shown,
             const char *const *extra_env,
             int64_t deadline_ms)
{
    op->step = step;
    op->exited = false;
    op->timed_out = false;
    ll_textbuf_reset (&op->capture);
    op->out.len = op->err.len = 0;
    op->out.capture = step == STEP_OUTPUT || step == STEP_STATE;
    op->err.capture = false;
    tf_say (self, op, "$ %s", shown);
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
    op->child = tf_child_start (argv, env, NULL, true, reason, sizeof reason);
    int spawned = op->child ? 0 : -1;
    for (int i = 0; aws_env[i]; i++) {
        sodium_memzero (aws_env[i], strlen (aws_env[i]));
        free (aws_env[i]);
    }
    if (spawned != 0) {
        tf_say (self, op, "%s", reason);
        if (!op->error)
            op->error = strdup (reason);
        return -1;
    }
    op->deadline_ms = deadline_ms;
    return 0;
}

int
tf_op_run (self_t *self,
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
    return tf_op_spawn (self, op, step, argv, shown, NULL, deadline_ms);
}
