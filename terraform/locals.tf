# Every resource name and S3 location, written once. The `pipeline` output (outputs.tf) hands them to the CLI and the
# local cloud, which read it from the Terraform state (covid_pipeline.config), and the Lambda functions get theirs in
# their environment (lambda.tf): no name is derived a second time anywhere else.
locals {
  name_prefix = "${var.project_name}-${var.environment}"

  raw_bucket         = "${local.name_prefix}-raw"
  processed_bucket   = "${local.name_prefix}-processed"
  quarantine_bucket  = "${local.name_prefix}-quarantine"
  scripts_bucket     = "${local.name_prefix}-scripts"
  access_logs_bucket = "${local.name_prefix}-access-logs"
  cloudtrail_bucket  = "${local.name_prefix}-cloudtrail"

  cloudtrail_trail     = "${local.name_prefix}-audit"
  cloudtrail_log_group = "/aws/cloudtrail/${local.name_prefix}-audit"

  raw_events_queue = "${local.name_prefix}-raw-events"
  raw_events_dlq   = "${local.name_prefix}-raw-events-dlq"
  alerts_topic     = "${local.name_prefix}-alerts"
  kms_alias        = "alias/${local.name_prefix}"

  glue_database  = replace("${var.project_name}_${var.environment}", "-", "_")
  glue_job       = "${local.name_prefix}-${var.glue_job_name}"
  glue_log_group = "/aws-glue/jobs/${local.name_prefix}-${var.glue_job_name}"

  # Short name -> function name.
  lambda_functions = {
    "s3-event-handler"     = "${local.name_prefix}-s3-event-handler"
    "data-quality-monitor" = "${local.name_prefix}-data-quality-monitor"
    "warehouse-loader"     = "${local.name_prefix}-warehouse-loader"
    "ingestion"            = "${local.name_prefix}-ingestion"
  }
  lambda_log_groups = {
    "s3-event-handler"     = "/aws/lambda/${local.name_prefix}-s3-event-handler"
    "data-quality-monitor" = "/aws/lambda/${local.name_prefix}-data-quality-monitor"
    "warehouse-loader"     = "/aws/lambda/${local.name_prefix}-warehouse-loader"
    "ingestion"            = "/aws/lambda/${local.name_prefix}-ingestion"
  }

  # Source -> catalog table.
  glue_tables = {
    jhu_daily = "${var.glue_table_prefix}jhu_daily"
    owid      = "${var.glue_table_prefix}owid"
  }

  alarms = {
    "glue-job-failures"  = "${local.name_prefix}-glue-job-failures"
    "dq-score-low"       = "${local.name_prefix}-dq-score-low"
    "dlq-not-empty"      = "${local.name_prefix}-dlq-not-empty"
    "lambda-errors"      = "${local.name_prefix}-lambda-errors"
    "lambda-throttles"   = "${local.name_prefix}-lambda-throttles"
    "job-duration"       = "${local.name_prefix}-job-duration"
    "ingestion-failures" = "${local.name_prefix}-ingestion-failures"
  }

  lambda_async_dlq       = "${local.name_prefix}-lambda-async-dlq"
  glue_finished_rule     = "${local.name_prefix}-glue-job-finished"
  glue_succeeded_rule    = "${local.name_prefix}-glue-job-succeeded"
  ingestion_rule         = "${local.name_prefix}-ingestion-schedule"
  ingestion_state_prefix = "${var.state_prefix}ingestion/"
  glue_security_config   = "${local.name_prefix}-glue-security"
  glue_crawler           = "${local.name_prefix}-processed-crawler"
  dashboard              = "${local.name_prefix}-pipeline"
  budget                 = "${local.name_prefix}-monthly"
  redshift_cluster       = "${local.name_prefix}-warehouse"
  redshift_log_group     = "/aws/redshift/cluster/${local.name_prefix}-warehouse"
  redshift_flow_logs     = "/aws/vpc/${local.name_prefix}-warehouse"
  warehouse_loader_user  = "covid_loader"
  metrics_namespace      = "CovidPipeline"
  glue_metrics_namespace = "Glue"

  # S3 locations.
  sources = ["jhu_daily", "owid"]
  raw_paths = {
    for source in local.sources : source => "s3://${local.raw_bucket}/${var.raw_prefix}${source}/"
  }
  output_paths = {
    for source in local.sources : source => "s3://${local.processed_bucket}/${source}/"
  }
  quarantine_paths = {
    for source in local.sources : source => "s3://${local.quarantine_bucket}/${var.quarantine_prefix}${source}/"
  }
  state_paths = {
    for source in local.sources : source => "s3://${local.processed_bucket}/${var.state_prefix}${source}/"
  }
  reference_key   = "reference/UID_ISO_FIPS_LookUp_Table.csv"
  reference_path  = "s3://${local.scripts_bucket}/${local.reference_key}"
  script_key      = "glue/covid_transform.py"
  script_location = "s3://${local.scripts_bucket}/${local.script_key}"
  extra_py_key    = "glue/glue_job_libs.zip"
  extra_py_files  = "s3://${local.scripts_bucket}/${local.extra_py_key}"
  # Glue pip-installs these at job start; Glue 5.0 does not ship Great Expectations (pinned as requirements.txt).
  job_python_modules = "great_expectations==1.24.1"
  default_source     = "jhu_daily"

  # What a run of each source overrides: the job's DefaultArguments are the default source's.
  source_job_arguments = {
    for source in local.sources : source => {
      "--source"          = source
      "--input_path"      = local.raw_paths[source]
      "--output_path"     = local.output_paths[source]
      "--quarantine_path" = local.quarantine_paths[source]
      "--state_path"      = local.state_paths[source]
      "--catalog_table"   = local.glue_tables[source]
    }
  }

  # The job's DefaultArguments.
  glue_job_arguments = merge({
    "--job-language"                     = "python"
    "--extra-py-files"                   = local.extra_py_files
    "--additional-python-modules"        = local.job_python_modules
    "--enable-metrics"                   = "true"
    "--enable-continuous-cloudwatch-log" = "true"
    "--continuous-log-logGroup"          = local.glue_log_group
    "--reference_path"                   = local.reference_path
    "--catalog_database"                 = local.glue_database
    "--metrics_namespace"                = local.metrics_namespace
    "--full_refresh"                     = "false"
    # Input guards (covid_pipeline.input_rules): size limits in bytes, failed runs before a file is poison, the
    # share of files on record a run may remove. A run that must remove more is started with --allow_removals true.
    "--max_compressed_bytes"   = tostring(var.max_input_compressed_mib * 1048576)
    "--max_uncompressed_bytes" = tostring(var.max_input_uncompressed_mib * 1048576)
    "--poison_after_failures"  = tostring(var.poison_after_failures)
    "--max_removal_share"      = tostring(var.max_removal_share)
    "--allow_removals"         = "false"
  }, local.source_job_arguments[local.default_source])

  # Build artifacts covid_pipeline.artifacts writes before plan (scripts/deploy.sh passes an absolute artifacts_dir).
  build_dir            = var.artifacts_dir
  glue_script_artifact = "${local.build_dir}/glue/covid_transform.py"
  glue_libs_artifact   = "${local.build_dir}/glue/glue_job_libs.zip"
  reference_artifact   = "${local.build_dir}/reference/UID_ISO_FIPS_LookUp_Table.csv"
  lambda_bundle_zip    = "${local.build_dir}/lambda/bundle.zip"
  lambda_layer_zip     = "${local.build_dir}/lambda/pyarrow_layer.zip"

  common_tags = merge(var.tags, {
    Project     = var.project_name
    Environment = var.environment
    ManagedBy   = "terraform"
    Stack       = local.name_prefix
  })

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.aws_region
}
