/*  Command lines: one description per program renders its --help, its
    --version and its manual page (--man, roff), so the three never drift
    apart. Errors and usage lines go to stderr; the exit codes every
    program shares are LL_EXIT_*. */
#ifndef LL_CLI_H
#define LL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#define LL_EXIT_OK      0  //  success
#define LL_EXIT_FAILURE 1  //  the work failed
#define LL_EXIT_USAGE   2  //  bad command line or setting

//  One entry of a list: an option, a subcommand, a variable, an exit code.
//  name: "--config FILE" (the first word is the name, the rest its
//  argument); help: one sentence or more, never a newline.
typedef struct {
    const char *name;
    const char *help;
} ll_cli_item_t;

typedef struct {
    const char *program;              //  "lablink-allocator"
    const char *summary;              //  one line, lower case, no period
    const char *const *usage;         //  synopsis lines (NULL-terminated)
    const char *description;          //  paragraphs separated by "\n\n"
    const ll_cli_item_t *commands;    //  subcommands ({NULL} ends), or NULL
    const ll_cli_item_t *options;     //  options ({NULL} ends), or NULL;
                                      //  --help, --version, --man follow
    const ll_cli_item_t *env;         //  environment variables, or NULL
    const ll_cli_item_t *exit_codes;  //  "0", "1", ... ({NULL} ends)
    const ll_cli_item_t *files;       //  files read or written, or NULL
    const char *see_also;             //  "lablink-agent(1)" or NULL
} ll_cli_t;

//  The version ("0.1.0") and the git commit the build came from
//  ("3f2a9c1", "3f2a9c1-dirty", or "unknown" outside a git checkout).
const char *ll_build_version (void);
const char *ll_build_commit (void);

//  --help: usage, description, every subcommand and option (the program's
//  own, then the standard ones), the environment and exit codes.
void ll_cli_help (const ll_cli_t *cli, FILE *out);

//  --version: "<program> <version> (commit <commit>)".
void ll_cli_version (const ll_cli_t *cli, FILE *out);

//  --man: the manual page in roff (man(7) macros).
void ll_cli_man (const ll_cli_t *cli, FILE *out);

//  The options every program answers alike: -h/--help, --version and
//  --man print and return true (the caller exits LL_EXIT_OK); any other
//  argument returns false.
bool ll_cli_standard (const ll_cli_t *cli, const char *arg);

//  A refused command line: "<program>: <why>", the usage lines and a
//  pointer to --help on stderr; returns LL_EXIT_USAGE.
int ll_cli_refuse (const ll_cli_t *cli, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

#endif
