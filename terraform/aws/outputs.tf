# Upstream's outputs (reference 6.3) but the private key, which this module
# never has; plus the maps the allocator reads.

output "vm_instance_ids" {
  value = [for n in var.vm_names : aws_instance.vm[n].id]
}

output "vm_public_ips" {
  value = [for n in var.vm_names : aws_instance.vm[n].public_ip]
}

output "vm_instance_names" {
  value = var.vm_names
}

output "vm_addresses" {
  description = "VM name -> public IP (SSH for the data export)."
  value       = { for n in var.vm_names : n => aws_instance.vm[n].public_ip }
}

output "vm_ssh_ports" {
  value = { for n in var.vm_names : n => 22 }
}

output "ssh_key_name" {
  value = local.has_key ? aws_key_pair.vm[0].key_name : null
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
