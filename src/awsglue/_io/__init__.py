"""Sources and sinks behind GlueContext, DynamicFrameReader and DynamicFrameWriter: S3 (and local) files, the
catalog's tables, JDBC. Options Glue documents are mapped onto Spark's readers and writers; an option or type this
stand-in does not support is an error that names it.

The parts: ``options``, ``paths``, ``files``, ``jdbc``, ``connections``, ``catalog``.
This module names what the rest of awsglue uses.
"""

from __future__ import annotations

from awsglue._io.catalog import purge_files, purge_table, read_from_catalog, write_to_catalog
from awsglue._io.connections import read_from_options, write_from_options
from awsglue._io.files import frame_from_rdd
from awsglue._io.jdbc import JDBC_JAR_ENV, jdbc_driver_jar, write_jdbc_conf
from awsglue._io.options import FILE_TYPES, JDBC_TYPES, READ_FORMATS, WRITE_FORMATS, UnsupportedOptionError
from awsglue._io.paths import join_path, list_files, spark_path

__all__ = [
    "FILE_TYPES",
    "JDBC_JAR_ENV",
    "JDBC_TYPES",
    "READ_FORMATS",
    "WRITE_FORMATS",
    "UnsupportedOptionError",
    "frame_from_rdd",
    "jdbc_driver_jar",
    "join_path",
    "list_files",
    "purge_files",
    "purge_table",
    "read_from_catalog",
    "read_from_options",
    "spark_path",
    "write_from_options",
    "write_jdbc_conf",
    "write_to_catalog",
]
