#include "actors/exporter/exporter.h"
#include "actors/exporter/fetch.h"
#include "actors/exporter/key.h"
#include "actors/exporter/zip.h"
#include "runtime/actor.h"
#include "runtime/budget.h"
#include "runtime/db.h"
#include "runtime/log.h"

#include <ctype.h>
#include <pwd.h>
#include <sodium.h>

#define S_OUT_MAX       (1024 * 1024)  //  zip bytes held for the reader
#define S_READ_CHUNK    (256 * 1024)   //  bytes per EXPORT-READ reply
#define S_READ_HOLD_MS  250            //  a READ is answered within this
#define S_FLUSH_MS      100            //  send a partial chunk after this
#define S_ABANDON_MS    60000          //  no READ this long: cancel
#define S_MANIFEST_NAME "MANIFEST.txt"

typedef enum { S_VM_WAITING, S_VM_RUNNING, S_VM_DONE, S_VM_FAILED } s_state_t;

//  One VM of an export.
typedef struct {
    int index;         //  n in vm_<n>
    char *hostname;    //  its name
    char *address;     //  its sshd address
    int port;          //  its sshd port
    char *pinned;      //  pinned host key (base64) or NULL
    s_state_t state;   //  progress
    ll_fetch_t fetch;  //  the thread's job (valid while RUNNING)
    void *pair;        //  our end of the thread's socket (ll_socket_new)
    int files;         //  files exported
    int64_t bytes;     //  their bytes
    int skipped;       //  files left out
    char *error;       //  why it failed
    zchunk_t *notes;   //  manifest lines: skipped/incomplete files
    zchunk_t *sums;    //  manifest lines: sha256sum of each file
} s_vm_t;

//  The running export.
typedef struct {
    char id[33];               //  export id (random hex)
    char filename[64];         //  lablink_data<stamp>.zip
    char who[64];              //  who asked (audit)
    s_vm_t *vms;               //  every VM, in vm_<n> order
    int vm_count;              //  entries in vms
    int next;                  //  next VM to start
    int active;                //  fetch threads running
    int done;                  //  VMs finished (ok or failed)
    int failed;                //  VMs that failed
    int files;                 //  files exported
    int64_t bytes;             //  their bytes
    ll_fetch_shared_t shared;  //  what the fetch threads share
    ll_zip_t *zip;             //  the archive being written
    unsigned char *out;        //  zip bytes not yet read
    size_t out_head;           //  where they start in out
    size_t out_len;            //  bytes in out
    size_t out_cap;            //  bytes allocated
    s_vm_t *current;           //  VM whose file is open in the zip, or NULL
    char *entry;               //  name of the open entry
    bool any_file;             //  some entry was begun
    bool finished;             //  every VM done, zip closed (or empty)
    ll_request_t *reader;      //  a parked EXPORT-READ
    int64_t reader_since;      //  when it arrived
    int64_t last_read_ms;      //  last READ seen (abandon check)
    bool caps_hit[3];          //  file size, total, count
    int64_t started_ms;        //  start time
} s_export_t;

typedef struct {
    ll_actor_t actor;    //  pipe, ROUTER LL_ENDPOINT_EXPORTER, database
    ll_ssh_key_t *key;   //  the SSH client key, or NULL (retried)
    char *key_file;      //  its path
    char *data_dir;      //  export.data_dir resolved
    char *ssh_user;      //  export.ssh_user resolved
    bool container;      //  files live in the client container
    s_export_t *export;  //  the running export, or NULL
    int seq;             //  fetch socket numbering
    //  Figures of the last finished export (EXPORT-STATUS)
    int last_done, last_total, last_files, last_failed;
    int64_t last_bytes;
    char last_filename[64];
    zmsg_t *last_vms;  //  per-VM frames of the last export (EXPORT-STATUS)
    bool ssh_ready;    //  libssh2 initialised (ll_fetch_global_init)
} self_t;

//  --- helpers --------------------------------------------------------------

//  Append a name to a chunk, escaped: \\, \n and other control bytes as
//  \xHH. Returns true when something was escaped.
static bool
s_escape (zchunk_t *chunk, const char *name)
{
    bool escaped = false;
    for (const unsigned char *c = (const unsigned char *) name; *c; c++) {
        char buf[8];
        if (*c == '\\')
            zchunk_extend (chunk, "\\\\", 2), escaped = true;
        else if (*c == '\n')
            zchunk_extend (chunk, "\\n", 2), escaped = true;
        else if (*c < 0x20 || *c == 0x7f) {
            snprintf (buf, sizeof buf, "\\x%02x", *c);
            zchunk_extend (chunk, buf, 4);
            escaped = true;
        }
        else
            zchunk_extend (chunk, c, 1);
    }
    return escaped;
}

