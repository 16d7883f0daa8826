# Terraform state of the staging environment: scripts/deploy.sh staging ... runs
#   terraform init -backend-config=config/backend-staging.hcl
# The bucket and the lock table must exist first (scripts/deploy.sh staging bootstrap-state creates both).
# S3 bucket names are global: if this one is taken, choose another here (e.g. add your account id).
bucket         = "covid-pipeline-tfstate-staging"
key            = "covid-pipeline/staging/terraform.tfstate"
region         = "us-east-1"
dynamodb_table = "covid-pipeline-tflock-staging"
encrypt        = true
