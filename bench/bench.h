/*  lablink-bench: load generator. One executable; each scenario is a
    function in bench/<scenario>.c listed in the table of bench/main.c. */
#ifndef LL_BENCH_H
#define LL_BENCH_H

typedef int (ll_bench_fn) (int argc, char **argv);

//  Scenarios (one line each in bench/main.c)
int ll_bench_export (int argc, char **argv);

#endif
