# The TLS-only statement every bucket, queue and topic policy of the pipeline carries: deny every action of the
# service to anyone when the request came over plain HTTP (aws:SecureTransport false). One place writes it; each
# caller merges `json` into its own document (source_policy_documents) or uses it as the whole policy.
data "aws_iam_policy_document" "this" {
  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    # Every action of the service: a request over plain HTTP is refused whatever it asks for.
    actions   = ["${var.service}:*"]
    resources = var.resource_arns
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}
