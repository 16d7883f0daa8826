# The four functions of lambda/. covid_pipeline.artifacts (run by scripts/deploy.sh and the local cloud) builds their
# code under build/lambda/ before plan:
#   bundle.zip         lambda/*.py + the covid_pipeline package without its local cloud (the monitor and loader import it)
#   pyarrow_layer.zip  python/pyarrow..., a layer for the warehouse loader (Parquet schemas; too big for the bundle),
#                      from the wheel pinned in lambda/requirements-layer.txt for the Lambda platform
#
#   s3-event-handler      raw-events queue -> glue:StartJobRun (one run per source per batch)
#   data-quality-monitor  Glue run finished -> DQ score / quarantine ratio / failure -> SNS alert + metrics
#   ingestion             schedule tick (ingestion_schedule) -> fetch what is new from each source into the raw
#                         bucket, date-partitioned; the upload starts the job like any other (covid_pipeline.ingestion)
#   warehouse-loader      Glue run succeeded -> Redshift COPY of every partition whose content differs from the
#                         warehouse's (Data API, as the loader's own user); only triggered when enable_redshift
#                         (without a warehouse on AWS there is nothing to load into)

# The layer zip is larger than a direct upload allows, so it goes through the scripts bucket.
resource "aws_s3_object" "pyarrow_layer" {
  bucket      = module.scripts_bucket.id
  key         = "lambda/pyarrow_layer.zip"
  source      = local.lambda_layer_zip
  source_hash = filemd5(local.lambda_layer_zip)
  kms_key_id  = aws_kms_key.pipeline.arn
}

resource "aws_lambda_layer_version" "pyarrow" {
  layer_name          = "${local.name_prefix}-pyarrow"
  description         = "pyarrow for the warehouse loader (built by scripts/deploy.sh for ${var.lambda_runtime})"
  s3_bucket           = aws_s3_object.pyarrow_layer.bucket
  s3_key              = aws_s3_object.pyarrow_layer.key
  s3_object_version   = aws_s3_object.pyarrow_layer.version_id
  source_code_hash    = filebase64sha256(local.lambda_layer_zip)
  compatible_runtimes = [var.lambda_runtime]
}

