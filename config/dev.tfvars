# Development environment: small, cheap, short retention.
project_name = "covid-pipeline"
environment  = "dev"
aws_region   = "us-east-1"

raw_prefix        = "raw/"
quarantine_prefix = "quarantine/"
state_prefix      = "_state/"

glue_job_name            = "covid-transform"
glue_table_prefix        = "covid_"
glue_version             = "5.0"
glue_worker_type         = "G.1X"
glue_number_of_workers   = 2
glue_timeout_minutes     = 60
glue_max_concurrent_runs = 1
glue_max_retries         = 0
enable_glue_crawler      = false

lambda_timeout_seconds           = 30
warehouse_loader_timeout_seconds = 120
lambda_memory_mb                 = 256
lambda_reserved_concurrency      = 2
sqs_visibility_timeout_seconds   = 180
sqs_max_receive_count            = 3
sqs_batch_size                   = 100
sqs_batching_window_seconds      = 2

# Ingestion: once a day; sources are the defaults of terraform/variables.tf (ingestion_sources).
ingestion_schedule = "rate(1 day)"

log_retention_days = 14

# Recovery windows: how long deleted data can still be brought back.
kms_deletion_window_days           = 7
noncurrent_version_expiration_days = 7
quarantine_expiration_days         = 30
cloudtrail_retention_days          = 30

dq_score_threshold         = 0.9
quarantine_ratio_threshold = 0.05
job_duration_alarm_seconds = 1800

enable_redshift          = false
redshift_node_type       = "ra3.xlplus"
redshift_number_of_nodes = 1
redshift_database_name   = "covid"

notification_email  = "data-alerts@example.com"
monthly_budget_usd  = 50
deletion_protection = false
