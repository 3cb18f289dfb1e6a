terraform {
  required_version = ">= 1.4"
  required_providers {
    # The aws provider only: keys and timestamps come from the allocator and
    # from terraform_data (built in), never from the tls or time providers.
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      ManagedBy      = "terraform"
      ResourcePrefix = local.prefix
    }
  }
}
