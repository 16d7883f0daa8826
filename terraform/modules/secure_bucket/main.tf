# One hardened bucket: owner-enforced ownership, public access blocked, versioning, SSE-KMS by default, TLS-only
# policy (plus any delivery grant the caller adds: policy_documents), server access logging and a lifecycle that
# always aborts stale multipart uploads and expires old versions.
resource "aws_s3_bucket" "this" {
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
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # S3 Bucket Keys cut KMS requests (and their cost) for the many small objects Spark writes.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "this" {
  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.bucket_name}/"
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.tls_only.json

  # A policy written before the public access block exists could be rejected as public; order them.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

data "aws_iam_policy_document" "tls_only" {
  source_policy_documents = var.policy_documents

  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    # Every S3 action: a request over plain HTTP is refused whatever it asks for.
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
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
