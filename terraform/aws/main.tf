locals {
  prefix = "lablink_client_${var.resource_suffix}"
  # SSH from the allocator only, never from the world (reference 12.7)
  ssh_cidr = var.allocator_cidr != "" ? var.allocator_cidr : (
    var.allocator_ip != "" ? "${var.allocator_ip}/32" : ""
  )
  has_key       = var.ssh_public_key != ""
  log_group     = var.cloud_init_output_log_group
  gpu_requested = tostring(var.gpu_support) == "true"
  # VM "lablink-vm-prod-3" -> 3: short, unique names for its IAM role
  ordinal = { for n in var.vm_names : n => tonumber(regex("[0-9]+$", n)) }

  # One script per VM (its name and token), gzip + base64 to stay under
  # EC2's 16 KB. The custom script travels base64-encoded, so no layer
  # (this template, a heredoc, the shell) can touch its $, ${VAR},
  # backticks or quotes (reference 6.3, the later fix).
  user_data = {
    for n in var.vm_names : n => base64gzip(templatefile("${path.module}/user_data.sh.tftpl", {
      # every value lands inside '...' in bash: quotes are escaped
      vm_name              = replace(n, "'", "'\\''")
      allocator_url        = replace(var.allocator_url, "'", "'\\''")
      api_token            = replace(lookup(var.agent_tokens, n, ""), "'", "'\\''")
      image                = replace(var.image_name, "'", "'\\''")
      repository           = replace(var.repository, "'", "'\\''")
      subject_software     = replace(var.subject_software, "'", "'\\''")
      gpu_support          = local.gpu_requested ? "true" : "false"
      log_group            = replace(local.log_group, "'", "'\\''")
      region               = replace(var.region, "'", "'\\''")
      startup_on_error     = replace(var.startup_on_error, "'", "'\\''")
      startup_b64          = base64encode(var.custom_startup_script)
      cloudwatch_agent_url = replace(var.cloudwatch_agent_url, "'", "'\\''")
      agent_uid            = var.agent_uid
    }))
  }
}

resource "aws_security_group" "vm" {
  name        = "${local.prefix}_sg"
  description = "LabLink client VMs: SSH from the allocator only"

  dynamic "ingress" {
    for_each = local.ssh_cidr != "" ? [local.ssh_cidr] : []
    content {
      description = "SSH from the allocator (data export)"
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = [ingress.value]
    }
  }

  egress {
    description = "Everything out (allocator, Chrome Remote Desktop, images)"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# An instance role only when the VM ships its cloud-init log to CloudWatch,
# one per VM: it may create and write its own log stream (named after the
# VM) in the fleet's log group, nothing else. No AWS-managed policy (those
# allow any log group). The client container cannot use it: it runs on
# Docker's bridge network and the metadata service answers only one hop.
resource "aws_iam_role" "vm" {
  for_each = local.log_group != "" ? local.names : toset([])
  name     = "${local.prefix}_vm${local.ordinal[each.key]}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "own_log_stream" {
  for_each = aws_iam_role.vm
  name     = "own-log-stream"
  role     = each.value.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "OwnLogStreamOnly"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = "arn:aws:logs:${var.region}:*:log-group:${local.log_group}:log-stream:${each.key}"
    }]
  })
}

resource "aws_iam_instance_profile" "vm" {
  for_each = aws_iam_role.vm
  name     = each.value.name
  role     = each.value.name
}

# The allocator's own ed25519 public key: the private key never leaves the
# allocator and never enters terraform's state.
resource "aws_key_pair" "vm" {
  count      = local.has_key ? 1 : 0
  key_name   = "${local.prefix}_key_pair"
  public_key = var.ssh_public_key
}

# Each VM is timed by fleet.tf's terraform_data.start and .end.
resource "aws_instance" "vm" {
  for_each               = local.names
  ami                    = var.client_ami_id
  instance_type          = var.machine_type
  vpc_security_group_ids = [aws_security_group.vm.id]
  iam_instance_profile   = local.log_group != "" ? aws_iam_instance_profile.vm[each.key].name : null
  key_name               = local.has_key ? aws_key_pair.vm[0].key_name : null
  user_data_base64       = local.user_data[each.key]

  root_block_device {
    volume_size = var.root_volume_gb
    volume_type = "gp3"
  }

  # IMDSv2 only, and its answers travel one hop: processes of the host
  # (the CloudWatch agent) reach it, containers behind Docker's bridge do
  # not (their packets take a second hop), so they never see the role.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tags = {
    Name = each.key
  }

  # The start timestamps are taken before any instance
  depends_on = [terraform_data.start]

  lifecycle {
    precondition {
      condition     = length(local.user_data[each.key]) * 3 / 4 <= 16384
      error_message = "user_data is over EC2's 16 KB even gzipped: shorten the custom startup script."
    }
  }
}

locals {
  vm_ids = { for n, vm in aws_instance.vm : n => vm.id } # for fleet.tf's end times
}