static void
s_chunk_printf (zchunk_t *chunk, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    if (text)
        zchunk_extend (chunk, text, strlen (text));
    free (text);
}

//  The zip writer's sink: the bytes wait in out for EXPORT-READ.
static int
s_out_sink (void *arg, const void *data, size_t size)
{
    s_export_t *ex = arg;
    if (ex->out_head + ex->out_len + size > ex->out_cap && ex->out_head) {
        //  Compact only when the tail reaches the end (amortised)
        memmove (ex->out, ex->out + ex->out_head, ex->out_len);
        ex->out_head = 0;
    }
    if (ex->out_len + size > ex->out_cap) {
        size_t cap = ex->out_cap ? ex->out_cap : 4 * S_OUT_MAX;
        while (cap < ex->out_len + size)
            cap *= 2;
        unsigned char *grown = realloc (ex->out, cap);
        if (!grown)
            return -1;
        ex->out = grown;
        ex->out_cap = cap;
    }
    memcpy (ex->out + ex->out_head + ex->out_len, data, size);
    ex->out_len += size;
    return 0;
}

static void
s_audit (self_t *self,
         const char *who,
         const char *action,
         const char *target,
         const char *outcome,
         const char *detail)
{
    const char *values[] = {who, action, target, outcome, detail};
    PGresult *res = ll_db_exec (self->actor.db, "exporter_audit", 5, values);
    if (!res)
        ll_warn ("exporter: cannot write the audit log: %s",
                 ll_db_error (self->actor.db));
    PQclear (res);
}

//  --- the actor --------------------------------------------------------------

static void
s_self_init (void *arg)
{
    self_t *self = arg;
    const ll_config_t *config = self->actor.runtime->config;
    const char *source = config->export.source;
    if (!*source)
        source = streq (config->provider.kind, "aws") ? "container" : "host";
    self->container = streq (source, "container");
    self->data_dir = strdup (*config->export.data_dir ? config->export.data_dir
                             : self->container        ? "/home/client/Desktop"
                                                      : "Desktop");
    self->key_file = strdup (config->export.key_file);
    const char *user = config->export.ssh_user;
    struct passwd *pw = NULL;
    if (!*user && !streq (config->provider.kind, "aws"))
        pw = getpwuid (geteuid ());
    self->ssh_user = strdup (*user ? user : pw ? pw->pw_name : "ubuntu");
}

static void s_export_cancel (self_t *self, const char *why);

static void
s_self_fini (void *arg)
{
    self_t *self = arg;
    if (self->export)
        s_export_cancel (self, "the allocator is stopping");
    ll_ssh_key_destroy (&self->key);
    zmsg_destroy (&self->last_vms);
    if (self->ssh_ready)
        ll_fetch_global_exit ();
    free (self->data_dir);
    free (self->ssh_user);
    free (self->key_file);
}

//  Load (or make) the client key; 0 or -1 with a warning.
static int
s_self_key (self_t *self)
{
    if (self->key)
        return 0;
    char error[512];
    self->key = ll_ssh_key_load (self->key_file, error, sizeof error);
    if (!self->key) {
        ll_warn ("exporter: no ssh client key: %s", error);
        return -1;
    }
    ll_info ("exporter: ssh client key %s: %s", self->key_file,
             self->key->public_line);
    return 0;
}

static const char *
s_self_start (void *arg)
{
    self_t *self = arg;
    if (ll_fetch_global_init () != 0)
        return "cannot start libssh2";
    self->ssh_ready = true;
    const char *error =
        ll_actor_open (&self->actor, LL_ENDPOINT_EXPORTER, true);
    if (!error)
        s_self_key (self);  //  an export retries when this fails
    return error;
}

//  --- an export's life -------------------------------------------------------

static void
s_vm_join (s_vm_t *vm)
{
    if (!vm->fetch.running)
        return;
    pthread_join (vm->fetch.thread, NULL);
    vm->fetch.running = false;
    ll_socket_close (&vm->fetch.pair);
    ll_socket_close (&vm->pair);
    pthread_mutex_destroy (&vm->fetch.fd_lock);
}

