# Client VMs on AWS (reference section 6, rebuilt): one aws_instance per VM
# name (for_each), SSH only from the allocator, the allocator's own ed25519
# public key, user_data that reports to the allocator and runs the client
# container with lablink-agent.
#
# The allocator writes terraform.runtime.tfvars.json with upstream's variables
# (reference 2.4 step 6), the fleet's names and the agents' tokens. Extra
# settings can come from any *.auto.tfvars in the working directory.

# In fleet.tf: vm_names, agent_tokens and the variables every provider
# module takes alike (subject_software, ssh_public_key, allocator_ip,
# image_name, repository, client_ami_id, gpu_support,
# cloud_init_output_log_group, startup_on_error).

variable "allocator_url" {
  type = string
}

variable "allocator_cidr" {
  description = "Where SSH may come from (the allocator); empty = <allocator_ip>/32, and no SSH at all without either."
  type        = string
  default     = ""
}

variable "custom_startup_script" {
  description = "The custom client startup script (startup_script.path), carried base64-encoded to the VM."
  type        = string
  default     = ""
}

variable "cloudwatch_agent_url" {
  description = "Where user_data downloads the CloudWatch agent's .deb (only with a log group)."
  type        = string
  default     = "https://s3.amazonaws.com/amazoncloudwatch-agent/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb"
}

variable "agent_uid" {
  description = "uid of the client image's user (CLIENT_UID of packaging/docker/client): it alone may read the agent's token file."
  type        = number
  default     = 1000
}

variable "root_volume_gb" {
  type    = number
  default = 80
}

# --- upstream's variables (reference 2.4 step 6): accepted, mostly unused here ---

variable "machine_type" {
  type    = string
  default = "t2.medium"
}

variable "resource_suffix" {
  type    = string
  default = "client"
}

variable "region" {
  type    = string
  default = "us-west-2"
}

