# Upstream's outputs (reference 6.3) plus what the local provider adds.

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

# vm_instance_names and the apply times: fleet.tf.
