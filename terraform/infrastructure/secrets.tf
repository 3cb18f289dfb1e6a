# What the host reads at boot through its role. Secrets are SecureString
# parameters (or the RDS-managed secret); the rest are plain parameters so
# that user_data needs no value that is unknown before apply.

resource "aws_ssm_parameter" "admin_password" {
  count       = nonsensitive(var.admin_password != null) ? 1 : 0
  name        = local.admin_password_parameter
  description = "LabLink admin password"
  type        = "SecureString"
  value       = var.admin_password
}

resource "aws_ssm_parameter" "public_url" {
  name        = "${local.param_prefix}/public_url"
  description = "URL the client VMs and the Lambda use to reach the allocator"
  type        = "String"
  value       = local.public_url
}

resource "aws_ssm_parameter" "public_ip" {
  name        = "${local.param_prefix}/public_ip"
  description = "Elastic IP of the allocator (ALLOCATOR_PUBLIC_IP: client VMs accept SSH from it)"
  type        = "String"
  value       = local.public_ip
}

resource "aws_ssm_parameter" "db_host" {
  name        = "${local.param_prefix}/db_host"
  description = "PostgreSQL host of the allocator"
  type        = "String"
  value       = local.use_rds ? aws_db_instance.main[0].address : "127.0.0.1"
}

resource "aws_ssm_parameter" "db_secret_arn" {
  count       = local.use_rds ? 1 : 0
  name        = "${local.param_prefix}/db_secret_arn"
  description = "Secrets Manager secret (managed by RDS) holding the database password"
  type        = "String"
  value       = aws_db_instance.main[0].master_user_secret[0].secret_arn
}
