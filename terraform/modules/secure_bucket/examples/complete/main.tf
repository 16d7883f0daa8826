# The module's two shapes, as the pipeline uses them: a server-access-log target (SSE-S3, not logged, granting S3's
# log delivery from the data bucket) and a data bucket encrypted with your customer managed key (var.kms_key_arn)
# that logs into it, moves raw objects to cheaper storage and expires old versions.
# `terraform init -backend=false && terraform validate` here is part of the infra tests (test_terraform_modules.py).
provider "aws" {
  region = var.region
}

data "aws_partition" "current" {}

locals {
  log_bucket  = "${var.name_prefix}-access-logs"
  data_bucket = "${var.name_prefix}-data"
}

module "access_logs_bucket" {
  source = "../.."

  bucket_name                        = local.log_bucket
  access_log_target                  = true
  noncurrent_version_expiration_days = 7
  expiration_days                    = 90
  # S3 server access logging may deliver here from this account's data bucket only.
  log_delivery_source_arns = ["arn:${data.aws_partition.current.partition}:s3:::${local.data_bucket}"]
}

module "data_bucket" {
  source = "../.."

  bucket_name                        = local.data_bucket
  kms_key_arn                        = var.kms_key_arn
  access_log_bucket                  = module.access_logs_bucket.id
  noncurrent_version_expiration_days = 30
  transition_prefix                  = "raw/"
  transitions = [
    { days = 30, storage_class = "STANDARD_IA" },
    { days = 180, storage_class = "GLACIER" },
  ]
}
