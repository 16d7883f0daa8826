"""The warehouse loader: the job's Parquet output -> a star schema in DuckDB, PostgreSQL or Redshift.

    from covid_pipeline.warehouse import load_partitions
    result = load_partitions("s3://covid-pipeline-dev-processed/jhu_daily/", "duckdb:///tmp/covid.duckdb")
    result.partitions_loaded, result.partitions_skipped, result.rows_loaded, result.seconds

Targets, chosen by URL:
- `duckdb:///abs/path.duckdb` (or `duckdb://relative.duckdb`): embedded; Arrow tables are scanned in place.
- `postgresql://user@host:port/db`: psycopg 3, rows by COPY FROM STDIN (CSV written by pyarrow); the password from
  COVID_WAREHOUSE_PASSWORD or a Secrets Manager secret (COVID_WAREHOUSE_SECRET_ARN), not the URL (credentials.py).
- `redshift://<cluster>/<db>?secret_arn=<arn>&iam_role=<arn>` (or `redshift:///<db>?workgroup=<name>&...`):
  Redshift Data API; Redshift COPYs the Parquet files itself.

Guarantees, whatever the target:
- Star schema: dim_location (deterministic location_key = 60-bit MD5 prefix of country/province/admin2),
  dim_date, fact_covid_daily; views v_country_daily, v_latest_by_country, v_7day_avg; and warehouse_load_state
  (partition -> content fingerprint of its files: ETags/MD5s and sizes). That is the jhu_daily source's output;
  `source="owid"` loads OWID's into fact_owid_daily (keyed by date_key and country, joined to dim_date) with its
  own warehouse_load_state_owid (schema.DATASETS).
- Incremental and idempotent per partition: an unchanged partition is skipped; a new or changed one is replaced in
  ONE transaction (dimensions upserted, that year/month's facts deleted, new facts inserted, fingerprint recorded).
  Re-running changes nothing; a failure rolls back the partition in progress and raises WarehouseError, and the
  next load of every partition heals it (fingerprints differ).
- One load at a time: the source is listed and compared with the warehouse under the target's load lock
  (WarehouseTarget.exclusive_load), so an older, slower load never overwrites a newer one.
- URLs in messages and logs go through redact_url (passwords and query-string secrets hidden).
- No value read from the data is ever part of SQL text; identifiers come from covid_pipeline.warehouse.schema.

Sources: `s3://bucket/prefix/` (boto3: AWS, or the local emulator through AWS_ENDPOINT_URL) or a local directory,
laid out year=YYYY/month=M/part-*.parquet as the Glue job writes it. `partitions=None` syncs every partition
(loaded partitions the source no longer has are removed: the job deletes a partition whose rows all went away);
a list syncs only those (`year=2020/month=3` or any path containing it); `removed=` names partitions the job
emptied (its manifest's partitions_removed).
"""

from covid_pipeline.common import redact_url
from covid_pipeline.warehouse.base import LoadResult, Partition, WarehouseError
from covid_pipeline.warehouse.loader import load_partitions, target_for_url
from covid_pipeline.warehouse.target import WarehouseTarget

__all__ = [
    "LoadResult",
    "Partition",
    "WarehouseError",
    "WarehouseTarget",
    "load_partitions",
    "redact_url",
    "target_for_url",
]
