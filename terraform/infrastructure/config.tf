# The allocator's config.yaml, rendered into user_data. It holds no secret:
# passwords reach the allocator through /etc/lablink/allocator.env.

locals {
  config_base = {
    db = {
      dbname          = "lablink_db"
      user            = "lablink"
      host            = "127.0.0.1"
      port            = 5432
      table_name      = "vms"
      message_channel = "vm_updates"
    }
    app = {
      region = var.region
      listen = local.use_alb ? "0.0.0.0:${local.allocator_port}" : "127.0.0.1:${local.allocator_port}"
    }
    provider = {
      kind          = "aws"
      terraform_dir = "/usr/share/lablink/terraform/aws"
      work_dir      = "/var/lib/lablink/terraform"
    }
    ssl = {
      provider        = var.tls_mode == "caddy" ? "letsencrypt" : var.tls_mode
      email           = var.acme_email
      certificate_arn = var.certificate_arn
    }
    dns = {
      enabled           = var.domain_name != ""
      terraform_managed = local.use_dns
      domain            = var.domain_name
      zone_id           = var.route53_zone_id
    }
    eip = {
      strategy = var.eip_strategy
    }
    bucket_name     = var.state_bucket
    deployment_name = var.deployment_name
    environment     = var.environment
  }

  # Two-level merge: a section given in allocator_config is merged key by key.
  config = {
    for k in setunion(keys(local.config_base), keys(var.allocator_config)) :
    k => try(merge(local.config_base[k], var.allocator_config[k]), var.allocator_config[k], local.config_base[k])
  }

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    region                   = var.region
    param_prefix             = local.param_prefix
    admin_password_parameter = local.admin_password_parameter
    database                 = var.database
    tls_mode                 = var.tls_mode
    domain_name              = var.domain_name
    acme_email               = var.acme_email
    allocator_image          = var.allocator_image
    allocator_port           = local.allocator_port
    log_group                = local.log_group_name
    config_yaml              = yamlencode(local.config)
  })
}
