# Alerts and visibility: an encrypted SNS topic (email subscription), seven alarms, a dashboard and a budget.
#
# Metrics the alarms read (the local cloud evaluates these same alarms, applied by Terraform, on the same
# CovidPipeline metrics: covid_pipeline.local.alarm_evaluator):
#   CovidPipeline  JobRunsFailed, DataQualityScore, JobDurationSeconds  JobName=<job>
#                  (published by the data-quality-monitor Lambda for every finished run)
#   CovidPipeline  IngestionFailures, IngestionRefused, IngestionFilesStored  (ingestion Lambda, every tick)
#   Glue           glue.driver.aggregate.elapsedTime (ms)  (emitted by Glue with --enable-metrics, while a run runs)
#   AWS/SQS, AWS/Lambda                                     (emitted by the services)

resource "aws_sns_topic" "alerts" {
  name              = local.alerts_topic
  kms_master_key_id = aws_kms_key.pipeline.arn
}

resource "aws_sns_topic_subscription" "alerts_email" {
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.notification_email
}

resource "aws_sns_topic_policy" "alerts" {
  arn    = aws_sns_topic.alerts.arn
  policy = data.aws_iam_policy_document.alerts_topic.json
}

data "aws_iam_policy_document" "alerts_topic" {
  source_policy_documents = [module.tls_only["alerts_topic"].json] # sqs.tf

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.name_prefix}-*"]
    }
  }
}

locals {
  alarm_actions = [aws_sns_topic.alerts.arn]
}

resource "aws_cloudwatch_metric_alarm" "glue_job_failures" {
  alarm_name          = local.alarms["glue-job-failures"]
  alarm_description   = "A run of ${local.glue_job} ended FAILED, TIMEOUT or ERROR."
  namespace           = local.metrics_namespace
  metric_name         = "JobRunsFailed"
  dimensions          = { JobName = local.glue_job }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
}

