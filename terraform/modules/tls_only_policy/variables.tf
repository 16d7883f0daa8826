variable "service" {
  description = "IAM service prefix of the resources the policy guards: s3, sqs or sns."
  type        = string

  validation {
    condition     = contains(["s3", "sqs", "sns"], var.service)
    error_message = "service must be one of s3, sqs, sns (the services whose resource policies this pipeline writes)."
  }
}

variable "resource_arns" {
  description = "ARNs the deny covers; for a bucket both the bucket and its objects (arn and arn/*)."
  type        = list(string)

  validation {
    condition     = length(var.resource_arns) > 0 && alltrue([for arn in var.resource_arns : startswith(arn, "arn:")])
    error_message = "resource_arns must name at least one ARN (arn:...): a deny that covers nothing protects nothing."
  }
}
