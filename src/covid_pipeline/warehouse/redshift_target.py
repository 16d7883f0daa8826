"""Amazon Redshift through the Redshift Data API (boto3 `redshift-data`): no database driver in the Lambda, and
credentials come from a Secrets Manager secret the API reads itself.

Redshift reads the Parquet files directly (`COPY ... FORMAT AS PARQUET`), so rows never pass through Python. Each
partition is one BatchExecuteStatement, which the Data API runs as ONE transaction: stage (COPY into a temporary
table), derive keys, upsert the dimensions, delete the partition's facts, insert the new ones, record the
fingerprint. Any failing statement rolls the whole batch back.

URL: `redshift://<cluster-id>/<database>?secret_arn=<arn>&iam_role=<arn>` (provisioned cluster) or
`redshift:///<database>?workgroup=<name>&secret_arn=<arn>&iam_role=<arn>` (Redshift Serverless); optional
`region=`. `iam_role` is the role Redshift assumes to read the processed bucket.

The Data API's BatchExecuteStatement takes no bind parameters, and COPY's source cannot be a parameter anyway, so
the few literals in this SQL (the S3 prefix, the role ARN, the partition key and fingerprint) are our own
configuration or computed values, checked against strict patterns by `literal()`; nothing read from the data files
ever appears in SQL text.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from covid_pipeline.warehouse import sql
from covid_pipeline.warehouse.base import PartitionSnapshot, WarehouseError
from covid_pipeline.warehouse.redshift_sql import partition_statements, removal_statements, schema_statements
from covid_pipeline.warehouse.target import WarehouseTarget
from covid_pipeline.warehouse.transform import StarRows

POLL_SECONDS = 0.5
# How long one Data API statement (or batch) may run before the loader cancels it and fails with a clear error. The
# warehouse-loader Lambda passes what its own timeout leaves (run_loader), so the error comes before Lambda kills it.
DEFAULT_WAIT_SECONDS = 600.0


class RedshiftTarget(WarehouseTarget):
    reads_source_itself = True
    max_batch_rows = 0  # one Data API batch (= one transaction) per partition

    def __init__(
        self,
        url: str,
        s3_client: Any | None = None,
        data_api_client: Any | None = None,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        parts = urlsplit(url)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.cluster_identifier = parts.hostname or None
        self.workgroup = query.get("workgroup")
        self.database = parts.path.lstrip("/")
        self.secret_arn = query.get("secret_arn", "")
        self.iam_role = query.get("iam_role", "")
        self.region = query.get("region")
        problems = []
        if not (self.cluster_identifier or self.workgroup):
            problems.append("a cluster id (redshift://<cluster>/<db>) or workgroup=")
        if not self.database:
            problems.append("a database (the URL path)")
        if not self.secret_arn and not self.workgroup:
            problems.append("secret_arn=")
        if not self.iam_role:
            problems.append("iam_role= (the role Redshift uses to read S3)")
        if problems:
            raise WarehouseError(f"redshift:// URL needs {', '.join(problems)}")
        self._client: Any = data_api_client
        self._s3_client = s3_client
        self.wait_seconds = wait_seconds

    # --- Data API plumbing ---------------------------------------------------------------------------------------
    def _target_arguments(self) -> dict[str, str]:
        arguments = {"Database": self.database}
        if self.workgroup:
            arguments["WorkgroupName"] = self.workgroup
        else:
            arguments["ClusterIdentifier"] = str(self.cluster_identifier)
        if self.secret_arn:
            arguments["SecretArn"] = self.secret_arn
        return arguments

    def connect(self) -> None:
        if self.source is not None and not self.source.is_s3:
            raise WarehouseError(f"Redshift COPY reads from S3: the source must be an s3:// URI, not {self.source.uri}")
        if self._client is None:
            import boto3

            self._client = (
                boto3.client("redshift-data", region_name=self.region) if self.region else boto3.client("redshift-data")
            )

    def close(self) -> None:
        pass

    def _wait(self, statement_id: str, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.wait_seconds
        while True:
            description: dict[str, Any] = self._client.describe_statement(Id=statement_id)
            status = description["Status"]
            if status == "FINISHED":
                return description
            if status in ("FAILED", "ABORTED"):
                raise WarehouseError(
                    f"Redshift {what} {status.lower()} and was rolled back: {description.get('Error', 'no error text')}"
                )
            if time.monotonic() >= deadline:
                self._cancel(statement_id)
                raise WarehouseError(
                    f"Redshift {what} did not finish within {self.wait_seconds:g} s (statement {statement_id}, "
                    f"last status {status}); it was cancelled and its transaction rolls back"
                )
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def _cancel(self, statement_id: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        # It may have ended meanwhile; the error _wait raises says what matters.
        with contextlib.suppress(BotoCoreError, ClientError):
            self._client.cancel_statement(Id=statement_id)

    def _run_batch(self, statements: list[str], what: str) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.batch_execute_statement(Sqls=statements, **self._target_arguments())
            return self._wait(response["Id"], what)
        except (BotoCoreError, ClientError) as exc:
            raise WarehouseError(f"Redshift Data API call for {what} failed: {exc}") from exc

    # --- WarehouseTarget ------------------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        self._run_batch(schema_statements(), "schema set-up")

    def loaded_fingerprints(self) -> dict[str, str]:
        return {
            str(key): str(fingerprint)
            for key, fingerprint in self.query_rows(sql.select_load_state(self.dataset.load_state), "load-state query")
        }

    def query_rows(self, statement: str, what: str) -> list[list[Any]]:
        """The rows of one query (each field's value, None for NULL)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.execute_statement(Sql=statement, **self._target_arguments())
            self._wait(response["Id"], what)
            rows: list[list[Any]] = []
            for page in self._client.get_paginator("get_statement_result").paginate(Id=response["Id"]):
                for record in page.get("Records", []):
                    rows.append([None if field.get("isNull") else next(iter(field.values())) for field in record])
            return rows
        except (BotoCoreError, ClientError) as exc:
            raise WarehouseError(f"Redshift Data API call for the {what} failed: {exc}") from exc

    def query_column(self, statement: str) -> list[Any]:
        return [row[0] for row in self.query_rows(statement, "query")]

    def run_statements(self, statements: list[str], what: str) -> dict[str, Any]:
        """Statements in ONE transaction (a Data API batch); raises WarehouseError when one fails or times out."""
        return self._run_batch(statements, what)

    def replace_partitions(self, batch: Sequence[tuple[PartitionSnapshot, StarRows | None]]) -> int:
        return sum(self._replace_one(snapshot) for snapshot, _ in batch)

    def remove_partitions(self, partition_keys: Sequence[str]) -> None:
        self._run_batch(
            removal_statements(partition_keys, self.dataset), f"removal of partition(s) {', '.join(partition_keys)}"
        )

    def _replace_one(self, snapshot: PartitionSnapshot) -> int:
        if self.source is None:
            raise WarehouseError("Redshift target needs the partition source (set by load_partitions)")
        statements = partition_statements(
            snapshot.partition,
            snapshot.prefix_uri,
            snapshot.fingerprint,
            len(snapshot.objects),
            self.source.read_schema(snapshot),
            self.iam_role,
            self.dataset,
        )
        description = self._run_batch(statements, f"load of partition {snapshot.partition.key}")
        # The fact INSERT's ResultRows is the number of rows loaded.
        fact_insert = next(
            i for i, text in enumerate(statements) if text.startswith(f"INSERT INTO {self.dataset.fact.name} ")
        )
        sub_statements = description.get("SubStatements") or []
        return int(sub_statements[fact_insert].get("ResultRows", 0)) if len(sub_statements) > fact_insert else 0