static void
s_export_destroy (s_export_t **ex_p)
{
    s_export_t *ex = *ex_p;
    if (!ex)
        return;
    atomic_store (&ex->shared.cancel, true);
    for (int i = 0; i < ex->vm_count; i++)
        if (ex->vms[i].fetch.running)
            ll_fetch_interrupt (&ex->vms[i].fetch);
    for (int i = 0; i < ex->vm_count; i++) {
        s_vm_t *vm = &ex->vms[i];
        s_vm_join (vm);
        free (vm->hostname);
        free (vm->address);
        free (vm->pinned);
        free (vm->error);
        zchunk_destroy (&vm->notes);
        zchunk_destroy (&vm->sums);
    }
    free (ex->vms);
    ll_request_destroy (&ex->reader);
    ll_zip_destroy (&ex->zip);
    free (ex->out);
    free (ex->entry);
    free (ex);
    *ex_p = NULL;
}

//  Per VM: hostname, state, files, bytes, error ("" when none).
static zmsg_t *
s_vm_frames (s_export_t *ex)
{
    static const char *const states[] = {"waiting", "running", "done",
                                         "failed"};
    zmsg_t *msg = zmsg_new ();
    for (int i = 0; i < ex->vm_count; i++) {
        s_vm_t *vm = &ex->vms[i];
        char files[16], bytes[24];
        snprintf (files, sizeof files, "%d", vm->files);
        snprintf (bytes, sizeof bytes, "%lld", (long long) vm->bytes);
        ll_msg_put (msg, "sssss", vm->hostname, states[vm->state], files, bytes,
                    vm->error);
    }
    return msg;
}

//  Keep the figures for EXPORT-STATUS and free the export.
static void
s_export_end (self_t *self)
{
    s_export_t *ex = self->export;
    zmsg_destroy (&self->last_vms);
    self->last_vms = s_vm_frames (ex);
    self->last_done = ex->done;
    self->last_total = ex->vm_count;
    self->last_files = ex->files;
    self->last_failed = ex->failed;
    self->last_bytes = ex->bytes;
    snprintf (self->last_filename, sizeof self->last_filename, "%s",
              ex->filename);
    s_export_destroy (&self->export);
}

static void
s_export_cancel (self_t *self, const char *why)
{
    s_export_t *ex = self->export;
    if (ex->reader) {
        ll_request_fail (ex->reader, LL_REASON_CANCELLED);
        ll_request_destroy (&ex->reader);
    }
    ll_warn ("exporter: export %s cancelled: %s", ex->filename, why);
    char detail[256];
    snprintf (detail, sizeof detail, "cancelled: %s; vms %d/%d, files %d", why,
              ex->done, ex->vm_count, ex->files);
    s_audit (self, ex->who, "export", ex->filename, "cancelled", detail);
    s_export_end (self);
}

//  Start fetch threads up to export.parallel.
static void
s_export_spawn (self_t *self)
{
    s_export_t *ex = self->export;
    int parallel = self->actor.runtime->config->export.parallel;
    while (ex->active < parallel && ex->next < ex->vm_count) {
        s_vm_t *vm = &ex->vms[ex->next++];
        if (!*vm->address) {
            vm->state = S_VM_FAILED;
            vm->error = strdup ("no address known (vms.public_ip is empty)");
            ex->done++;
            ex->failed++;
            continue;
        }
        ll_fetch_t *f = &vm->fetch;
        memset (f, 0, sizeof *f);
        f->shared = &ex->shared;
        f->hostname = vm->hostname;
        f->address = vm->address;
        f->port = vm->port;
        f->pinned = vm->pinned;
        f->fd = -1;
        pthread_mutex_init (&f->fd_lock, NULL);
        //  Both ends are made here; the thread only uses its own
        char endpoint[64];
        snprintf (endpoint, sizeof endpoint, "inproc://exporter-fetch-%d",
                  ++self->seq);
        //  Sockets that cannot be made fail this VM, never the process
        //  (czmq's zsock_new asserts; runtime/budget.h)
        vm->pair = ll_socket_new (ZMQ_PAIR);
        f->pair = ll_socket_new (ZMQ_PAIR);
        int rc = -1;
        if (vm->pair && f->pair) {
            zsock_set_rcvhwm (vm->pair, LL_FETCH_HWM);
            zsock_set_sndhwm (f->pair, LL_FETCH_HWM);
            zsock_set_sndtimeo (f->pair, 200);
            if (zmq_bind (vm->pair, endpoint) == 0
                && zmq_connect (f->pair, endpoint) == 0)
                rc = pthread_create (&f->thread, NULL, ll_fetch_run, f);
        }
        if (rc != 0) {
            ll_socket_close (&vm->pair);
            ll_socket_close (&f->pair);
            pthread_mutex_destroy (&f->fd_lock);
            vm->state = S_VM_FAILED;
            vm->error = strdup ("cannot start a fetch thread");
            ex->done++;
            ex->failed++;
            continue;
        }
        f->running = true;
        vm->state = S_VM_RUNNING;
        ex->active++;
    }
}

