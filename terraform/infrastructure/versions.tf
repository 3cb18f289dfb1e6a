# The allocator's own AWS stack: one host running lablink-allocator, its
# database, TLS at the edge, the client-VM log pipeline and the IAM the
# allocator needs to manage client VMs. Only the aws provider is used, so the
# module validates and plans offline (tests/integration/test_infra_plan.sh).
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}

provider "aws" {
  region = local.region
  default_tags {
    tags = local.tags
  }
}
