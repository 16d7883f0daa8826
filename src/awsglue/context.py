"""GlueContext: the SparkContext wrapper every Glue script starts from, as AWS documents it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyspark import RDD, SparkContext
from pyspark.sql import DataFrame, SparkSession, SQLContext
from pyspark.sql import functions as F

from awsglue import _catalog, _io
from awsglue.data_sink import DataSink
from awsglue.data_source import DataSource
from awsglue.dynamicframe import DynamicFrame, DynamicFrameCollection, DynamicFrameReader, DynamicFrameWriter

if TYPE_CHECKING:
    from awsglue.job import Job

_CONTEXT_OPTIONS = ("minPartitions", "targetPartitions")


class GlueLogger:
    """What ``get_logger()`` returns: info/warn/error lines on the job's error stream, as Glue's driver log
    (written straight to stderr, whatever the script did to Python's logging)."""

    def _line(self, level: str, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%y/%m/%d %H:%M:%S")
        print(f"{stamp} {level} GlueLogger: {message}", file=sys.stderr, flush=True)

    def info(self, message: str) -> None:
        self._line("INFO", message)

    def warn(self, message: str) -> None:
        self._line("WARN", message)

    warning = warn

    def error(self, message: str) -> None:
        self._line("ERROR", message)

    def debug(self, message: str) -> None:
        """Glue's driver log leaves debug lines out by default."""


class DataFrameReader:
    """``glueContext.create_data_frame``: the same sources as DynamicFrames, as Spark DataFrames."""

    def __init__(self, glue_context: GlueContext) -> None:
        self._glue_context = glue_context

    def from_catalog(self, database: str | None = None, table_name: str | None = None, **kwargs: Any) -> DataFrame:
        return self._glue_context.create_dynamic_frame.from_catalog(database, table_name, **kwargs).toDF()

    def from_options(
        self, connection_type: str, connection_options: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> DataFrame:
        return self._glue_context.create_dynamic_frame.from_options(
            connection_type, connection_options, **kwargs
        ).toDF()


class DataFrameWriter:
    """``glueContext.write_data_frame``: write a Spark DataFrame where a catalog table lives."""

    def __init__(self, glue_context: GlueContext) -> None:
        self._glue_context = glue_context

    def from_catalog(
        self, frame: DataFrame, database: str | None = None, table_name: str | None = None, **kwargs: Any
    ) -> DataFrame:
        dynamic = DynamicFrame.fromDF(frame, self._glue_context, table_name or "")
        self._glue_context.write_dynamic_frame.from_catalog(dynamic, database, table_name, **kwargs)
        return frame


class GlueContext(SQLContext):
    """Wraps a SparkContext: DynamicFrame sources and sinks, the catalog, purges and the job's logger."""

    def __init__(self, sparkContext: SparkContext, **options: Any) -> None:
        unknown = sorted(set(options) - set(_CONTEXT_OPTIONS))
        if unknown:
            raise _io.UnsupportedOptionError(
                f"GlueContext: unsupported option(s) {unknown} ({', '.join(_CONTEXT_OPTIONS)})"
            )
        session = SparkSession.builder.getOrCreate()
        if session.sparkContext is not sparkContext:
            session = SparkSession(sparkContext)
        super().__init__(sparkContext, session)
        if "PYSPARK_PYTHON" not in os.environ and str(sparkContext.master).startswith("local"):
            # Record functions (map, filter, relationalize's readers) run in Python workers, which must import
            # awsglue as the driver does: on a local master, use the driver's interpreter rather than PATH's python3.
            sparkContext.pythonExec = sys.executable
        self.spark_session = session
        # Partition hints for reads; Spark plans its own splits locally, so they are kept, not used.
        self.min_partitions = options.get("minPartitions")
        self.target_partitions = options.get("targetPartitions")
        self.create_dynamic_frame = DynamicFrameReader(self)
        self.write_dynamic_frame = DynamicFrameWriter(self)
        self.create_data_frame = DataFrameReader(self)
        self.write_data_frame = DataFrameWriter(self)
        self._job: Job | None = None
        self._clients: dict[str, Any] = {}
        self._jars_added: set[str] = set()

    # --- plumbing ---

    def _client(self, service: str) -> Any:
        """A boto3 client; endpoints come from the environment as for any AWS client (the local cloud sets them)."""
        if service not in self._clients:
            import boto3

            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            self._clients[service] = boto3.client(service, region_name=region)
        return self._clients[service]

    def _active_job(self) -> Job | None:
        return self._job if self._job is not None and self._job.isInitialized() else None

    # --- reading ---

    def create_dynamic_frame_from_rdd(
        self,
        data: RDD[Any],
        name: str,
        schema: Any = None,
        sample_ratio: float | None = None,
        transformation_ctx: str = "",
    ) -> DynamicFrame:
        return self.create_dynamic_frame.from_rdd(data, name, schema, sample_ratio)

    def create_dynamic_frame_from_catalog(
        self,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        additional_options: Mapping[str, Any] | None = None,
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> DynamicFrame:
        return self.create_dynamic_frame.from_catalog(
            database, table_name, redshift_tmp_dir, transformation_ctx, push_down_predicate, additional_options,
            catalog_id, **kwargs,
        )  # fmt: skip

    def create_dynamic_frame_from_options(
        self,
        connection_type: str,
        connection_options: Mapping[str, Any] | None = None,
        format: str | None = None,
        format_options: Mapping[str, Any] | None = None,
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        **kwargs: Any,
    ) -> DynamicFrame:
        return self.create_dynamic_frame.from_options(
            connection_type,
            connection_options,
            format,
            format_options,
            transformation_ctx,
            push_down_predicate,
            **kwargs,
        )

    def create_data_frame_from_catalog(self, database: str, table_name: str, **kwargs: Any) -> DataFrame:
        return self.create_data_frame.from_catalog(database, table_name, **kwargs)

    def create_data_frame_from_options(
        self, connection_type: str, connection_options: Mapping[str, Any], **kwargs: Any
    ) -> DataFrame:
        return self.create_data_frame.from_options(connection_type, connection_options, **kwargs)

    def getSource(self, connection_type: str, transformation_ctx: str = "", **options: Any) -> DataSource:
        return DataSource(self, connection_type, transformation_ctx, options)

    # --- writing ---

    def write_dynamic_frame_from_options(
        self,
        frame: DynamicFrame,
        connection_type: str,
        connection_options: Mapping[str, Any] | None = None,
        format: str | None = None,
        format_options: Mapping[str, Any] | None = None,
        transformation_ctx: str = "",
        **kwargs: Any,
    ) -> DynamicFrame:
        return self.write_dynamic_frame.from_options(
            frame, connection_type, connection_options, format, format_options, transformation_ctx, **kwargs
        )

    def write_from_options(
        self,
        frame_or_dfc: DynamicFrame | DynamicFrameCollection,
        connection_type: str,
        connection_options: Mapping[str, Any] | None = None,
        format: str | None = None,
        format_options: Mapping[str, Any] | None = None,
        transformation_ctx: str = "",
        **kwargs: Any,
    ) -> DynamicFrame | DynamicFrameCollection:
        if isinstance(frame_or_dfc, DynamicFrameCollection):
            raise _io.UnsupportedOptionError("write_from_options: writing a DynamicFrameCollection is not supported")
        return self.write_dynamic_frame_from_options(
            frame_or_dfc, connection_type, connection_options, format, format_options, transformation_ctx, **kwargs
        )

    def write_dynamic_frame_from_catalog(
        self,
        frame: DynamicFrame,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        additional_options: Mapping[str, Any] | None = None,
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> DynamicFrame:
        return self.write_dynamic_frame.from_catalog(
            frame, database, table_name, redshift_tmp_dir, transformation_ctx, additional_options, catalog_id, **kwargs
        )

    def write_data_frame_from_catalog(
        self, frame: DataFrame, database: str, table_name: str, **kwargs: Any
    ) -> DataFrame:
        return self.write_data_frame.from_catalog(frame, database, table_name, **kwargs)

    def write_dynamic_frame_from_jdbc_conf(
        self,
        frame: DynamicFrame,
        catalog_connection: str,
        connection_options: Mapping[str, Any] | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        catalog_id: str | None = None,
    ) -> DynamicFrame:
        return self.write_dynamic_frame.from_jdbc_conf(
            frame, catalog_connection, connection_options, redshift_tmp_dir, transformation_ctx, catalog_id
        )

    def write_from_jdbc_conf(
        self,
        frame_or_dfc: DynamicFrame | DynamicFrameCollection,
        catalog_connection: str,
        connection_options: Mapping[str, Any] | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        catalog_id: str | None = None,
    ) -> DynamicFrame | DynamicFrameCollection:
        if isinstance(frame_or_dfc, DynamicFrameCollection):
            for frame in frame_or_dfc.values():
                options = {**(connection_options or {}), "dbtable": frame.name}
                self.write_dynamic_frame_from_jdbc_conf(frame, catalog_connection, options, catalog_id=catalog_id)
            return frame_or_dfc
        return self.write_dynamic_frame_from_jdbc_conf(
            frame_or_dfc, catalog_connection, connection_options, redshift_tmp_dir, transformation_ctx, catalog_id
        )

    def getSink(
        self, connection_type: str, format: str | None = None, transformation_ctx: str = "", **options: Any
    ) -> DataSink:
        return DataSink(self, connection_type, format, transformation_ctx, options)

    # --- the catalog, purges, logging ---

    def extract_jdbc_conf(self, connection_name: str, catalog_id: str | None = None) -> dict[str, str]:
        """A catalog connection's ``url``, ``user``, ``password``, ``vendor`` (and ``fullUrl``, with the database)."""
        return _catalog.jdbc_conf(self._client("glue"), self._client("secretsmanager"), connection_name, catalog_id)

    def purge_s3_path(
        self, s3_path: str, options: Mapping[str, Any] | None = None, transformation_ctx: str = ""
    ) -> None:
        _io.purge_files(self, s3_path, options or {}, transformation_ctx)

    def purge_table(
        self,
        database: str,
        table_name: str,
        options: Mapping[str, Any] | None = None,
        transformation_ctx: str = "",
        catalog_id: str | None = None,
    ) -> None:
        _io.purge_table(self, database, table_name, options or {}, transformation_ctx, catalog_id)

    def transition_s3_path(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("transition_s3_path: S3 storage classes are not emulated by the local awsglue")

    def transition_table(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("transition_table: S3 storage classes are not emulated by the local awsglue")

    def forEachBatch(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("forEachBatch: streaming jobs are not supported by the local awsglue")

    def add_ingestion_time_columns(self, dataFrame: DataFrame, timeGranularity: str = "") -> DataFrame:
        """ingest_year, ingest_month, ingest_day (and ingest_hour, ingest_minute as the granularity asks)."""
        levels = ["ingest_year", "ingest_month", "ingest_day", "ingest_hour", "ingest_minute"]
        depth = {"": 3, "day": 3, "hour": 4, "minute": 5}.get(timeGranularity)
        if depth is None:
            raise ValueError(f"timeGranularity must be day, hour or minute, got {timeGranularity!r}")
        now = datetime.now(UTC)
        values = [f"{now.year:04d}", f"{now.month:02d}", f"{now.day:02d}", f"{now.hour:02d}", f"{now.minute:02d}"]
        for name, value in zip(levels[:depth], values[:depth], strict=True):
            dataFrame = dataFrame.withColumn(name, F.lit(value))
        return dataFrame

    def get_logger(self) -> GlueLogger:
        return GlueLogger()