//  The manifest, from the figures every VM collected.
static zchunk_t *
s_manifest (self_t *self)
{
    s_export_t *ex = self->export;
    const ll_config_t *config = self->actor.runtime->config;
    zchunk_t *m = zchunk_new (NULL, 4096);
    s_chunk_printf (m, "# LabLink data export %s\n", ex->filename);
    s_chunk_printf (m,
                    "# extension: %s; folder: %s; VMs: %d (%d read, %d "
                    "failed); files: %d; bytes: %lld\n",
                    config->machine.extension, self->data_dir, ex->vm_count,
                    ex->vm_count - ex->failed, ex->failed, ex->files,
                    (long long) ex->bytes);
    static const char *const caps[] = {
        "export.max_file_bytes", "export.max_total_bytes", "export.max_files"};
    for (int i = 0; i < 3; i++)
        if (ex->caps_hit[i])
            s_chunk_printf (m, "# cap hit: %s\n", caps[i]);
    s_chunk_printf (m, "# vm_<n> hostname address:port result files bytes "
                       "skipped; then a sha256sum line per file\n");
    for (int i = 0; i < ex->vm_count; i++) {
        s_vm_t *vm = &ex->vms[i];
        s_chunk_printf (m, "# vm_%d ", vm->index);
        s_escape (m, vm->hostname);
        zchunk_extend (m, " ", 1);
        s_escape (m, vm->address);
        if (vm->state == S_VM_FAILED) {
            s_chunk_printf (m, ":%d FAILED files=%d bytes=%lld: ", vm->port,
                            vm->files, (long long) vm->bytes);
            s_escape (m, vm->error ? vm->error : "unknown");
            zchunk_extend (m, "\n", 1);
        }
        else
            s_chunk_printf (m, ":%d ok files=%d bytes=%lld skipped=%d\n",
                            vm->port, vm->files, (long long) vm->bytes,
                            vm->skipped);
        if (vm->notes)
            zchunk_extend (m, zchunk_data (vm->notes), zchunk_size (vm->notes));
    }
    for (int i = 0; i < ex->vm_count; i++)
        if (ex->vms[i].sums)
            zchunk_extend (m, zchunk_data (ex->vms[i].sums),
                           zchunk_size (ex->vms[i].sums));
    return m;
}

//  Every VM is done: write the manifest and the central directory.
static void
s_export_finish (self_t *self)
{
    s_export_t *ex = self->export;
    ex->finished = true;
    char detail[256];
    snprintf (detail, sizeof detail, "vms %d, failed %d, files %d, bytes %lld",
              ex->vm_count, ex->failed, ex->files, (long long) ex->bytes);
    if (!ex->any_file) {
        ll_info ("exporter: %s: no file found (%s)", ex->filename, detail);
        s_audit (self, ex->who, "export", ex->filename, "empty", detail);
        return;
    }
    zchunk_t *m = s_manifest (self);
    if (ll_zip_begin (ex->zip, S_MANIFEST_NAME, strlen (S_MANIFEST_NAME),
                      time (NULL))
            != 0
        || ll_zip_write (ex->zip, zchunk_data (m), zchunk_size (m)) != 0
        || ll_zip_close (ex->zip) != 0)
        ll_error ("exporter: cannot finish %s", ex->filename);
    zchunk_destroy (&m);
    ll_info ("exporter: %s built in %lld ms: %s, %llu zip bytes", ex->filename,
             (long long) (ll_now_ms () - ex->started_ms), detail,
             (unsigned long long) ll_zip_offset (ex->zip));
    s_audit (self, ex->who, "export", ex->filename,
             ex->failed ? "partial" : "ok", detail);
}

