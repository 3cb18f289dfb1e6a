/*  The terraform actor's private state and the functions its files share
    (actors/terraform/: terraform.c the actor's requests and loop,
    op.c the operation: lock, rows, steps, the running child; output.c
    its output lines and events, starting a step; workdir.c the working
    directory: key, module links, backend, tfvars; fleet.c the fleet rows
    after terraform, reboot, move and export-destroy). Only these files
    include it. */
#ifndef LL_ACTOR_TERRAFORM_INTERNAL_H
#define LL_ACTOR_TERRAFORM_INTERNAL_H

#include "actors/terraform/child.h"
#include "runtime/export_check.h"
#include "actors/terraform/s3.h"
#include "actors/terraform/tfvars.h"
#include "runtime/actor.h"
#include "runtime/aws.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/schedule.h"
#include "runtime/metrics.h"
#include "runtime/textbuf.h"
#include "runtime/token.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "actors/terraform/terraform.h"

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
#define TF_EVENT_MAX       65536    //  bytes kept of one -json event line
#define TF_LOCK_BUSY       1        //  tf_acquire: another operation runs
#define TF_INIT_MARKER     ".lablink-init"
#define TF_TFVARS_JSON     "terraform.runtime.tfvars.json"  //  terraform's
#define TF_TFVARS          "terraform.runtime.tfvars"       //  HCL, for S3 only
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
    tf_child_pipe_t which;        //  the child's stdout or stderr
    char line[TF_EVENT_MAX + 1];  //  the line being assembled
    size_t len;                   //  bytes in line
    bool capture;                 //  stdout kept whole (output, state)
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
    tf_child_t *child;       //  the step's process, NULL when none
    stream_t out, err;       //  its stdout and stderr, cut into lines
    ll_textbuf_t capture;    //  stdout of output / state steps
    int64_t deadline_ms;     //  the step must end by then
    int64_t op_deadline_ms;  //  init + apply/destroy must end by then
    bool timed_out;          //  the deadline killed it
    bool exited;             //  the step's child ended (or never ran)
    int status;              //  its wait status
    size_t stored;           //  output bytes kept so far
    int64_t seq;             //  number of the next output line
    bool truncated;          //  output reached TF_OUTPUT_MAX
    ll_textbuf_t pending;    //  output not yet in the database
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

//  --- op.c: the operation: lock, rows, steps, the running child

char *tf_path_join (const char *a, const char *b);

//  Absolute path of path (relative to the current directory).
char *tf_absolute (const char *path);

int tf_mkdirs (const char *path, mode_t mode);

bool tf_file_exists (const char *path);


//  Write text to path with mode, atomically (temporary file + rename).
int tf_write_file (const char *path, const char *text, mode_t mode);

//  Array text for a text[] parameter: {"a","b"} (names are [A-Za-z0-9._-]).
char *tf_pg_array (zlist_t *names);

zlist_t *tf_names_new (void);

//  Whether the operation's terraform step destroys the whole fleet.
bool tf_all_go (const op_t *op);

//  Run a statement, clear the result; 0 or -1.
int tf_exec (self_t *self, const char *name, int n, const char *const *values);

void tf_release (self_t *self);

//  Take the lock that makes us the one allocator running terraform. 0 when
//  taken (stale operations of a stopped allocator are then failed),
//  TF_LOCK_BUSY with *busy = the running operation's id (0 if unknown), or
//  -1 when the database is unavailable.
int tf_acquire (self_t *self, int64_t *busy);

//  Once after start, when the database answers: fail what an allocator
//  killed mid-operation left running, so that operation does not show
//  "running" until someone launches again. If another allocator holds the
//  lock, its operation is live: nothing to do.
void tf_sweep (self_t *self);

void tf_tokens_destroy (zhash_t **tokens_p);

//  Mint a token for a VM being launched (or replaced), store its hash and
//  a new generation on the VM's row (the row is made when absent; an older
//  token of the name is revoked by the database's trigger), keep the token
//  in tokens for terraform.runtime.tfvars. 0 or -1.
int tf_mint (self_t *self, zhash_t *tokens, const char *name);

op_t *tf_op_new (int64_t id, const char *kind, const char *target);

void tf_op_destroy (op_t **op_p);

//  Finish the running operation: status row, lock, events.
void tf_op_end (self_t *self, bool ok);

void tf_op_fail (self_t *self, const char *reason);

//  Deadline of the short steps after the main one.
int64_t tf_after_deadline (self_t *self);

//  Start the operation just recorded: key, tfvars, module, then terraform.
void tf_op_begin (self_t *self);

//  The terraform part of an operation: key, tfvars, module, init, then the
//  main command.
void tf_op_terraform (self_t *self, op_t *op);

