# Terraform and provider pins. The AWS provider 5.x line is the one this configuration is written and scanned
# against; .terraform.lock.hcl (committed) records the exact version and its checksums. The Lambda zips are built by
# covid_pipeline.artifacts (scripts/deploy.sh runs it), so no archive provider is needed.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}
