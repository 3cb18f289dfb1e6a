output "allocator_url" {
  description = "URL of the allocator (students, admin, client VMs, the Lambda)."
  value       = local.public_url
}

output "public_ip" {
  description = "Elastic IP of the allocator host."
  value       = local.public_ip
}

output "load_balancer_dns_name" {
  description = "DNS name of the ALB (tls_mode = acm): point domain_name at it when route53_zone_id is empty."
  value       = local.use_alb ? aws_lb.main[0].dns_name : null
}

output "instance_id" {
  description = "The allocator host."
  value       = aws_instance.allocator.id
}

output "db_endpoint" {
  description = "PostgreSQL address (127.0.0.1 on the host with database = host)."
  value       = local.use_rds ? aws_db_instance.main[0].address : "127.0.0.1"
}

output "db_secret_arn" {
  description = "Secrets Manager secret holding the RDS password (database = rds)."
  value       = local.use_rds ? aws_db_instance.main[0].master_user_secret[0].secret_arn : null
}

output "admin_password_parameter" {
  description = "SSM SecureString the host reads the admin password from."
  value       = local.admin_password_parameter
}

output "client_log_group" {
  description = "CloudWatch log group for the client VMs' cloud-init and container logs."
  value       = aws_cloudwatch_log_group.clients.name
}

output "lambda_function_name" {
  description = "lablink-lambda (when lambda_zip_path was given)."
  value       = local.use_lambda ? aws_lambda_function.logs[0].function_name : null
}

output "client_resource_prefix" {
  description = "Name prefix and ResourcePrefix tag of the client resources the host's role may manage (terraform/aws)."
  value       = local.client_prefix
}
