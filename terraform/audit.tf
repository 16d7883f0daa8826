# Audit: a CloudTrail trail of this environment (management events everywhere, S3 data events of the raw and
# processed buckets), encrypted with the pipeline key, its log files validated (digest files) and delivered to a
# bucket of their own built by the hardened module, and to an encrypted CloudWatch log group for alarms and queries.
# The Glue Data Catalog (tables, partitions, connection passwords) is encrypted with the same key.

locals {
  cloudtrail_trail_arn  = "arn:${local.partition}:cloudtrail:${local.region}:${local.account_id}:trail/${local.cloudtrail_trail}"
  cloudtrail_bucket_arn = "arn:${local.partition}:s3:::${local.cloudtrail_bucket}"
}

# The trail's log files: written only by CloudTrail for this trail, kept as the audit record of the environment.
module "cloudtrail_bucket" {
  source = "./modules/secure_bucket"

  bucket_name                        = local.cloudtrail_bucket
  kms_key_arn                        = aws_kms_key.pipeline.arn
  access_log_bucket                  = module.access_logs_bucket.id
  force_destroy                      = !var.deletion_protection
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  expiration_days                    = var.cloudtrail_retention_days
  policy_documents                   = [data.aws_iam_policy_document.cloudtrail_delivery.json]
}

# What CloudTrail needs on its bucket (AWS's documented statements), pinned to this trail by aws:SourceArn.
data "aws_iam_policy_document" "cloudtrail_delivery" {
  statement {
    sid       = "CloudTrailChecksTheBucketAcl"
    actions   = ["s3:GetBucketAcl"]
    resources = [local.cloudtrail_bucket_arn]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.cloudtrail_trail_arn]
    }
  }

  statement {
    sid       = "CloudTrailWritesLogFiles"
    actions   = ["s3:PutObject"]
    resources = ["${local.cloudtrail_bucket_arn}/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.cloudtrail_trail_arn]
    }
  }
}

resource "aws_cloudwatch_log_group" "cloudtrail" {
  #checkov:skip=CKV_AWS_338:Retention is a per-environment cost decision in config/<env>.tfvars (log_retention_days): prod keeps 365 days, dev and test keep days to weeks on purpose; the bucket keeps the trail for cloudtrail_retention_days.
  name              = local.cloudtrail_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

data "aws_iam_policy_document" "cloudtrail_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.cloudtrail_trail_arn]
    }
  }
}

resource "aws_iam_role" "cloudtrail_logs" {
  name               = "${local.cloudtrail_trail}-logs-role"
  description        = "Lets the ${local.cloudtrail_trail} trail write to its CloudWatch log group"
  assume_role_policy = data.aws_iam_policy_document.cloudtrail_assume.json
}

data "aws_iam_policy_document" "cloudtrail_logs" {
  statement {
    sid       = "WriteTrailEvents"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn_prefix}${local.cloudtrail_log_group}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "cloudtrail_logs" {
  name   = "${local.cloudtrail_trail}-logs"
  role   = aws_iam_role.cloudtrail_logs.id
  policy = data.aws_iam_policy_document.cloudtrail_logs.json
}

resource "aws_cloudtrail" "audit" {
  #checkov:skip=CKV_AWS_252:A notification per delivered log file would flood the alerts topic; the trail's events are read in its CloudWatch log group.
  name                          = local.cloudtrail_trail
  s3_bucket_name                = module.cloudtrail_bucket.id
  kms_key_id                    = aws_kms_key.pipeline.arn
  enable_log_file_validation    = true
  include_global_service_events = true
  is_multi_region_trail         = true
  enable_logging                = true
  cloud_watch_logs_group_arn    = "${aws_cloudwatch_log_group.cloudtrail.arn}:*"
  cloud_watch_logs_role_arn     = aws_iam_role.cloudtrail_logs.arn

  # Every API call of the account (management events), and every object read and write in the two buckets that
  # hold the data itself (S3 data events are billed per event: the scripts, quarantine and log buckets are not).
  event_selector {
    read_write_type           = "All"
    include_management_events = true

    data_resource {
      type   = "AWS::S3::Object"
      values = ["${local.raw_bucket_arn}/", "${local.processed_bucket_arn}/"]
    }
  }

  # CloudTrail checks its bucket policy, its key and its role when the trail is created.
  depends_on = [module.cloudtrail_bucket, aws_iam_role_policy.cloudtrail_logs]
}

# --- Glue Data Catalog encryption ------------------------------------------------------------------------------

# One setting per account and region: deploy environments to accounts of their own (the multi-account layout AWS
# recommends), or let one environment per account manage it (var.manage_glue_catalog_encryption).
resource "aws_glue_data_catalog_encryption_settings" "pipeline" {
  count = var.manage_glue_catalog_encryption ? 1 : 0

  data_catalog_encryption_settings {
    encryption_at_rest {
      catalog_encryption_mode = "SSE-KMS"
      sse_aws_kms_key_id      = aws_kms_key.pipeline.arn
    }

    connection_password_encryption {
      return_connection_password_encrypted = true
      aws_kms_key_id                       = aws_kms_key.pipeline.arn
    }
  }
}
