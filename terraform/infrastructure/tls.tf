# tls_mode = "acm": an Application Load Balancer terminates TLS with an ACM
# certificate and forwards to lablink-allocator on the host (port 5000, from
# the ALB's security group only). The ALB sets X-Forwarded-Proto, so the
# allocator marks its cookies Secure. tls_mode = "caddy" and "none" need
# nothing here: Caddy on the host (user_data) does TLS or plain HTTP.

resource "aws_lb" "main" {
  count                      = local.use_alb ? 1 : 0
  name                       = "${local.name}-alb"
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb[0].id]
  subnets                    = local.subnet_ids
  idle_timeout               = var.alb_idle_timeout_s
  drop_invalid_header_fields = true
}

resource "aws_lb_target_group" "allocator" {
  count       = local.use_alb ? 1 : 0
  name        = "${local.name}-alloc"
  port        = local.allocator_port
  protocol    = "HTTP"
  vpc_id      = local.vpc_id
  target_type = "instance"
  health_check {
    path                = "/api/health"
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_target_group_attachment" "allocator" {
  count            = local.use_alb ? 1 : 0
  target_group_arn = aws_lb_target_group.allocator[0].arn
  target_id        = aws_instance.allocator.id
  port             = local.allocator_port
}

resource "aws_acm_certificate" "main" {
  count             = local.create_certificate ? 1 : 0
  domain_name       = local.domain_name
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = local.route53_zone_id != ""
      error_message = "tls_mode = \"acm\" without certificate_arn needs route53_zone_id to validate the new certificate."
    }
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each = local.create_certificate ? {
    for o in aws_acm_certificate.main[0].domain_validation_options : o.domain_name => o
  } : {}
  zone_id         = local.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 60
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "main" {
  count                   = local.create_certificate ? 1 : 0
  certificate_arn         = aws_acm_certificate.main[0].arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

resource "aws_lb_listener" "https" {
  count             = local.use_alb ? 1 : 0
  load_balancer_arn = aws_lb.main[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = local.create_certificate ? aws_acm_certificate_validation.main[0].certificate_arn : local.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.allocator[0].arn
  }
}

resource "aws_lb_listener" "http_redirect" {
  count             = local.use_alb ? 1 : 0
  load_balancer_arn = aws_lb.main[0].arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}
