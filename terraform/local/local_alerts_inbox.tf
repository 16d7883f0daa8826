# The local stand-in for the alerts topic's e-mail subscription: an SQS queue subscribed to the topic, which
# `covid-pipeline alerts` and the tests read. AWS keeps the e-mail subscription (monitoring.tf), and so does the
# local cloud.
resource "aws_sqs_queue" "alerts_inbox" {
  name                      = "${local.name_prefix}-alerts-inbox"
  kms_master_key_id         = aws_kms_key.pipeline.arn
  message_retention_seconds = 1209600
  # Inline, with the queue's ARN built from its name: a separate queue policy costs the provider's 25 s wait again.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AlertsTopicDelivers"
      Effect    = "Allow"
      Principal = { Service = "sns.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.name_prefix}-alerts-inbox"
      Condition = { ArnEquals = { "aws:SourceArn" = aws_sns_topic.alerts.arn } }
    }]
  })
}

resource "aws_sns_topic_subscription" "alerts_inbox" {
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.alerts_inbox.arn
}

output "local_alerts_inbox" {
  description = "Name of the SQS queue that receives what the alerts topic publishes (the local stand-in for e-mail)."
  value       = aws_sqs_queue.alerts_inbox.name
}
