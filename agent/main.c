/*  lablink-agent: the program on every client VM.

        lablink-agent run
        lablink-agent status <initializing|running|error|unknown|rebooting>
        lablink-agent metrics cloud-init --start S --end E
        lablink-agent version

    Configuration comes from the environment (agent/settings.h). Exit
    codes: 0 success, 1 failure, 2 usage or missing setting. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "runtime/log.h"

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: lablink-agent run\n"
             "       lablink-agent status "
             "<initializing|running|error|unknown|rebooting>\n"
             "       lablink-agent metrics cloud-init --start S --end E\n"
             "       lablink-agent version\n");
}

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
    if (argc < 2) {
        s_usage ();
        return 2;
    }
    const char *command = argv[1];
    if (strcmp (command, "version") == 0) {
        printf ("lablink-agent %s\n", LABLINK_VERSION);
        return 0;
    }
    if (strcmp (command, "-h") == 0 || strcmp (command, "--help") == 0) {
        s_usage ();
        return 0;
    }
    long start = 0, end = 0;
    if (strcmp (command, "status") == 0) {
        if (argc != 3 || !agent_status_valid (argv[2])) {
            fprintf (stderr, "lablink-agent: status must be one of "
                             "initializing, running, error, unknown, "
                             "rebooting\n");
            return 2;
        }
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
        if (!ok || start == 0 || end == 0 || end < start) {
            fprintf (stderr, "lablink-agent: usage: lablink-agent metrics "
                             "cloud-init --start S --end E (epoch seconds, "
                             "E >= S)\n");
            return 2;
        }
    }
    else if (strcmp (command, "run") != 0 || argc != 2) {
        s_usage ();
        return 2;
    }

    const char *level = getenv ("LABLINK_LOG_LEVEL");
    if (level && ll_log_level_parse (level) >= 0)
        ll_log_set_level ((ll_log_level_t) ll_log_level_parse (level));

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
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGINT);
    if (strcmp (command, "run") == 0)
        pthread_sigmask (SIG_BLOCK, &set, NULL);
    if (agent_client_global_init () != 0) {
        fprintf (stderr, "lablink-agent: cannot initialise libcurl\n");
        free (agent);
        return 1;
    }
    int rc;
    if (strcmp (command, "run") == 0)
        rc = agent_run_main (agent);
    else if (strcmp (command, "status") == 0)
        rc = agent_status_main (agent, argv[2]);
    else
        rc = agent_metrics_main (agent, start, end);
    agent_client_global_fini ();
    agent_stop_fini (&agent->stop);
    free (agent);
    return rc;
}