//  One message from a VM's fetch thread.
static void
s_export_handle_fetch (self_t *self, s_vm_t *vm)
{
    s_export_t *ex = self->export;
    zmsg_t *msg = zmsg_recv (vm->pair);
    if (!msg)
        return;
    char *command = zmsg_popstr (msg);
    zframe_t *data = command && streq (command, "DATA") ? zmsg_pop (msg) : NULL;
    //  The other commands' arguments: up to three, NULL when absent
    char *arg[3];
    for (int i = 0; i < 3; i++)
        arg[i] = zmsg_popstr (msg);
    if (!command)
        ;
    else if (streq (command, "DATA")) {
        if (data && ex->current == vm
            && ll_zip_write (ex->zip, zframe_data (data), zframe_size (data))
                   == 0)
            ex->bytes += (int64_t) zframe_size (data);
    }
    else if (streq (command, "BEGIN")) {
        const char *rel = arg[0], *mtime = arg[1];
        char name[LL_ZIP_NAME_MAX + 1];
        snprintf (name, sizeof name, "vm_%d/%s", vm->index, rel ? rel : "");
        if (rel
            && ll_zip_begin (ex->zip, name, strlen (name),
                             mtime ? (time_t) strtoll (mtime, NULL, 10) : 0)
                   == 0) {
            ex->current = vm;
            ex->any_file = true;
            free (ex->entry);
            ex->entry = strdup (name);
        }
        else if (rel) {
            //  Its DATA and END are dropped (ex->current is not this VM)
            vm->skipped++;
            s_chunk_printf (vm->notes, "# skipped vm_%d/", vm->index);
            s_escape (vm->notes, rel);
            s_chunk_printf (vm->notes, ": the zip writer refused it\n");
        }
    }
    else if (streq (command, "END")) {
        const char *hex = arg[0], *bytes = arg[1], *note = arg[2];
        if (ex->current == vm && hex && bytes) {
            ll_zip_end (ex->zip);
            ex->current = NULL;
            int64_t n = strtoll (bytes, NULL, 10);
            vm->files++;
            vm->bytes += n;
            ex->files++;
            //  sha256sum's format: a leading \ marks an escaped name
            zchunk_t *line = zchunk_new (NULL, 256);
            bool escaped = s_escape (line, ex->entry);
            s_chunk_printf (vm->sums, "%s%s  ", escaped ? "\\" : "", hex);
            zchunk_extend (vm->sums, zchunk_data (line), zchunk_size (line));
            zchunk_extend (vm->sums, "\n", 1);
            if (note && *note) {
                zchunk_extend (vm->notes, "# ", 2);
                zchunk_extend (vm->notes, zchunk_data (line),
                               zchunk_size (line));
                s_chunk_printf (vm->notes, ": %s\n", note);
            }
            zchunk_destroy (&line);
        }
    }
    else if (streq (command, "SKIP")) {
        const char *rel = arg[0], *size = arg[1], *reason = arg[2];
        if (rel && size && reason) {
            vm->skipped++;
            if (strstr (reason, "max_file_bytes"))
                ex->caps_hit[0] = true;
            else if (strstr (reason, "max_total_bytes"))
                ex->caps_hit[1] = true;
            else if (strstr (reason, "max_files"))
                ex->caps_hit[2] = true;
            s_chunk_printf (vm->notes, "# skipped vm_%d/", vm->index);
            s_escape (vm->notes, rel);
            s_chunk_printf (vm->notes, " (%s bytes): ", size);
            s_escape (vm->notes, reason);
            zchunk_extend (vm->notes, "\n", 1);
        }
    }
    else if (streq (command, "HOSTKEY")) {
        const char *type = arg[0], *b64 = arg[1], *fp = arg[2];
        if (type && b64 && fp) {
            const char *values[] = {vm->hostname, type, b64, fp};
            PGresult *res =
                ll_db_exec (self->actor.db, "exporter_pin_host_key", 4, values);
            if (res)
                ll_info ("exporter: pinned the host key of %s: %s SHA256:%s",
                         vm->hostname, type, fp);
            else
                ll_warn ("exporter: cannot pin the host key of %s: %s",
                         vm->hostname, ll_db_error (self->actor.db));
            PQclear (res);
        }
    }
    else if (streq (command, "DONE") || streq (command, "FAIL")) {
        if (ex->current == vm) {  //  cannot happen: END comes first
            ll_zip_end (ex->zip);
            ex->current = NULL;
        }
        s_vm_join (vm);
        ex->active--;
        ex->done++;
        if (streq (command, "FAIL")) {
            vm->state = S_VM_FAILED;
            vm->error = strdup (arg[0] ? arg[0] : "unknown");
            ex->failed++;
            ll_warn ("exporter: %s (%s:%d): %s", vm->hostname, vm->address,
                     vm->port, vm->error);
            if (strncmp (vm->error, "host key changed", 16) == 0)
                s_audit (self, ex->who, "export-host-key-refused", vm->hostname,
                         "refused", vm->error);
        }
        else
            vm->state = S_VM_DONE;
        s_export_spawn (self);
        if (ex->done == ex->vm_count && ex->active == 0)
            s_export_finish (self);
    }
    zframe_destroy (&data);
    for (int i = 0; i < 3; i++)
        free (arg[i]);
    free (command);
    zmsg_destroy (&msg);
}

