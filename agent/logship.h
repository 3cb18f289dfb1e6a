/*  Log shipping: follow the configured files (rotation-safe: a new inode is
    reopened from its start after the old file is drained, a truncated file
    is read again from its start), queue complete lines, and post them to
    /api/vm-logs in batches (at most log_batch_lines lines, or whatever is
    queued once the oldest line waited log_flush_ms).

    Batch shape (the brief's agent batch):
        {"log_group":"lablink-<stream>","log_stream":"<VM_NAME>",
         "stream":"cloud_init|docker|agent","source":"<16 hex>",
         "seq":<n>,"messages":[...]}
    source is random per agent process and file, seq counts 1,2,3... per
    source. A batch keeps its seq until the allocator accepts it, so retries
    are idempotent on the server (no loss, no duplicate). While the
    allocator is away the queue is bounded (lines and bytes): the oldest
    lines are dropped and the next batch starts with a notice counting
    them.

    Positions survive a restart of the agent: after each accepted batch the
    source, its seq and where the batch ended in the file (device, inode,
    offset) are saved in $LABLINK_STATE_DIR/logs.state (default
    $HOME/.lablink-agent). A restarted agent that finds the same file (same
    inode, not shorter) resumes there with the same source and the next
    seq, so nothing is shipped twice; otherwise it starts the file afresh
    under a new source. */
#ifndef LL_AGENT_LOGSHIP_H
#define LL_AGENT_LOGSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/transport.h"

#define AGENT_LINE_MAX        8192               //  longer lines are split
#define AGENT_QUEUE_BYTES_MAX (8 * 1024 * 1024)  //  bytes queued per file

//  --- a bounded FIFO of lines ---------------------------------------------
typedef struct agent_lines agent_lines_t;

//  Where a line ends in its file (to resume there after a restart).
typedef struct {
    uint64_t dev;    //  the file's device
    uint64_t ino;    //  the file's inode (0: no position)
    int64_t offset;  //  bytes of the file up to and with this line
} agent_mark_t;

agent_lines_t *agent_lines_new (int max_lines, size_t max_bytes);
void agent_lines_destroy (agent_lines_t **self_p);

//  Append a line (len bytes, cut at AGENT_LINE_MAX, invalid UTF-8 replaced),
//  dropping the oldest lines when full.
void agent_lines_push (agent_lines_t *self, const char *line, size_t len);

//  The same, remembering where the line ends in its file.
void agent_lines_push_at (agent_lines_t *self,
                          const char *line,
                          size_t len,
                          agent_mark_t mark);

//  The mark of the queued line at index (0 = oldest); ino 0 when none.
agent_mark_t agent_lines_mark (agent_lines_t *self, int index);

int agent_lines_count (agent_lines_t *self);

//  Lines dropped since the last batch took the notice.
uint64_t agent_lines_dropped (agent_lines_t *self);

//  Remove up to max lines (a drop notice first when lines were dropped)
//  and return them as a batch body (caller frees), or NULL when empty.
//  *taken receives the number of messages in the batch.
char *agent_lines_batch (agent_lines_t *self,
                         int max,
                         const char *vm_name,
                         const char *stream,
                         const char *source,
                         int64_t seq,
                         int *taken);

//  --- the shipper ------------------------------------------------------------
typedef struct agent_shipper agent_shipper_t;

//  Posts through transport (not owned).
agent_shipper_t *agent_shipper_new (agent_transport_t *transport);

//  One pass: read new lines, form due batches, post due batches (one
//  attempt each).
void agent_shipper_step (agent_shipper_t *self);

//  Read everything left (partial last lines too) and post it all, giving up
//  at deadline_ms (monotonic). Returns the number of lines not delivered.
int agent_shipper_flush (agent_shipper_t *self, int64_t deadline_ms);

//  Start the shipping thread; it flushes when stop is requested. 0 or -1.
int agent_shipper_start (agent_shipper_t *self);

//  Join the thread (after stop) and free.
void agent_shipper_destroy (agent_shipper_t **self_p);

#endif