locals {
  # What differs between the functions (lambda.tf's one aws_lambda_function block reads it): each entry is the
  # defaults below with its own description, handler and exceptions.
  # async_dead_letters: invoked asynchronously (EventBridge), so failed events go to the async DLQ; the
  # s3-event-handler is invoked by the SQS mapping, whose failures the raw-events queue dead-letters itself.
  lambda_defaults = {
    layers               = []
    timeout              = var.lambda_timeout_seconds
    memory_mb            = var.lambda_memory_mb
    reserved_concurrency = var.lambda_reserved_concurrency
    async_dead_letters   = true
  }
  lambda_settings = {
    "s3-event-handler" = merge(local.lambda_defaults, {
      description        = "Raw-bucket events -> Glue job runs"
      handler            = "s3_event_handler.handler"
      async_dead_letters = false
    })
    "data-quality-monitor" = merge(local.lambda_defaults, {
      description = "Glue run finished -> data quality and failure alerts"
      handler     = "data_quality_monitor.handler"
    })
    "warehouse-loader" = merge(local.lambda_defaults, {
      description = "Glue run succeeded -> load new partitions into the warehouse"
      handler     = "warehouse_loader.handler"
      layers      = [aws_lambda_layer_version.pyarrow.arn]
      timeout     = var.warehouse_loader_timeout_seconds
    })
    "ingestion" = merge(local.lambda_defaults, {
      description = "Schedule tick -> new source files into the raw bucket"
      handler     = "ingestion.handler"
      timeout     = var.ingestion_timeout_seconds
      memory_mb   = var.ingestion_memory_mb
      # One tick at a time: two at once would fetch the same days (harmless, but impolite to the sources).
      reserved_concurrency = 1
    })
  }

  # redshift://<cluster>/<db>?secret_arn=...&iam_role=... (covid_pipeline.warehouse.redshift_target's URL), with the
  # loader's own user's secret (redshift.tf), not the master user's.
  warehouse_url = var.enable_redshift ? format(
    "redshift://%s/%s?secret_arn=%s&iam_role=%s&region=%s",
    local.redshift_cluster,
    var.redshift_database_name,
    urlencode(aws_secretsmanager_secret.warehouse_loader[0].arn),
    urlencode(aws_iam_role.redshift_copy[0].arn),
    var.aws_region,
  ) : ""

  # What every function's logger reads: its service name in each JSON log line, and the level.
  lambda_common_environment = {
    for short in keys(local.lambda_functions) : short => {
      POWERTOOLS_SERVICE_NAME = short
      LOG_LEVEL               = "INFO"
    }
  }

  # Environment per function: the names each handler (or the covid_pipeline module it calls) reads. The functions
  # have no defaults of their own for any of these, here is the only place they are written.
  lambda_environment = {
    "s3-event-handler" = {
      GLUE_JOB_NAME        = local.glue_job
      RAW_BUCKET           = local.raw_bucket
      RAW_PREFIX           = var.raw_prefix
      STATE_BUCKET         = local.processed_bucket
      STATE_PREFIX         = var.state_prefix
      SUPPORTED_SUFFIXES   = join(",", var.supported_suffixes)
      SOURCE_JOB_ARGUMENTS = jsonencode(local.source_job_arguments)
    }
    "data-quality-monitor" = {
      ALERTS_TOPIC_ARN           = aws_sns_topic.alerts.arn
      STATE_PATH                 = local.state_paths[local.default_source]
      DQ_SCORE_THRESHOLD         = tostring(var.dq_score_threshold)
      QUARANTINE_RATIO_THRESHOLD = tostring(var.quarantine_ratio_threshold)
      METRICS_NAMESPACE          = local.metrics_namespace
      ENVIRONMENT                = var.environment
      CLAIM_STALE_SECONDS        = tostring(var.lambda_timeout_seconds)
    }
    "warehouse-loader" = {
      WAREHOUSE_URL     = local.warehouse_url
      SOURCE            = local.default_source
      OUTPUT_PATH       = local.output_paths[local.default_source]
      STATE_PATH        = local.state_paths[local.default_source]
      METRICS_NAMESPACE = local.metrics_namespace
    }
    "ingestion" = {
      RAW_BUCKET        = local.raw_bucket
      RAW_PREFIX        = var.raw_prefix
      STATE_BUCKET      = local.processed_bucket
      STATE_PREFIX      = var.state_prefix
      INGESTION_SOURCES = jsonencode(var.ingestion_sources)
      FETCH_MAX_BYTES   = tostring(var.max_input_compressed_mib * 1048576)
      METRICS_NAMESPACE = local.metrics_namespace
      ALERTS_TOPIC_ARN  = aws_sns_topic.alerts.arn
      ENVIRONMENT       = var.environment
    }
  }
}

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_338:Retention is a per-environment cost decision in config/<env>.tfvars (log_retention_days): prod keeps 365 days, dev and test keep days to weeks on purpose.
  for_each = local.lambda_log_groups

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

# The four functions, one block: what differs between them is written in local.lambda_settings (above).
resource "aws_lambda_function" "pipeline" {
  #checkov:skip=CKV_AWS_116:The s3-event-handler is invoked by an SQS event source mapping, whose failed messages go to the raw-events queue's own DLQ (redrive policy); the three asynchronously invoked functions have the async DLQ (dead_letter_config below).
  #checkov:skip=CKV_AWS_117:The functions call only AWS APIs over TLS (the loader through the Redshift Data API) and fetch public HTTPS sources; there is no VPC resource to reach, and a VPC would add NAT cost.
  #checkov:skip=CKV_AWS_272:Code signing needs a signer profile and a signing step in the release process; the bundle is built from the reviewed repository by deploy.sh.
  for_each = local.lambda_settings

  function_name                  = local.lambda_functions[each.key]
  description                    = each.value.description
  role                           = aws_iam_role.lambda[each.key].arn
  runtime                        = var.lambda_runtime
  handler                        = each.value.handler
  layers                         = each.value.layers
  filename                       = local.lambda_bundle_zip
  source_code_hash               = filebase64sha256(local.lambda_bundle_zip)
  timeout                        = each.value.timeout
  memory_size                    = each.value.memory_mb
  reserved_concurrent_executions = each.value.reserved_concurrency
  kms_key_arn                    = aws_kms_key.pipeline.arn

  environment {
    variables = merge(local.lambda_common_environment[each.key], local.lambda_environment[each.key])
  }

  dynamic "dead_letter_config" {
    for_each = each.value.async_dead_letters ? [aws_sqs_queue.lambda_async_dlq.arn] : []
    content {
      target_arn = dead_letter_config.value
    }
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.lambda[each.key].name
  }
}

