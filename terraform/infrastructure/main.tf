locals {
  name = "${local.deployment_name}-${local.environment}"
  tags = merge(var.tags, {
    "LabLinkStack" = local.name
    "Environment"  = local.environment
    "ManagedBy"    = "terraform"
  })

  # Every value the host needs at boot that is not known before apply (the
  # EIP, the RDS endpoint) or that is secret lives under this SSM prefix; the
  # user_data holds only names, so it is fully known at plan time and carries
  # no secret.
  param_prefix             = "/${local.deployment_name}/${local.environment}"
  admin_password_parameter = var.admin_password_parameter != "" ? var.admin_password_parameter : "${local.param_prefix}/admin_password"

  create_vpc = var.vpc_id == ""
  azs        = length(var.availability_zones) > 0 ? var.availability_zones : ["${local.region}a", "${local.region}b"]
  vpc_id     = local.create_vpc ? aws_vpc.main[0].id : var.vpc_id
  subnet_ids = local.create_vpc ? aws_subnet.public[*].id : var.subnet_ids

  use_alb            = local.tls_mode == "acm"
  use_caddy          = local.tls_mode != "acm"
  use_rds            = var.database == "rds"
  use_dns            = local.route53_zone_id != "" && local.domain_name != ""
  create_certificate = local.use_alb && local.certificate_arn == ""
  use_lambda         = var.lambda_zip_path != ""

  # The port lablink-allocator listens on; behind Caddy on loopback only.
  allocator_port = 5000
  public_scheme  = local.tls_mode == "none" ? "http" : "https"
  public_ip      = local.eip_strategy == "dynamic" ? aws_eip.allocator[0].public_ip : aws_eip_association.allocator.public_ip
  public_host    = local.domain_name != "" ? local.domain_name : local.public_ip
  public_url     = "${local.public_scheme}://${local.public_host}"

  log_group_name = "${local.name}-cloud-init"
}

# --- network (only when no vpc_id is given) -----------------------------------

resource "aws_vpc" "main" {
  count                = local.create_vpc ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = local.name }
}

resource "aws_internet_gateway" "main" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.main[0].id
  tags   = { Name = local.name }
}

resource "aws_subnet" "public" {
  count                   = local.create_vpc ? 2 : 0
  vpc_id                  = aws_vpc.main[0].id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, count.index)
  map_public_ip_on_launch = false
  tags                    = { Name = "${local.name}-public-${count.index}" }
}

resource "aws_route_table" "public" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.main[0].id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main[0].id
  }
  tags = { Name = local.name }
}

resource "aws_route_table_association" "public" {
  count          = local.create_vpc ? 2 : 0
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}
