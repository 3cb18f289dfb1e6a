/*  One VM's side of an export: a thread that connects to the VM's sshd
    (libssh2, ed25519 client key, host key checked against the pin:
    actors/exporter/fetch_job.h), walks the data folder over SFTP
    (actors/exporter/sftp_walk.h) or reads the files inside the client
    container (actors/exporter/container.h), and streams every matching
    file to the exporter over an inproc PAIR socket.

    Messages to the exporter (frames are strings unless marked):
      HOSTKEY type base64 sha256   first contact (no pin yet): pin this key
      BEGIN relpath mtime size     a file starts (relpath: '/'-separated)
      DATA <bytes>                 its next bytes
      END sha256hex bytes note     it ends; note "" or why it is incomplete
      SKIP relpath size reason     a file left out (a cap)
      DONE                         the VM is finished
      FAIL reason                  the VM failed (after any END)
    The exporter reads only one VM's file at a time; the socket's small
    high-water mark bounds what each thread holds. */
#ifndef LL_EXPORTER_FETCH_H
#define LL_EXPORTER_FETCH_H

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define LL_FETCH_CHUNK     (128 * 1024)  //  bytes per DATA message
#define LL_FETCH_HWM       4             //  messages queued per thread
#define LL_FETCH_DEPTH_MAX 32            //  folder depth walked

//  What every fetch of one export shares (owned by the exporter).
typedef struct {
    atomic_bool cancel;             //  set: every thread stops soon
    atomic_int_fast64_t bytes;      //  bytes reserved against the cap
    atomic_int files;               //  files reserved against the cap
    int64_t max_total_bytes;        //  export.max_total_bytes
    int64_t max_file_bytes;         //  export.max_file_bytes
    int max_files;                  //  export.max_files
    int timeout_ms;                 //  export.timeout_s
    const char *user;               //  export.ssh_user
    const char *key_pem;            //  the client private key
    size_t key_len;                 //  bytes in key_pem
    const char *key_file;           //  its path (fallback loader)
    const char *data_dir;           //  where to look
    const char *extension;          //  machine.extension
    bool container;                 //  files are in the client container
    const char *container_command;  //  export.container_command
} ll_fetch_shared_t;

//  One VM's fetch.
typedef struct {
    ll_fetch_shared_t *shared;  //  not owned
    char *hostname;             //  the VM
    char *address;              //  where its sshd is
    int port;                   //  its port
    char *pinned;               //  base64 of the pinned host key, or NULL
    void *pair;                 //  to the exporter (used by the thread)
    pthread_mutex_t fd_lock;    //  guards fd (the exporter may shut it)
    int fd;                     //  the TCP socket while connected, or -1
    pthread_t thread;           //  runs ll_fetch_run
    bool running;               //  thread started and not joined
} ll_fetch_t;

//  The thread body (arg: ll_fetch_t *).
void *ll_fetch_run (void *arg);

//  From the exporter's thread: make a blocked fetch fail at once.
void ll_fetch_interrupt (ll_fetch_t *fetch);

//  Make the SSH library ready (call once, before any fetch thread).
int ll_fetch_global_init (void);
void ll_fetch_global_exit (void);

#endif
