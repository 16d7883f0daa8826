# Least privilege: one role per component, each allowed exactly the actions its code calls on exactly its
# resources. No statement uses a "*" action; a "*" resource appears only where the action has no resource-level
# permissions in IAM, each with a comment saying so (tests/infra checks both).

locals {
  raw_bucket_arn        = "arn:${local.partition}:s3:::${local.raw_bucket}"
  processed_bucket_arn  = "arn:${local.partition}:s3:::${local.processed_bucket}"
  quarantine_bucket_arn = "arn:${local.partition}:s3:::${local.quarantine_bucket}"
  scripts_bucket_arn    = "arn:${local.partition}:s3:::${local.scripts_bucket}"
  glue_catalog_arn      = "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"
  glue_database_arn     = "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${local.glue_database}"
  glue_table_arns       = [for table in values(local.glue_tables) : "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${local.glue_database}/${table}"]
  glue_job_arn          = "arn:${local.partition}:glue:${local.region}:${local.account_id}:job/${local.glue_job}"
  log_group_arn_prefix  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:"
}

# --- Lambda -----------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "lambda" {
  for_each = local.lambda_functions

  name               = "${each.value}-role"
  description        = "Execution role of ${each.value}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# What every function needs: write its own log group, send traces, use the key for its environment and logs.
data "aws_iam_policy_document" "lambda_common" {
  for_each = local.lambda_functions

  statement {
    sid       = "WriteOwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn_prefix}${local.lambda_log_groups[each.key]}:*"]
  }

  statement {
    sid     = "SendTraces"
    actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    # X-Ray trace ingestion has no resource-level permissions: AWS requires "*".
    resources = ["*"]
  }

  statement {
    sid       = "UsePipelineKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.pipeline.arn]
  }
}

data "aws_iam_policy_document" "s3_event_handler" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_common["s3-event-handler"].json]

  statement {
    sid = "ConsumeRawEvents"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      # A message whose run cannot start yet (job busy) is re-sent to the same queue with a delay.
      "sqs:SendMessage",
    ]
    resources = [aws_sqs_queue.raw_events.arn]
  }

  statement {
    sid       = "StartTheJob"
    actions   = ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns"]
    resources = [local.glue_job_arn]
  }

  statement {
    sid       = "ClaimEventsOnce"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.processed_bucket_arn}/${var.state_prefix}events/*"]
  }

  statement {
    # A re-delivered event whose object version the job's ledger already holds starts no run.
    sid       = "ReadJobLedgers"
    actions   = ["s3:GetObject"]
    resources = ["${local.processed_bucket_arn}/${var.state_prefix}*/ledger.json"]
  }

  statement {
    # Without ListBucket a missing claim reads as 403 instead of 404, and the handler could not tell them apart.
    sid       = "ListClaims"
    actions   = ["s3:ListBucket"]
    resources = [local.processed_bucket_arn]
  }
}

