# Outputs: what an operator, the CLI and the local cloud need after apply.

output "pipeline" {
  description = "Names and S3 locations of this environment, as the covid-pipeline CLI and the local cloud use them (they read this output from the Terraform state: covid_pipeline.config). No ARNs: the same document holds for AWS and for the local cloud."
  value = {
    environment       = var.environment
    region            = local.region
    name_prefix       = local.name_prefix
    raw_prefix        = var.raw_prefix
    quarantine_prefix = var.quarantine_prefix
    state_prefix      = var.state_prefix
    buckets = {
      raw         = local.raw_bucket
      processed   = local.processed_bucket
      quarantine  = local.quarantine_bucket
      scripts     = local.scripts_bucket
      access_logs = local.access_logs_bucket
    }
    queues = {
      raw_events       = local.raw_events_queue
      raw_events_dlq   = local.raw_events_dlq
      lambda_async_dlq = local.lambda_async_dlq
    }
    alerts_topic      = local.alerts_topic
    kms_alias         = local.kms_alias
    glue_database     = local.glue_database
    glue_job          = local.glue_job
    glue_log_group    = local.glue_log_group
    glue_tables       = local.glue_tables
    lambda_functions  = local.lambda_functions
    lambda_log_groups = local.lambda_log_groups
    alarms            = local.alarms
    dashboard         = local.dashboard
    metrics_namespace = local.metrics_namespace
    sources           = local.sources
    script_location   = local.script_location
    extra_py_files    = local.extra_py_files
    reference_path    = local.reference_path
    # The job's DefaultArguments, and what a run of each source overrides.
    default_arguments = local.glue_job_arguments
    source_arguments  = local.source_job_arguments
  }
}

output "raw_events_queue_url" {
  description = "URL of the raw-events queue (S3 notifications for new raw objects)."
  value       = aws_sqs_queue.raw_events.id
}

output "alerts_topic_arn" {
  description = "SNS topic receiving alarms and data quality alerts."
  value       = aws_sns_topic.alerts.arn
}

output "kms_key_arn" {
  description = "Customer managed key encrypting the pipeline's data, queues, topic and logs."
  value       = aws_kms_key.pipeline.arn
}

output "redshift" {
  description = "Warehouse connection facts when enable_redshift (cluster id, database, the master secret for warehouse-bootstrap, the loader's secret and user, COPY role); null otherwise."
  value = var.enable_redshift ? {
    cluster_identifier = aws_redshift_cluster.warehouse[0].cluster_identifier
    database           = var.redshift_database_name
    secret_arn         = aws_redshift_cluster.warehouse[0].master_password_secret_arn
    loader_secret_arn  = aws_secretsmanager_secret.warehouse_loader[0].arn
    loader_user        = local.warehouse_loader_user
    copy_role_arn      = aws_iam_role.redshift_copy[0].arn
  } : null
}
