# What every client-VM module (terraform/aws, terraform/local) has alike;
# each links this file (fleet.tf -> ../common/fleet.tf, and packaging/install
# copies it into each): the fleet and the variables the allocator writes
# into terraform.runtime.tfvars.json, Terraform's own clock around each VM
# (reference 3.6) and upstream's outputs of it. The module defines
# local.vm_ids (VM name -> its VM resource's id): the end is taken after it.

variable "vm_names" {
  description = "The fleet: one VM per name (for_each, never a count)."
  type        = list(string)
  default     = []
  validation {
    condition = alltrue([
      for n in var.vm_names : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9]+$", n))
    ])
    error_message = "Every VM name must end with -<number>."
  }
}

variable "agent_tokens" {
  description = "VM name -> its agent's API token."
  type        = map(string)
  default     = {}
  sensitive   = true
}

# The allocator writes these for every provider; a module may ignore some.
variable "subject_software" {
  type    = string
  default = "sleap"
}

variable "ssh_public_key" {
  description = "The allocator's ed25519 public key (authorized on every VM)."
  type        = string
  default     = ""
}

variable "allocator_ip" {
  type    = string
  default = ""
}

variable "image_name" {
  type    = string
  default = ""
}

variable "repository" {
  type    = string
  default = ""
}

variable "client_ami_id" {
  type    = string
  default = ""
}

variable "gpu_support" {
  type    = string
  default = "false"
}

variable "cloud_init_output_log_group" {
  type    = string
  default = ""
}

variable "startup_on_error" {
  type    = string
  default = "continue"
}

# Start before each VM (it depends on this), end after it is up;
# ignore_changes keeps the first value for good.
resource "terraform_data" "start" {
  for_each = local.names
  input    = timestamp()
  lifecycle {
    ignore_changes = [input]
  }
}

resource "terraform_data" "end" {
  for_each         = local.names
  triggers_replace = local.vm_ids[each.key]
  input            = timestamp()
  lifecycle {
    ignore_changes = [input]
  }
}

locals {
  names = toset(var.vm_names)
  times = {
    for n in var.vm_names : n => {
      start = terraform_data.start[n].output
      end   = terraform_data.end[n].output
    }
  }
  # From the seconds of the day of the RFC 3339 UTC timestamps
  seconds = {
    for n, t in local.times : n => (
      tonumber(substr(t.end, 11, 2)) * 3600 + tonumber(substr(t.end, 14, 2)) * 60 + tonumber(substr(t.end, 17, 2))
      -tonumber(substr(t.start, 11, 2)) * 3600 - tonumber(substr(t.start, 14, 2)) * 60 - tonumber(substr(t.start, 17, 2))
      + (substr(t.end, 0, 10) != substr(t.start, 0, 10) ? 86400 : 0)
    )
  }
}

output "vm_instance_names" {
  value = var.vm_names
}

output "instance_terraform_apply_times" {
  value = {
    for n, t in local.times : n => {
      seconds    = local.seconds[n]
      formatted  = format("%02dh:%02dm:%02ds", floor(local.seconds[n] / 3600), floor(local.seconds[n] % 3600 / 60), local.seconds[n] % 60)
      start_time = t.start
      end_time   = t.end
    }
  }
}

output "terraform_apply_avg_seconds" {
  value = length(var.vm_names) > 0 ? sum(values(local.seconds)) / length(var.vm_names) : 0
}

output "terraform_apply_max_seconds" {
  value = length(var.vm_names) > 0 ? max(values(local.seconds)...) : 0
}

output "terraform_apply_min_seconds" {
  value = length(var.vm_names) > 0 ? min(values(local.seconds)...) : 0
}
