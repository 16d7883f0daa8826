# Terraform state of the test environment: scripts/deploy.sh test ... runs
#   terraform init -backend-config=config/backend-test.hcl
# The bucket and the lock table must exist first (scripts/deploy.sh test bootstrap-state creates both).
# S3 bucket names are global: if this one is taken, choose another here (e.g. add your account id).
bucket         = "covid-pipeline-tfstate-test"
key            = "covid-pipeline/test/terraform.tfstate"
region         = "us-east-1"
dynamodb_table = "covid-pipeline-tflock-test"
encrypt        = true
