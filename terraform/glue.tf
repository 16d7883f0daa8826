# The Glue side: catalog database and tables, the job (script and libraries uploaded from build/), its security
# configuration and log group, and an optional crawler.

resource "aws_glue_catalog_database" "pipeline" {
  name        = local.glue_database
  description = "COVID-19 pipeline output (${var.environment})"
}

locals {
  # Initial columns of the output tables. The job's schema contract (glue_job/schema_evolution.py) is the authority:
  # the job and `covid-pipeline schema --update` add columns later, so Terraform ignores column drift below.
  glue_table_columns = {
    jhu_daily = [
      { name = "report_date", type = "date" },
      { name = "country", type = "string" },
      { name = "iso3", type = "string" },
      { name = "province", type = "string" },
      { name = "admin2", type = "string" },
      { name = "fips", type = "string" },
      { name = "latitude", type = "double" },
      { name = "longitude", type = "double" },
      { name = "population", type = "bigint" },
      { name = "confirmed", type = "bigint" },
      { name = "deaths", type = "bigint" },
      { name = "recovered", type = "bigint" },
      { name = "active", type = "bigint" },
      { name = "new_confirmed", type = "bigint" },
      { name = "new_deaths", type = "bigint" },
      { name = "case_fatality_rate", type = "double" },
      { name = "incidence_per_100k", type = "double" },
      { name = "last_update", type = "timestamp" },
      { name = "source_file", type = "string" },
      { name = "schema_era", type = "string" },
    ]
    owid = [
      { name = "report_date", type = "date" },
      { name = "country", type = "string" },
      { name = "iso3", type = "string" },
      { name = "population", type = "bigint" },
      { name = "confirmed", type = "bigint" },
      { name = "deaths", type = "bigint" },
      { name = "new_confirmed", type = "bigint" },
      { name = "new_deaths", type = "bigint" },
      { name = "source_file", type = "string" },
    ]
  }
}

resource "aws_glue_catalog_table" "output" {
  for_each = local.glue_tables

  name          = each.value
  database_name = aws_glue_catalog_database.pipeline.name
  description   = "${each.key} output of ${local.glue_job}, Parquet partitioned by year and month"
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    classification        = "parquet"
    EXTERNAL              = "TRUE"
    "parquet.compression" = "SNAPPY"
  }

  partition_keys {
    name = "year"
    type = "int"
  }
  partition_keys {
    name = "month"
    type = "int"
  }

  storage_descriptor {
    location      = local.output_paths[each.key]
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters = {
        "serialization.format" = "1"
      }
    }

    dynamic "columns" {
      for_each = local.glue_table_columns[each.key]
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }

  lifecycle {
    # Schema evolution is additive and owned by the job; do not revert columns it added.
    ignore_changes = [storage_descriptor[0].columns, parameters]
  }
}

# --- job --------------------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "glue_job" {
  #checkov:skip=CKV_AWS_338:Retention is a per-environment cost decision in config/<env>.tfvars (log_retention_days): prod keeps 365 days, dev and test keep days to weeks on purpose.
  name              = local.glue_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.pipeline.arn
}

resource "aws_glue_security_configuration" "pipeline" {
  name = local.glue_security_config

  encryption_configuration {
    cloudwatch_encryption {
      cloudwatch_encryption_mode = "SSE-KMS"
      kms_key_arn                = aws_kms_key.pipeline.arn
    }
    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "CSE-KMS"
      kms_key_arn                   = aws_kms_key.pipeline.arn
    }
    s3_encryption {
      s3_encryption_mode = "SSE-KMS"
      kms_key_arn        = aws_kms_key.pipeline.arn
    }
  }
}

# Artifacts built by scripts/deploy.sh (build/glue/...). The etag makes a changed file a planned change.
resource "aws_s3_object" "glue_script" {
  bucket      = module.scripts_bucket.id
  key         = local.script_key
  source      = local.glue_script_artifact
  source_hash = filemd5(local.glue_script_artifact)
  kms_key_id  = aws_kms_key.pipeline.arn
}

resource "aws_s3_object" "glue_libs" {
  bucket      = module.scripts_bucket.id
  key         = local.extra_py_key
  source      = local.glue_libs_artifact
  source_hash = filemd5(local.glue_libs_artifact)
  kms_key_id  = aws_kms_key.pipeline.arn
}

# The UID lookup table used for enrichment; deploy.sh stages it when it can find it (COVID_REFERENCE_CSV).
resource "aws_s3_object" "reference_lookup" {
  count = fileexists(local.reference_artifact) ? 1 : 0

  bucket      = module.scripts_bucket.id
  key         = local.reference_key
  source      = local.reference_artifact
  source_hash = filemd5(local.reference_artifact)
  kms_key_id  = aws_kms_key.pipeline.arn
}

resource "aws_glue_job" "transform" {
  name                   = local.glue_job
  description            = "Raw COVID-19 files -> validated, deduplicated, partitioned Parquet + catalog partitions"
  role_arn               = aws_iam_role.glue_job.arn
  glue_version           = var.glue_version
  worker_type            = var.glue_worker_type
  number_of_workers      = var.glue_number_of_workers
  timeout                = var.glue_timeout_minutes
  max_retries            = var.glue_max_retries
  security_configuration = aws_glue_security_configuration.pipeline.name

  command {
    name            = "glueetl"
    script_location = local.script_location
    python_version  = "3"
  }

  execution_property {
    max_concurrent_runs = var.glue_max_concurrent_runs
  }

  default_arguments = local.glue_job_arguments

  depends_on = [aws_s3_object.glue_script, aws_s3_object.glue_libs, aws_cloudwatch_log_group.glue_job]
}

# --- optional crawler (fallback; the job registers its own partitions) ------------------------------------------

resource "aws_glue_crawler" "processed" {
  count = var.enable_glue_crawler ? 1 : 0

  name                   = local.glue_crawler
  database_name          = aws_glue_catalog_database.pipeline.name
  role                   = aws_iam_role.glue_crawler[0].arn
  security_configuration = aws_glue_security_configuration.pipeline.name

  # Crawl the existing tables (their locations are the output paths) so partitions land in the job's tables.
  catalog_target {
    database_name = aws_glue_catalog_database.pipeline.name
    tables        = [for table in aws_glue_catalog_table.output : table.name]
  }

  schema_change_policy {
    # Never let the crawler drop or retype what the job's contract defines.
    delete_behavior = "LOG"
    update_behavior = "LOG"
  }

  configuration = jsonencode({
    Version = 1
    CrawlerOutput = {
      Partitions = { AddOrUpdateBehavior = "InheritFromTable" }
    }
    Grouping = { TableGroupingPolicy = "CombineCompatibleSchemas" }
  })
}
