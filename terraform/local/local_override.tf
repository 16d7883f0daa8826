# Override for the local cloud (see local_endpoint.tf): every service the configuration uses goes to the emulator's
# HTTPS endpoint, credentials are not checked, S3 uses path-style addressing, and state stays on this machine
# (init sets its path under .local/<env>/).
terraform {
  backend "local" {}
}

provider "aws" {
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  custom_ca_bundle            = var.local_ca_bundle

  endpoints {
    budgets        = var.local_endpoint
    cloudtrail     = var.local_endpoint
    cloudwatch     = var.local_endpoint
    ec2            = var.local_endpoint
    events         = var.local_endpoint
    glue           = var.local_endpoint
    iam            = var.local_endpoint
    kms            = var.local_endpoint
    lambda         = var.local_endpoint
    logs           = var.local_endpoint
    redshift       = var.local_endpoint
    s3             = var.local_endpoint
    secretsmanager = var.local_endpoint
    sns            = var.local_endpoint
    sqs            = var.local_endpoint
    sts            = var.local_endpoint
  }
}

# The local warehouse is always there: the loader writes to it and is triggered by every successful run.
locals {
  warehouse_url = var.local_warehouse_url
}

resource "aws_cloudwatch_event_target" "warehouse_loader" {
  count = 1
}

resource "aws_lambda_permission" "warehouse_loader_from_events" {
  count = 1
}
