/*  lablink-bench <scenario> [options]: see bench/bench.h. Every scenario
    prints what it measured and exits non-zero when a check failed. The
    options each scenario reads are listed in its table row, and anything
    else on the command line is refused before the scenario starts. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "runtime/cli.h"

//  Options of the scenarios built on bench/tbench.c (ll_tbench_parse)
#define S_TBENCH "--url= --config= --pid= --seconds= "

typedef struct {
    const char *name;     //  scenario name on the command line
    ll_bench_fn *fn;      //  its entry point
    const char *options;  //  "--name=" takes a value, "--name" is a flag
    const char *help;     //  one line
} s_scenario_t;

static const s_scenario_t s_scenarios[] = {
    {"claims", ll_bench_claims,
     "--url= --vms= --clients= --health-seconds= --prefix= --config=",
     "M free VMs, C concurrent HTTP clients claiming; claims/s, p50/p99, "
     "double bookings; GET /api/health rate"},
    {"burst", ll_bench_burst, "--url= --clients= --email-prefix=",
     "N barrier-synchronised claims; prints one outcome per claim"},
    {"deliver", ll_bench_deliver,
     "--url= --zmq-endpoint= --server-key= --zmq-agents= --http-agents= "
     "--prefix= --config= --post-acks --procs= --ready-timeout= --pid=",
     "N agents over ZeroMQ (over P processes) and M over HTTP waiting; "
     "claim-to-agent latency of those connected; allocator's PostgreSQL "
     "connections, RSS and CPU"},
    {"export", ll_bench_export,
     "--allocator= --dir= --files= --parallel= --size= --vms=",
     "N local sshd VMs x F files of S bytes through GET /api/scp-client; "
     "MB/s and the allocator's peak RSS"},
    {"logs", ll_bench_logs, S_TBENCH "--senders= --batch= --line-bytes=",
     "16 senders, 500-line batches of 100-byte lines: lines/s, stored == "
     "acknowledged, RSS"},
    {"logs-read", ll_bench_logs_read, S_TBENCH "--lines= --reads=",
     "newest 1,000 lines of a VM holding 1,000,000 lines: read time"},
    {"telemetry", ll_bench_telemetry,
     S_TBENCH "--agents= --conns= --warmup= --hz=",
     "10,000 simulated agents at 1 Hz: sustained rate and p99 latency"},
    {"startup", ll_bench_startup, "--allocator= --config= --log= --runs=",
     "exec the allocator N times: time to the first 200 on /api/health"},
};
#define S_SCENARIO_COUNT (sizeof s_scenarios / sizeof s_scenarios[0])

static const char *const s_usage[] = {
    "<scenario> [--option value ...]",
    "--help | --version | --man",
    NULL,
};

static const ll_cli_item_t s_options[] = {
    {"claims", "--url URL [--vms M] [--clients C] [--health-seconds S] "
               "[--prefix P] [--config FILE]"},
    {"burst", "--url URL [--clients N] [--email-prefix P]"},
    {"deliver", "--url URL [--zmq-endpoint E --server-key Z85] "
                "[--zmq-agents N] [--http-agents M] [--prefix P] "
                "[--config FILE] [--post-acks] [--procs P] "
                "[--ready-timeout S] [--pid PID]"},
    {"export", "[--allocator BIN] [--dir DIR] [--vms N] [--files F] "
               "[--size S] [--parallel P]"},
    {"logs", "--url URL --config FILE [--pid PID] [--seconds S] "
             "[--senders N] [--batch B] [--line-bytes L]"},
    {"logs-read", "--url URL --config FILE [--pid PID] [--lines N] "
                  "[--reads R]"},
    {"telemetry", "--url URL --config FILE [--pid PID] [--seconds S] "
                  "[--agents N] [--conns C] [--warmup W] [--hz H]"},
    {"startup", "--allocator BIN --config FILE [--runs N] [--log FILE]"},
    {NULL, NULL},
};

static const ll_cli_item_t s_exit_codes[] = {
    {"0", "The scenario ran and every check passed."},
    {"1", "A check failed (a double booking, a lost line, a goal missed) or "
          "the scenario could not run."},
    {"2", "The command line is wrong: an unknown scenario or option, or a "
          "missing value."},
    {NULL, NULL},
};

static const ll_cli_t s_cli = {
    .program = "lablink-bench",
    .summary = "load generator for the LabLink allocator",
    .usage = s_usage,
    .description = "Runs one scenario against a running allocator (or "
                   "starts its own, for export) and prints what it "
                   "measured. bench/run.sh and bench/report.sh drive them; "
                   "docs/performance.md has the figures.",
    .options = s_options,
    .exit_codes = s_exit_codes,
};

//  True when option (up to '=' when given "--name=value") is in the list;
//  *takes_value tells whether it needs a value.
static bool
s_known (const char *list, const char *option, size_t len, bool *takes_value)
{
    for (const char *p = list; *p;) {
        size_t word = strcspn (p, " ");
        size_t name = word && p[word - 1] == '=' ? word - 1 : word;
        if (name == len && strncmp (p, option, len) == 0) {
            *takes_value = name != word;
            return true;
        }
        p += word;
        while (*p == ' ')
            p++;
    }
    return false;
}

//  Refuse what the scenario does not read: 0, or the exit code.
static int
s_check (const ll_cli_t *cli,
         const s_scenario_t *scenario,
         int argc,
         char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr (arg, '=');
        size_t len = eq ? (size_t) (eq - arg) : strlen (arg);
        bool takes_value = false;
        if (strncmp (arg, "--", 2) != 0
            || !s_known (scenario->options, arg, len, &takes_value))
            return ll_cli_refuse (cli, "%s: unknown option '%s'",
                                  scenario->name, arg);
        if (eq)
            return ll_cli_refuse (cli, "%s: write '%.*s VALUE', not '%s'",
                                  scenario->name, (int) len, arg, arg);
        if (takes_value && ++i >= argc)
            return ll_cli_refuse (cli, "%s: option '%s' needs a value",
                                  scenario->name, arg);
    }
    return 0;
}

int
main (int argc, char **argv)
{
    //  The scenarios, listed by --help from the table
    ll_cli_item_t commands[S_SCENARIO_COUNT + 1] = {{NULL, NULL}};
    for (size_t i = 0; i < S_SCENARIO_COUNT; i++)
        commands[i] = (ll_cli_item_t){s_scenarios[i].name, s_scenarios[i].help};
    ll_cli_t cli = s_cli;
    cli.commands = commands;
    if (argc < 2)
        return ll_cli_refuse (&cli, "a scenario is required");
    if (ll_cli_standard (&cli, argv[1]))
        return LL_EXIT_OK;
    for (size_t i = 0; i < S_SCENARIO_COUNT; i++)
        if (strcmp (argv[1], s_scenarios[i].name) == 0) {
            int rc = s_check (&cli, &s_scenarios[i], argc, argv);
            return rc ? rc : s_scenarios[i].fn (argc - 1, argv + 1);
        }
    return ll_cli_refuse (&cli, "unknown scenario '%s'", argv[1]);
}