//  Record a new operation with its names in one transaction; 0 with the
//  id, or -1 (already answered).
int tf_op_create (self_t *self,
                  ll_request_t *req,
                  const char *kind,
                  int requested,
                  int total,
                  const char *who,
                  const char *target,
                  int64_t *id);

void tf_op_tick (self_t *self);

//  $TERM while terraform runs: interrupt it (terraform stops gracefully on
//  SIGINT), then kill; the operation is recorded as failed.
void tf_op_abort (self_t *self);

//  --- output.c: the operation's output lines, events, starting a step

void tf_publish (
    self_t *self, op_t *op, const char *kind, const char *a, const char *b);

void tf_publish_progress (self_t *self, op_t *op);

//  A line of our own in the output (what the allocator did).
void tf_say (self_t *self, op_t *op, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

void tf_flush (self_t *self, op_t *op);

//  A complete line: apply and destroy write JSON events on stdout (-json),
//  shown by their text and counted by what they say; any other line is
//  shown as it is. Control characters never reach the output.
void tf_stream_line (self_t *self, op_t *op, stream_t *stream);

//  The pipe's descriptor to poll, -1 when none.
int tf_stream_fd (op_t *op, stream_t *stream);

//  Read what the pipe has; false at end of file.
bool tf_stream_read (self_t *self, op_t *op, stream_t *stream);

//  AWS credentials are needed: the aws provider, or fleet state in S3.
bool tf_uses_aws (self_t *self);

//  Start argv as the operation's current step; shown is how the command
//  line appears in the output (nothing secret in it); extra_env
//  (NULL-terminated, or NULL) is added to the environment with the AWS
//  credentials.
int tf_op_spawn (self_t *self,
                 op_t *op,
                 step_t step,
                 const char *const *argv,
                 const char *shown,
                 const char *const *extra_env,
                 int64_t deadline_ms);

//  Run the operation's next terraform command: args after "-chdir=...".
int tf_op_run (self_t *self,
               op_t *op,
               step_t step,
               const char *const *args,
               int64_t deadline_ms);

//  --- workdir.c: the working directory: key, module links, backend, tfvars

//  The allocator's ed25519 key pair, made once with ssh-keygen.
int tf_ensure_key (self_t *self, op_t *op, char **public_key);

//  Point the working directory at the module's files (symlinks, refreshed
//  for every operation so module updates are seen).
int tf_link_module (self_t *self);

//  The state backend's files in the working directory: for s3 a backend
//  block (TF_BACKEND_TF) and its settings (TF_BACKEND_CONFIG: the bucket,
//  a key per deployment and environment, the lock); for local neither.
//  *id receives what identifies the backend (for the init marker). 0 or -1.
int tf_write_backend (self_t *self, char **id);

//  terraform.runtime.tfvars for the fleet as it should be after this
//  operation (the names being removed left out).
int tf_write_tfvars (self_t *self, op_t *op, const char *public_key);

//  Copy the tfvars to S3 (reference 2.4 step 9) when the bucket is in use:
//  the aws provider or state in S3. 0, or -1 with the reason in op->error
//  (the operation then fails, although terraform succeeded).
int tf_backup_tfvars (self_t *self, op_t *op);

//  --- fleet.c: after terraform: fleet rows, reboot, move, export-destroy

//  The n-th name of list (0-based), or NULL.
char *tf_nth (zlist_t *list, int n);

//  Reboot the next VM of a reboot-vm operation through the provider's
//  script (<module>/vm-reboot.sh NAME WORK_DIR): terraform/local restarts
//  the VM's agent, terraform/aws reboots the instance. When none is left
//  the operation ends: failed when any VM could not be rebooted.
void tf_reboot_continue (self_t *self, op_t *op);

//  After a replacement: each assigned student keeps the VM and gets a
//  fresh delivery (vm_redeliver says which codes are spent).
void tf_redeliver (self_t *self, op_t *op);

//  A move-vm's apply succeeded: the student of the old VM moves to the new
//  one, and the old name leaves the fleet, in one transaction.
int tf_move_student (self_t *self, op_t *op);

//  Names leave the fleet and their rows leave vms (archived first).
int tf_drop_names (self_t *self, zlist_t *names);

int tf_set_state (self_t *self, zlist_t *names, const char *state);

//  After `output -json`: Terraform timings, addresses and ports per VM.
void tf_store_outputs (self_t *self, op_t *op);

//  After a failure: names terraform holds stay (active), the others go.
//  If terraform's state cannot be read every name stays: keeping a name
//  can only keep or create a VM, never destroy one nobody asked about.
void tf_reconcile (self_t *self, op_t *op, bool state_known);

//  Tell the exporter its reader went away.
void tf_export_cancel (self_t *self, const char *id);

//  Ask the exporter for every VM's files, written to export.keep_dir.
void tf_export_begin (self_t *self, op_t *op);

//  One exchange with the exporter: the next part of the zip.
void tf_export_step (self_t *self, op_t *op);

#endif
