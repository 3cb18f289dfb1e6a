# Upstream's outputs (reference 6.3) but the private key, which this module
# never has; plus the maps the allocator reads.

output "vm_instance_ids" {
  value = [for n in var.vm_names : aws_instance.vm[n].id]
}

output "vm_public_ips" {
  value = [for n in var.vm_names : aws_instance.vm[n].public_ip]
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

# vm_instance_names and the apply times: fleet.tf.
