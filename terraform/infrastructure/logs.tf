# Client VM logs: the CloudWatch agent on each client VM writes to this log
# group (stream = hostname); a subscription filter hands every event to
# lablink-lambda (custom runtime, built in lambda/), which posts them to the
# allocator's POST /api/vm-logs with the _lambda token.

resource "aws_cloudwatch_log_group" "clients" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  count              = local.use_lambda ? 1 : 0
  name               = "${local.name}-lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_cloudwatch_log_group" "lambda" {
  count             = local.use_lambda ? 1 : 0
  name              = "/aws/lambda/${local.name}-lambda"
  retention_in_days = 14
}

data "aws_iam_policy_document" "lambda" {
  count = local.use_lambda ? 1 : 0
  statement {
    sid       = "OwnLogsOnly"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "lambda" {
  count  = local.use_lambda ? 1 : 0
  name   = "${local.name}-lambda"
  role   = aws_iam_role.lambda[0].id
  policy = data.aws_iam_policy_document.lambda[0].json
}

resource "aws_lambda_function" "logs" {
  count            = local.use_lambda ? 1 : 0
  function_name    = "${local.name}-lambda"
  description      = "lablink-lambda: CloudWatch Logs subscription -> POST /api/vm-logs"
  role             = aws_iam_role.lambda[0].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.lambda_architecture]
  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  timeout          = 10
  memory_size      = 128

  environment {
    variables = merge({
      ALLOCATOR_URL = local.public_url
      API_ENDPOINT  = "${local.public_url}/api/vm-logs"
      }, var.lambda_api_token != "" ? { API_TOKEN = var.lambda_api_token } : {},
    var.lambda_environment)
  }

  depends_on = [aws_cloudwatch_log_group.lambda, aws_iam_role_policy.lambda]
}

resource "aws_lambda_permission" "logs" {
  count         = local.use_lambda ? 1 : 0
  statement_id  = "AllowCloudWatchLogs"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.logs[0].function_name
  principal     = "logs.amazonaws.com"
  source_arn    = "${aws_cloudwatch_log_group.clients.arn}:*"
}

resource "aws_cloudwatch_log_subscription_filter" "clients" {
  count           = local.use_lambda ? 1 : 0
  name            = "${local.name}-to-lambda"
  log_group_name  = aws_cloudwatch_log_group.clients.name
  filter_pattern  = ""
  destination_arn = aws_lambda_function.logs[0].arn
  depends_on      = [aws_lambda_permission.logs]
}
