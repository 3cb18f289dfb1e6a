/*  lablink-agent: the program on every client VM. The command line is
    s_cli below (also its --help and manual page); configuration comes
    from the environment (agent/settings.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/relay.h"
#include "runtime/cli.h"
#include "runtime/log.h"

static const char *const s_usage[] = {
    "run",
    "status initializing|running|error|unknown|rebooting",
    "metrics cloud-init --start S --end E",
    "relay [--listen 127.0.0.1:PORT]",
    "version | --help | --version | --man",
    NULL,
};

static const ll_cli_item_t s_commands[] = {
    {"run",
     "The container start sequence (report initializing, clone the tutorial "
     "repository, run the custom startup script, report running and the "
     "container timings), then every loop until SIGTERM: assignment "
     "(start-host), in-use, GPU health, heartbeat, log shipping."},
    {"status VALUE",
     "POST /api/vm-status once (retried up to 15 s): initializing, running, "
     "error, unknown or rebooting."},
    {"metrics cloud-init --start S --end E",
     "POST the cloud-init start, end (epoch seconds) and duration to "
     "/api/vm-metrics/<VM_NAME> (retried up to 30 s)."},
    {"relay [--listen 127.0.0.1:PORT]",
     "Serve the VM routes of the allocator on a loopback address (default "
     "127.0.0.1:5000) and forward each request to ALLOCATOR_URL with this "
     "VM's API_TOKEN, so an old client image that sends no token works "
     "unchanged; a 204 from /vm_startup is polled again, so the old client "
     "sees one long wait. Only loopback addresses are accepted."},
    {"version", "Print the version (as --version)."},
    {NULL, NULL},
};

static const ll_cli_item_t s_options[] = {
    {"--listen ADDRESS:PORT",
     "relay only: where to listen; must be a loopback address."},
    {NULL, NULL},
};

static const ll_cli_item_t s_env[] = {
    {"VM_NAME", "This VM's hostname (required)."},
    {"API_TOKEN", "This VM's bearer token (required); never logged."},
    {"ALLOCATOR_URL",
     "The allocator's base URL (or ALLOCATOR_HOST and ALLOCATOR_PORT)."},
    {"SUBJECT_SOFTWARE",
     "Substring looked for in process command lines (in-use)."},
    {"LABLINK_TRANSPORT", "http (default), zmq or pg."},
    {"LABLINK_CRD_START_HOST",
     "Google's start-host (default "
     "/opt/google/chrome-remote-desktop/start-host)."},
    {"LABLINK_NVIDIA_SMI", "nvidia-smi to probe; empty reports N/A."},
    {"LABLINK_LOG_FILES",
     "Comma-separated [stream=]path of logs to ship (cloud_init, docker, "
     "agent)."},
    {"TUTORIAL_REPO_TO_CLONE", "Cloned into $HOME/Desktop by run."},
    {"LABLINK_STARTUP_SCRIPT, STARTUP_ON_ERROR",
     "The custom startup script (default "
     "/docker_scripts/custom-startup.sh) and continue or fail."},
    {"LABLINK_ZMQ_ENDPOINT, LABLINK_ZMQ_SERVER_KEY",
     "The gateway and its CURVE public key (zmq transport)."},
    {"LABLINK_PG_CONNINFO, LABLINK_PG_CHANNEL",
     "PostgreSQL and its channel (pg transport, trusted networks only)."},
    {"LABLINK_POLL_TIMEOUT_S, LABLINK_REQUEST_TIMEOUT_S",
     "Client-side bounds of one long poll (75 s) and of every other call "
     "(15 s)."},
    {"LABLINK_LOG_LEVEL, LABLINK_LOG_FORMAT",
     "debug, info, warn or error; text or json (one JSON object per line)."},
    {"LABLINK_STATE_DIR", "Where log positions survive a restart."},
    {NULL, NULL},
};

static const ll_cli_item_t s_exit_codes[] = {
    {"0", "Success; run and relay: stopped by SIGTERM or SIGINT."},
    {"1", "Failure: a report was not accepted, the startup script failed "
          "with STARTUP_ON_ERROR=fail, the relay cannot listen."},
    {"2", "Usage: an unknown command or option, a bad value, or a required "
          "setting missing."},
    {NULL, NULL},
};

static const ll_cli_t s_cli = {
    .program = "lablink-agent",
    .summary = "the LabLink agent on every client VM",
    .usage = s_usage,
    .description =
        "Replaces upstream's subscribe, update_inuse_status, check_gpu, "
        "heartbeat and log shipper with one program. Every call to the "
        "allocator carries Authorization: Bearer API_TOKEN. Settings come "
        "from the environment; docs/agent.md describes them all.",
    .commands = s_commands,
    .options = s_options,
    .env = s_env,
    .exit_codes = s_exit_codes,
    .see_also = "lablink-allocator(1)",
};

static int
s_parse_epoch (const char *text, long *value)
{
    if (!text || !*text)
        return -1;
    char *end;
    long n = strtol (text, &end, 10);
    if (*end || n < 0)
        return -1;
    *value = n;
    return 0;
}

int
main (int argc, char *argv[])
{
    if (argc < 2)
        return ll_cli_refuse (&s_cli, "a command is required");
    const char *command = argv[1];
    if (strcmp (command, "version") == 0) {
        if (argc != 2)
            return ll_cli_refuse (&s_cli, "unexpected argument '%s'", argv[2]);
        command = "--version";
    }
    if (ll_cli_standard (&s_cli, command))
        return LL_EXIT_OK;
    long start = 0, end = 0;
    const char *listen = "127.0.0.1:5000";
    if (strcmp (command, "status") == 0) {
        if (argc != 3)
            return ll_cli_refuse (&s_cli, "status takes exactly one value");
        if (!agent_status_valid (argv[2]))
            return ll_cli_refuse (&s_cli, "status must be one of initializing, "
                                          "running, error, unknown, rebooting");
    }
    else if (strcmp (command, "metrics") == 0) {
        bool ok = argc == 7 && strcmp (argv[2], "cloud-init") == 0;
        for (int i = 3; ok && i + 1 < argc; i += 2) {
            if (strcmp (argv[i], "--start") == 0)
                ok = s_parse_epoch (argv[i + 1], &start) == 0;
            else if (strcmp (argv[i], "--end") == 0)
                ok = s_parse_epoch (argv[i + 1], &end) == 0;
            else
                ok = false;
        }
        if (!ok || start == 0 || end == 0 || end < start)
            return ll_cli_refuse (&s_cli,
                                  "metrics cloud-init --start S --end E "
                                  "(epoch seconds, E >= S)");
    }
    else if (strcmp (command, "relay") == 0) {
        for (int i = 2; i < argc; i++) {
            if (strcmp (argv[i], "--listen") == 0 && i + 1 < argc)
                listen = argv[++i];
            else if (strncmp (argv[i], "--listen=", 9) == 0)
                listen = argv[i] + 9;
            else
                return ll_cli_refuse (&s_cli, "unknown relay option '%s'",
                                      argv[i]);
        }
        if (!agent_relay_address_ok (listen))
            return ll_cli_refuse (&s_cli,
                                  "--listen must be a loopback address and a "
                                  "port (127.0.0.1:PORT or [::1]:PORT), not "
                                  "'%s'",
                                  listen);
    }
    else if (strcmp (command, "run") == 0) {
        if (argc != 2)
            return ll_cli_refuse (&s_cli, "unexpected argument '%s'", argv[2]);
    }
    else if (command[0] == '-')
        return ll_cli_refuse (&s_cli, "unknown option '%s'", command);
    else
        return ll_cli_refuse (&s_cli, "unknown command '%s'", command);

    const char *level = getenv ("LABLINK_LOG_LEVEL");
    if (level && ll_log_level_parse (level) >= 0)
        ll_log_set_level ((ll_log_level_t) ll_log_level_parse (level));
    const char *format = getenv ("LABLINK_LOG_FORMAT");
    if (format && ll_log_format_parse (format) >= 0)
        ll_log_set_format ((ll_log_format_t) ll_log_format_parse (format));

    agent_t *agent = calloc (1, sizeof *agent);
    if (!agent)
        return 1;
    char error[256];
    if (agent_settings_load (&agent->settings, true, error, sizeof error)
        != 0) {
        fprintf (stderr, "%s\n", error);
        free (agent);
        return 2;
    }
    ll_log_add_secret (agent->settings.token);
    agent_stop_init (&agent->stop);
    //  Before any thread: signals reach only the agent's signal thread,
    //  and a peer closing a pipe must not kill us
    signal (SIGPIPE, SIG_IGN);
    if (strcmp (command, "run") == 0 || strcmp (command, "relay") == 0)
        agent_stop_block_signals ();
    if (agent_client_global_init () != 0) {
        fprintf (stderr, "lablink-agent: cannot initialise libcurl\n");
        free (agent);
        return 1;
    }
    int rc;
    if (strcmp (command, "run") == 0)
        rc = agent_run_main (agent);
    else if (strcmp (command, "relay") == 0)
        rc = agent_relay_main (agent, listen);
    else if (strcmp (command, "status") == 0)
        rc = agent_status_main (agent, argv[2]);
    else
        rc = agent_metrics_main (agent, start, end);
    agent_client_global_fini ();
    agent_stop_fini (&agent->stop);
    free (agent);
    return rc;
}