data "aws_iam_policy_document" "data_quality_monitor" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_common["data-quality-monitor"].json]

  statement {
    sid       = "ReadRunManifests"
    actions   = ["s3:GetObject"]
    resources = ["${local.processed_bucket_arn}/${var.state_prefix}*"]
  }

  statement {
    # One check per run and final state: EventBridge may deliver the same event twice.
    sid       = "MarkRunsChecked"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.processed_bucket_arn}/${var.state_prefix}*/monitor/*"]
  }

  statement {
    sid       = "ListRunManifests"
    actions   = ["s3:ListBucket"]
    resources = [local.processed_bucket_arn]
  }

  statement {
    # The run's own --state_path says where its manifest is (GetJobRun arguments over GetJob defaults).
    sid       = "ReadJobAndRuns"
    actions   = ["glue:GetJob", "glue:GetJobRun"]
    resources = [local.glue_job_arn]
  }

  statement {
    sid       = "Alert"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }

  statement {
    sid     = "PublishPipelineMetrics"
    actions = ["cloudwatch:PutMetricData"]
    # PutMetricData has no resource-level permissions: AWS requires "*"; the condition pins our namespace.
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metrics_namespace]
    }
  }

  statement {
    sid       = "DeadLetterFailedInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.lambda_async_dlq.arn]
  }
}

data "aws_iam_policy_document" "warehouse_loader" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_common["warehouse-loader"].json]

  statement {
    sid       = "ReadOutputAndManifests"
    actions   = ["s3:GetObject"]
    resources = ["${local.processed_bucket_arn}/*"]
  }

  statement {
    sid       = "ListOutput"
    actions   = ["s3:ListBucket"]
    resources = [local.processed_bucket_arn]
  }

  statement {
    # The run's --output_path / --state_path say which partitions it wrote.
    sid       = "ReadJobAndRuns"
    actions   = ["glue:GetJob", "glue:GetJobRun"]
    resources = [local.glue_job_arn]
  }

  statement {
    sid     = "PublishPipelineMetrics"
    actions = ["cloudwatch:PutMetricData"]
    # PutMetricData has no resource-level permissions: AWS requires "*"; the condition pins our namespace.
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metrics_namespace]
    }
  }

  statement {
    sid       = "DeadLetterFailedInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.lambda_async_dlq.arn]
  }

  dynamic "statement" {
    for_each = var.enable_redshift ? [true] : []
    content {
      sid       = "RunStatementsOnTheWarehouse"
      actions   = ["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"]
      resources = [aws_redshift_cluster.warehouse[0].arn]
    }
  }

  dynamic "statement" {
    for_each = var.enable_redshift ? [true] : []
    content {
      sid     = "FollowOwnStatements"
      actions = ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult", "redshift-data:CancelStatement"]
      # These Data API actions have no resource-level permissions: AWS requires "*"; the condition limits them
      # to statements this role started.
      resources = ["*"]
      condition {
        test     = "StringEquals"
        variable = "redshift-data:statement-owner-iam-userid"
        values   = ["$${aws:userid}"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.enable_redshift ? [true] : []
    content {
      # The loader's own user (redshift.tf), never the master user's secret.
      sid       = "ReadWarehouseCredentials"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [aws_secretsmanager_secret.warehouse_loader[0].arn]
    }
  }
}

data "aws_iam_policy_document" "ingestion" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_common["ingestion"].json]

  statement {
    # Only new objects under the raw prefix: it never reads, lists or deletes raw data.
    sid       = "StoreRawFiles"
    actions   = ["s3:PutObject"]
    resources = ["${local.raw_bucket_arn}/${var.raw_prefix}*"]
  }

  statement {
    # Its own state: the sources' validators and digests, and its run records.
    sid       = "ReadWriteOwnState"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.processed_bucket_arn}/${local.ingestion_state_prefix}*"]
  }

  statement {
    # Without ListBucket a state object not written yet reads as 403 instead of 404 (the first tick of a source).
    sid       = "ListOwnState"
    actions   = ["s3:ListBucket"]
    resources = [local.processed_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.ingestion_state_prefix}*"]
    }
  }

  statement {
    sid       = "Alert"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }

  statement {
    sid     = "PublishPipelineMetrics"
    actions = ["cloudwatch:PutMetricData"]
    # PutMetricData has no resource-level permissions: AWS requires "*"; the condition pins our namespace.
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metrics_namespace]
    }
  }

  statement {
    # The schedule invokes asynchronously: after its retries a failed tick goes to the async dead-letter queue.
    sid       = "DeadLetterFailedInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.lambda_async_dlq.arn]
  }
}

locals {
  lambda_policies = {
    "s3-event-handler"     = data.aws_iam_policy_document.s3_event_handler.json
    "data-quality-monitor" = data.aws_iam_policy_document.data_quality_monitor.json
    "warehouse-loader"     = data.aws_iam_policy_document.warehouse_loader.json
    "ingestion"            = data.aws_iam_policy_document.ingestion.json
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.lambda_functions

  name   = "${each.value}-least-privilege"
  role   = aws_iam_role.lambda[each.key].id
  policy = local.lambda_policies[each.key]
}

# --- Glue job ---------------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "glue_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "glue_job" {
  name               = "${local.glue_job}-role"
  description        = "Role of the Glue job ${local.glue_job}"
  assume_role_policy = data.aws_iam_policy_document.glue_assume.json
}

data "aws_iam_policy_document" "glue_job" {
  statement {
    sid       = "ReadRawFiles"
    actions   = ["s3:GetObject"]
    resources = ["${local.raw_bucket_arn}/${var.raw_prefix}*"]
  }

  statement {
    sid       = "ListRawFiles"
    actions   = ["s3:ListBucket"]
    resources = [local.raw_bucket_arn]
  }

  statement {
    sid       = "ReadScriptLibrariesAndReference"
    actions   = ["s3:GetObject"]
    resources = ["${local.scripts_bucket_arn}/glue/*", "${local.scripts_bucket_arn}/reference/*"]
  }

  statement {
    # Parquet output, the ledger and run manifests (state prefix) all live in the processed bucket; Spark's
    # commit protocol writes and deletes temporary objects beside the output.
    sid       = "WriteOutputAndState"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.processed_bucket_arn}/*"]
  }

  statement {
    sid       = "WriteQuarantine"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.quarantine_bucket_arn}/${var.quarantine_prefix}*"]
  }

  statement {
    sid       = "ListOutputAndQuarantine"
    actions   = ["s3:ListBucket"]
    resources = [local.processed_bucket_arn, local.quarantine_bucket_arn]
  }

  statement {
    # Terraform creates the database and tables; the job creates them only if they are missing (first run after a
    # manual cleanup) and appends columns as the schema evolves.
    sid = "MaintainCatalogTables"
    actions = [
      "glue:GetDatabase",
      "glue:CreateDatabase",
      "glue:CreateTable",
      "glue:GetTable",
      "glue:GetTables",
      "glue:UpdateTable",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:BatchGetPartition",
      "glue:CreatePartition",
      "glue:BatchCreatePartition",
      "glue:UpdatePartition",
      "glue:BatchUpdatePartition",
    ]
    resources = concat([local.glue_catalog_arn, local.glue_database_arn], local.glue_table_arns)
  }

  statement {
    # Continuous logging into the job's log group, and Glue's own /aws-glue/* groups (driver/executor output,
    # the security configuration's encrypted groups), associating them with the pipeline key.
    sid       = "WriteGlueLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"]
    resources = ["${local.log_group_arn_prefix}/aws-glue/*"]
  }

  statement {
    sid       = "UsePipelineKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey"]
    resources = [aws_kms_key.pipeline.arn]
  }

  statement {
    sid     = "PublishJobMetrics"
    actions = ["cloudwatch:PutMetricData"]
    # PutMetricData has no resource-level permissions: AWS requires "*"; the condition pins Glue's and our namespace.
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.glue_metrics_namespace, local.metrics_namespace]
    }
  }
}

resource "aws_iam_role_policy" "glue_job" {
  name   = "${local.glue_job}-least-privilege"
  role   = aws_iam_role.glue_job.id
  policy = data.aws_iam_policy_document.glue_job.json
}

# --- Glue crawler (optional) ------------------------------------------------------------------------------------

resource "aws_iam_role" "glue_crawler" {
  count = var.enable_glue_crawler ? 1 : 0

  name               = "${local.glue_crawler}-role"
  description        = "Role of the optional Glue crawler over the processed bucket"
  assume_role_policy = data.aws_iam_policy_document.glue_assume.json
}

data "aws_iam_policy_document" "glue_crawler" {
  statement {
    sid       = "ReadOutput"
    actions   = ["s3:GetObject"]
    resources = [for source in local.sources : "${local.processed_bucket_arn}/${source}/*"]
  }

  statement {
    sid       = "ListOutput"
    actions   = ["s3:ListBucket"]
    resources = [local.processed_bucket_arn]
  }

  statement {
    sid = "UpdatePartitions"
    actions = [
      "glue:GetDatabase",
      "glue:GetTable",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:BatchGetPartition",
      "glue:BatchCreatePartition",
      "glue:UpdatePartition",
    ]
    resources = concat([local.glue_catalog_arn, local.glue_database_arn], local.glue_table_arns)
  }

  statement {
    sid       = "WriteCrawlerLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"]
    resources = ["${local.log_group_arn_prefix}/aws-glue/*"]
  }

  statement {
    sid       = "UsePipelineKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.pipeline.arn]
  }
}

resource "aws_iam_role_policy" "glue_crawler" {
  count = var.enable_glue_crawler ? 1 : 0

  name   = "${local.glue_crawler}-least-privilege"
  role   = aws_iam_role.glue_crawler[0].id
  policy = data.aws_iam_policy_document.glue_crawler.json
}