resource "aws_lambda_event_source_mapping" "raw_events" {
  event_source_arn                   = aws_sqs_queue.raw_events.arn
  function_name                      = aws_lambda_function.pipeline["s3-event-handler"].arn
  batch_size                         = var.sqs_batch_size
  maximum_batching_window_in_seconds = var.sqs_batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    # Never more pollers than the function may run at once (excess invocations would only be throttled).
    maximum_concurrency = var.lambda_reserved_concurrency
  }

  lifecycle {
    precondition {
      condition     = var.sqs_visibility_timeout_seconds >= local.lambda_settings["s3-event-handler"].timeout
      error_message = "sqs_visibility_timeout_seconds must be at least lambda_timeout_seconds, or messages are redelivered while still being processed."
    }
    precondition {
      condition     = var.sqs_batch_size <= 10 || var.sqs_batching_window_seconds >= 1
      error_message = "sqs_batch_size above 10 needs sqs_batching_window_seconds of at least 1 (a Lambda limit for SQS sources)."
    }
  }
}

# --- Glue job state changes -> the two monitoring/loading functions ---------------------------------------------

resource "aws_cloudwatch_event_rule" "glue_job_finished" {
  name        = local.glue_finished_rule
  description = "Every terminal state of ${local.glue_job} (data quality monitor)"
  event_pattern = jsonencode({
    source        = ["aws.glue"]
    "detail-type" = ["Glue Job State Change"]
    detail = {
      jobName = [local.glue_job]
      # Every terminal state (covid_pipeline.common.TERMINAL_STATES); the monitor counts all but SUCCEEDED as failed.
      state = ["SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR", "EXPIRED"]
    }
  })
}

resource "aws_cloudwatch_event_rule" "glue_job_succeeded" {
  name        = local.glue_succeeded_rule
  description = "Successful runs of ${local.glue_job} (warehouse loader)"
  event_pattern = jsonencode({
    source        = ["aws.glue"]
    "detail-type" = ["Glue Job State Change"]
    detail = {
      jobName = [local.glue_job]
      state   = ["SUCCEEDED"]
    }
  })
}

resource "aws_cloudwatch_event_target" "data_quality_monitor" {
  rule = aws_cloudwatch_event_rule.glue_job_finished.name
  arn  = aws_lambda_function.pipeline["data-quality-monitor"].arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 3
  }
  dead_letter_config {
    arn = aws_sqs_queue.lambda_async_dlq.arn
  }
}

resource "aws_cloudwatch_event_target" "warehouse_loader" {
  count = var.enable_redshift ? 1 : 0

  rule = aws_cloudwatch_event_rule.glue_job_succeeded.name
  arn  = aws_lambda_function.pipeline["warehouse-loader"].arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 3
  }
  dead_letter_config {
    arn = aws_sqs_queue.lambda_async_dlq.arn
  }
}

resource "aws_lambda_permission" "data_quality_monitor_from_events" {
  statement_id  = "AllowGlueStateChangeRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.pipeline["data-quality-monitor"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.glue_job_finished.arn
}

resource "aws_lambda_permission" "warehouse_loader_from_events" {
  count = var.enable_redshift ? 1 : 0

  statement_id  = "AllowGlueSucceededRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.pipeline["warehouse-loader"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.glue_job_succeeded.arn
}

# --- Ingestion: a schedule -> the ingestion function -----------------------------------------------------------

resource "aws_cloudwatch_event_rule" "ingestion_schedule" {
  name                = local.ingestion_rule
  description         = "Ingestion ticks of ${local.name_prefix} (${var.ingestion_schedule})"
  schedule_expression = var.ingestion_schedule
}

resource "aws_cloudwatch_event_target" "ingestion" {
  rule = aws_cloudwatch_event_rule.ingestion_schedule.name
  arn  = aws_lambda_function.pipeline["ingestion"].arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 2
  }
  dead_letter_config {
    arn = aws_sqs_queue.lambda_async_dlq.arn
  }
}

resource "aws_lambda_permission" "ingestion_from_schedule" {
  statement_id  = "AllowIngestionSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.pipeline["ingestion"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.ingestion_schedule.arn
}
