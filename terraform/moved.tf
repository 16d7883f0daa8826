# Where resources of earlier versions of this configuration live now: a state written by them plans with moves
# (and in-place updates where an argument changed), never a destroy and create. Keep a block while any deployed
# environment may still hold the old address.

# The four functions became one for_each block (lambda.tf).
moved {
  from = aws_lambda_function.s3_event_handler
  to   = aws_lambda_function.pipeline["s3-event-handler"]
}

moved {
  from = aws_lambda_function.data_quality_monitor
  to   = aws_lambda_function.pipeline["data-quality-monitor"]
}

moved {
  from = aws_lambda_function.warehouse_loader
  to   = aws_lambda_function.pipeline["warehouse-loader"]
}

moved {
  from = aws_lambda_function.ingestion
  to   = aws_lambda_function.pipeline["ingestion"]
}

# The access-log bucket is an instance of modules/secure_bucket (s3.tf).
moved {
  from = aws_s3_bucket.access_logs
  to   = module.access_logs_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_ownership_controls.access_logs
  to   = module.access_logs_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.access_logs
  to   = module.access_logs_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.access_logs
  to   = module.access_logs_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.access_logs
  to   = module.access_logs_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_policy.access_logs
  to   = module.access_logs_bucket.aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.access_logs
  to   = module.access_logs_bucket.aws_s3_bucket_lifecycle_configuration.this
}
