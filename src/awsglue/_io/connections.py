"""``from_options``: a connection type and its options, sent to the file or the JDBC reader and writer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from awsglue._io.files import read_files, write_files
from awsglue._io.jdbc import read_jdbc, write_jdbc
from awsglue._io.options import FILE_TYPES, JDBC_TYPES, UnsupportedOptionError, no_extra

if TYPE_CHECKING:
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame


def read_from_options(
    glue_ctx: GlueContext,
    connection_type: str,
    connection_options: dict[str, Any],
    format: str | None,
    format_options: dict[str, Any],
    transformation_ctx: str,
    push_down_predicate: str,
    extra: Mapping[str, Any],
) -> DynamicFrame:
    from awsglue.dynamicframe import DynamicFrame

    no_extra(extra, "create_dynamic_frame.from_options")
    kind = connection_type.lower()
    if kind in FILE_TYPES:
        data = read_files(glue_ctx, connection_options, format, format_options, transformation_ctx)
    elif kind in JDBC_TYPES:
        if format:
            raise UnsupportedOptionError(f"a {kind} source takes no format (got {format!r})")
        data = read_jdbc(glue_ctx, kind, connection_options, transformation_ctx)
    else:
        raise UnsupportedOptionError(
            f"unsupported connection_type {connection_type!r} for reading (local awsglue: s3, file, postgresql)"
        )
    if push_down_predicate:
        data = data.with_df(data.df.where(push_down_predicate))
    return DynamicFrame(data, glue_ctx, transformation_ctx)


def write_from_options(
    glue_ctx: GlueContext,
    frame: DynamicFrame,
    connection_type: str,
    connection_options: dict[str, Any],
    format: str | None,
    format_options: dict[str, Any],
    transformation_ctx: str,
    extra: Mapping[str, Any],
) -> DynamicFrame:
    no_extra(extra, "write_dynamic_frame.from_options")
    kind = connection_type.lower()
    if kind in FILE_TYPES:
        write_files(glue_ctx, frame, connection_options, format, format_options)
    elif kind in JDBC_TYPES:
        write_jdbc(glue_ctx, frame, kind, connection_options)
    elif kind == "redshift":
        raise UnsupportedOptionError("Redshift sinks are not supported by the local awsglue")
    else:
        raise UnsupportedOptionError(
            f"unsupported connection_type {connection_type!r} for writing (local awsglue: s3, file, postgresql)"
        )
    return frame
