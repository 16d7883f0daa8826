# Buckets, all from the hardened module in modules/secure_bucket (versioning, public access block, TLS-only policy,
# lifecycle). The four data buckets are SSE-KMS and log their access into the access-log bucket, which is the
# module's other shape: SSE-S3 (the only encryption S3 server access logging delivers to) and no logging of itself.

# Raw files: re-read only for a full refresh, so they age into Standard-IA and then Glacier.
module "raw_bucket" {
  source = "./modules/secure_bucket"

  bucket_name                        = local.raw_bucket
  kms_key_arn                        = aws_kms_key.pipeline.arn
  access_log_bucket                  = module.access_logs_bucket.id
  force_destroy                      = !var.deletion_protection
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  transition_prefix                  = var.raw_prefix
  transitions = [
    { days = var.raw_transition_to_ia_days, storage_class = "STANDARD_IA" },
    { days = var.raw_transition_to_glacier_days, storage_class = "GLACIER" },
  ]
}

# Parquet output: read unpredictably by Redshift COPY and ad-hoc queries, so intelligent tiering from day 0.
module "processed_bucket" {
  source = "./modules/secure_bucket"

  bucket_name                        = local.processed_bucket
  kms_key_arn                        = aws_kms_key.pipeline.arn
  access_log_bucket                  = module.access_logs_bucket.id
  force_destroy                      = !var.deletion_protection
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  transitions = [
    { days = 0, storage_class = "INTELLIGENT_TIERING" },
  ]
}

# Rejected rows and files: kept for an investigation window, then expired.
module "quarantine_bucket" {
  source = "./modules/secure_bucket"

  bucket_name                        = local.quarantine_bucket
  kms_key_arn                        = aws_kms_key.pipeline.arn
  access_log_bucket                  = module.access_logs_bucket.id
  force_destroy                      = !var.deletion_protection
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
  expiration_prefix                  = var.quarantine_prefix
  expiration_days                    = var.quarantine_expiration_days
}

# Glue script, its libraries and the reference lookup table (uploaded by glue.tf from build/).
module "scripts_bucket" {
  source = "./modules/secure_bucket"

  bucket_name                        = local.scripts_bucket
  kms_key_arn                        = aws_kms_key.pipeline.arn
  access_log_bucket                  = module.access_logs_bucket.id
  force_destroy                      = !var.deletion_protection
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
}

# --- access logs -------------------------------------------------------------------------------------------------

# Server access logs of every other bucket, under s3/<bucket>/, expired after access_log_expiration_days; the module
# grants S3 log delivery from these buckets only. Its `id` output waits for that grant, which S3 checks when a bucket
# turns logging on.
module "access_logs_bucket" {
  source = "./modules/secure_bucket"

  bucket_name                        = local.access_logs_bucket
  access_log_target                  = true
  force_destroy                      = !var.deletion_protection
  noncurrent_version_expiration_days = 7
  expiration_days                    = var.access_log_expiration_days
  log_delivery_source_arns = [
    for bucket in [local.raw_bucket, local.processed_bucket, local.quarantine_bucket, local.scripts_bucket, local.cloudtrail_bucket] :
    "arn:${local.partition}:s3:::${bucket}"
  ]
}
