# The local stand-in for the alerts topic's e-mail subscription: an SQS queue subscribed to the topic, which
# `covid-pipeline alerts` and the tests read. AWS keeps the e-mail subscription (monitoring.tf), and so does the
# local cloud.
resource "aws_sqs_queue" "alerts_inbox" {
  name                      = "${local.name_prefix}-alerts-inbox"
  kms_master_key_id         = aws_kms_key.pipeline.arn
  message_retention_seconds = 1209600
}

resource "aws_sqs_queue_policy" "alerts_inbox" {
  queue_url = aws_sqs_queue.alerts_inbox.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AlertsTopicDelivers"
      Effect    = "Allow"
      Principal = { Service = "sns.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.alerts_inbox.arn
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
