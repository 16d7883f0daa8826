# Apply terraform/ against the local cloud instead of AWS.
#
# These files are NOT part of the AWS configuration: the local cloud (covid_pipeline.local) and
# `scripts/deploy.sh ENV ... --local-endpoint URL` copy terraform/ and these files into .local/<env>/terraform/ and
# run Terraform there, with the state in .local/<env>/terraform.tfstate, so terraform/ itself never points anywhere
# but AWS and both share one state per environment:
#
#   covid-pipeline --env dev local up                          # applies this, prints the endpoint
#   scripts/deploy.sh dev plan --local-endpoint https://127.0.0.1:PORT   # then: No changes.
#
# What differs from AWS is only what has no local counterpart (local_override.tf): every service goes to the
# emulator's HTTPS endpoint, whose certificate the local cloud makes (local_ca_bundle); the warehouse is an embedded
# DuckDB file instead of Redshift, so the loader is always triggered; an SQS inbox stands in for the e-mail
# subscription of the alerts topic (local_alerts_inbox.tf).
variable "local_endpoint" {
  description = "URL of the local cloud's AWS endpoint (printed by `covid-pipeline local up`), e.g. https://127.0.0.1:50123."
  type        = string

  validation {
    condition     = can(regex("^https://127\\.0\\.0\\.1:[0-9]+/?$", var.local_endpoint))
    error_message = "local_endpoint must be the loopback HTTPS URL the local cloud prints (https://127.0.0.1:PORT)."
  }
}

variable "local_ca_bundle" {
  description = "PEM file of the certificate authority the local cloud signs its endpoint's certificate with."
  type        = string

  validation {
    condition     = fileexists(var.local_ca_bundle)
    error_message = "local_ca_bundle must name an existing PEM file (the local cloud writes it under .local/tls/)."
  }
}

variable "local_warehouse_url" {
  description = "The local warehouse the loader writes to (duckdb:///<path>), standing in for Redshift."
  type        = string

  validation {
    condition     = can(regex("^duckdb:///.+", var.local_warehouse_url))
    error_message = "local_warehouse_url must be a duckdb:/// URL."
  }
}
