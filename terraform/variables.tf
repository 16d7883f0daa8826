# Inputs. config/<env>.tfvars sets them, for AWS and for the local cloud alike. A wrong value fails its validation
# at plan, before anything is created (tests/infra/test_aws_shape.py plans a few).

# --- identity -----------------------------------------------------------------------------------------------------

variable "project_name" {
  description = "Project name; the first part of every resource name. Lowercase letters, digits and hyphens (S3 bucket rules)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Deployment environment; the second part of every resource name."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod", "test"], var.environment)
    error_message = "environment must be one of dev, staging, prod, test."
  }
}

variable "aws_region" {
  description = "AWS region everything is deployed to."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like us-east-1."
  }
}

variable "artifacts_dir" {
  description = "Folder holding the build artifacts scripts/deploy.sh writes (Glue script and libraries, Lambda bundle and layer)."
  type        = string
  default     = "../build"

  validation {
    condition     = length(var.artifacts_dir) > 0
    error_message = "artifacts_dir must not be empty."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource (on top of Project, Environment and ManagedBy)."
  type        = map(string)
  default     = {}
}

# --- S3 layout ----------------------------------------------------------------------------------------------------

variable "raw_prefix" {
  description = "Key prefix under which raw files land in the raw bucket; only objects below it start a job run."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9_-]+/$", var.raw_prefix))
    error_message = "raw_prefix must be a single path segment ending in '/', e.g. raw/."
  }
}

variable "quarantine_prefix" {
  description = "Key prefix in the quarantine bucket for rejected rows and files."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9_-]+/$", var.quarantine_prefix))
    error_message = "quarantine_prefix must be a single path segment ending in '/', e.g. quarantine/."
  }
}

variable "state_prefix" {
  description = "Key prefix in the processed bucket for the job's ledger and run manifests."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9_-]+/$", var.state_prefix))
    error_message = "state_prefix must be a single path segment ending in '/', e.g. _state/."
  }
}

variable "raw_transition_to_ia_days" {
  description = "Days after which raw objects move to S3 Standard-IA (they are re-read only for a full refresh)."
  type        = number
  default     = 30

  validation {
    condition     = var.raw_transition_to_ia_days >= 30
    error_message = "S3 requires at least 30 days before a transition to STANDARD_IA."
  }
}

variable "raw_transition_to_glacier_days" {
  description = "Days after which raw objects move to S3 Glacier Flexible Retrieval."
  type        = number
  default     = 180

  validation {
    condition     = var.raw_transition_to_glacier_days >= 60
    error_message = "raw_transition_to_glacier_days must be at least 60 (30 days in Standard-IA after the first transition)."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version is kept before it expires (recovery window)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && var.noncurrent_version_expiration_days <= 3650
    error_message = "noncurrent_version_expiration_days must be between 1 and 3650."
  }
}

variable "cloudtrail_retention_days" {
  description = "Days the audit trail's log files are kept in their bucket (the CloudWatch copy follows log_retention_days)."
  type        = number

  validation {
    condition     = var.cloudtrail_retention_days >= 1 && var.cloudtrail_retention_days <= 3650
    error_message = "cloudtrail_retention_days must be between 1 and 3650."
  }
}

variable "quarantine_expiration_days" {
  description = "Days quarantined rows and files are kept for investigation before they expire."
  type        = number
  default     = 90

  validation {
    condition     = var.quarantine_expiration_days >= 7 && var.quarantine_expiration_days <= 3650
    error_message = "quarantine_expiration_days must be between 7 and 3650."
  }
}

variable "access_log_expiration_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_expiration_days >= 30 && var.access_log_expiration_days <= 3650
    error_message = "access_log_expiration_days must be between 30 and 3650."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled deletion of the customer managed KMS key takes effect."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30 (AWS limits)."
  }
}

# --- Glue -----------------------------------------------------------------------------------------------------------

