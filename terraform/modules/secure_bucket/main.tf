# One hardened bucket: owner-enforced ownership, public access blocked, versioning, default encryption (SSE-KMS with
# the caller's key, or SSE-S3 for a server-access-log target, which is all S3 log delivery can write to), a TLS-only
# policy (plus any grant the caller adds: policy_documents), server access logging into another bucket (none for the
# log target itself) and a lifecycle that always aborts stale multipart uploads and expires old versions.
# README.md says how to call it; examples/ holds a use that `terraform validate`s.
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_145:Every bucket of this module is SSE-KMS with the caller's key; only the server-access-log target (access_log_target = true) is SSE-S3, the one encryption S3 log delivery can write to.
  #checkov:skip=CKV_AWS_144:Cross-region replication is not needed: raw data can be fetched again from its public source and everything else is rebuilt from raw.
  #checkov:skip=CKV2_AWS_62:Only the raw bucket starts work on new objects (its notification is in the root module's sqs.tf); the others are written by the pipeline itself.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.access_log_target ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # S3 Bucket Keys cut KMS requests (and their cost) for the many small objects Spark writes.
    bucket_key_enabled = !var.access_log_target
  }

  lifecycle {
    precondition {
      condition     = var.access_log_target == (var.kms_key_arn == null)
      error_message = "kms_key_arn is required for a data bucket, and must be null for the access-log target (SSE-S3)."
    }
  }
}

resource "aws_s3_bucket_logging" "this" {
  count = var.access_log_target ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.bucket_name}/"

  lifecycle {
    precondition {
      condition     = var.access_log_bucket != null
      error_message = "access_log_bucket is required for a data bucket (only the access-log target, access_log_target = true, logs nowhere)."
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  lifecycle {
    precondition {
      condition     = var.access_log_target || length(var.log_delivery_source_arns) == 0
      error_message = "log_delivery_source_arns is for the access-log target (access_log_target = true): a data bucket takes no log deliveries."
    }
  }

  # A policy written before the public access block exists could be rejected as public; order them.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

module "tls_only" {
  source = "../tls_only_policy"

  service       = "s3"
  resource_arns = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The caller's grants, the TLS-only deny, and for the access-log target S3's log delivery from the named buckets.
data "aws_iam_policy_document" "this" {
  source_policy_documents = concat(var.policy_documents, [module.tls_only.json])

  dynamic "statement" {
    for_each = var.access_log_target && length(var.log_delivery_source_arns) > 0 ? [var.log_delivery_source_arns] : []
    content {
      sid       = "S3ServerAccessLogDelivery"
      actions   = ["s3:PutObject"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.bucket_name}/s3/*"]
      principals {
        type        = "Service"
        identifiers = ["logging.s3.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
      condition {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = statement.value
      }
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  dynamic "rule" {
    for_each = length(var.transitions) > 0 ? [var.transition_prefix] : []
    content {
      id     = "storage-class-transitions"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      dynamic "transition" {
        for_each = var.transitions
        content {
          days          = transition.value.days
          storage_class = transition.value.storage_class
        }
      }
    }
  }

  dynamic "rule" {
    for_each = var.expiration_days == null ? [] : [var.expiration_prefix]
    content {
      id     = "expire-current-objects"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      expiration {
        days = var.expiration_days
      }
    }
  }

  # Lifecycle rules on versions need versioning to be on first.
  depends_on = [aws_s3_bucket_versioning.this]
}

# Addresses before logging became optional (count): existing states move, nothing is replaced.
moved {
  from = aws_s3_bucket_logging.this
  to   = aws_s3_bucket_logging.this[0]
}
