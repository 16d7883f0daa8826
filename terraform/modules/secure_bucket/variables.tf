variable "bucket_name" {
  description = "Name of the bucket (the root module derives it in locals.tf): 3-63 lower-case letters, digits, dots and hyphens."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..")
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit."
  }
}

variable "access_log_target" {
  description = "This bucket is the server-access-log target of the others: SSE-S3 (the only encryption S3 log delivery writes to) and no access logging of itself. false: a data bucket, SSE-KMS and logged."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for default encryption (SSE-KMS with an S3 Bucket Key); required for a data bucket, null for the access-log target."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not an alias or key id, or null for the access-log target."
  }
}

variable "access_log_bucket" {
  description = "Bucket receiving this bucket's S3 server access logs (under s3/<bucket_name>/); required for a data bucket, null for the access-log target."
  type        = string
  default     = null

  validation {
    condition     = var.access_log_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.access_log_bucket))
    error_message = "access_log_bucket must be a bucket name (not an ARN or s3:// URL), or null for the access-log target."
  }
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a bucket that still holds objects (never in prod)."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version is kept."
  type        = number

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "transitions" {
  description = "Storage class transitions of current objects below transition_prefix: list of {days, storage_class}."
  type = list(object({
    days          = number
    storage_class = string
  }))
  default = []

  validation {
    condition = alltrue([
      for transition in var.transitions :
      transition.days >= 0 && contains(["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], transition.storage_class)
    ])
    error_message = "Each transition needs days >= 0 and a storage_class of STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER or DEEP_ARCHIVE."
  }
}

variable "transition_prefix" {
  description = "Key prefix the transitions apply to (empty string: the whole bucket)."
  type        = string
  default     = ""

  validation {
    condition     = !startswith(var.transition_prefix, "/")
    error_message = "transition_prefix is a key prefix such as \"raw/\"; S3 keys do not start with '/'."
  }
}

variable "expiration_prefix" {
  description = "Key prefix whose current objects expire after expiration_days (empty string: the whole bucket)."
  type        = string
  default     = ""

  validation {
    condition     = !startswith(var.expiration_prefix, "/")
    error_message = "expiration_prefix is a key prefix such as \"quarantine/\"; S3 keys do not start with '/'."
  }
}

variable "expiration_days" {
  description = "Days after which current objects below expiration_prefix expire (null: never)."
  type        = number
  default     = null

  validation {
    condition     = var.expiration_days == null || try(var.expiration_days >= 1, false)
    error_message = "expiration_days must be at least 1, or null to keep current objects."
  }
}

variable "log_delivery_source_arns" {
  description = "For the access-log target: ARNs of the buckets (of this account) whose S3 server access logs it accepts, under s3/."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.log_delivery_source_arns : can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", arn))])
    error_message = "log_delivery_source_arns must be bucket ARNs (arn:aws:s3:::NAME), not names or object ARNs."
  }
}

variable "policy_documents" {
  description = "Further bucket policy documents (JSON) merged before the TLS-only statement, e.g. a service's delivery grant."
  type        = list(string)
  default     = []
}