variable "glue_job_name" {
  description = "Short name of the Glue job; the full name is <project>-<env>-<glue_job_name>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,62}$", var.glue_job_name))
    error_message = "glue_job_name must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "glue_table_prefix" {
  description = "Prefix of the Glue Data Catalog table names (<prefix><source>, e.g. covid_jhu_daily)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]*$", var.glue_table_prefix))
    error_message = "glue_table_prefix must be lowercase letters, digits and underscores (catalog naming rules)."
  }
}

variable "glue_version" {
  description = "AWS Glue version of the job. 5.0 = Spark 3.5 / Python 3.11, what the repository pins and tests."
  type        = string

  validation {
    condition     = contains(["5.0"], var.glue_version)
    error_message = "glue_version must be 5.0 (the Spark/Python versions the job is tested with)."
  }
}

variable "glue_worker_type" {
  description = "Glue worker type (G.1X = 4 vCPU/16 GB, G.2X = 8 vCPU/32 GB, ...)."
  type        = string

  validation {
    condition     = contains(["G.1X", "G.2X", "G.4X", "G.8X"], var.glue_worker_type)
    error_message = "glue_worker_type must be one of G.1X, G.2X, G.4X, G.8X."
  }
}

variable "glue_number_of_workers" {
  description = "Number of Glue workers (including the driver); cost scales linearly with it."
  type        = number

  validation {
    condition     = var.glue_number_of_workers >= 2 && var.glue_number_of_workers <= 100
    error_message = "glue_number_of_workers must be between 2 and 100."
  }
}

variable "glue_timeout_minutes" {
  description = "Minutes after which a job run is stopped with state TIMEOUT."
  type        = number

  validation {
    condition     = var.glue_timeout_minutes >= 1 && var.glue_timeout_minutes <= 2880
    error_message = "glue_timeout_minutes must be between 1 and 2880."
  }
}

variable "glue_max_concurrent_runs" {
  description = "Maximum concurrent runs of the job. Runs of different sources keep separate ledgers. Two runs of the same source cannot both succeed: one publishes, the other fails with \"another run updated the ledger of source X since this run read it; retry\" having published nothing (Glue retries it per glue_max_retries), so 1 avoids those failed runs. At most 2: what tests/integration/test_drill_concurrent_runs.py and tests/unit/test_job_concurrency.py show."
  type        = number

  validation {
    condition     = var.glue_max_concurrent_runs >= 1 && var.glue_max_concurrent_runs <= 2
    error_message = "glue_max_concurrent_runs must be 1 or 2: two overlapping runs of a source are proven safe (one publishes, the other fails having published nothing); more are not tested."
  }
}

variable "glue_max_retries" {
  description = "Times Glue retries a failed run by itself (runs are idempotent, so a retry is safe)."
  type        = number

  validation {
    condition     = var.glue_max_retries >= 0 && var.glue_max_retries <= 10
    error_message = "glue_max_retries must be between 0 and 10."
  }
}

variable "enable_glue_crawler" {
  description = "Create a Glue crawler over the processed bucket (the job updates the catalog itself; this is a fallback)."
  type        = bool
}

# --- Lambda and SQS -------------------------------------------------------------------------------------------------

variable "lambda_runtime" {
  description = "Python runtime of the Lambda functions (same minor version as Glue 5.0)."
  type        = string
  default     = "python3.11"

  validation {
    condition     = can(regex("^python3\\.(11|12|13)$", var.lambda_runtime))
    error_message = "lambda_runtime must be python3.11, python3.12 or python3.13."
  }
}

variable "lambda_timeout_seconds" {
  description = "Timeout of each Lambda function."
  type        = number

  validation {
    condition     = var.lambda_timeout_seconds >= 1 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be between 1 and 900."
  }
}

