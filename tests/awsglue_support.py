"""What the awsglue tests share: one GlueContext over the session's SparkSession, and rows as plain dicts.

from tests.awsglue_support import glue_context, rows  # noqa: F401  (imports the fixture into a test module)
"""

from __future__ import annotations

from typing import Any

import pytest

from awsglue.context import GlueContext


@pytest.fixture(scope="session", name="glue_context")
def glue_context_fixture(spark: Any) -> GlueContext:
    return GlueContext(spark.sparkContext)


def rows(df: Any, *order: str) -> list[dict[str, Any]]:
    """A DataFrame's rows as dicts (nested rows too), in the given order: what the tests compare by hand."""
    return [r.asDict(recursive=True) for r in (df.orderBy(*order) if order else df).collect()]
