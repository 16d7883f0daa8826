# The Redshift warehouse (only when enable_redshift): a private VPC with no internet gateway (S3 through a gateway
# endpoint, enhanced VPC routing on), an encrypted cluster that is not publicly accessible, its master password
# managed by Secrets Manager, audit logs in CloudWatch, and a COPY role that may read only the processed bucket.
# The warehouse-loader Lambda talks to it through the Redshift Data API, so nothing needs a route into the VPC.

# Two pinned zones (<region>a and <region>b): the subnets must not move when AWS adds a zone.
data "aws_availability_zones" "available" {
  count = var.enable_redshift ? 1 : 0
  state = "available"

  filter {
    name   = "zone-name"
    values = ["${var.aws_region}a", "${var.aws_region}b"]
  }
}

resource "aws_vpc" "warehouse" {
  count = var.enable_redshift ? 1 : 0

  cidr_block           = var.redshift_vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${local.name_prefix}-warehouse" }
}

# Nothing may use the default security group.
resource "aws_default_security_group" "warehouse" {
  count = var.enable_redshift ? 1 : 0

  vpc_id = aws_vpc.warehouse[0].id
}

resource "aws_subnet" "warehouse_private" {
  count = var.enable_redshift ? 2 : 0

  vpc_id                  = aws_vpc.warehouse[0].id
  cidr_block              = cidrsubnet(var.redshift_vpc_cidr, 8, count.index)
  availability_zone       = data.aws_availability_zones.available[0].names[count.index]
  map_public_ip_on_launch = false
  tags                    = { Name = "${local.name_prefix}-warehouse-private-${count.index}" }
}

resource "aws_route_table" "warehouse_private" {
  count = var.enable_redshift ? 1 : 0

  vpc_id = aws_vpc.warehouse[0].id
  tags   = { Name = "${local.name_prefix}-warehouse-private" }
}

resource "aws_route_table_association" "warehouse_private" {
  count = var.enable_redshift ? 2 : 0

  subnet_id      = aws_subnet.warehouse_private[count.index].id
  route_table_id = aws_route_table.warehouse_private[0].id
}

# COPY reads Parquet from S3 through this endpoint (enhanced VPC routing keeps that traffic in the VPC).
resource "aws_vpc_endpoint" "warehouse_s3" {
  count = var.enable_redshift ? 1 : 0

  vpc_id            = aws_vpc.warehouse[0].id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.warehouse_private[0].id]
}

