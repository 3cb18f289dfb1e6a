terraform {
  required_version = ">= 1.4"
}

locals {
  vms_dir = var.vms_dir != "" ? var.vms_dir : "${abspath(path.root)}/vms"
  # VM "lablink-vm-dev-3" listens on <prefix>.3
  ordinal = { for n in var.vm_names : n => tonumber(regex("[0-9]+$", n)) }
}

# Each VM is timed by fleet.tf's terraform_data.start and .end.
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

locals {
  vm_ids = { for n, vm in terraform_data.vm : n => vm.id } # for fleet.tf's end times
}
