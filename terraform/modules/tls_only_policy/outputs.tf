output "json" {
  description = "The policy document (JSON) holding the one DenyInsecureTransport statement."
  value       = data.aws_iam_policy_document.this.json
}
