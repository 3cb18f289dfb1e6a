#include "agent/logship.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/clock.h"
#include "runtime/log.h"

#define S_READ_MAX (1024 * 1024)  //  bytes read per file per pass

//  --- the bounded FIFO ---------------------------------------------------

struct agent_lines {
    char **ring;          //  capacity slots
    agent_mark_t *marks;  //  where each line ends in its file
    int capacity;         //  max_lines
    int head;             //  index of the oldest line
    int count;            //  lines held
    size_t bytes;         //  bytes held
    size_t max_bytes;     //  cap on bytes
    uint64_t dropped;     //  dropped since the last notice
};

agent_lines_t *
agent_lines_new (int max_lines, size_t max_bytes)
{
    agent_lines_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->capacity = max_lines > 0 ? max_lines : 1;
    self->max_bytes = max_bytes;
    self->ring = calloc ((size_t) self->capacity, sizeof (char *));
    self->marks = calloc ((size_t) self->capacity, sizeof (agent_mark_t));
    if (!self->ring || !self->marks) {
        free (self->ring);
        free (self->marks);
        free (self);
        return NULL;
    }
    return self;
}

void
agent_lines_destroy (agent_lines_t **self_p)
{
    agent_lines_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->count; i++)
        free (self->ring[(self->head + i) % self->capacity]);
    free (self->ring);
    free (self->marks);
    free (self);
    *self_p = NULL;
}

//  Take the oldest line out of the queue.
static void
s_pop (agent_lines_t *self)
{
    char *line = self->ring[self->head];
    self->bytes -= strlen (line);
    free (line);
    self->ring[self->head] = NULL;
    self->head = (self->head + 1) % self->capacity;
    self->count--;
}

static void
s_drop_oldest (agent_lines_t *self)
{
    s_pop (self);
    self->dropped++;
}

//  Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid.
static size_t
s_utf8_len (const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len;
    unsigned int min;
    if ((p[0] & 0xE0) == 0xC0) {
        len = 2;
        min = 0x80;
    }
    else if ((p[0] & 0xF0) == 0xE0) {
        len = 3;
        min = 0x800;
    }
    else if ((p[0] & 0xF8) == 0xF0) {
        len = 4;
        min = 0x10000;
    }
    else
        return 0;
    if (len > n)
        return 0;
    unsigned int cp = p[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void
agent_lines_push (agent_lines_t *self, const char *line, size_t len)
{
    agent_mark_t none = {0, 0, 0};
    agent_lines_push_at (self, line, len, none);
}

void
agent_lines_push_at (agent_lines_t *self,
                     const char *line,
                     size_t len,
                     agent_mark_t mark)
{
    if (len > AGENT_LINE_MAX)
        len = AGENT_LINE_MAX;
    char *copy = malloc (len + 1);
    if (!copy) {
        self->dropped++;
        return;
    }
    const unsigned char *p = (const unsigned char *) line;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t n = p[i] ? s_utf8_len (p + i, len - i) : 0;
        if (n == 0) {
            copy[o++] = '?';
            i++;
        }
        else {
            memcpy (copy + o, p + i, n);
            o += n;
            i += n;
        }
    }
    copy[o] = '\0';
    while (
        self->count > 0
        && (self->count >= self->capacity || self->bytes + o > self->max_bytes))
        s_drop_oldest (self);
    self->ring[(self->head + self->count) % self->capacity] = copy;
    self->marks[(self->head + self->count) % self->capacity] = mark;
    self->count++;
    self->bytes += o;
}

int
agent_lines_count (agent_lines_t *self)
{
    return self->count;
}

agent_mark_t
agent_lines_mark (agent_lines_t *self, int index)
{
    agent_mark_t none = {0, 0, 0};
    if (index < 0 || index >= self->count)
        return none;
    return self->marks[(self->head + index) % self->capacity];
}

uint64_t
agent_lines_dropped (agent_lines_t *self)
{
    return self->dropped;
}

static const char *
s_log_group (const char *stream)
{
    if (strcmp (stream, "docker") == 0)
        return "lablink-docker";
    if (strcmp (stream, "agent") == 0)
        return "lablink-agent";
    return "lablink-cloud-init";
}

char *
agent_lines_batch (agent_lines_t *self,
                   int max,
                   const char *vm_name,
                   const char *stream,
                   const char *source,
                   int64_t seq,
                   int *taken)
{
    *taken = 0;
    if (self->count == 0 && self->dropped == 0)
        return NULL;
    json_t *messages = json_array ();
    if (self->dropped > 0) {
        char notice[160];
        snprintf (notice, sizeof notice,
                  "lablink-agent: dropped %llu log lines while the "
                  "allocator was unreachable",
                  (unsigned long long) self->dropped);
        json_array_append_new (messages, json_string (notice));
    }
    int n = 0;
    while (n < max && n < self->count) {
        const char *line = self->ring[(self->head + n) % self->capacity];
        json_array_append_new (messages, json_string (line));
        n++;
    }
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:I, s:o}", "log_group",
                              s_log_group (stream), "log_stream", vm_name,
                              "stream", stream, "source", source, "seq",
                              (json_int_t) seq, "messages", messages);
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    if (!text)
        return NULL;
    //  Only now that the batch exists are the lines taken from the queue
    for (int i = 0; i < n; i++)
        s_pop (self);
    *taken = n + (self->dropped > 0 ? 1 : 0);
    self->dropped = 0;
    return text;
}