resource "aws_cloudwatch_log_group" "warehouse_flow_logs" {
  #checkov:skip=CKV_AWS_338:Retention is a per-environment cost decision in config/<env>.tfvars (log_retention_days): prod keeps 365 days, dev and test keep days to weeks on purpose.
  count = var.enable_redshift ? 1 : 0

  name              = local.redshift_flow_logs
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

resource "aws_flow_log" "warehouse" {
  count = var.enable_redshift ? 1 : 0

  vpc_id               = aws_vpc.warehouse[0].id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.warehouse_flow_logs[0].arn
  iam_role_arn         = aws_iam_role.warehouse_flow_logs[0].arn
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "warehouse_flow_logs" {
  count = var.enable_redshift ? 1 : 0

  name               = "${local.name_prefix}-warehouse-flow-logs-role"
  description        = "Lets VPC flow logs write to the warehouse VPC's log group"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

data "aws_iam_policy_document" "warehouse_flow_logs" {
  statement {
    sid       = "WriteFlowLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${local.log_group_arn_prefix}${local.redshift_flow_logs}:*"]
  }
}

resource "aws_iam_role_policy" "warehouse_flow_logs" {
  count = var.enable_redshift ? 1 : 0

  name   = "${local.name_prefix}-warehouse-flow-logs"
  role   = aws_iam_role.warehouse_flow_logs[0].id
  policy = data.aws_iam_policy_document.warehouse_flow_logs.json
}

resource "aws_redshift_subnet_group" "warehouse" {
  count = var.enable_redshift ? 1 : 0

  name        = "${local.name_prefix}-warehouse"
  description = "Private subnets of the ${local.name_prefix} warehouse"
  subnet_ids  = aws_subnet.warehouse_private[*].id
}

resource "aws_security_group" "warehouse" {
  count = var.enable_redshift ? 1 : 0

  name        = "${local.name_prefix}-warehouse"
  description = "Redshift: SQL only from inside the warehouse VPC, HTTPS out to the S3 endpoint"
  vpc_id      = aws_vpc.warehouse[0].id

  ingress {
    description = "SQL clients inside the VPC (the Data API needs no inbound rule)"
    from_port   = 5439
    to_port     = 5439
    protocol    = "tcp"
    cidr_blocks = [var.redshift_vpc_cidr]
  }

  egress {
    description     = "HTTPS to S3 through the gateway endpoint (COPY)"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    prefix_list_ids = [aws_vpc_endpoint.warehouse_s3[0].prefix_list_id]
  }
}

resource "aws_redshift_parameter_group" "warehouse" {
  count = var.enable_redshift ? 1 : 0

  name   = "${local.name_prefix}-warehouse"
  family = "redshift-1.0"

  parameter {
    name  = "require_ssl"
    value = "true"
  }
  parameter {
    name  = "enable_user_activity_logging"
    value = "true"
  }
}

resource "aws_cloudwatch_log_group" "warehouse_audit" {
  #checkov:skip=CKV_AWS_338:Retention is a per-environment cost decision in config/<env>.tfvars (log_retention_days): prod keeps 365 days, dev and test keep days to weeks on purpose.
  for_each = var.enable_redshift ? toset(["connectionlog", "userlog", "useractivitylog"]) : toset([])

  name              = "${local.redshift_log_group}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

resource "aws_redshift_cluster" "warehouse" {
  #checkov:skip=CKV_AWS_71:Audit logging is on through aws_redshift_logging.warehouse below; this check only reads the cluster's deprecated logging block.
  count = var.enable_redshift ? 1 : 0

  cluster_identifier                  = local.redshift_cluster
  database_name                       = var.redshift_database_name
  node_type                           = var.redshift_node_type
  cluster_type                        = var.redshift_number_of_nodes > 1 ? "multi-node" : "single-node"
  number_of_nodes                     = var.redshift_number_of_nodes
  master_username                     = "pipeline_admin"
  manage_master_password              = true
  master_password_secret_kms_key_id   = aws_kms_key.pipeline.arn
  encrypted                           = true
  kms_key_id                          = aws_kms_key.pipeline.arn
  publicly_accessible                 = false
  enhanced_vpc_routing                = true
  cluster_subnet_group_name           = aws_redshift_subnet_group.warehouse[0].name
  vpc_security_group_ids              = [aws_security_group.warehouse[0].id]
  cluster_parameter_group_name        = aws_redshift_parameter_group.warehouse[0].name
  iam_roles                           = [aws_iam_role.redshift_copy[0].arn]
  default_iam_role_arn                = aws_iam_role.redshift_copy[0].arn
  automated_snapshot_retention_period = var.redshift_snapshot_retention_days
  allow_version_upgrade               = true
  preferred_maintenance_window        = "sun:03:00-sun:04:00"
  # Protected environments keep a final snapshot on destroy.
  skip_final_snapshot       = !var.deletion_protection
  final_snapshot_identifier = var.deletion_protection ? "${local.redshift_cluster}-final" : null
}

# Audit logs (connections, users, user activity) to the CloudWatch log groups above.
resource "aws_redshift_logging" "warehouse" {
  count = var.enable_redshift ? 1 : 0

  cluster_identifier   = aws_redshift_cluster.warehouse[0].cluster_identifier
  log_destination_type = "cloudwatch"
  log_exports          = ["connectionlog", "userlog", "useractivitylog"]

  depends_on = [aws_cloudwatch_log_group.warehouse_audit]
}

# The warehouse loader's own database user (not the master user). Terraform cannot create database users, so it
# creates the user's secret holding only its name; `covid-pipeline warehouse-bootstrap` (covid_pipeline.warehouse.
# redshift_bootstrap), run once with the master secret, creates the user with only the grants a load needs (its own
# schema, TEMP, ASSUMEROLE on the COPY role) and writes the password it generated into this secret. No password
# passes through Terraform or its state; the loader Lambda may read this secret and not the master's.
resource "aws_secretsmanager_secret" "warehouse_loader" {
  #checkov:skip=CKV2_AWS_57:The password lives in Redshift as well; it is rotated by re-running warehouse-bootstrap (a rotation Lambda would need a network path into the private cluster).
  count = var.enable_redshift ? 1 : 0

  name                    = "${local.name_prefix}-warehouse-loader"
  description             = "Redshift user of the ${local.name_prefix} warehouse loader (password set by warehouse-bootstrap)"
  kms_key_id              = aws_kms_key.pipeline.arn
  recovery_window_in_days = var.deletion_protection ? 30 : 7
}

resource "aws_secretsmanager_secret_version" "warehouse_loader" {
  count = var.enable_redshift ? 1 : 0

  secret_id     = aws_secretsmanager_secret.warehouse_loader[0].id
  secret_string = jsonencode({ username = local.warehouse_loader_user })

  lifecycle {
    # warehouse-bootstrap adds the password to this document; Terraform writes the user name once.
    ignore_changes = [secret_string]
  }
}

# COPY ... FROM 's3://<processed>/...' IAM_ROLE default: read the processed bucket, nothing else.
data "aws_iam_policy_document" "redshift_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "redshift_copy" {
  count = var.enable_redshift ? 1 : 0

  name               = "${local.redshift_cluster}-copy-role"
  description        = "Lets the warehouse COPY Parquet from the processed bucket (read only)"
  assume_role_policy = data.aws_iam_policy_document.redshift_assume.json
}

data "aws_iam_policy_document" "redshift_copy" {
  statement {
    sid       = "ReadProcessedParquet"
    actions   = ["s3:GetObject"]
    resources = [for source in local.sources : "${local.processed_bucket_arn}/${source}/*"]
  }

  statement {
    sid       = "ListProcessed"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.processed_bucket_arn]
  }

  statement {
    sid       = "DecryptProcessed"
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = [aws_kms_key.pipeline.arn]
  }
}

resource "aws_iam_role_policy" "redshift_copy" {
  count = var.enable_redshift ? 1 : 0

  name   = "${local.redshift_cluster}-copy"
  role   = aws_iam_role.redshift_copy[0].id
  policy = data.aws_iam_policy_document.redshift_copy.json
}