//  Answer the parked EXPORT-READ when there is something to say.
static void
s_export_answer (self_t *self, bool flush)
{
    s_export_t *ex = self->export;
    if (!ex || !ex->reader)
        return;
    const char *kind = NULL;
    zmsg_t *rest = zmsg_new ();
    bool last = false;
    int64_t now = ll_now_ms ();
    if (ex->out_len >= S_READ_CHUNK
        || (ex->out_len
            && (ex->finished || flush
                || now - ex->reader_since >= S_FLUSH_MS))) {
        size_t n = ex->out_len < S_READ_CHUNK ? ex->out_len : S_READ_CHUNK;
        kind = LL_EXPORT_DATA;
        ll_msg_put (rest, "b", ex->out + ex->out_head, n);
        ex->out_head = ex->out_len == n ? 0 : ex->out_head + n;
        ex->out_len -= n;
    }
    else if (ex->finished && ex->any_file) {
        kind = LL_EXPORT_END;
        last = true;
    }
    else if (ex->finished) {
        kind = LL_EXPORT_EMPTY;
        last = true;
        char failed[16];
        snprintf (failed, sizeof failed, "%d", ex->failed);
        const char *first = "";
        for (int i = 0; i < ex->vm_count && !*first; i++)
            if (ex->vms[i].state == S_VM_FAILED && ex->vms[i].error)
                first = ex->vms[i].error;
        ll_msg_put (rest, "ss", failed, first);
    }
    else if (now - ex->reader_since >= S_READ_HOLD_MS)
        kind = LL_EXPORT_WAIT;
    if (!kind) {
        zmsg_destroy (&rest);
        return;
    }
    ll_request_answer (ex->reader, kind, &rest);
    ll_request_destroy (&ex->reader);
    if (last)
        s_export_end (self);
}

//  A PostgreSQL text array literal of the strings in list.
static char *
s_pg_array (zlist_t *list)
{
    zchunk_t *out = zchunk_new ("{", 1);
    for (char *item = zlist_first (list); item; item = zlist_next (list)) {
        if (zchunk_size (out) > 1)
            zchunk_extend (out, ",", 1);
        zchunk_extend (out, "\"", 1);
        for (const char *c = item; *c; c++) {
            if (*c == '"' || *c == '\\')
                zchunk_extend (out, "\\", 1);
            zchunk_extend (out, c, 1);
        }
        zchunk_extend (out, "\"", 1);
    }
    zchunk_extend (out, "}", 2);  //  with the terminating NUL
    char *text = strdup ((char *) zchunk_data (out));
    zchunk_destroy (&out);
    return text;
}

