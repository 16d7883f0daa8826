# Production: Redshift on, more workers, long retention, deletion protection.
project_name = "covid-pipeline"
environment  = "prod"
aws_region   = "us-east-1"

raw_prefix        = "raw/"
quarantine_prefix = "quarantine/"
state_prefix      = "_state/"

glue_job_name            = "covid-transform"
glue_table_prefix        = "covid_"
glue_version             = "5.0"
glue_worker_type         = "G.2X"
glue_number_of_workers   = 10
glue_timeout_minutes     = 60
glue_max_concurrent_runs = 1
glue_max_retries         = 1
enable_glue_crawler      = false

lambda_timeout_seconds           = 30
warehouse_loader_timeout_seconds = 900
lambda_memory_mb                 = 256
lambda_reserved_concurrency      = 5
sqs_visibility_timeout_seconds   = 180
sqs_max_receive_count            = 3
sqs_batch_size                   = 100
sqs_batching_window_seconds      = 5

# Ingestion: twice a day, 06:00 and 18:00 UTC (JHU published the previous day's report overnight); sources are the defaults of terraform/variables.tf (ingestion_sources).
ingestion_schedule = "cron(0 6,18 * * ? *)"

log_retention_days = 365

# Recovery windows: how long deleted data can still be brought back.
kms_deletion_window_days           = 30
noncurrent_version_expiration_days = 90
quarantine_expiration_days         = 365
cloudtrail_retention_days          = 730
redshift_snapshot_retention_days   = 14

dq_score_threshold         = 0.9
quarantine_ratio_threshold = 0.05
job_duration_alarm_seconds = 1800

enable_redshift          = true
redshift_node_type       = "ra3.xlplus"
redshift_number_of_nodes = 2
redshift_database_name   = "covid"

# Redshift alone (2 x ra3.xlplus on demand, ~$1.09/node-hour) is ~$1,590 a month idle; daily Glue runs add ~$50.
notification_email  = "data-alerts@example.com"
monthly_budget_usd  = 2500
deletion_protection = true
