variable "bucket_name" {
  description = "Name of the bucket (derived in the root module's locals.tf)."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer managed KMS key used for default encryption (SSE-KMS with an S3 Bucket Key)."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving this bucket's S3 server access logs."
  type        = string
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a bucket that still holds objects (never in prod)."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version is kept."
  type        = number
}

variable "transitions" {
  description = "Storage class transitions of current objects below transition_prefix: list of {days, storage_class}."
  type = list(object({
    days          = number
    storage_class = string
  }))
  default = []
}

variable "transition_prefix" {
  description = "Key prefix the transitions apply to (empty string: the whole bucket)."
  type        = string
  default     = ""
}

variable "expiration_prefix" {
  description = "Key prefix whose current objects expire after expiration_days."
  type        = string
  default     = ""
}

variable "expiration_days" {
  description = "Days after which current objects below expiration_prefix expire (null: never)."
  type        = number
  default     = null
}

variable "policy_documents" {
  description = "Further bucket policy documents (JSON) merged with the TLS-only statement, e.g. a service's delivery grant."
  type        = list(string)
  default     = []
}
