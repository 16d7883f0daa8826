# Buckets. The four data buckets use the hardened module in modules/secure_bucket (SSE-KMS, versioning, public access
# block, TLS-only policy, access logging, lifecycle). The access-log bucket is defined here because S3 server access
# logging can only deliver to a bucket encrypted with SSE-S3, and it cannot log into itself.

# Raw files: re-read only for a full refresh, so they age into Standard-IA and then Glacier.
module "raw_bucket" {
  source = "./modules/secure_bucket"

  bucket_name                        = local.raw_bucket
  kms_key_arn                        = aws_kms_key.pipeline.arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  force_destroy                      = !var.deletion_protection
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  transition_prefix                  = var.raw_prefix
  transitions = [
    { days = var.raw_transition_to_ia_days, storage_class = "STANDARD_IA" },
    { days = var.raw_transition_to_glacier_days, storage_class = "GLACIER" },
  ]

  # S3 checks the log delivery grant when logging is turned on: the access-log bucket's policy comes first.
  depends_on = [aws_s3_bucket_policy.access_logs, aws_s3_bucket_ownership_controls.access_logs]
}

# Parquet output: read unpredictably by Redshift COPY and ad-hoc queries, so intelligent tiering from day 0.
module "processed_bucket" {
  source = "./modules/secure_bucket"

  bucket_name                        = local.processed_bucket
  kms_key_arn                        = aws_kms_key.pipeline.arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  force_destroy                      = !var.deletion_protection
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  transitions = [
    { days = 0, storage_class = "INTELLIGENT_TIERING" },
  ]

  # S3 checks the log delivery grant when logging is turned on: the access-log bucket's policy comes first.
  depends_on = [aws_s3_bucket_policy.access_logs, aws_s3_bucket_ownership_controls.access_logs]
}

# Rejected rows and files: kept for an investigation window, then expired.
module "quarantine_bucket" {
  source = "./modules/secure_bucket"

  bucket_name                        = local.quarantine_bucket
  kms_key_arn                        = aws_kms_key.pipeline.arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  force_destroy                      = !var.deletion_protection
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  expiration_prefix                  = var.quarantine_prefix
  expiration_days                    = var.quarantine_expiration_days

  # S3 checks the log delivery grant when logging is turned on: the access-log bucket's policy comes first.
  depends_on = [aws_s3_bucket_policy.access_logs, aws_s3_bucket_ownership_controls.access_logs]
}

# Glue script, its libraries and the reference lookup table (uploaded by glue.tf from build/).
module "scripts_bucket" {
  source = "./modules/secure_bucket"

  bucket_name                        = local.scripts_bucket
  kms_key_arn                        = aws_kms_key.pipeline.arn
  access_log_bucket                  = aws_s3_bucket.access_logs.id
  force_destroy                      = !var.deletion_protection
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days

  # S3 checks the log delivery grant when logging is turned on: the access-log bucket's policy comes first.
  depends_on = [aws_s3_bucket_policy.access_logs, aws_s3_bucket_ownership_controls.access_logs]
}

# --- access logs -------------------------------------------------------------------------------------------------

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log target; logging it into itself would log its own log deliveries forever.
  #checkov:skip=CKV_AWS_144:Access logs are audit records of this region's buckets; a second-region copy is not required.
  #checkov:skip=CKV_AWS_145:S3 server access logging only delivers to SSE-S3 (AES256) buckets; SSE-KMS is not supported for log targets.
  #checkov:skip=CKV2_AWS_62:Nothing consumes new log objects as events; they are read on demand.
  bucket        = local.access_logs_bucket
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      # The only default encryption S3 server access logging can write to (see the skip on the bucket).
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  policy     = data.aws_iam_policy_document.access_logs.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    # Every S3 action: a request over plain HTTP is refused whatever it asks for.
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.access_logs.arn,
      "${aws_s3_bucket.access_logs.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "S3ServerAccessLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values = [
        "arn:${local.partition}:s3:::${local.raw_bucket}",
        "arn:${local.partition}:s3:::${local.processed_bucket}",
        "arn:${local.partition}:s3:::${local.quarantine_bucket}",
        "arn:${local.partition}:s3:::${local.scripts_bucket}",
        "arn:${local.partition}:s3:::${local.cloudtrail_bucket}",
      ]
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}
