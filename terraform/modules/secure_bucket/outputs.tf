output "id" {
  description = "Bucket name, available once its policy and ownership controls are in place (a bucket logging into it, or writing to it, waits for them)."
  value       = aws_s3_bucket.this.id

  # S3 checks a log target's delivery grant when another bucket turns logging on: callers wait for it through this.
  depends_on = [aws_s3_bucket_policy.this, aws_s3_bucket_ownership_controls.this]
}

output "arn" {
  description = "Bucket ARN."
  value       = aws_s3_bucket.this.arn
}
