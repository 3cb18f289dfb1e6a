# One config file for the whole deployment: the allocator's config.yaml,
# read here as upstream's template reads config/config.yaml (yamldecode).
# Each setting of the stack is the variable when given, else config.yaml's
# key, else the default; the allocator gets the same file (no secrets:
# passwords reach it through /etc/lablink/allocator.env), with what only
# the stack knows (database, listen address, state backend) set here.

locals {
  config_default = "${path.root}/config/config.yaml"
  config_path    = var.config_file != "" ? var.config_file : local.config_default
  config_text    = var.config_file != "" || fileexists(local.config_default) ? file(local.config_path) : "{}"
  # An empty file is no settings; a malformed one stops the plan
  yaml = merge({}, yamldecode(trimspace(local.config_text) == "" ? "{}" : local.config_text))

  # config.yaml's keys, null when absent
  y_app     = try(local.yaml.app, {})
  y_dns     = try(local.yaml.dns, {})
  y_ssl     = try(local.yaml.ssl, {})
  y_eip     = try(local.yaml.eip, {})
  y_machine = try(local.yaml.machine, {})

  region          = coalesce(var.region, try(local.y_app.region, null), "us-west-2")
  deployment_name = coalesce(var.deployment_name, try(local.yaml.deployment_name, null), "lablink")
  environment     = coalesce(var.environment, try(local.yaml.environment, null), "prod")
  state_bucket    = coalesce(var.state_bucket, try(local.yaml.bucket_name, null), "tf-state-lablink-allocator-bucket")
  eip_strategy    = coalesce(var.eip_strategy, try(local.y_eip.strategy, null), "dynamic")

  # ssl.provider -> how TLS is done (ssl.staging: plain HTTP, as upstream)
  ssl_provider = try(local.y_ssl.provider, "letsencrypt")
  tls_from_yaml = (try(local.y_ssl.staging, false) ? "none" :
    local.ssl_provider == "letsencrypt" ? "caddy" :
  local.ssl_provider == "acm" ? "acm" : "none")
  tls_mode        = coalesce(var.tls_mode, local.tls_from_yaml)
  acme_email      = var.acme_email != null ? var.acme_email : try(coalesce(local.y_ssl.email, ""), "")
  certificate_arn = var.certificate_arn != null ? var.certificate_arn : try(coalesce(local.y_ssl.certificate_arn, ""), "")

  # dns.* -> the allocator's name, computed as the allocator computes its URL
  # (runtime: ll_tf_allocator_url), so the record and the URL agree
  dns_enabled   = try(local.y_dns.enabled, false) && try(local.y_dns.domain, "") != ""
  dns_pattern   = try(local.y_dns.pattern, "auto")
  dns_subdomain = try(coalesce(local.y_dns.custom_subdomain, ""), "")
  dns_fqdn = !local.dns_enabled ? "" : trimprefix(
    contains(["custom", "auto"], local.dns_pattern) && local.dns_subdomain != ""
    ? "${local.dns_subdomain}.${local.y_dns.domain}" : local.y_dns.domain,
  ".")
  domain_name = var.domain_name != null ? var.domain_name : local.dns_fqdn
  route53_zone_id = var.route53_zone_id != null ? var.route53_zone_id : (
    try(local.y_dns.terraform_managed, true) ? try(coalesce(local.y_dns.zone_id, ""), "") : ""
  )

  # Images: the allocator's from image_registry and allocator.image_tag
  image_tag = try(local.yaml.allocator.image_tag, "linux-amd64-latest")
  allocator_image = var.allocator_image != null ? var.allocator_image : (
    var.image_registry != null ? "${var.image_registry}/lablink-allocator:${local.image_tag}" : ""
  )
  client_image = try(local.y_machine.image, null) != null ? local.y_machine.image : (
    var.image_registry != null ? "${var.image_registry}/lablink-client:${local.image_tag}" : null
  )
  client_instance_types = var.client_instance_types != null ? var.client_instance_types : [
    try(local.y_machine.machine_type, "g4dn.xlarge")
  ]

  # What the module decides: merged over config.yaml, section by section
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
      region = local.region
      listen = local.use_alb ? "0.0.0.0:${local.allocator_port}" : "127.0.0.1:${local.allocator_port}"
    }
    provider = {
      kind             = "aws"
      terraform_dir    = "/usr/share/lablink/terraform/aws"
      work_dir         = "/var/lib/lablink/terraform"
      state_backend    = "s3"
      state_lock_table = var.lock_table
    }
    ssl = {
      provider        = local.tls_mode == "caddy" ? "letsencrypt" : local.tls_mode
      email           = local.acme_email
      certificate_arn = local.certificate_arn
      staging         = false
    }
    # dns.domain is the full name now: no subdomain to add again
    dns = {
      enabled           = local.domain_name != ""
      terraform_managed = local.use_dns
      domain            = local.domain_name
      zone_id           = local.route53_zone_id
      custom_subdomain  = ""
    }
    eip = {
      strategy = local.eip_strategy
    }
    machine         = local.client_image != null ? { image = local.client_image } : {}
    bucket_name     = local.state_bucket
    deployment_name = local.deployment_name
    environment     = local.environment
  }

  # config.yaml without its secrets (they never go into user_data)
  yaml_public = {
    for k, v in local.yaml : k => (
      k == "app" ? { for ak, av in v : ak => av if !contains(["admin_password", "admin_password_hash"], ak) } :
      k == "db" ? { for dk, dv in v : dk => dv if dk != "password" } : v
    )
  }

  # config.yaml, then the module's settings, then allocator_config: a
  # section (a map) is merged key by key, anything else replaced
  config_sections = setunion(keys(local.yaml_public), keys(local.config_base), keys(var.allocator_config))
  config_section_is_map = {
    for k in local.config_sections : k => anytrue([
      can(keys(local.yaml_public[k])), can(keys(local.config_base[k])), can(keys(var.allocator_config[k]))
    ])
  }
  config = merge(
    { for k in local.config_sections : k => merge(try(local.yaml_public[k], {}), try(local.config_base[k], {}), try(var.allocator_config[k], {})) if local.config_section_is_map[k] },
    { for k in local.config_sections : k => try(var.allocator_config[k], local.config_base[k], local.yaml_public[k]) if !local.config_section_is_map[k] },
  )

  # Caddy in front of the allocator (tls_mode caddy or none), the same
  # settings as packaging/caddy/lablink.caddy.
  caddy_site = local.tls_mode == "caddy" ? local.domain_name : (local.domain_name != "" ? "http://${local.domain_name}" : ":80")
  caddyfile = local.use_caddy ? templatefile("${path.module}/Caddyfile.tftpl", {
    acme_email = local.acme_email
    site       = local.caddy_site
    https      = local.tls_mode == "caddy"
    port       = local.allocator_port
  }) : ""

  user_data = templatefile("${path.module}/user_data.sh.tftpl", {
    region                   = local.region
    param_prefix             = local.param_prefix
    admin_password_parameter = local.admin_password_parameter
    database                 = var.database
    tls_mode                 = local.tls_mode
    allocator_image          = local.allocator_image
    allocator_port           = local.allocator_port
    log_group                = local.log_group_name
    config_yaml              = yamlencode(local.config)
    caddyfile                = local.caddyfile
  })
}
