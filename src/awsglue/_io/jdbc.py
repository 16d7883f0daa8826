"""JDBC sources and sinks (PostgreSQL), through Spark's JDBC reader and writer with the machine's driver jar."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from awsglue import _frame as fr
from awsglue._io.files import writable
from awsglue._io.options import UnsupportedOptionError, reject_unknown

if TYPE_CHECKING:
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame


_JDBC_OPTIONS = {"url", "user", "password", "dbtable", "database", "query", "sampleQuery", "jobBookmarkKeys",
                 "jobBookmarkKeysSortOrder", "hashfield", "hashexpression", "hashpartitions", "bulkSize",
                 "connectionName", "vendor", "fullUrl"}  # fmt: skip
_JDBC_DRIVERS = {"postgresql": "org.postgresql.Driver"}
JDBC_JAR_ENV = "AWSGLUE_JDBC_DRIVER_PATH"
_JDBC_JAR_CANDIDATES = ("/usr/share/java/postgresql.jar",)  # Debian's libpostgresql-jdbc-java


def jdbc_driver_jar() -> str | None:
    """The PostgreSQL JDBC driver: ``AWSGLUE_JDBC_DRIVER_PATH``, else Debian's libpostgresql-jdbc-java jar."""
    configured = os.environ.get(JDBC_JAR_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    return next((c for c in _JDBC_JAR_CANDIDATES if Path(c).is_file()), None)


def _jdbc_ready(glue_ctx: GlueContext, vendor: str) -> str:
    """The driver class, with the jar added to this Spark session (once)."""
    if vendor not in _JDBC_DRIVERS:
        raise UnsupportedOptionError(f"no JDBC driver for {vendor!r} in the local awsglue (supported: postgresql)")
    jar = jdbc_driver_jar()
    if jar is None:
        raise UnsupportedOptionError(
            f"the PostgreSQL JDBC driver jar was not found ({JDBC_JAR_ENV}, or Debian's libpostgresql-jdbc-java at "
            f"{_JDBC_JAR_CANDIDATES[0]})"
        )
    if jar not in glue_ctx._jars_added:
        glue_ctx.spark_session.sql(f"ADD JAR '{jar}'")
        glue_ctx._jars_added.add(jar)
    return _JDBC_DRIVERS[vendor]


def _jdbc_target(vendor: str, options: dict[str, Any]) -> tuple[str, str]:
    """(url with the database, dbtable) from Glue's JDBC connection options."""
    url = options.get("url") or options.get("fullUrl")
    table = options.get("dbtable")
    if not url or not table:
        raise ValueError(f"a {vendor} connection needs url and dbtable in connection_options")
    if options.get("database") and urlsplit(url[len("jdbc:") :]).path in ("", "/"):
        url = f"{url.rstrip('/')}/{options['database']}"
    return url, table


def read_jdbc(glue_ctx: GlueContext, vendor: str, options: dict[str, Any], transformation_ctx: str) -> fr.FrameData:
    reject_unknown(options, _JDBC_OPTIONS, f"{vendor} source")
    driver = _jdbc_ready(glue_ctx, vendor)
    url, table = _jdbc_target(vendor, options)
    reader = (
        glue_ctx.spark_session.read.format("jdbc")
        .option("url", url)
        .option("driver", driver)
        .option("user", options.get("user", ""))
        .option("password", options.get("password", ""))
    )
    if options.get("query") or options.get("sampleQuery"):
        reader = reader.option("query", options.get("query") or options.get("sampleQuery"))
    else:
        reader = reader.option("dbtable", table)
    df = reader.load()
    job = glue_ctx._active_job()
    if job is not None and job.bookmarks_on and transformation_ctx:
        df = job.select_rows(transformation_ctx, df, options)
    return fr.FrameData(df)


def write_jdbc(glue_ctx: GlueContext, frame: DynamicFrame, vendor: str, options: dict[str, Any]) -> None:
    reject_unknown(options, _JDBC_OPTIONS, f"{vendor} sink")
    driver = _jdbc_ready(glue_ctx, vendor)
    url, table = _jdbc_target(vendor, options)
    df = writable(frame, "jdbc")
    if not df.columns:
        return
    properties = {"user": options.get("user", ""), "password": options.get("password", ""), "driver": driver}
    df.write.jdbc(url, table, mode="append", properties=properties)


def write_jdbc_conf(
    glue_ctx: GlueContext, frame: DynamicFrame, connection: str, options: dict[str, Any], catalog_id: str | None
) -> DynamicFrame:
    conf = glue_ctx.extract_jdbc_conf(connection, catalog_id)
    if conf["vendor"] == "redshift":
        raise UnsupportedOptionError("Redshift sinks are not supported by the local awsglue")
    merged = {
        "url": conf["url"],
        "fullUrl": conf["fullUrl"],
        "user": conf["user"],
        "password": conf["password"],
        **options,
    }
    if not options.get("database"):
        merged["url"] = conf["fullUrl"]
    write_jdbc(glue_ctx, frame, conf["vendor"], merged)
    return frame