//  --- following files and shipping batches ---------------------------------

typedef struct {
    const agent_log_file_t *config;  //  stream and path
    char source[17];                 //  random per process and file
    int64_t seq;                     //  last seq given to a batch
    int fd;                          //  open file or -1
    dev_t dev;                       //  identity of the open file
    ino_t ino;                       //  identity of the open file
    off_t offset;                    //  bytes read from it
    char partial[AGENT_LINE_MAX];    //  an incomplete last line
    size_t partial_len;              //  bytes in partial
    agent_lines_t *queue;            //  complete lines not yet batched
    int64_t first_ms;                //  when the oldest queued line came
    char *batch;                     //  the batch in flight or NULL
    int batch_lines;                 //  messages in it
    int64_t due_ms;                  //  next attempt
    int64_t backoff_ms;              //  current retry delay
    int failures;                    //  consecutive failed attempts
    agent_mark_t batch_mark;         //  where the batch in flight ends
    agent_mark_t acked;              //  where the last accepted batch ended
    bool resume;                     //  a saved position waits for open
    char resume_source[17];          //  the saved source
    int64_t resume_seq;              //  its last accepted seq
    agent_mark_t resume_at;          //  the saved position
} s_file_t;

struct agent_shipper {
    agent_transport_t *transport;     //  settings, stop, posting
    s_file_t files[AGENT_LOG_FILES];  //  one per configured file
    int count;                        //  files in use
    agent_thread_t thread;            //  the shipping thread
    char state[AGENT_PATH_MAX + 32];  //  the positions file or ""
};

//  Read saved positions: lines "source\tseq\tdev\tino\toffset\tpath".
static void
s_state_load (agent_shipper_t *self)
{
    FILE *file = fopen (self->state, "re");
    if (!file)
        return;
    char line[AGENT_PATH_MAX + 128];
    while (fgets (line, sizeof line, file)) {
        line[strcspn (line, "\n")] = '\0';
        char source[32];
        long long seq, offset;
        unsigned long long dev, ino;
        int used = 0;
        if (sscanf (line, "%16[0-9a-f]\t%lld\t%llu\t%llu\t%lld\t%n", source,
                    &seq, &dev, &ino, &offset, &used)
                != 5
            || used == 0 || strlen (source) != 16 || seq < 0 || offset < 0)
            continue;
        for (int i = 0; i < self->count; i++) {
            s_file_t *f = &self->files[i];
            if (strcmp (f->config->path, line + used) != 0)
                continue;
            f->resume = true;
            memcpy (f->resume_source, source, 17);
            f->resume_seq = seq;
            f->resume_at = (agent_mark_t){dev, ino, offset};
        }
    }
    fclose (file);
}

//  Save every file's last accepted position (write, then rename).
static void
s_state_save (agent_shipper_t *self)
{
    if (!*self->state)
        return;
    char temp[sizeof self->state + 8];
    snprintf (temp, sizeof temp, "%s.tmp", self->state);
    FILE *file = fopen (temp, "we");
    if (!file)
        return;
    for (int i = 0; i < self->count; i++) {
        s_file_t *f = &self->files[i];
        if (f->acked.ino == 0)
            continue;
        fprintf (file, "%s\t%lld\t%llu\t%llu\t%lld\t%s\n", f->source,
                 (long long) f->seq, (unsigned long long) f->acked.dev,
                 (unsigned long long) f->acked.ino, (long long) f->acked.offset,
                 f->config->path);
    }
    if (fclose (file) == 0)
        rename (temp, self->state);
    else
        unlink (temp);
}

