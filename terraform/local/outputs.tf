# Upstream's outputs (reference 6.3) plus what the local provider adds.

output "vm_instance_names" {
  value = var.vm_names
}

output "vm_instance_ids" {
  value = [for n in var.vm_names : terraform_data.vm[n].id]
}

output "vm_public_ips" {
  value = [for n in var.vm_names : terraform_data.vm[n].input.address]
}

output "vm_addresses" {
  description = "VM name -> loopback address of its sshd."
  value       = { for n in var.vm_names : n => terraform_data.vm[n].input.address }
}

output "vm_ssh_ports" {
  value = { for n in var.vm_names : n => var.ssh_port }
}

output "vm_homes" {
  description = "VM name -> its home folder (Desktop/ inside)."
  value       = { for n in var.vm_names : n => "${terraform_data.vm[n].input.dir}/home" }
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
