terraform {
  required_version = ">= 1.4"
}

locals {
  names   = toset(var.vm_names)
  vms_dir = var.vms_dir != "" ? var.vms_dir : "${abspath(path.root)}/vms"
  # VM "lablink-vm-dev-3" listens on <prefix>.3
  ordinal = { for n in var.vm_names : n => tonumber(regex("[0-9]+$", n)) }
}

# Terraform's own clock around each VM: start before, end after it is up
# (reference 3.6). ignore_changes keeps the first value for good.
resource "terraform_data" "start" {
  for_each = local.names
  input    = timestamp()
  lifecycle {
    ignore_changes = [input]
  }
}

resource "terraform_data" "vm" {
  for_each = local.names

  # Destroy-time provisioners may only read self: everything vm-down.sh
  # needs travels in input. The script itself is found beside the module
  # at destroy time (never a path stored in the state: the state may be in
  # S3 and the working directory that applied it gone).
  input = {
    name    = each.key
    dir     = "${local.vms_dir}/${each.key}"
    address = "${var.address_prefix}.${local.ordinal[each.key]}"
    port    = var.ssh_port
    started = terraform_data.start[each.key].output
  }

  lifecycle {
    precondition {
      condition     = local.ordinal[each.key] >= 1 && local.ordinal[each.key] <= 254
      error_message = "The local provider numbers VMs 1..254 (one loopback address each)."
    }
  }

  provisioner "local-exec" {
    command = abspath("${path.module}/vm-up.sh")
    environment = {
      VM_NAME          = each.key
      VM_DIR           = "${local.vms_dir}/${each.key}"
      VM_ADDRESS       = "${var.address_prefix}.${local.ordinal[each.key]}"
      VM_SSH_PORT      = tostring(var.ssh_port)
      AGENT_BIN        = var.agent_bin
      ALLOCATOR_URL    = var.allocator_url
      API_TOKEN        = lookup(var.agent_tokens, each.key, "")
      SUBJECT_SOFTWARE = var.subject_software
      CRD_START_HOST   = var.crd_start_host
      NVIDIA_SMI       = var.nvidia_smi
      SSH_PUBLIC_KEY   = var.ssh_public_key
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "${path.module}/vm-down.sh"
    environment = {
      VM_NAME = self.input.name
      VM_DIR  = self.input.dir
    }
  }
}

resource "terraform_data" "end" {
  for_each         = local.names
  triggers_replace = terraform_data.vm[each.key].id
  input            = timestamp()
  lifecycle {
    ignore_changes = [input]
  }
}

locals {
  # Seconds of the day of an RFC 3339 UTC timestamp
  times = {
    for n in var.vm_names : n => {
      start = terraform_data.start[n].output
      end   = terraform_data.end[n].output
    }
  }
  seconds = {
    for n, t in local.times : n => (
      tonumber(substr(t.end, 11, 2)) * 3600 + tonumber(substr(t.end, 14, 2)) * 60 + tonumber(substr(t.end, 17, 2))
      -tonumber(substr(t.start, 11, 2)) * 3600 - tonumber(substr(t.start, 14, 2)) * 60 - tonumber(substr(t.start, 17, 2))
      + (substr(t.end, 0, 10) != substr(t.start, 0, 10) ? 86400 : 0)
    )
  }
}
