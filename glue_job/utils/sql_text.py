"""Spark SQL text for expressions the job builds: identifiers, literals, IN lists, AND/OR chains.

Why text: every pyspark.sql.functions call is about three round trips from Python to the driver's JVM (two
reflective look-ups and the call), every literal in an `isin` three more, every column handed over in a list one
more. An expression written as SQL text crosses once, whatever its size (`F.expr`, `DataFrame.selectExpr`), and
analyses to the same tree. The job builds its columns anew on every run, so in a warm worker these round trips were
a fifth of a one-day increment.

Literals follow Spark's default parser (`spark.sql.parser.escapedStringLiterals` false): a backslash escapes.
Names cannot escape `${`: the job's session turns Spark's variable substitution off (covid_transform.configure_session).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from pyspark.sql import Column
from pyspark.sql import functions as F


def ident(name: str) -> str:
    """A column name as SQL: back-quoted, so any name (dots, spaces, quotes) stays one column."""
    return "`" + name.replace("`", "``") + "`"


def _escape_char(char: str) -> str:
    if char in ("\\", "'"):
        return "\\" + char
    # '$' too: Spark substitutes ${...} in SQL text before parsing (spark.sql.variable.substitute, on by default).
    if ord(char) < 0x20 or ord(char) == 0x7F or char == "$":
        return f"\\u{ord(char):04x}"
    return char


def literal(value: str | int | float | bool | date | None) -> str:
    """A Python value as a Spark SQL literal of the same type (str, int, float, bool, date, None)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):  # before int: a bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return f"{value}L" if not -(2**31) <= value < 2**31 else str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return f"CAST('{value!r}' AS DOUBLE)"  # 'nan', 'inf', '-inf': Spark's cast reads them
        return f"{value!r}D"
    if isinstance(value, datetime):
        raise TypeError("timestamps are not written as SQL literals here")
    if isinstance(value, date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + "".join(_escape_char(c) for c in value) + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def alias(expression: str, name: str) -> str:
    """`expression AS name`, the name back-quoted."""
    return f"{expression} AS {ident(name)}"


def is_in(expression: str, values: Iterable[str | int | date]) -> str:
    """`expression IN (values)`; false for no values (an empty IN list does not parse)."""
    listed = [literal(v) for v in values]
    return f"({expression} IN ({', '.join(listed)}))" if listed else "FALSE"


def all_of(conditions: Iterable[str]) -> str:
    """AND of the conditions, left to right (so evaluation stops at the first false); true for none."""
    listed = [f"({c})" for c in conditions]
    return " AND ".join(listed) if listed else "TRUE"


def any_of(conditions: Iterable[str]) -> str:
    """OR of the conditions, left to right; false for none."""
    listed = [f"({c})" for c in conditions]
    return " OR ".join(listed) if listed else "FALSE"


def column(expression: str) -> Column:
    """The expression as a Column (one round trip)."""
    return F.expr(expression)