//  Start an export for who of the VMs filters name (host:<hostname> |
//  email:<address> frames; none: every VM): read the VMs and their pinned
//  keys, start the first fetch threads, answer OK id filename.
static void
s_export_start (self_t *self,
                ll_request_t *req,
                const char *who,
                zmsg_t *filters)
{
    zlist_t *hosts = zlist_new (), *emails = zlist_new ();
    zlist_autofree (hosts);
    zlist_autofree (emails);
    char *filter;
    while (filters && (filter = zmsg_popstr (filters))) {
        if (strncmp (filter, "host:", 5) == 0 && strlen (filter) < 300)
            zlist_append (hosts, filter + 5);
        else if (strncmp (filter, "email:", 6) == 0 && strlen (filter) < 330) {
            for (char *c = filter + 6; *c; c++)
                *c = (char) tolower ((unsigned char) *c);
            zlist_append (emails, filter + 6);
        }
        free (filter);
    }
    bool filtered = zlist_size (hosts) || zlist_size (emails);
    char *a_hosts = s_pg_array (hosts), *a_emails = s_pg_array (emails);
    zlist_destroy (&hosts);
    zlist_destroy (&emails);
    const char *values[] = {a_hosts, a_emails};
    ll_db_ensure (self->actor.db);
    PGresult *vms = ll_db_exec (self->actor.db, "exporter_vms", 2, values);
    free (a_hosts);
    free (a_emails);
    PGresult *pins =
        vms ? ll_db_exec (self->actor.db, "exporter_host_keys", 0, NULL) : NULL;
    if (!vms || !pins) {
        ll_request_fail (req, LL_REASON_DATABASE);
        PQclear (vms);
        PQclear (pins);
        return;
    }
    int count = PQntuples (vms);
    if (count == 0) {
        ll_request_fail (req, filtered ? LL_REASON_NO_MATCH : LL_REASON_NO_VMS);
        PQclear (vms);
        PQclear (pins);
        return;
    }
    const ll_config_t *config = self->actor.runtime->config;
    s_export_t *ex = calloc (1, sizeof *ex);
    unsigned char raw[16];
    randombytes_buf (raw, sizeof raw);
    sodium_bin2hex (ex->id, sizeof ex->id, raw, sizeof raw);
    time_t now = time (NULL);
    struct tm tm;
    localtime_r (&now, &tm);
    strftime (ex->filename, sizeof ex->filename,
              "lablink_data%Y%m%d_%H%M%S.zip", &tm);
    snprintf (ex->who, sizeof ex->who, "%s", who);
    ex->vms = calloc ((size_t) count, sizeof *ex->vms);
    ex->vm_count = count;
    for (int i = 0; i < count; i++) {
        s_vm_t *vm = &ex->vms[i];
        vm->index = (int) strtol (PQgetvalue (vms, i, 3), NULL, 10);
        vm->hostname = strdup (PQgetvalue (vms, i, 0));
        vm->address = strdup (PQgetvalue (vms, i, 1));
        vm->port = (int) strtol (PQgetvalue (vms, i, 2), NULL, 10);
        if (vm->port <= 0)
            vm->port = config->export.ssh_port;
        vm->notes = zchunk_new (NULL, 0);
        vm->sums = zchunk_new (NULL, 0);
        for (int k = 0; k < PQntuples (pins); k++)
            if (streq (PQgetvalue (pins, k, 0), vm->hostname))
                vm->pinned = strdup (PQgetvalue (pins, k, 2));
    }
    PQclear (vms);
    PQclear (pins);
    ll_fetch_shared_t *sh = &ex->shared;
    atomic_init (&sh->cancel, false);
    atomic_init (&sh->bytes, 0);
    atomic_init (&sh->files, 0);
    sh->max_total_bytes = config->export.max_total_bytes;
    sh->max_file_bytes = config->export.max_file_bytes;
    sh->max_files = config->export.max_files;
    sh->timeout_ms = config->export.timeout_s * 1000;
    sh->user = self->ssh_user;
    sh->key_pem = self->key->private_pem;
    sh->key_len = self->key->private_len;
    sh->data_dir = self->data_dir;
    sh->extension = config->machine.extension;
    sh->container = self->container;
    sh->container_command = config->export.container_command;
    ex->zip = ll_zip_new (s_out_sink, ex);
    ex->started_ms = ex->last_read_ms = ll_now_ms ();
    self->export = ex;
    s_export_spawn (self);
    ll_info ("exporter: %s started for %s: %d VMs, %d at once", ex->filename,
             ex->who, count, config->export.parallel);
    ll_request_answer (req, ex->id, ex->filename);
    if (ex->done == ex->vm_count && ex->active == 0)
        s_export_finish (self);  //  no VM had an address
}

//  EXPORT-START [who]
static void
s_handle_start (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *who = NULL;
    zmsg_t *filters = NULL;
    if (ll_request_take (req, &who, &filters) != 0)
        return;
    if (self->export)
        ll_request_fail (req, LL_REASON_BUSY);
    else if (s_self_key (self) != 0)
        ll_request_fail (req, LL_REASON_NO_KEY);
    else
        s_export_start (self, req, who && *who ? who : "admin", filters);
    zmsg_destroy (&filters);
    free (who);
}

//  The request names the running export (its first argument)
static bool
s_export_is (self_t *self, ll_request_t *req)
{
    char *id = NULL;
    if (ll_request_take (req, &id) != 0)
        return false;  //  answered
    bool same = self->export && streq (id, self->export->id);
    free (id);
    if (!same && streq (req->command, LL_CMD_EXPORT_READ))
        ll_request_fail (req, LL_REASON_NO_EXPORT);
    return same;
}

