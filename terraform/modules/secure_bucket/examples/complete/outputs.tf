output "data_bucket_arn" {
  description = "ARN of the KMS-encrypted, logged data bucket."
  value       = module.data_bucket.arn
}

output "access_logs_bucket" {
  description = "Name of the bucket the data bucket's access logs go to."
  value       = module.access_logs_bucket.id
}
