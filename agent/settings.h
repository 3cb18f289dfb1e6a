/*  lablink-agent settings, read once from the environment (the names
    upstream's container uses, reference 4.4, plus LABLINK_* additions).

    Required for every command that talks to the allocator: VM_NAME,
    API_TOKEN, and ALLOCATOR_URL or ALLOCATOR_HOST. Base URL rule
    (reference 4.4): ALLOCATOR_URL if set, trailing '/' removed, "://."
    collapsed to "://", a leading '.' removed; else
    http://ALLOCATOR_HOST[:ALLOCATOR_PORT].

    Test knobs: LABLINK_INTERVAL_SCALE (a factor, default 1) multiplies every
    period, backoff and jitter, so tests run the same loops in seconds. */
#ifndef LL_AGENT_SETTINGS_H
#define LL_AGENT_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_URL_MAX      1024  //  longest allocator base URL
#define AGENT_NAME_MAX     256   //  longest VM_NAME
#define AGENT_TOKEN_MAX    512   //  longest API_TOKEN
#define AGENT_LOG_FILES    16    //  most files shipped
#define AGENT_PATH_MAX     1024  //  longest configured path
#define AGENT_SOFTWARE_MAX 256   //  longest SUBJECT_SOFTWARE

typedef enum {
    AGENT_TRANSPORT_HTTP = 0,
    AGENT_TRANSPORT_ZMQ = 1,
    AGENT_TRANSPORT_PG = 2
} agent_transport_kind_t;

//  One shipped file: its stream name and its path.
typedef struct {
    char stream[16];            //  cloud_init | docker | agent
    char path[AGENT_PATH_MAX];  //  the file followed
} agent_log_file_t;

typedef struct {
    char vm_name[AGENT_NAME_MAX];  //  VM_NAME: this VM's hostname
    char token
        [AGENT_TOKEN_MAX];  //  API_TOKEN or API_TOKEN_FILE's (never logged)
    char base_url[AGENT_URL_MAX];            //  sanitised allocator base URL
    char software[AGENT_SOFTWARE_MAX];       //  SUBJECT_SOFTWARE ("" = none)
    agent_transport_kind_t transport;        //  LABLINK_TRANSPORT
    char start_host[AGENT_PATH_MAX];         //  LABLINK_CRD_START_HOST
    char nvidia_smi[AGENT_PATH_MAX];         //  LABLINK_NVIDIA_SMI ("" = none)
    char tutorial_repo[AGENT_PATH_MAX];      //  TUTORIAL_REPO_TO_CLONE or ""
    char startup_script[AGENT_PATH_MAX];     //  LABLINK_STARTUP_SCRIPT
    bool startup_fail;                       //  STARTUP_ON_ERROR=fail
    char home[AGENT_PATH_MAX];               //  HOME (Desktop lives there)
    bool home_set;                           //  HOME was given (not /tmp)
    char skeleton_dir[AGENT_PATH_MAX];       //  LABLINK_SKELETON_DIR
    char session_user[64];                   //  LABLINK_SESSION_USER or ""
    char proc_root[AGENT_PATH_MAX];          //  LABLINK_PROC_ROOT (/proc)
    char disk_path[AGENT_PATH_MAX];          //  LABLINK_DISK_PATH (/)
    char state_dir[AGENT_PATH_MAX];          //  LABLINK_STATE_DIR
    agent_log_file_t logs[AGENT_LOG_FILES];  //  LABLINK_LOG_FILES
    int log_count;                           //  entries in logs
    char zmq_endpoint[AGENT_URL_MAX];        //  LABLINK_ZMQ_ENDPOINT
    char zmq_server_key[64];                 //  LABLINK_ZMQ_SERVER_KEY (Z85)
    char pg_conninfo[AGENT_URL_MAX];         //  LABLINK_PG_CONNINFO
    char pg_channel[64];                     //  LABLINK_PG_CHANNEL
    double scale;                            //  LABLINK_INTERVAL_SCALE
    int inuse_ms;                            //  in-use scan period (20 s)
    int gpu_ms;                              //  GPU probe period (20 s)
    int gpu_absent_ms;         //  GPU probe period while N/A (300 s)
    int heartbeat_ms;          //  heartbeat period (30 s)
    int jitter_ms;             //  added 0..jitter to scan periods (5 s)
    int backoff_ms;            //  first retry delay (1 s)
    int backoff_max_ms;        //  longest retry delay (60 s)
    int log_flush_ms;          //  batch timer (1 s)
    int log_batch_lines;       //  lines per batch (500)
    int log_queue_max;         //  lines held while the allocator is away
    int poll_timeout_s;        //  /vm_startup read timeout (75 s)
    int relay_hold_s;          //  relay: re-polls of a 204 for at most (300 s)
    int request_timeout_s;     //  other calls (15 s)
    int start_host_timeout_s;  //  start-host timeout (60 s)
    int gpu_timeout_s;         //  nvidia-smi timeout (10 s)
} agent_settings_t;

//  Read the environment into self. need_allocator: VM_NAME, API_TOKEN and a
//  URL are required. On error writes a one-line message naming the variable
//  into error and returns -1.
int agent_settings_load (agent_settings_t *self,
                         bool need_allocator,
                         char *error,
                         size_t errsize);

//  The next retry delay after *current (0 at first) with self's backoff:
//  agent_backoff_next (agent/stop.h).
int64_t agent_settings_backoff (const agent_settings_t *self, int64_t *current);

//  Apply reference 4.4 to an ALLOCATOR_URL value. 0, or -1 when it does not
//  fit in size or is empty after cleaning.
int agent_url_sanitize (const char *url, char *out, size_t size);

//  The base URL from ALLOCATOR_URL / ALLOCATOR_HOST / ALLOCATOR_PORT values
//  (any may be NULL). 0 or -1 when neither URL nor host is given.
int agent_base_url (const char *url,
                    const char *host,
                    const char *port,
                    char *out,
                    size_t size);

//  Parse LABLINK_LOG_FILES ("[stream=]path,..."). 0 or -1 (bad stream).
int agent_log_files_parse (const char *value,
                           agent_log_file_t *files,
                           int max,
                           int *count);

#endif
