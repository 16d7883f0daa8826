# Apply terraform/ against the local cloud instead of AWS.
#
# These two files are NOT part of the AWS configuration: scripts/deploy.sh copies terraform/ and these files into
# build/terraform-local/ and runs Terraform there, so terraform/ itself never points anywhere but AWS.
#
#   covid-pipeline local up                      # prints the endpoint, e.g. http://127.0.0.1:50123
#   scripts/deploy.sh dev apply --local-endpoint http://127.0.0.1:50123
#
# By hand (Terraform and the hashicorp/aws provider installed; any dummy credentials):
#   mkdir -p build/terraform-local && cp -r terraform/. build/terraform-local/ && cp terraform/local/*.tf build/terraform-local/
#   export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
#   terraform -chdir=build/terraform-local init
#   terraform -chdir=build/terraform-local apply -var-file=$PWD/config/dev.tfvars \
#     -var local_endpoint=http://127.0.0.1:50123 -var artifacts_dir=$PWD/build
#
# The emulator (moto) implements most of what terraform/ declares; a resource it does not implement fails with a
# provider error naming the API call. The local cloud provisions the same names itself anyway
# (covid_pipeline.local.bootstrap); this path exists to exercise the Terraform configuration against an endpoint.
# Note: the TLS-only bucket policies make moto answer 403 to plain-HTTP requests afterwards (see DESIGN.md), so use
# a fresh `covid-pipeline local up` for this rather than the one the demo runs against.
variable "local_endpoint" {
  description = "URL of the local cloud's AWS endpoint (printed by `covid-pipeline local up`), e.g. http://127.0.0.1:50123."
  type        = string

  validation {
    condition     = can(regex("^http://127\\.0\\.0\\.1:[0-9]+/?$", var.local_endpoint))
    error_message = "local_endpoint must be the loopback URL the local cloud prints (http://127.0.0.1:PORT)."
  }
}
