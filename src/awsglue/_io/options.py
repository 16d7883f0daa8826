"""What every source and sink checks: the connection types and formats supported, and options that are not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FILE_TYPES = ("s3", "file")
JDBC_TYPES = ("postgresql", "mysql", "sqlserver", "oracle")
READ_FORMATS = ("csv", "json", "parquet", "orc")
WRITE_FORMATS = ("csv", "json", "parquet", "glueparquet", "orc")
# Options Glue documents that change only how fast or how many files at a time: accepted, with nothing to do here.
_S3_READ_HINTS = {"groupFiles", "groupSize", "compressionType", "isFailFast", "useS3ListImplementation",
                  "maxFilesInBand", "excludeStorageClasses", "optimizePerformance"}  # fmt: skip
S3_READ_OPTIONS = {"paths", "path", "recurse", "exclusions", "maxBand", *_S3_READ_HINTS}


class UnsupportedOptionError(ValueError):
    """A connection type, format or option this local awsglue does not support."""


def reject_unknown(options: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UnsupportedOptionError(
            f"unsupported {what} option(s) {unknown} (supported: {', '.join(sorted(allowed))})"
        )


def no_extra(extra: Mapping[str, Any], where: str) -> None:
    if extra:
        raise UnsupportedOptionError(f"{where}: unsupported argument(s) {sorted(extra)}")


def flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"
