variable "region" {
  description = "AWS region the example's buckets and key live in."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of the two bucket names (bucket names are global: make it yours)."
  type        = string
  default     = "secure-bucket-example"
}

variable "kms_key_arn" {
  description = "ARN of the customer managed KMS key the data bucket is encrypted with (its key policy is yours to write)."
  type        = string
}