agent_shipper_t *
agent_shipper_new (agent_transport_t *transport)
{
    agent_shipper_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->transport = transport;
    const agent_settings_t *settings = transport->settings;
    for (int i = 0; i < settings->log_count; i++) {
        s_file_t *file = &self->files[i];
        file->config = &settings->logs[i];
        file->fd = -1;
        unsigned char raw[8];
        if (agent_random_bytes (raw, sizeof raw) != 0) {
            int64_t now = ll_now_ms () + i;
            memcpy (raw, &now, sizeof raw);
        }
        for (int b = 0; b < 8; b++)
            snprintf (file->source + 2 * b, 3, "%02x", raw[b]);
        file->queue =
            agent_lines_new (settings->log_queue_max, AGENT_QUEUE_BYTES_MAX);
        if (!file->queue) {
            self->count = i;
            agent_shipper_destroy (&self);
            return NULL;
        }
        self->count = i + 1;
    }
    if (self->count > 0 && *settings->state_dir) {
        if (mkdir (settings->state_dir, 0700) == 0 || errno == EEXIST)
            snprintf (self->state, sizeof self->state, "%s/logs.state",
                      settings->state_dir);
        else
            ll_warn ("agent: cannot create %s: log positions not kept",
                     settings->state_dir);
    }
    if (*self->state)
        s_state_load (self);
    return self;
}

//  Queue a line that ends at byte end of the open file.
static void
s_push (s_file_t *file, const char *line, size_t len, off_t end)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (agent_lines_count (file->queue) == 0)
        file->first_ms = ll_now_ms ();
    agent_mark_t mark = {(uint64_t) file->dev, (uint64_t) file->ino,
                         (int64_t) end};
    agent_lines_push_at (file->queue, line, len, mark);
}

static void
s_flush_partial (s_file_t *file)
{
    if (file->partial_len > 0) {
        s_push (file, file->partial, file->partial_len, file->offset);
        file->partial_len = 0;
    }
}

//  Read what the open file has now, into lines.
static void
s_drain (s_file_t *file)
{
    char chunk[16384];
    size_t total = 0;
    while (file->fd >= 0 && total < S_READ_MAX) {
        ssize_t n = read (file->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        total += (size_t) n;
        off_t base = file->offset;
        file->offset += n;
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\n') {
                s_push (file, file->partial, file->partial_len, base + i + 1);
                file->partial_len = 0;
            }
            else {
                if (file->partial_len == sizeof file->partial) {
                    //  Split an overlong line
                    s_push (file, file->partial, file->partial_len, base + i);
                    file->partial_len = 0;
                }
                file->partial[file->partial_len++] = chunk[i];
            }
        }
    }
}

static void
s_close (s_file_t *file)
{
    if (file->fd >= 0)
        close (file->fd);
    file->fd = -1;
}

//  Follow one file: read new data, notice rotation and truncation.
static void
s_follow (s_file_t *file)
{
    if (file->fd < 0) {
        file->fd = open (file->config->path, O_RDONLY | O_CLOEXEC);
        if (file->fd < 0)
            return;
        struct stat opened;
        if (fstat (file->fd, &opened) != 0) {
            s_close (file);
            return;
        }
        file->dev = opened.st_dev;
        file->ino = opened.st_ino;
        file->offset = 0;
        file->partial_len = 0;
        if (file->resume) {
            //  The same file as before the restart: go on where the last
            //  accepted batch ended, under the same source
            file->resume = false;
            agent_mark_t at = file->resume_at;
            if (at.dev == (uint64_t) opened.st_dev
                && at.ino == (uint64_t) opened.st_ino
                && opened.st_size >= at.offset
                && lseek (file->fd, (off_t) at.offset, SEEK_SET)
                       == (off_t) at.offset) {
                file->offset = (off_t) at.offset;
                memcpy (file->source, file->resume_source, 17);
                file->seq = file->resume_seq;
                file->acked = at;
                ll_info ("agent: resuming %s at byte %lld", file->config->path,
                         (long long) at.offset);
            }
        }
    }
    s_drain (file);
    //  Both checks look after reading: a file that grew meanwhile must not
    //  look truncated, a file opened just after a rename not rotated
    struct stat now;
    if (fstat (file->fd, &now) == 0 && now.st_size < file->offset) {
        //  Truncated in place (copytruncate): read again from the start
        s_flush_partial (file);
        if (lseek (file->fd, 0, SEEK_SET) == 0) {
            file->offset = 0;
            s_drain (file);
        }
        return;
    }
    struct stat st;
    if (stat (file->config->path, &st) == 0
        && (st.st_ino != file->ino || st.st_dev != file->dev)) {
        //  Rotated: finish the old file, then start the new one
        s_drain (file);
        s_flush_partial (file);
        s_close (file);
        s_follow (file);
    }
}

