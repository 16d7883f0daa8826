# Terraform and provider pins. The AWS provider 5.x line is the one this configuration is written and scanned
# against; archive packages the Lambda handlers from the repository.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}
