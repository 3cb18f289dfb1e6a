# The local provider: every "VM" is a lablink-agent process plus an sshd on
# its own loopback address, started and stopped by local-exec provisioners
# of the built-in terraform_data resource (no provider to download).
#
# The allocator writes terraform.runtime.tfvars.json with upstream's variables
# (reference 2.4 step 6), the fleet's names and the agents' tokens. Extra
# settings (addresses, ports, binaries) can come from any *.auto.tfvars in
# the working directory.

# In fleet.tf: vm_names, agent_tokens and the variables every provider
# module takes alike (subject_software, ssh_public_key, allocator_ip,
# image_name, repository, client_ami_id, gpu_support,
# cloud_init_output_log_group, startup_on_error).

variable "allocator_url" {
  type    = string
  default = "http://127.0.0.1:5000"
}

variable "agent_bin" {
  description = "Path of lablink-agent."
  type        = string
  default     = "lablink-agent"
}

variable "crd_start_host" {
  description = "Stand-in for Chrome Remote Desktop's start-host."
  type        = string
  default     = ""
}

variable "nvidia_smi" {
  description = "nvidia-smi (or a stand-in) for the agent's GPU probe; empty = N/A."
  type        = string
  default     = ""
}

variable "address_prefix" {
  description = "First three octets of the VMs' loopback addresses: VM n listens on <prefix>.<n>."
  type        = string
  default     = "127.0.1"
}

variable "ssh_port" {
  type    = number
  default = 2222
}

variable "custom_startup_script" {
  description = "Accepted for the same tfvars as terraform/aws; not run locally."
  type        = string
  default     = ""
}

variable "vms_dir" {
  description = "Where the VMs' folders live (the \"machines\"); empty = <working dir>/vms. With the state in S3, keep it outside the working directory so that another allocator can still stop them."
  type        = string
  default     = ""
}

# --- upstream's variables (reference 2.4 step 6): accepted, mostly unused here ---

variable "machine_type" {
  type    = string
  default = "local"
}

variable "resource_suffix" {
  type    = string
  default = "dev"
}

variable "region" {
  type    = string
  default = "local"
}

