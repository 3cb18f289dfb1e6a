# The host's role: read its own parameters and database secret, keep the
# client VMs' tfvars copy (and state, with an S3 backend) under its own prefix
# of the state bucket, and manage client VMs, security groups, key pairs and
# the client role, each limited by name or tag to what terraform/aws creates:
# names lablink_client_<environment>_*, tag ResourcePrefix =
# lablink_client_<environment> (its provider default_tags).

locals {
  partition      = "aws"
  ssm_arn_prefix = "arn:${local.partition}:ssm:${local.region}:*:parameter"
  ec2_arn_prefix = "arn:${local.partition}:ec2:${local.region}:*"
  state_prefix   = "${local.deployment_name}/${local.environment}"
  client_prefix  = "lablink_client_${local.environment}"
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "allocator" {
  name               = "${local.name}-allocator"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_instance_profile" "allocator" {
  name = "${local.name}-allocator"
  role = aws_iam_role.allocator.name
}

data "aws_iam_policy_document" "allocator" {
  statement {
    sid     = "ReadOwnParameters"
    actions = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = distinct([
      "${local.ssm_arn_prefix}${local.param_prefix}/*",
      "${local.ssm_arn_prefix}${local.admin_password_parameter}",
    ])
  }

  dynamic "statement" {
    for_each = local.use_rds ? [1] : []
    content {
      sid       = "ReadDatabasePassword"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = [aws_db_instance.main[0].master_user_secret[0].secret_arn]
    }
  }

  statement {
    sid       = "ListOwnStatePrefix"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${local.state_bucket}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.state_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadWriteOwnState"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["arn:${local.partition}:s3:::${local.state_bucket}/${local.state_prefix}/*"]
  }

  dynamic "statement" {
    for_each = var.lock_table != "" ? [1] : []
    content {
      sid       = "StateLock"
      actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
      resources = ["arn:${local.partition}:dynamodb:${local.region}:*:table/${var.lock_table}"]
    }
  }

  statement {
    sid       = "DescribeEc2"
    actions   = ["ec2:Describe*", "ec2:GetConsoleOutput"]
    resources = ["*"]
  }

  statement {
    sid       = "LaunchTaggedClientInstances"
    actions   = ["ec2:RunInstances"]
    resources = ["${local.ec2_arn_prefix}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/ResourcePrefix"
      values   = [local.client_prefix]
    }
    condition {
      test     = "StringEquals"
      variable = "ec2:InstanceType"
      values   = local.client_instance_types
    }
  }

  statement {
    sid     = "LaunchWithResources"
    actions = ["ec2:RunInstances"]
    resources = [
      "${local.ec2_arn_prefix}:volume/*",
      "${local.ec2_arn_prefix}:network-interface/*",
      "${local.ec2_arn_prefix}:subnet/*",
      "${local.ec2_arn_prefix}:security-group/*",
      "${local.ec2_arn_prefix}:key-pair/*",
      "arn:${local.partition}:ec2:${local.region}::image/*",
    ]
  }

  statement {
    sid       = "TagOnCreate"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.ec2_arn_prefix}:*/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["RunInstances", "CreateSecurityGroup", "CreateKeyPair", "ImportKeyPair"]
    }
  }

  statement {
    sid = "ManageOwnClientResources"
    actions = [
      "ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances",
      "ec2:RebootInstances", "ec2:ModifyInstanceAttribute",
      "ec2:CreateTags", "ec2:DeleteTags",
      "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
      "ec2:ModifySecurityGroupRules", "ec2:DeleteSecurityGroup",
    ]
    resources = [
      "${local.ec2_arn_prefix}:instance/*",
      "${local.ec2_arn_prefix}:security-group/*",
    ]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/ResourcePrefix"
      values   = [local.client_prefix]
    }
  }

  statement {
    sid       = "CreateClientSecurityGroups"
    actions   = ["ec2:CreateSecurityGroup"]
    resources = ["${local.ec2_arn_prefix}:security-group/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/ResourcePrefix"
      values   = [local.client_prefix]
    }
  }

  statement {
    sid       = "CreateSecurityGroupsInVpc"
    actions   = ["ec2:CreateSecurityGroup"]
    resources = ["${local.ec2_arn_prefix}:vpc/*"]
  }

  statement {
    sid       = "ClientKeyPairs"
    actions   = ["ec2:ImportKeyPair", "ec2:CreateKeyPair", "ec2:DeleteKeyPair"]
    resources = ["${local.ec2_arn_prefix}:key-pair/${local.client_prefix}*"]
  }

  statement {
    sid = "ClientRoleAndProfile"
    actions = [
      "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole",
      "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy",
      "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
      "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:GetInstanceProfile",
      "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
      "iam:TagInstanceProfile", "iam:UntagInstanceProfile",
    ]
    resources = [
      "arn:${local.partition}:iam::*:role/${local.client_prefix}*",
      "arn:${local.partition}:iam::*:instance-profile/${local.client_prefix}*",
    ]
  }

  # One action each on the client role, under one condition. Client VMs
  # get inline policies only (their own log stream); detaching the managed
  # policy older fleets had stays possible, attaching it not.
  dynamic "statement" {
    for_each = {
      DetachOldCloudWatchAgentPolicy = {
        action = "iam:DetachRolePolicy", test = "ArnEquals", variable = "iam:PolicyARN"
        value  = "arn:${local.partition}:iam::aws:policy/CloudWatchAgentServerPolicy"
      }
      PassClientRoleToEc2 = {
        action = "iam:PassRole", test = "StringEquals", variable = "iam:PassedToService"
        value  = "ec2.amazonaws.com"
      }
    }
    content {
      sid       = statement.key
      actions   = [statement.value.action]
      resources = ["arn:${local.partition}:iam::*:role/${local.client_prefix}*"]
      condition {
        test     = statement.value.test
        variable = statement.value.variable
        values   = [statement.value.value]
      }
    }
  }
}

resource "aws_iam_role_policy" "allocator" {
  name   = "${local.name}-allocator"
  role   = aws_iam_role.allocator.id
  policy = data.aws_iam_policy_document.allocator.json
}
