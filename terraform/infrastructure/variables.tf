# --- the deployment's config.yaml -----------------------------------------------

variable "config_file" {
  description = "The allocator's config.yaml, read as upstream's template reads config/config.yaml: app.region, deployment_name, environment, bucket_name, dns.*, eip.*, ssl.*, allocator.image_tag and machine.* come from it, and the rest goes to the allocator (without any password). Every variable below that is left null falls back to it. Empty: config/config.yaml beside the root module, when there is one."
  type        = string
  default     = ""
}

# --- naming (null: from config.yaml) ---------------------------------------------

variable "region" {
  description = "AWS region of the allocator and of the client VMs. Null: app.region of config.yaml, else us-west-2."
  type        = string
  default     = null
}

variable "deployment_name" {
  description = "Name of this LabLink deployment (prefix of every resource name). Null: deployment_name of config.yaml, else lablink."
  type        = string
  default     = null
  validation {
    condition     = var.deployment_name == null || can(regex("^[a-z][a-z0-9-]{0,19}$", var.deployment_name))
    error_message = "deployment_name: 1-20 characters of [a-z0-9-], starting with a letter."
  }
}

variable "environment" {
  description = "Environment suffix (prod, test, dev, ...), upstream's resource_suffix. Null: environment of config.yaml, else prod."
  type        = string
  default     = null
  validation {
    condition     = var.environment == null || can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment: 1-16 characters of [a-z0-9-], starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# --- network ----------------------------------------------------------------

variable "vpc_id" {
  description = "An existing VPC to use. Empty: the module creates a VPC with two public subnets."
  type        = string
  default     = ""
}

variable "subnet_ids" {
  description = "Existing public subnets (with vpc_id). The host goes in the first; the ALB and RDS need two in different zones."
  type        = list(string)
  default     = []
}

variable "vpc_cidr" {
  description = "CIDR of the VPC the module creates (when vpc_id is empty)."
  type        = string
  default     = "10.42.0.0/16"
}

variable "availability_zones" {
  description = "Two zones for the subnets the module creates. Empty: <region>a and <region>b."
  type        = list(string)
  default     = []
}

variable "admin_ssh_cidr" {
  description = "CIDR allowed to reach the host on port 22. Empty (the default): no SSH rule at all. The whole internet is refused."
  type        = string
  default     = ""
  validation {
    condition     = var.admin_ssh_cidr == "" || (can(cidrhost(var.admin_ssh_cidr, 0)) && !contains(["0.0.0.0/0", "::/0"], var.admin_ssh_cidr))
    error_message = "admin_ssh_cidr must be empty or a valid CIDR narrower than 0.0.0.0/0 and ::/0 (SSH is never opened to the whole internet)."
  }
}

variable "ssh_key_name" {
  description = "Existing EC2 key pair for the host (optional; without it, no SSH login is possible)."
  type        = string
  default     = ""
}

# --- the host ---------------------------------------------------------------

variable "ami_id" {
  description = "AMI of the allocator host: Ubuntu 24.04 (amd64) in the region."
  type        = string
  default     = "ami-0bd08c9d4aa9f0bc6"
}

variable "instance_type" {
  description = "EC2 type of the allocator host."
  type        = string
  default     = "t3.large"
}

variable "root_volume_gb" {
  description = "Root volume size (GiB); holds Docker, the terraform work dir and, with database = \"host\", PostgreSQL."
  type        = number
  default     = 30
}

variable "allocator_image" {
  description = "Container image of lablink-allocator (packaging/docker/allocator), e.g. registry.example.org/lablink/lablink-allocator:0.1.0. Null: <image_registry>/lablink-allocator:<allocator.image_tag of config.yaml>."
  type        = string
  default     = null
  validation {
    condition     = var.allocator_image == null || can(regex("^[A-Za-z0-9][A-Za-z0-9._/:@-]*$", var.allocator_image))
    error_message = "allocator_image must be an image reference ([A-Za-z0-9._/:@-])."
  }
}

variable "image_registry" {
  description = "Where this project's two images were pushed (docs/operations.md 1.1), e.g. registry.example.org/lablink: the allocator image is <image_registry>/lablink-allocator:<tag> and, unless machine.image says otherwise, the client image <image_registry>/lablink-client:<tag> (tag: allocator.image_tag of config.yaml)."
  type        = string
  default     = null
  validation {
    condition     = var.image_registry == null || can(regex("^[A-Za-z0-9][A-Za-z0-9._/:-]*[A-Za-z0-9]$", var.image_registry))
    error_message = "image_registry must be a registry path such as registry.example.org/lablink."
  }
}

variable "eip_strategy" {
  description = "\"dynamic\": a new Elastic IP with the stack; \"persistent\": associate an existing one (eip_allocation_id) that outlives the stack. Null: eip.strategy of config.yaml, else dynamic."
  type        = string
  default     = null
  validation {
    condition     = var.eip_strategy == null || contains(["dynamic", "persistent"], coalesce(var.eip_strategy, "dynamic"))
    error_message = "eip_strategy must be dynamic or persistent."
  }
}

variable "eip_allocation_id" {
  description = "Allocation id (eipalloc-...) of the existing Elastic IP, with eip_strategy = \"persistent\"."
  type        = string
  default     = ""
}

# --- database ---------------------------------------------------------------

variable "database" {
  description = "\"rds\": PostgreSQL on RDS (password managed by RDS in Secrets Manager); \"host\": PostgreSQL installed on the allocator host."
  type        = string
  default     = "rds"
  validation {
    condition     = contains(["rds", "host"], var.database)
    error_message = "database must be rds or host."
  }
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_allocated_storage_gb" {
  description = "RDS storage (GiB)."
  type        = number
  default     = 20
}

variable "db_engine_version" {
  description = "RDS PostgreSQL major version."
  type        = string
  default     = "15"
}

variable "db_multi_az" {
  description = "RDS standby in a second zone."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "RDS automated backup retention (days); 0 disables point-in-time recovery."
  type        = number
  default     = 7
}

variable "db_deletion_protection" {
  description = "Refuse to delete the RDS instance (turn off before terraform destroy)."
  type        = bool
  default     = true
}

# --- secrets ----------------------------------------------------------------

variable "admin_password_parameter" {
  description = "Name of the SSM SecureString holding the admin password. Empty: /<deployment>/<environment>/admin_password."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.admin_password_parameter)) || var.admin_password_parameter == ""
    error_message = "admin_password_parameter must be a parameter path such as /lablink/prod/admin_password."
  }
}

