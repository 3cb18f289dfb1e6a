/*  Run a program with an argv vector (posix_spawn, never a shell): optional
    bytes on its stdin, its stdout and stderr captured (capped), a timeout
    after which its process group is killed, signals reset to default. */
#ifndef LL_AGENT_SPAWN_H
#define LL_AGENT_SPAWN_H

#include <stdbool.h>

#include "agent/stop.h"

#define AGENT_OUTPUT_MAX 4096  //  captured output kept

typedef struct {
    int exit_code;   //  exit status; 128 + signal when killed; -1 not run
    bool not_found;  //  the program could not be executed (or exit 127)
    bool timed_out;  //  killed after the timeout (or on stop)
    char output[AGENT_OUTPUT_MAX];  //  first bytes of stdout + stderr
    size_t output_len;              //  bytes in output
} agent_run_t;

//  Run argv[0] (searched on PATH when it has no '/'). envp NULL: inherit the
//  environment; extra_env (NULL-terminated "NAME=value" list, may be NULL)
//  is added or overrides. dir: working directory or NULL. input: written to
//  stdin then closed (NULL: empty stdin). Returns 0 when the program ran
//  and exited 0, else -1; result says why.
int agent_run (char *const argv[],
               char *const extra_env[],
               const char *input,
               int timeout_ms,
               agent_stop_t *stop,
               agent_run_t *result);

#endif
