# Terraform state of the dev environment: scripts/deploy.sh dev ... runs
#   terraform init -backend-config=config/backend-dev.hcl
# The bucket and the lock table must exist first (scripts/deploy.sh dev bootstrap-state creates both).
# S3 bucket names are global: if this one is taken, choose another here (e.g. add your account id).
bucket         = "covid-pipeline-tfstate-dev"
key            = "covid-pipeline/dev/terraform.tfstate"
region         = "us-east-1"
dynamodb_table = "covid-pipeline-tflock-dev"
encrypt        = true