variable "admin_password" {
  description = "If set, the module creates the admin password parameter with this value (it then sits in the encrypted state). Null: create the parameter yourself (aws ssm put-parameter --type SecureString)."
  type        = string
  default     = null
  sensitive   = true
}

# --- TLS and DNS ------------------------------------------------------------

variable "tls_mode" {
  description = "\"caddy\": Caddy on the host with Let's Encrypt; \"acm\": an ALB with an ACM certificate; \"none\": plain HTTP through Caddy (tests, private networks, a TLS proxy such as Cloudflare in front). Null: from ssl.provider of config.yaml (letsencrypt: caddy, or none with ssl.staging; acm; cloudflare and none: none)."
  type        = string
  default     = null
  validation {
    condition     = var.tls_mode == null || contains(["caddy", "acm", "none"], coalesce(var.tls_mode, "none"))
    error_message = "tls_mode must be caddy, acm or none."
  }
}

variable "domain_name" {
  description = "Full name of the allocator (lablink.example.org). Required for caddy and acm. Null: from dns.* of config.yaml (when dns.enabled: <custom_subdomain>.<domain> with pattern custom or auto and a custom_subdomain, else <domain>; the allocator computes its URL the same way)."
  type        = string
  default     = null
  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", coalesce(var.domain_name, "x.org"))) || var.domain_name == ""
    error_message = "domain_name must be a lower-case DNS name such as lablink.example.org."
  }
}

variable "acme_email" {
  description = "Contact address for Let's Encrypt (tls_mode = caddy). Null: ssl.email of config.yaml."
  type        = string
  default     = null
  validation {
    condition     = var.acme_email == null || can(regex("^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$", coalesce(var.acme_email, "x@y"))) || var.acme_email == ""
    error_message = "acme_email must be an e-mail address."
  }
}

variable "certificate_arn" {
  description = "Existing ACM certificate for domain_name (tls_mode = acm). Empty: the module requests one, validated through route53_zone_id. Null: ssl.certificate_arn of config.yaml."
  type        = string
  default     = null
}

variable "route53_zone_id" {
  description = "Hosted zone of domain_name. Set: the module creates the A record (and the ACM validation records). Empty: manage DNS yourself. Null: dns.zone_id of config.yaml when dns.terraform_managed."
  type        = string
  default     = null
}

variable "alb_idle_timeout_s" {
  description = "ALB idle timeout; must exceed agent.long_poll_s (25 s) and the SSE keep-alive."
  type        = number
  default     = 120
}

# --- client VMs and their logs ------------------------------------------------

variable "state_bucket" {
  description = "S3 bucket of the client VMs' Terraform state and tfvars copy (config bucket_name). The allocator may use only the <deployment>/<environment>/ prefix. Null: bucket_name of config.yaml."
  type        = string
  default     = null
}

variable "lock_table" {
  description = "DynamoDB lock table of the client VMs' state (upstream's lock-table; the allocator's provider.state_lock_table). Empty: terraform's S3 lock files (use_lockfile)."
  type        = string
  default     = "lock-table"
}

variable "client_instance_types" {
  description = "EC2 types the allocator may launch for client VMs. Null: machine.machine_type of config.yaml."
  type        = list(string)
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the client VMs' CloudWatch log group."
  type        = number
  default     = 30
}

variable "lambda_zip_path" {
  description = "Path of lablink-lambda's deployment zip (a bootstrap for provided.al2023). Empty: no Lambda and no subscription filter."
  type        = string
  default     = ""
}

variable "lambda_architecture" {
  description = "Architecture lablink-lambda was built for."
  type        = string
  default     = "x86_64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture must be x86_64 or arm64."
  }
}

variable "lambda_api_token" {
  description = "Agent token of scope _lambda (docs/operations.md says how to derive it once the allocator has created its secret). Empty on the first apply."
  type        = string
  default     = ""
  sensitive   = true
}

variable "lambda_environment" {
  description = "Extra environment variables for lablink-lambda."
  type        = map(string)
  default     = {}
}

# --- the allocator's config.yaml ---------------------------------------------

variable "allocator_config" {
  description = "Keys of config.yaml for the allocator, merged over config.yaml and what the module sets (one level deep per section). Never put secrets here: they would reach user_data."
  type        = any
  default     = {}
}