# A fetch that kept failing: the ingestion function publishes IngestionFailures (no dimension: the whole tick) and
# alerts the topic itself, as the monitor does for a failed run; the alarm keeps the failure visible until a tick
# succeeds.
resource "aws_cloudwatch_metric_alarm" "ingestion_failures" {
  alarm_name          = local.alarms["ingestion-failures"]
  alarm_description   = "An ingestion tick could not fetch a source after its retries (${var.ingestion_schedule})."
  namespace           = local.metrics_namespace
  metric_name         = "IngestionFailures"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dq_score_low" {
  alarm_name          = local.alarms["dq-score-low"]
  alarm_description   = "The data quality score of a run fell below ${var.dq_score_threshold}."
  namespace           = local.metrics_namespace
  metric_name         = "DataQualityScore"
  dimensions          = { JobName = local.glue_job }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.dq_score_threshold
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  alarm_name          = local.alarms["dlq-not-empty"]
  alarm_description   = "Messages are waiting in a dead-letter queue (raw events or failed async invocations)."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "waiting"
    expression  = "raw + async"
    label       = "Dead-lettered messages"
    return_data = true
  }
  metric_query {
    id = "raw"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.raw_events_dlq.name }
      stat        = "Maximum"
      period      = 300
    }
  }
  metric_query {
    id = "async"
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.lambda_async_dlq.name }
      stat        = "Maximum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name          = local.alarms["lambda-errors"]
  alarm_description   = "One of the pipeline's Lambda functions raised errors."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions

  metric_query {
    id          = "errors"
    expression  = "SUM(METRICS())"
    label       = "Lambda errors"
    return_data = true
  }
  dynamic "metric_query" {
    for_each = local.lambda_functions
    content {
      id = "e_${replace(metric_query.key, "-", "_")}"
      metric {
        namespace   = "AWS/Lambda"
        metric_name = "Errors"
        dimensions  = { FunctionName = metric_query.value }
        stat        = "Sum"
        period      = 300
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  alarm_name          = local.alarms["lambda-throttles"]
  alarm_description   = "A pipeline Lambda function hit its reserved concurrency (events wait or retry)."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions

  metric_query {
    id          = "throttles"
    expression  = "SUM(METRICS())"
    label       = "Lambda throttles"
    return_data = true
  }
  dynamic "metric_query" {
    for_each = local.lambda_functions
    content {
      id = "t_${replace(metric_query.key, "-", "_")}"
      metric {
        namespace   = "AWS/Lambda"
        metric_name = "Throttles"
        dimensions  = { FunctionName = metric_query.value }
        stat        = "Sum"
        period      = 300
      }
    }
  }
}

# Fires while a run is still running (Glue's live elapsed time) and for a finished run that took too long.
resource "aws_cloudwatch_metric_alarm" "job_duration" {
  alarm_name          = local.alarms["job-duration"]
  alarm_description   = "A run of ${local.glue_job} has taken longer than ${var.job_duration_alarm_seconds} s."
  evaluation_periods  = 1
  threshold           = var.job_duration_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.alarm_actions

  metric_query {
    id          = "seconds"
    expression  = "MAX([FILL(running, 0) / 1000, FILL(finished, 0)])"
    label       = "Job run seconds"
    return_data = true
  }
  metric_query {
    id = "running"
    metric {
      namespace   = local.glue_metrics_namespace
      metric_name = "glue.driver.aggregate.elapsedTime"
      dimensions  = { JobName = local.glue_job, JobRunId = "ALL", Type = "count" }
      stat        = "Maximum"
      period      = 300
    }
  }
  metric_query {
    id = "finished"
    metric {
      namespace   = local.metrics_namespace
      metric_name = "JobDurationSeconds"
      dimensions  = { JobName = local.glue_job }
      stat        = "Maximum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = local.dashboard
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Rows per run"
          region = local.region
          stat   = "Sum"
          period = 3600
          metrics = [
            [local.metrics_namespace, "RowsIn", "JobName", local.glue_job],
            [local.metrics_namespace, "RowsOut", "JobName", local.glue_job],
            [local.metrics_namespace, "RowsQuarantined", "JobName", local.glue_job],
            [local.metrics_namespace, "RowsDuplicate", "JobName", local.glue_job],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Data quality score"
          region = local.region
          stat   = "Minimum"
          period = 3600
          metrics = [
            [local.metrics_namespace, "DataQualityScore", "JobName", local.glue_job],
          ]
          annotations = { horizontal = [{ label = "threshold", value = var.dq_score_threshold }] }
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "Job run time (s) and failed runs"
          region = local.region
          stat   = "Maximum"
          period = 300
          metrics = [
            [local.metrics_namespace, "JobDurationSeconds", "JobName", local.glue_job],
            [local.metrics_namespace, "JobRunsFailed", "JobName", local.glue_job, { stat = "Sum" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Lambda invocations and errors"
          region = local.region
          stat   = "Sum"
          period = 300
          metrics = concat(
            [for name in values(local.lambda_functions) : ["AWS/Lambda", "Invocations", "FunctionName", name]],
            [for name in values(local.lambda_functions) : ["AWS/Lambda", "Errors", "FunctionName", name]],
          )
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title  = "Queues"
          region = local.region
          stat   = "Maximum"
          period = 300
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.raw_events_queue],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.raw_events_dlq],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.lambda_async_dlq],
          ]
        }
      },
      {
        type = "alarm", x = 12, y = 12, width = 12, height = 6
        properties = {
          title = "Alarms"
          alarms = [
            aws_cloudwatch_metric_alarm.glue_job_failures.arn,
            aws_cloudwatch_metric_alarm.dq_score_low.arn,
            aws_cloudwatch_metric_alarm.dlq_not_empty.arn,
            aws_cloudwatch_metric_alarm.lambda_errors.arn,
            aws_cloudwatch_metric_alarm.lambda_throttles.arn,
            aws_cloudwatch_metric_alarm.job_duration.arn,
          ]
        }
      },
    ]
  })
}

# Cost guard. The filter uses the Stack tag every resource carries (default_tags); activate "Stack" as a cost
# allocation tag once per account (Billing console) so the budget sees this environment's spend.
resource "aws_budgets_budget" "monthly" {
  name         = local.budget
  budget_type  = "COST"
  limit_amount = tostring(var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "TagKeyValue"
    values = [join("$", ["user:Stack", local.name_prefix])]
  }

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 80
    threshold_type             = "PERCENTAGE"
    notification_type          = "ACTUAL"
    subscriber_email_addresses = [var.notification_email]
  }

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 100
    threshold_type             = "PERCENTAGE"
    notification_type          = "FORECASTED"
    subscriber_email_addresses = [var.notification_email]
  }
}
