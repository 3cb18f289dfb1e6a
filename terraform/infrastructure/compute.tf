# The allocator host and its public address.

resource "aws_instance" "allocator" {
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = try(local.subnet_ids[0], null)
  vpc_security_group_ids = [aws_security_group.allocator.id]
  iam_instance_profile   = aws_iam_instance_profile.allocator.name
  key_name               = var.ssh_key_name != "" ? var.ssh_key_name : null

  # Names only (SSM parameters, the image): secrets are fetched at boot by
  # the instance role. base64 keeps the text visible to plan-time checks.
  user_data_base64            = base64encode(local.user_data)
  user_data_replace_on_change = false

  metadata_options {
    http_tokens                 = "required" # IMDSv2 only
    http_endpoint               = "enabled"
    http_put_response_hop_limit = 2 # the allocator container asks too
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_gb
    encrypted   = true
  }

  tags = { Name = "${local.name}-allocator" }

  lifecycle {
    ignore_changes = [ami]
    # The settings as resolved from the variables and config.yaml
    precondition {
      condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", local.deployment_name)) && can(regex("^[a-z][a-z0-9-]{0,15}$", local.environment))
      error_message = "deployment_name (1-20) and environment (1-16) must be [a-z0-9-] starting with a letter (variables or config.yaml)."
    }
    precondition {
      condition     = contains(["caddy", "acm", "none"], local.tls_mode) && contains(["dynamic", "persistent"], local.eip_strategy)
      error_message = "tls_mode must be caddy, acm or none and eip_strategy dynamic or persistent (ssl.provider and eip.strategy of config.yaml)."
    }
    precondition {
      condition     = local.domain_name == "" || can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", local.domain_name))
      error_message = "The allocator's name (domain_name, or dns.* of config.yaml) must be a lower-case DNS name such as lablink.example.org."
    }
    precondition {
      condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._/:@-]*$", local.allocator_image))
      error_message = "Name the allocator image: allocator_image, or image_registry (with allocator.image_tag of config.yaml)."
    }
    precondition {
      condition     = local.tls_mode == "none" || local.domain_name != ""
      error_message = "tls_mode caddy and acm need domain_name (certificates are issued for names, not addresses)."
    }
    precondition {
      condition     = !(local.tls_mode == "acm" || var.database == "rds") || length(local.subnet_ids) >= 2
      error_message = "The load balancer (tls_mode = acm) and RDS need two subnet_ids in different zones."
    }
    precondition {
      condition     = length(local.subnet_ids) >= 1
      error_message = "vpc_id was given without subnet_ids."
    }
    precondition {
      condition     = local.eip_strategy == "dynamic" || can(regex("^eipalloc-[0-9a-f]+$", var.eip_allocation_id))
      error_message = "eip_strategy = \"persistent\" needs eip_allocation_id (eipalloc-...) of an existing Elastic IP."
    }
  }
}

resource "aws_eip" "allocator" {
  count  = local.eip_strategy == "dynamic" ? 1 : 0
  domain = "vpc"
  tags   = { Name = "${local.name}-eip" }
}

resource "aws_eip_association" "allocator" {
  instance_id   = aws_instance.allocator.id
  allocation_id = local.eip_strategy == "dynamic" ? aws_eip.allocator[0].id : var.eip_allocation_id

}
