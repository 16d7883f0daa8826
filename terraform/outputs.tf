# Outputs: what an operator or the CLI needs after apply. Names equal covid_pipeline.config's, so the CLI does not
# read these; they are for people and for wiring other stacks.

output "buckets" {
  description = "Bucket names by role (raw, processed, quarantine, scripts, access_logs)."
  value = {
    raw         = module.raw_bucket.id
    processed   = module.processed_bucket.id
    quarantine  = module.quarantine_bucket.id
    scripts     = module.scripts_bucket.id
    access_logs = aws_s3_bucket.access_logs.id
  }
}

output "raw_events_queue_url" {
  description = "URL of the raw-events queue (S3 notifications for new raw objects)."
  value       = aws_sqs_queue.raw_events.id
}

output "raw_events_dlq_url" {
  description = "URL of the raw-events dead-letter queue (inspect and replay failed events)."
  value       = aws_sqs_queue.raw_events_dlq.id
}

output "glue_job_name" {
  description = "Name of the Glue job (covid-pipeline run starts it)."
  value       = aws_glue_job.transform.name
}

output "glue_database" {
  description = "Glue Data Catalog database holding the output tables."
  value       = aws_glue_catalog_database.pipeline.name
}

output "alerts_topic_arn" {
  description = "SNS topic receiving alarms and data quality alerts."
  value       = aws_sns_topic.alerts.arn
}

output "kms_key_arn" {
  description = "Customer managed key encrypting the pipeline's data, queues, topic and logs."
  value       = aws_kms_key.pipeline.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the pipeline."
  value       = aws_cloudwatch_dashboard.pipeline.dashboard_name
}

output "redshift" {
  description = "Warehouse connection facts when enable_redshift (cluster id, database, secret ARN, COPY role); null otherwise."
  value = var.enable_redshift ? {
    cluster_identifier = aws_redshift_cluster.warehouse[0].cluster_identifier
    database           = var.redshift_database_name
    secret_arn         = aws_redshift_cluster.warehouse[0].master_password_secret_arn
    copy_role_arn      = aws_iam_role.redshift_copy[0].arn
  } : null
}
