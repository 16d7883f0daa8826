# Raw-object events: S3 -> SQS (encrypted, with a dead-letter queue) -> the s3-event-handler Lambda.
# A queue between S3 and Lambda lets a batch of uploads start one job run, and a busy job (ConcurrentRunsExceeded)
# simply means the message comes back later instead of being lost.
#
# Each queue's policy is its own `policy` argument, with the queue's ARN built from its name, rather than a separate
# aws_sqs_queue_policy: the provider waits about 25 s after creating a queue and again after setting a queue policy
# (its fixed propagation check), and the chain KMS key -> DLQ -> queue -> policy -> notification was most of an apply.
locals {
  raw_events_queue_arn = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.raw_events_queue}"
  raw_events_dlq_arn   = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.raw_events_dlq}"
  lambda_async_dlq_arn = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.lambda_async_dlq}"
}

# The TLS-only deny of each queue and of the alerts topic (monitoring.tf): every policy of theirs merges it in.
module "tls_only" {
  source = "./modules/tls_only_policy"
  for_each = {
    raw_events       = { service = "sqs", arn = local.raw_events_queue_arn }
    raw_events_dlq   = { service = "sqs", arn = local.raw_events_dlq_arn }
    lambda_async_dlq = { service = "sqs", arn = local.lambda_async_dlq_arn }
    alerts_topic     = { service = "sns", arn = aws_sns_topic.alerts.arn }
  }

  service       = each.value.service
  resource_arns = [each.value.arn]
}

resource "aws_sqs_queue" "raw_events_dlq" {
  name                      = local.raw_events_dlq
  kms_master_key_id         = aws_kms_key.pipeline.arn
  message_retention_seconds = 1209600 # 14 days, the SQS maximum: time to investigate and replay.
  policy                    = module.tls_only["raw_events_dlq"].json

  # Only the raw-events queue may dead-letter into the DLQ.
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [local.raw_events_queue_arn]
  })
}

resource "aws_sqs_queue" "raw_events" {
  name                       = local.raw_events_queue
  kms_master_key_id          = aws_kms_key.pipeline.arn
  visibility_timeout_seconds = var.sqs_visibility_timeout_seconds
  message_retention_seconds  = 345600 # 4 days
  receive_wait_time_seconds  = 20     # long polling
  policy                     = data.aws_iam_policy_document.raw_events_queue.json

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.raw_events_dlq.arn
    maxReceiveCount     = var.sqs_max_receive_count
  })
}

data "aws_iam_policy_document" "raw_events_queue" {
  source_policy_documents = [module.tls_only["raw_events"].json]

  statement {
    sid       = "OnlyTheRawBucketSendsEvents"
    actions   = ["sqs:SendMessage"]
    resources = [local.raw_events_queue_arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [module.raw_bucket.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# New objects below the raw prefix, whatever their suffix: the handler decides what it supports and logs the rest.
resource "aws_s3_bucket_notification" "raw_events" {
  bucket = module.raw_bucket.id

  queue {
    queue_arn     = aws_sqs_queue.raw_events.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.raw_prefix
  }
}

# Failed asynchronous invocations of the two EventBridge-triggered functions (and undeliverable events).
resource "aws_sqs_queue" "lambda_async_dlq" {
  name                      = local.lambda_async_dlq
  kms_master_key_id         = aws_kms_key.pipeline.arn
  message_retention_seconds = 1209600
  policy                    = data.aws_iam_policy_document.lambda_async_dlq.json
}

data "aws_iam_policy_document" "lambda_async_dlq" {
  source_policy_documents = [module.tls_only["lambda_async_dlq"].json]

  statement {
    sid       = "EventBridgeDeadLettersGlueStateChanges"
    actions   = ["sqs:SendMessage"]
    resources = [local.lambda_async_dlq_arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.glue_job_finished.arn, aws_cloudwatch_event_rule.glue_job_succeeded.arn]
    }
  }
}
