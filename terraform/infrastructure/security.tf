# Security groups. Public: 80 and 443 only (on the host with Caddy, on the ALB
# with ACM). SSH: only from admin_ssh_cidr, and no rule at all by default.

resource "aws_security_group" "allocator" {
  name        = "${local.name}-allocator"
  description = "LabLink allocator host"
  vpc_id      = local.vpc_id
  tags        = { Name = "${local.name}-allocator" }
}

resource "aws_vpc_security_group_ingress_rule" "host_web" {
  for_each          = local.use_caddy ? toset(["80", "443"]) : toset([])
  security_group_id = aws_security_group.allocator.id
  description       = "HTTP(S) to Caddy"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
}

resource "aws_vpc_security_group_ingress_rule" "host_from_alb" {
  count                        = local.use_alb ? 1 : 0
  security_group_id            = aws_security_group.allocator.id
  description                  = "lablink-allocator from the load balancer only"
  referenced_security_group_id = aws_security_group.alb[0].id
  ip_protocol                  = "tcp"
  from_port                    = local.allocator_port
  to_port                      = local.allocator_port
}

resource "aws_vpc_security_group_ingress_rule" "ssh_admin" {
  count             = var.admin_ssh_cidr != "" ? 1 : 0
  security_group_id = aws_security_group.allocator.id
  description       = "SSH from the admin network"
  cidr_ipv4         = can(cidrnetmask(var.admin_ssh_cidr)) ? var.admin_ssh_cidr : null
  cidr_ipv6         = can(cidrnetmask(var.admin_ssh_cidr)) ? null : var.admin_ssh_cidr
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
}

# Outbound: package mirrors, Let's Encrypt, the AWS APIs, the client VMs
# (SSH for the data export) and the ZeroMQ/HTTP replies.
resource "aws_vpc_security_group_egress_rule" "allocator_all" {
  security_group_id = aws_security_group.allocator.id
  description       = "all outbound"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_security_group" "alb" {
  count       = local.use_alb ? 1 : 0
  name        = "${local.name}-alb"
  description = "LabLink load balancer"
  vpc_id      = local.vpc_id
  tags        = { Name = "${local.name}-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_web" {
  for_each          = local.use_alb ? toset(["80", "443"]) : toset([])
  security_group_id = aws_security_group.alb[0].id
  description       = "HTTP(S) to the load balancer"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
}

resource "aws_vpc_security_group_egress_rule" "alb_to_host" {
  count                        = local.use_alb ? 1 : 0
  security_group_id            = aws_security_group.alb[0].id
  description                  = "to lablink-allocator"
  referenced_security_group_id = aws_security_group.allocator.id
  ip_protocol                  = "tcp"
  from_port                    = local.allocator_port
  to_port                      = local.allocator_port
}

resource "aws_security_group" "db" {
  count       = local.use_rds ? 1 : 0
  name        = "${local.name}-db"
  description = "LabLink PostgreSQL"
  vpc_id      = local.vpc_id
  tags        = { Name = "${local.name}-db" }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_host" {
  count                        = local.use_rds ? 1 : 0
  security_group_id            = aws_security_group.db[0].id
  description                  = "PostgreSQL from the allocator host only"
  referenced_security_group_id = aws_security_group.allocator.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}
