/*  Pure helpers of the terraform actor, kept apart so unit tests reach them
    without a child process: cleaning terraform's output lines, rendering
    terraform.runtime.tfvars (HCL strings escaped, templates neutralised),
    reading `terraform output -json` and `terraform state list`, and the
    few rules that turn config into module variables. */
#ifndef LL_ACTOR_TFVARS_H
#define LL_ACTOR_TFVARS_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/config.h"

#define LL_TF_LINE_MAX 2048  //  bytes kept of one output line

//  Remove ANSI escape sequences and control characters (tab kept) from
//  line in place, cap it at LL_TF_LINE_MAX bytes; returns the new length.
size_t ll_tf_clean_line (char *line, size_t len);

//  What an event says about a VM resource (for progress counts).
typedef enum {
    LL_TF_LINE_OTHER = 0,
    LL_TF_LINE_CREATED,   //  apply_complete of <type>.vm["name"], create
    LL_TF_LINE_DESTROYED  //  apply_complete of <type>.vm["name"], delete
} ll_tf_line_t;

//  One line of `terraform apply|destroy -json` (one JSON event per line):
//  the text shown to people in text (its @message; a diagnostic's detail
//  follows on the next lines), capped at size, and in *kind what it means
//  for progress. -1 when line is not such an event (shown as it is).
int ll_tf_event (const char *line, char *text, size_t size, ll_tf_line_t *kind);

//  The variables written to terraform.runtime.tfvars.json (and, where
//  upstream's S3 layout wants it, terraform.runtime.tfvars in HCL).
typedef struct {
    //  upstream's (reference 2.4 step 6)
    const char *allocator_ip, *allocator_url, *machine_type, *image_name;
    const char *repository, *client_ami_id, *subject_software;
    const char *resource_suffix, *cloud_init_output_log_group, *region;
    const char *startup_on_error;
    bool gpu_support;
    //  ours
    const char *const *names;   //  the fleet, in order
    const char *const *tokens;  //  agent token of each name ("" none)
    size_t count;               //  entries in names and tokens
    const char *ssh_public_key;
    const char *startup_script;  //  custom script content, NULL = none
    const char *agent_bin;       //  local provider only, NULL = omit
    const char *crd_start_host;  //  local provider only, NULL = omit
} ll_tfvars_t;

//  terraform.runtime.tfvars.json: JSON (jansson), whose strings terraform
//  reads literally (new string, NULL when out of memory).
char *ll_tfvars_render_json (const ll_tfvars_t *vars);

//  The same variables in HCL, for upstream's S3 copy (new string).
char *ll_tfvars_render (const ll_tfvars_t *vars);

//  The token of VM name in the agent_tokens of a file that
//  ll_tfvars_render_json (a JSON object) or ll_tfvars_render (HCL, from
//  before) wrote, into out: 0, or -1 when absent.
int
ll_tfvars_token_of (const char *text, const char *name, char *out, size_t size);

//  Append text as an HCL quoted string to out (a memstream).
void ll_tf_hcl_string (void *out, const char *text);

//  One VM as `terraform output -json` describes it.
typedef struct {
    char *name;        //  VM name
    char *start_time;  //  RFC 3339, NULL when unknown
    char *end_time;    //  RFC 3339, NULL when unknown
    double seconds;    //  apply duration, -1 when unknown
    char *address;     //  address (public IP or loopback), NULL
    int ssh_port;      //  0 when unknown
} ll_tf_vm_t;

//  Parse `terraform output -json`: instance_terraform_apply_times,
//  vm_addresses, vm_ssh_ports. 0 with a new array (maybe empty), or -1
//  with the reason.
int ll_tf_parse_outputs (const char *json,
                         size_t len,
                         ll_tf_vm_t **vms,
                         size_t *count,
                         char *error,
                         size_t errsize);

void ll_tf_vms_free (ll_tf_vm_t **vms, size_t count);

//  True when `terraform state list` output holds the VM resource of name
//  (terraform_data.vm["name"] or aws_instance.vm["name"]).
bool ll_tf_state_has_vm (const char *state_list, const char *name);

//  Seconds since the epoch of an RFC 3339 UTC time ("...Z"), -1 if bad.
long long ll_tf_parse_time (const char *text);

//  Whether an EC2 instance type has an NVIDIA GPU (g*, p* families).
bool ll_tf_gpu_type (const char *machine_type);

//  The VM name of ordinal n: lablink-vm-<environment>-<n>. Into out.
int ll_tf_vm_name (const ll_config_t *config, int n, char *out, size_t size);

//  The allocator URL told to VMs (reference 4.5 with L's ALLOCATOR_FQDN):
//  app.public_url, else ALLOCATOR_FQDN, else for provider local
//  http://<app.listen>, else scheme + (DNS name or ALLOCATOR_PUBLIC_IP).
//  NULL when nothing is known ("Allocator outputs not found.").
char *ll_tf_allocator_url (const ll_config_t *config);

#endif
