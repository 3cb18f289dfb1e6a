# PostgreSQL on RDS (database = "rds"). The master password is generated and
# rotated by RDS in Secrets Manager (manage_master_user_password): it never
# passes through Terraform, its state or user_data; the host reads it at boot
# with its instance role. With database = "host", user_data installs
# PostgreSQL on the host and generates the password there.

resource "aws_db_subnet_group" "main" {
  count      = local.use_rds ? 1 : 0
  name       = "${local.name}-db"
  subnet_ids = local.subnet_ids
}

resource "aws_db_instance" "main" {
  count                       = local.use_rds ? 1 : 0
  identifier                  = "${local.name}-db"
  engine                      = "postgres"
  engine_version              = var.db_engine_version
  instance_class              = var.db_instance_class
  allocated_storage           = var.db_allocated_storage_gb
  storage_type                = "gp3"
  storage_encrypted           = true
  db_name                     = "lablink_db"
  username                    = "lablink"
  manage_master_user_password = true
  db_subnet_group_name        = aws_db_subnet_group.main[0].name
  vpc_security_group_ids      = [aws_security_group.db[0].id]
  publicly_accessible         = false
  multi_az                    = var.db_multi_az
  backup_retention_period     = var.db_backup_retention_days
  deletion_protection         = var.db_deletion_protection
  skip_final_snapshot         = false
  final_snapshot_identifier   = "${local.name}-db-final"
  auto_minor_version_upgrade  = true
  copy_tags_to_snapshot       = true
  apply_immediately           = false
}