//  Form a batch when none is in flight and the queue is due.
static void
s_form (agent_shipper_t *self, s_file_t *file, bool force)
{
    const agent_settings_t *settings = self->transport->settings;
    if (file->batch)
        return;
    int queued = agent_lines_count (file->queue);
    if (queued == 0 && agent_lines_dropped (file->queue) == 0)
        return;
    int take =
        queued < settings->log_batch_lines ? queued : settings->log_batch_lines;
    agent_mark_t mark = agent_lines_mark (file->queue, take - 1);
    bool due = force || queued >= settings->log_batch_lines
               || ll_now_ms () - file->first_ms >= settings->log_flush_ms;
    if (!due)
        return;
    file->batch = agent_lines_batch (
        file->queue, settings->log_batch_lines, settings->vm_name,
        file->config->stream, file->source, file->seq + 1, &file->batch_lines);
    if (file->batch) {
        file->batch_mark = mark;
        file->seq++;
        file->due_ms = 0;
        file->backoff_ms = 0;
        if (agent_lines_count (file->queue) > 0)
            file->first_ms = ll_now_ms ();
    }
}

//  One attempt at the batch in flight. true when it is gone (accepted or
//  refused for good).
static bool
s_send (agent_shipper_t *self, s_file_t *file, int timeout_ms, bool abortable)
{
    const agent_settings_t *settings = self->transport->settings;
    agent_reply_t reply;
    int status =
        agent_transport_post (self->transport, "/api/vm-logs", file->batch,
                              timeout_ms, abortable, &reply);
    agent_reply_free (&reply);
    bool gone = false;
    if (status >= 200 && status < 300)
        gone = true;
    else if (status == 400 || status == 413 || status == 422) {
        ll_warn ("agent: log batch %s/%lld refused with HTTP %d: dropped",
                 file->source, (long long) file->seq, status);
        gone = true;
    }
    if (gone) {
        if (file->batch_mark.ino != 0)
            file->acked = file->batch_mark;
        s_state_save (self);
        if (file->failures > 0)
            ll_info ("agent: log shipping resumed after %d failed attempts",
                     file->failures);
        free (file->batch);
        file->batch = NULL;
        file->failures = 0;
        file->backoff_ms = 0;
        return true;
    }
    if (file->failures == 0)
        ll_warn ("agent: log batch for %s not accepted (%s%d): will retry",
                 file->config->stream,
                 status < 0 ? "transport error " : "HTTP ", status);
    file->failures++;
    file->due_ms =
        ll_now_ms () + agent_settings_backoff (settings, &file->backoff_ms);
    return false;
}

void
agent_shipper_step (agent_shipper_t *self)
{
    for (int i = 0; i < self->count; i++) {
        s_file_t *file = &self->files[i];
        s_follow (file);
        s_form (self, file, false);
        //  A batch accepted at once lets the next one go in the same pass
        for (int round = 0; round < 8 && file->batch; round++) {
            if (file->due_ms > ll_now_ms ())
                break;
            if (agent_stop_requested (self->transport->stop))
                break;
            if (!s_send (self, file,
                         self->transport->settings->request_timeout_s * 1000,
                         true))
                break;
            s_form (self, file, false);
        }
    }
}

int
agent_shipper_flush (agent_shipper_t *self, int64_t deadline_ms)
{
    int left = 0;
    for (int i = 0; i < self->count; i++) {
        s_file_t *file = &self->files[i];
        s_follow (file);
        s_flush_partial (file);
        s_form (self, file, true);
        while (file->batch) {
            int64_t budget = deadline_ms - ll_now_ms ();
            if (budget < 50 || !s_send (self, file, (int) budget, false))
                break;
            s_form (self, file, true);
        }
        left += agent_lines_count (file->queue)
                + (file->batch ? file->batch_lines : 0);
    }
    return left;
}

static void *
s_thread (void *arg)
{
    agent_shipper_t *self = arg;
    agent_stop_t *stop = self->transport->stop;
    while (!agent_stop_requested (stop)) {
        agent_shipper_step (self);
        agent_stop_sleep (stop, 100);
    }
    int left = agent_shipper_flush (self, ll_now_ms () + 800);
    if (left > 0)
        ll_warn ("agent: %d log lines not delivered at exit", left);
    return NULL;
}

int
agent_shipper_start (agent_shipper_t *self)
{
    if (self->count == 0)
        return 0;  //  nothing to follow
    return agent_thread_start (&self->thread, s_thread, self);
}

void
agent_shipper_destroy (agent_shipper_t **self_p)
{
    agent_shipper_t *self = *self_p;
    if (!self)
        return;
    agent_thread_join (&self->thread);
    for (int i = 0; i < self->count; i++) {
        s_close (&self->files[i]);
        agent_lines_destroy (&self->files[i].queue);
        free (self->files[i].batch);
    }
    free (self);
    *self_p = NULL;
}
