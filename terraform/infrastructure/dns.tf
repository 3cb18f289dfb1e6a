# Optional Route 53 record for domain_name: an A record to the Elastic IP
# (Caddy on the host) or an alias to the load balancer (ACM).

resource "aws_route53_record" "allocator" {
  count   = local.use_dns && !local.use_alb ? 1 : 0
  zone_id = local.route53_zone_id
  name    = local.domain_name
  type    = "A"
  ttl     = 300
  records = [local.public_ip]
}

resource "aws_route53_record" "allocator_alias" {
  count   = local.use_dns && local.use_alb ? 1 : 0
  zone_id = local.route53_zone_id
  name    = local.domain_name
  type    = "A"
  alias {
    name                   = aws_lb.main[0].dns_name
    zone_id                = aws_lb.main[0].zone_id
    evaluate_target_health = true
  }
}
