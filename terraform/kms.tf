# One customer managed key per environment encrypts every bucket, queue, topic, log group, Lambda environment,
# Glue log/bookmark and the Redshift cluster. Rotation is on; the key policy names each AWS service that uses the key
# on our behalf and limits it to this account's resources.
resource "aws_kms_key" "pipeline" {
  description             = "${local.name_prefix}: encrypts pipeline data, queues, topics and logs"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_key.json
}

resource "aws_kms_alias" "pipeline" {
  name          = local.kms_alias
  target_key_id = aws_kms_key.pipeline.key_id
}

data "aws_iam_policy_document" "kms_key" {
  #checkov:skip=CKV_AWS_109:This is a key policy: "*" is the key itself, and only this account's principals (through IAM) may manage it.
  #checkov:skip=CKV_AWS_111:This is a key policy: "*" is the key itself; service principals are limited by source account and encryption context.
  #checkov:skip=CKV_AWS_356:This is a key policy: the resource of a key policy statement can only be "*" (the key it is attached to).
  statement {
    sid = "AccountAdministersAndDelegatesToIam"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListAliases",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ReEncrypt*",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    # In a key policy "*" means "this key": the policy is attached to exactly one key.
    resources = ["*"]
  }

  statement {
    sid = "CloudWatchLogsEncryptsOurLogGroups"
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    actions = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    # In a key policy "*" means "this key"; the condition limits use to this environment's log groups.
    resources = ["*"]
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws-glue/*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${local.name_prefix}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/redshift/cluster/${local.name_prefix}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/vpc/${local.name_prefix}-*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/cloudtrail/${local.name_prefix}-*",
      ]
    }
  }

  statement {
    sid = "ServicesDeliverToEncryptedQueuesAndTopic"
    principals {
      type = "Service"
      # S3 sends raw-object events to the queue, CloudWatch alarms publish to the topic, EventBridge dead-letters
      # undeliverable events into the Lambda DLQ.
      identifiers = ["s3.amazonaws.com", "cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }
    actions = ["kms:Decrypt", "kms:GenerateDataKey*"]
    # In a key policy "*" means "this key"; the condition limits the services to this account's resources.
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid = "CloudTrailEncryptsTheTrailsLogFiles"
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    actions = ["kms:GenerateDataKey*"]
    # In a key policy "*" means "this key"; the encryption context CloudTrail sends names the trail (a multi-region
    # trail keeps its home region's ARN).
    resources = ["*"]
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:cloudtrail:arn"
      values   = [local.cloudtrail_trail_arn]
    }
  }

  statement {
    sid = "CloudTrailDescribesTheKey"
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    actions = ["kms:DescribeKey"]
    # In a key policy "*" means "this key"; only for this environment's trail.
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.cloudtrail_trail_arn]
    }
  }
}
