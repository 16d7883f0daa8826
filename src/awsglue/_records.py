"""Self-describing records (Python dicts) <-> a DynamicFrame: map, filter, JSON, unbox and RDDs go through here.

A record's fields are typed by their values (``1`` int, ``10**10`` long, ``1.5`` double, ``"x"`` string, dicts
structs, lists arrays), merged over all records into one Glue schema in which a field holding two types is a
choice. The merge runs per partition on the executors; only the partitions' schemas come back to the driver,
never the records. ``hint`` is the schema the records came from: a value that still fits its field's type keeps
it (an ``int`` that was a ``long`` stays a ``long``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys
import sysconfig
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pyspark import RDD
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import types as T

from awsglue import gluetypes as gt
from awsglue._frame import ARRAY, FrameData, Path, choice_paths

INT32 = range(-(2**31), 2**31)
INT64 = range(-(2**63), 2**63)
_INTEGRAL_RANGE: dict[type[gt.DataType], range] = {
    gt.ByteType: range(-(2**7), 2**7),
    gt.ShortType: range(-(2**15), 2**15),
    gt.IntegerType: INT32,
    gt.LongType: INT64,
}
ERROR_SCHEMA = T.StructType(
    [
        T.StructField("error", T.StringType()),
        T.StructField("stage", T.StringType()),
        T.StructField("record", T.StringType()),
    ]
)


def infer_type(value: Any, hint: gt.DataType | None = None) -> gt.DataType:
    """The Glue type of one Python value (``hint``: the type its field had, kept where the value still fits)."""
    if isinstance(hint, gt.ChoiceType):
        hints = list(hint.choices.values())
        for candidate in hints:
            inferred = infer_type(value, candidate)
            if inferred == candidate or isinstance(inferred, gt.NullType):
                return inferred
        hint = None
    if value is None:
        return gt.NullType()
    if isinstance(value, bool):
        return gt.BooleanType()
    if isinstance(value, int):
        if hint is not None and value in _INTEGRAL_RANGE.get(type(hint), range(0)):
            return hint
        return gt.IntegerType() if value in INT32 else gt.LongType()
    if isinstance(value, float):
        return hint if isinstance(hint, gt.FloatType) else gt.DoubleType()
    if isinstance(value, decimal.Decimal):
        return hint if isinstance(hint, gt.DecimalType) else gt.DecimalType(38, 18)
    if isinstance(value, str):
        return gt.StringType()
    if isinstance(value, dt.datetime):
        return gt.TimestampType()
    if isinstance(value, dt.date):
        return gt.DateType()
    if isinstance(value, bytes | bytearray):
        return gt.BinaryType()
    if isinstance(value, Row):
        value = value.asDict(recursive=True)
    if isinstance(value, dict):
        hint_struct = hint if isinstance(hint, gt.StructType) else None
        return gt.StructType(
            gt.Field(str(name), infer_type(item, _field_hint(hint_struct, str(name)))) for name, item in value.items()
        )
    if isinstance(value, list | tuple):
        element_hint = hint.elementType if isinstance(hint, gt.ArrayType) else None
        element: gt.DataType = gt.NullType()
        for item in value:
            element = gt.merge_types(element, infer_type(item, element_hint))
        if isinstance(element, gt.NullType) and element_hint is not None:
            element = element_hint
        return gt.ArrayType(element)
    raise TypeError(f"a record value of Python type {type(value).__name__} has no Glue type")


def _field_hint(hint: gt.StructType | None, name: str) -> gt.DataType | None:
    found = hint.getField(name) if hint is not None else None
    return found.dataType if found is not None else None


def merge_schemas(schemas: Iterable[gt.StructType]) -> gt.StructType:
    merged: gt.DataType = gt.StructType()
    for schema in schemas:
        merged = gt.merge_types(merged, schema)
    assert isinstance(merged, gt.StructType)
    return merged


def records_schema(records: RDD[dict[str, Any]], hint: gt.StructType | None) -> gt.StructType:
    """The merged schema of all records: merged per partition, then the partitions' few schemas on the driver."""

    def partition_schema(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
        schema: gt.DataType = gt.StructType()
        for record in rows:
            schema = gt.merge_types(schema, infer_type(record, hint))
        yield json.dumps(_encode(schema))

    partials = [_decode(json.loads(text)) for text in records.mapPartitions(partition_schema).collect()]
    merged = merge_schemas(p for p in partials if isinstance(p, gt.StructType))
    if hint is not None:  # fields the records never set keep their place and type
        for hint_field in hint.fields:
            if not merged.hasField(hint_field.name):
                merged.add(gt.Field(hint_field.name, hint_field.dataType))
        merged = gt.StructType(
            [merged.field_map[f.name] for f in hint.fields] + [f for f in merged.fields if not hint.hasField(f.name)]
        )
    return merged


def _encode(data_type: gt.DataType) -> dict[str, Any]:
    """A picklable-by-JSON form of a Glue type (types travel between executors and the driver)."""
    return data_type.jsonValue()


def _decode(value: dict[str, Any]) -> gt.DataType:
    name = value["dataType"]
    if name == "Struct":
        return gt.StructType(gt.Field(f["name"], _decode(f["container"])) for f in value["fields"])
    if name == "Array":
        return gt.ArrayType(_decode(value["elementType"]))
    if name == "Map":
        return gt.MapType(_decode(value["valueType"]))
    if name == "Choice":
        return gt.ChoiceType(_decode(choice) for choice in value["choices"])
    if name == "Decimal":
        return gt.DecimalType(value["precision"], value["scale"])
    return getattr(gt, f"{name}Type")()


def to_spark_value(value: Any, data_type: gt.DataType) -> Any:
    """A record value in the shape ``createDataFrame`` wants for the Spark type carrying ``data_type``."""
    if value is None:
        return None
    if isinstance(value, Row):
        value = value.asDict(recursive=True)
    if isinstance(data_type, gt.ChoiceType):
        kind = gt.type_name(_branch_type(value, data_type))
        return tuple(to_spark_value(value, t) if name == kind else None for name, t in data_type.choices.items())
    if isinstance(data_type, gt.StructType):
        if not isinstance(value, dict):
            return None
        return tuple(to_spark_value(value.get(f.name), f.dataType) for f in data_type.fields)
    if isinstance(data_type, gt.ArrayType):
        return (
            [to_spark_value(item, data_type.elementType) for item in value] if isinstance(value, list | tuple) else None
        )
    if isinstance(data_type, gt.MapType):
        return (
            {str(k): to_spark_value(v, data_type.valueType) for k, v in value.items()}
            if isinstance(value, dict)
            else None
        )
    if isinstance(data_type, gt.NullType):
        return None
    if isinstance(data_type, gt.DoubleType | gt.FloatType) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _branch_type(value: Any, choice: gt.ChoiceType) -> gt.DataType:
    """The branch of a choice a value belongs to (its own type, or the integer branch wide enough for it)."""
    own = infer_type(value, choice)
    if gt.type_name(own) in choice.choices:
        return own
    if isinstance(own, gt.IntegerType | gt.LongType):
        for integral in ("long", "int", "short", "byte"):
            if integral in choice.choices and value in _INTEGRAL_RANGE[type(choice.choices[integral])]:
                return choice.choices[integral]
    return own


def frame_from_records(
    spark: SparkSession, records: RDD[dict[str, Any]], hint: gt.StructType | None = None
) -> FrameData:
    """A frame of self-describing records: their merged schema (one pass), then the rows (a second pass)."""
    schema = records_schema(records, hint)
    spark_schema = gt.to_spark(schema)
    assert isinstance(spark_schema, T.StructType)
    rows = records.map(lambda record: to_spark_value(record, schema))
    df = spark.createDataFrame(rows, spark_schema, verifySchema=False)  # type: ignore[type-var]
    return FrameData(df, choice_paths(schema))


def row_to_record(row: Row, choices: frozenset[Path]) -> dict[str, Any]:
    """A row as the dict a map or filter function sees: a choice field holds its value, not its struct."""
    record = row.asDict(recursive=True)
    for path in sorted(choices, key=len, reverse=True):  # inner choices first
        _unwrap(record, path)
    return record


def _unwrap(container: Any, path: Path) -> None:
    head, rest = path[0], path[1:]
    if head == ARRAY:
        for item in container or []:
            if rest:
                _unwrap(item, rest)
        return
    if not isinstance(container, dict) or head not in container:
        return
    if rest:
        _unwrap(container[head], rest)
    elif isinstance(container[head], dict):
        container[head] = next((v for v in container[head].values() if v is not None), None)


def error_row(stage: str, record: Any, error: BaseException) -> tuple[str, str, str]:
    """An error record: what failed, in which transform, and the record it failed on (as JSON)."""
    message = "".join(traceback.format_exception_only(type(error), error)).strip()
    return message, stage, json.dumps(record, default=str)


def ship_with_its_module(function: Callable[..., Any]) -> None:
    """Make a record function's own module travel with it to the Python workers.

    On Glue a script's functions live in ``__main__`` (sent by value) or in --extra-py-files (installed on every
    worker). A function imported from a module of the user's that the workers cannot import (a job module a test
    imports through its own sys.path) is sent by value too; installed libraries stay imported by name."""
    from pyspark import cloudpickle

    module = sys.modules.get(getattr(function, "__module__", "") or "")
    location = str(getattr(module, "__file__", "") or "")
    installed = ("site-packages" in location or "dist-packages" in location
                 or location.startswith(sysconfig.get_paths()["stdlib"]))  # fmt: skip
    if module is not None and location and module.__name__ != "__main__" and not installed:
        cloudpickle.register_pickle_by_value(module)


def apply_to_records(
    df: DataFrame, choices: frozenset[Path], stage: str, function: Callable[[dict[str, Any]], Any]
) -> RDD[tuple[bool, Any]]:
    """(True, function(record)) per row, or (False, error row) where the function raised."""
    ship_with_its_module(function)

    def run(rows: Iterable[Row]) -> Iterator[tuple[bool, Any]]:
        for row in rows:
            record = row_to_record(row, choices)
            try:
                yield True, function(record)
            except Exception as error:  # a failing record becomes an error record, as in Glue
                yield False, error_row(stage, record, error)

    return df.rdd.mapPartitions(run)
