"""SQL text for the job's expressions: every literal and name reaches Spark exactly as it was in Python."""

from __future__ import annotations

import math
from datetime import date

import covid_transform
import pytest
from utils import sql_text as sql

pytestmark = pytest.mark.spark

ODD_TEXT = [
    "",
    "plain",
    "it's",
    "''",
    "back\\slash",
    "\\'",
    "ends with a backslash\\",
    'double "quotes"',
    "new\nline, tab\t, return\r, form feed\f, vertical tab\v",
    "nul \u0000 and delete \u007f",
    "no-break\u00a0space",
    "\ufeffBOM",
    "Côte d’Ivoire, Curaçao, Réunion",
    "\ufffd replacement",
    "emoji \U0001f600 outside the BMP",
    "${not_a_variable} {braces} %s",
    "'; SELECT 1; --",
    "`backtick`",
    "\\u0041 written out",
]


def test_text_literals_come_back_unchanged(spark) -> None:
    expressions = [f"{sql.literal(value)} AS v{i}" for i, value in enumerate(ODD_TEXT)]
    row = spark.range(1).selectExpr(*expressions).first()
    assert list(row) == ODD_TEXT


def test_other_literals_keep_their_value_and_type(spark) -> None:
    values = [0, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**62, 1.5, -0.25, 1e-300, 1e300, True, False, date(2020, 1, 22)]
    frame = spark.range(1).selectExpr(*[f"{sql.literal(v)} AS v{i}" for i, v in enumerate(values)])
    assert list(frame.first()) == values
    types = [t for _, t in frame.dtypes]
    assert types == ["int"] * 3 + ["bigint"] * 3 + ["double"] * 4 + ["boolean"] * 2 + ["date"]


def test_null_nan_and_infinities(spark) -> None:
    row = (
        spark.range(1)
        .selectExpr(*[f"{sql.literal(v)} AS v{i}" for i, v in enumerate([None, math.nan, math.inf, -math.inf])])
        .first()
    )
    assert row[0] is None and math.isnan(row[1]) and (row[2], row[3]) == (math.inf, -math.inf)


def test_unsupported_values_are_refused_not_guessed() -> None:
    with pytest.raises(TypeError, match="no SQL literal for bytes"):
        sql.literal(b"raw")


@pytest.mark.parametrize("name", ["a.b", "with space", "back`tick", "Province/State", "select", "ünï", "${x} $y"])
def test_any_column_name_stays_one_column(spark, name: str) -> None:
    covid_transform.configure_session(spark)  # as in the job: no ${...} substitution in SQL text
    frame = spark.createDataFrame([("x",)], ["v"]).withColumnRenamed("v", name)
    assert frame.selectExpr(f"{sql.ident(name)} AS out").first().out == "x"


def test_in_lists_and_chains(spark) -> None:
    frame = spark.createDataFrame([("it's",), ("b",), (None,)], "v string")
    found = frame.selectExpr(
        f"{sql.is_in('v', ['it' + chr(39) + 's', 'c'])} AS listed",
        f"{sql.is_in('v', [])} AS empty",
        f"{sql.all_of(['v IS NOT NULL', 'v != ' + sql.literal('b')])} AS both",
        f"{sql.any_of([])} AS none",
        f"{sql.all_of([])} AS every",
    ).collect()
    assert [tuple(r) for r in found] == [
        (True, False, True, False, True),
        (False, False, False, False, True),
        (None, False, False, False, True),  # null IN (...) is null, as Column.isin
    ]
