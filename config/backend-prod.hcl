# Terraform state of the prod environment: scripts/deploy.sh prod ... runs
#   terraform init -backend-config=config/backend-prod.hcl
# The bucket and the lock table must exist first (scripts/deploy.sh prod bootstrap-state creates both).
# S3 bucket names are global: if this one is taken, choose another here (e.g. add your account id).
bucket         = "covid-pipeline-tfstate-prod"
key            = "covid-pipeline/prod/terraform.tfstate"
region         = "us-east-1"
dynamodb_table = "covid-pipeline-tflock-prod"
encrypt        = true