variable "warehouse_loader_timeout_seconds" {
  description = "Timeout of the warehouse-loader Lambda: every changed partition is one load (on Redshift one Data API batch with a COPY), and a first load or one that heals a missed run covers many partitions."
  type        = number

  validation {
    condition     = var.warehouse_loader_timeout_seconds >= 30 && var.warehouse_loader_timeout_seconds <= 900
    error_message = "warehouse_loader_timeout_seconds must be between 30 and 900 (Lambda's limit)."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of each Lambda function (CPU scales with it)."
  type        = number

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency of each function: caps parallel Glue starts and protects the account's pool."
  type        = number

  validation {
    condition     = var.lambda_reserved_concurrency >= 2 && var.lambda_reserved_concurrency <= 100
    error_message = "lambda_reserved_concurrency must be between 2 (the SQS event source minimum) and 100."
  }
}

variable "sqs_visibility_timeout_seconds" {
  description = "Visibility timeout of the raw-events queue; must be at least the Lambda timeout (AWS recommends 6x)."
  type        = number

  validation {
    condition     = var.sqs_visibility_timeout_seconds >= 1 && var.sqs_visibility_timeout_seconds <= 43200
    error_message = "sqs_visibility_timeout_seconds must be between 1 and 43200."
  }
}

variable "sqs_max_receive_count" {
  description = "Deliveries of a raw event before it moves to the dead-letter queue."
  type        = number

  validation {
    condition     = var.sqs_max_receive_count >= 1 && var.sqs_max_receive_count <= 1000
    error_message = "sqs_max_receive_count must be between 1 and 1000."
  }
}

variable "sqs_batch_size" {
  description = "Messages per Lambda invocation from the raw-events queue (one batch may start one job run). Above 10 only with a batching window, as Lambda requires."
  type        = number

  validation {
    condition     = var.sqs_batch_size >= 1 && var.sqs_batch_size <= 10000
    error_message = "sqs_batch_size must be between 1 and 10000."
  }
}

variable "sqs_batching_window_seconds" {
  description = "How long the event source mapping gathers messages before invoking the handler: a burst of uploads then starts one job run instead of several."
  type        = number
  default     = 0

  validation {
    condition     = var.sqs_batching_window_seconds >= 0 && var.sqs_batching_window_seconds <= 300
    error_message = "sqs_batching_window_seconds must be between 0 and 300."
  }
}

variable "supported_suffixes" {
  description = "Object key suffixes the S3 event handler accepts (what the Glue job can read); others are logged and skipped."
  type        = list(string)
  default     = [".csv", ".csv.gz", ".json", ".jsonl", ".parquet"]

  validation {
    condition     = length(var.supported_suffixes) > 0
    error_message = "supported_suffixes must not be empty."
  }
}

variable "max_input_compressed_mib" {
  description = "Largest raw object (as stored, MiB) the Glue job reads; a larger one is quarantined as too_large."
  type        = number
  default     = 512

  validation {
    condition     = var.max_input_compressed_mib >= 1 && var.max_input_compressed_mib <= 5120 && floor(var.max_input_compressed_mib) == var.max_input_compressed_mib
    error_message = "max_input_compressed_mib must be a whole number of MiB from 1 to 5120."
  }
}

variable "max_input_uncompressed_mib" {
  description = "Largest raw file after decompression (MiB) the Glue job reads; gzip is measured by streaming with this cap, so a gzip bomb is quarantined as too_large without being decompressed whole."
  type        = number
  default     = 4096

  validation {
    condition     = var.max_input_uncompressed_mib >= 1 && var.max_input_uncompressed_mib <= 102400 && floor(var.max_input_uncompressed_mib) == var.max_input_uncompressed_mib
    error_message = "max_input_uncompressed_mib must be a whole number of MiB from 1 to 102400."
  }
}

variable "poison_after_failures" {
  description = "A raw file that failed this many job runs in a row is quarantined as poison (with its last error) and the next run goes on without it."
  type        = number
  default     = 3

  validation {
    condition     = var.poison_after_failures >= 1 && var.poison_after_failures <= 100 && floor(var.poison_after_failures) == var.poison_after_failures
    error_message = "poison_after_failures must be a whole number from 1 to 100."
  }
}

variable "max_removal_share" {
  description = "Share (0-1) of the files on record that one job run may find gone from its input and remove from the output; a run over it refuses unless started with --allow_removals true."
  type        = number
  default     = 0.1

  validation {
    condition     = var.max_removal_share >= 0 && var.max_removal_share <= 1
    error_message = "max_removal_share must be between 0 and 1."
  }
}

# --- monitoring ---------------------------------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of the Lambda, Glue and Redshift log groups."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 3653)."
  }
}