static void
s_handle_read (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    if (!s_export_is (self, req))
        return;
    s_export_t *ex = self->export;
    if (ex->reader)  //  one reader: the older one gave up
        ll_request_destroy (&ex->reader);
    ex->reader = ll_request_keep (req);
    ex->reader_since = ex->last_read_ms = ll_now_ms ();
    s_export_answer (self, false);
}

static void
s_handle_cancel (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    if (s_export_is (self, req))
        s_export_cancel (self, "the client went away");
    if (!req->answered)
        ll_request_answer (req);
}

static void
s_handle_status (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    s_export_t *ex = self->export;
    char done[16], total[16], bytes[24], files[16], failed[16];
    snprintf (done, sizeof done, "%d", ex ? ex->done : self->last_done);
    snprintf (total, sizeof total, "%d", ex ? ex->vm_count : self->last_total);
    snprintf (bytes, sizeof bytes, "%lld",
              (long long) (ex ? ex->bytes : self->last_bytes));
    snprintf (files, sizeof files, "%d", ex ? ex->files : self->last_files);
    snprintf (failed, sizeof failed, "%d", ex ? ex->failed : self->last_failed);
    zmsg_t *vms = ex               ? s_vm_frames (ex)
                  : self->last_vms ? zmsg_dup (self->last_vms)
                                   : NULL;
    zmsg_t *status = zmsg_new ();
    ll_msg_put (status, "sssssssm", ex ? "1" : "0", done, total, bytes, files,
                failed, ex ? ex->filename : self->last_filename, &vms);
    ll_request_answer (req, &status);
}

//  Served on LL_ENDPOINT_EXPORTER
static const ll_handler_t s_handlers[] = {
    {LL_CMD_EXPORT_READ, s_handle_read},
    {LL_CMD_EXPORT_START, s_handle_start},
    {LL_CMD_EXPORT_CANCEL, s_handle_cancel},
    {LL_CMD_EXPORT_STATUS, s_handle_status},
    {NULL, NULL},
};

//  Its own loop: the poll set changes with its work
static void
s_self_loop (void *arg)
{
    self_t *self = arg;
    zsock_t *pipe = self->actor.pipe;
    ll_actor_t *actor = &self->actor;
    zsock_signal (pipe, 0);
    zmq_pollitem_t items[LL_ACTOR_POLL_MAX];
    s_vm_t *owners[LL_ACTOR_POLL_MAX];
    while (!actor->terminated) {
        int n = 0;
        s_export_t *ex = self->export;
        //  Read the fetch threads only while the reader keeps up; while a
        //  file is open in the zip, only its VM's thread
        if (ex && !ex->finished && ex->out_len < S_OUT_MAX)
            for (int i = 0; i < ex->vm_count && n < LL_ACTOR_POLL_MAX; i++) {
                s_vm_t *vm = &ex->vms[i];
                if (!vm->fetch.running || (ex->current && ex->current != vm))
                    continue;
                owners[n] = vm;
                items[n++] = (zmq_pollitem_t){zsock_resolve (vm->pair), 0,
                                              ZMQ_POLLIN, 0};
            }
        int rc = ll_actor_poll (actor, items, n, ex ? S_FLUSH_MS : 1000,
                                s_self_start, s_handlers, self);
        if (actor->terminated)
            break;
        //  The export may have ended (or started) meanwhile
        if (self->export == ex && ex)
            for (int i = 0; i < n && self->export == ex; i++) {
                s_vm_t *vm = owners[i];
                if (!(items[i].revents & ZMQ_POLLIN)
                    || (ex->current && ex->current != vm))
                    continue;
                //  Drain this VM while its file is open and room is left
                do
                    s_export_handle_fetch (self, vm);
                while (self->export == ex && ex->current == vm
                       && ex->out_len < S_OUT_MAX && vm->fetch.running
                       && (zsock_events (vm->pair) & ZMQ_POLLIN));
            }
        if (self->export) {
            s_export_answer (self, rc == 0);
            if (self->export
                && ll_now_ms () - self->export->last_read_ms > S_ABANDON_MS
                && !self->export->reader)
                s_export_cancel (self, "nobody reads the zip");
        }
        else if (actor->started && rc == 0)
            ll_db_ensure (self->actor.db);
    }
}

static const ll_actor_kind_t s_kind = {
    .name = "exporter",
    .size = sizeof (self_t),
    .init = s_self_init,
    .fini = s_self_fini,
    .loop = s_self_loop,
};

void
exporter_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
