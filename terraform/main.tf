# covid-data-pipeline infrastructure: one concern per file.
#   versions.tf    Terraform and provider pins          variables.tf  inputs (set by config/<env>.tfvars)
#   locals.tf      every resource name (== covid_pipeline.config)   outputs.tf  what operators need after apply
#   kms.tf         the customer managed key             s3.tf         buckets, the access-log one too (modules/secure_bucket)
#   sqs.tf         raw-events queue, DLQs, S3 -> SQS    lambda.tf     the four functions (for_each) and their triggers
#   glue.tf        catalog, job, security config        redshift.tf   warehouse (enable_redshift only)
#   iam.tf         one least-privilege role per component  monitoring.tf  SNS, alarms, dashboard, budget
#   audit.tf       CloudTrail (own bucket, validated, KMS) and Glue Data Catalog encryption
#   moved.tf       earlier addresses of moved resources (an existing state plans without replacements)
#   modules/       secure_bucket (README, examples/) and tls_only_policy (the DenyInsecureTransport statement)
#   local/         override to apply this configuration against the local cloud (see local/local_endpoint.tf)
#
# Offline checks (make test, tests/infra/): terraform fmt, validate and plan of every environment with the real
# provider against a throwaway emulator, the applied `test` environment, checkov per environment, deploy.sh runs.
#
# Provider and state backend.
#
# The S3 backend is configured per environment at init time, so one configuration serves dev, staging and prod:
#   terraform init -backend-config=../config/backend-<env>.hcl
#   terraform plan -var-file=../config/<env>.tfvars
# scripts/deploy.sh ENV plan|apply|destroy runs exactly that (after packaging the Glue and Lambda artifacts).
terraform {
  backend "s3" {}
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.common_tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}