variable "dq_score_threshold" {
  description = "Data quality score (0-1) below which a run alerts."
  type        = number

  validation {
    condition     = var.dq_score_threshold >= 0 && var.dq_score_threshold <= 1
    error_message = "dq_score_threshold must be between 0 and 1."
  }
}

variable "quarantine_ratio_threshold" {
  description = "Share of quarantined input rows (0-1) above which a run alerts."
  type        = number

  validation {
    condition     = var.quarantine_ratio_threshold >= 0 && var.quarantine_ratio_threshold <= 1
    error_message = "quarantine_ratio_threshold must be between 0 and 1."
  }
}

variable "job_duration_alarm_seconds" {
  description = "A job run longer than this raises the job-duration alarm (well before the timeout)."
  type        = number

  validation {
    condition     = var.job_duration_alarm_seconds >= 60
    error_message = "job_duration_alarm_seconds must be at least 60."
  }
}

variable "notification_email" {
  description = "Address subscribed to the alerts topic (AWS sends a confirmation mail first)."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$", var.notification_email))
    error_message = "notification_email must be an email address."
  }
}

variable "monthly_budget_usd" {
  description = "Monthly AWS budget for this environment; alerts at 80% actual and 100% forecast spend."
  type        = number

  validation {
    condition     = var.monthly_budget_usd > 0
    error_message = "monthly_budget_usd must be positive."
  }
}

variable "deletion_protection" {
  description = "Protect stateful resources: keep a final Redshift snapshot and refuse to empty buckets on destroy."
  type        = bool
}

# --- Redshift -------------------------------------------------------------------------------------------------------

variable "manage_glue_catalog_encryption" {
  description = "Set the account's Glue Data Catalog encryption (one setting per account and region) to this environment's key. Leave it on in one environment per account; turn it off in the others when environments share an account, or the last one applied wins and destroying one turns encryption off for all."
  type        = bool
  default     = true
}

variable "enable_redshift" {
  description = "Create the Redshift warehouse (VPC, cluster, COPY role). Off: the loader targets another warehouse."
  type        = bool
}

variable "redshift_node_type" {
  description = "Redshift node type."
  type        = string

  validation {
    condition     = contains(["ra3.large", "ra3.xlplus", "ra3.4xlarge", "ra3.16xlarge"], var.redshift_node_type)
    error_message = "redshift_node_type must be an RA3 node type (managed storage; ra3.large, ra3.xlplus, ra3.4xlarge, ra3.16xlarge)."
  }
}

variable "redshift_number_of_nodes" {
  description = "Number of Redshift nodes (1 = single-node cluster)."
  type        = number

  validation {
    condition     = var.redshift_number_of_nodes >= 1 && var.redshift_number_of_nodes <= 32
    error_message = "redshift_number_of_nodes must be between 1 and 32."
  }
}

variable "redshift_database_name" {
  description = "Name of the database created in the Redshift cluster."
  type        = string

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,63}$", var.redshift_database_name))
    error_message = "redshift_database_name must be lowercase letters, digits and underscores."
  }
}

variable "redshift_vpc_cidr" {
  description = "CIDR of the private VPC that holds the Redshift cluster (no internet gateway; S3 via a gateway endpoint)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(regex("^10\\.[0-9]{1,3}\\.0\\.0/16$", var.redshift_vpc_cidr))
    error_message = "redshift_vpc_cidr must be a private 10.x.0.0/16 range."
  }
}

variable "redshift_snapshot_retention_days" {
  description = "Days automated Redshift snapshots are kept."
  type        = number
  default     = 7

  validation {
    condition     = var.redshift_snapshot_retention_days >= 1 && var.redshift_snapshot_retention_days <= 35
    error_message = "redshift_snapshot_retention_days must be between 1 and 35."
  }
}

