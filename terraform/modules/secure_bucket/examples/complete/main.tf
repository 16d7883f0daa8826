# The module's two shapes, as the pipeline uses them: a server-access-log target (SSE-S3, not logged, granting S3's
# log delivery from the data bucket) and a data bucket encrypted with a customer key that logs into it, moves raw
# objects to cheaper storage and expires old versions. `terraform init -backend=false && terraform validate` here
# is part of the infra tests (tests/infra/test_terraform_modules.py).
provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  log_bucket  = "${var.name_prefix}-access-logs"
  data_bucket = "${var.name_prefix}-data"
}

resource "aws_kms_key" "data" {
  description             = "Default encryption of ${local.data_bucket}"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.key.json
}

# The account administers the key and delegates its use to IAM policies (the default key policy, written out).
data "aws_iam_policy_document" "key" {
  statement {
    sid = "AccountAdministersAndDelegatesToIam"
    # Every KMS action of this one key: in a key policy "*" is the key itself.
    actions = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
    # In a key policy the resource "*" means this key.
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
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
  kms_key_arn                        = aws_kms_key.data.arn
  access_log_bucket                  = module.access_logs_bucket.id
  noncurrent_version_expiration_days = 30
  transition_prefix                  = "raw/"
  transitions = [
    { days = 30, storage_class = "STANDARD_IA" },
    { days = 180, storage_class = "GLACIER" },
  ]
}