# --- ingestion ----------------------------------------------------------------------------------------------------

variable "ingestion_schedule" {
  description = "EventBridge schedule of the ingestion function (rate(...) or cron(...)); each tick fetches what is new from every source in ingestion_sources."
  type        = string

  validation {
    condition     = can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\(([^ ]+ ){5}[^ ]+\\))$", var.ingestion_schedule))
    error_message = "ingestion_schedule must be rate(N unit) or a six-field cron(...) expression, as EventBridge takes them."
  }
}

variable "ingestion_sources" {
  description = "What the ingestion fetches: source name -> kind (daily_reports with a {date:...} URL template, whole_file, json_records), https URL, job_source (the Glue job's source whose raw folder the files go to), and for daily_reports start_date and max_days_per_run (the bounded backfill of one tick). Defaults: the public JHU CSSE daily reports and the OWID dataset."
  type = map(object({
    kind             = string
    url              = string
    job_source       = string
    start_date       = optional(string)
    max_days_per_run = optional(number, 1)
  }))
  default = {
    jhu_daily = {
      kind             = "daily_reports"
      url              = "https://raw.githubusercontent.com/CSSEGISandData/COVID-19/master/csse_covid_19_data/csse_covid_19_daily_reports/{date:%m-%d-%Y}.csv"
      job_source       = "jhu_daily"
      start_date       = "2020-01-22"
      max_days_per_run = 7
    }
    owid = {
      kind       = "whole_file"
      url        = "https://covid.ourworldindata.org/data/owid-covid-data.csv"
      job_source = "owid"
    }
  }

  validation {
    condition     = alltrue([for source in values(var.ingestion_sources) : contains(["daily_reports", "whole_file", "json_records"], source.kind)])
    error_message = "each ingestion source's kind must be daily_reports, whole_file or json_records."
  }

  # The job's sources (locals.tf sources): the raw folders the S3 event handler maps to runs.
  validation {
    condition     = alltrue([for source in values(var.ingestion_sources) : contains(["jhu_daily", "owid"], source.job_source)])
    error_message = "each ingestion source's job_source must be jhu_daily or owid."
  }

  validation {
    condition     = alltrue([for source in values(var.ingestion_sources) : can(regex("^(https://|http://127\\.0\\.0\\.1[:/])", source.url))])
    error_message = "each ingestion source's url must be https:// (plain http only to 127.0.0.1, a server on the same machine)."
  }

  validation {
    condition     = alltrue([for source in values(var.ingestion_sources) : source.kind != "daily_reports" || (can(regex("\\{date:", source.url)) && can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", coalesce(source.start_date, "-"))))])
    error_message = "a daily_reports source needs a {date:...} placeholder in its url and a start_date YYYY-MM-DD."
  }

  validation {
    condition     = alltrue([for source in values(var.ingestion_sources) : source.max_days_per_run >= 1 && source.max_days_per_run <= 31])
    error_message = "each ingestion source's max_days_per_run must be between 1 and 31."
  }
}

variable "ingestion_timeout_seconds" {
  description = "Timeout of the ingestion function: one tick fetches every source (OWID's whole file is tens of MB), with retries."
  type        = number
  default     = 300

  validation {
    condition     = var.ingestion_timeout_seconds >= 30 && var.ingestion_timeout_seconds <= 900
    error_message = "ingestion_timeout_seconds must be between 30 and 900 (Lambda's limit)."
  }
}

variable "ingestion_memory_mb" {
  description = "Memory of the ingestion function (a fetched file streams into its /tmp, up to max_input_compressed_mib, and is checked and stored from there)."
  type        = number
  default     = 1024

  validation {
    condition     = var.ingestion_memory_mb >= 128 && var.ingestion_memory_mb <= 10240
    error_message = "ingestion_memory_mb must be between 128 and 10240."
  }
}
