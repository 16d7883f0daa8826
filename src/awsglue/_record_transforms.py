"""The record transforms of a DynamicFrame: filter, map, join, merge, unbox and spigot.

``filter``, ``map`` and ``unbox`` run Python on every record (as a dict); a record on which that raises becomes an
error record of the transform rather than failing the job, as Glue does."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any, Self

from pyspark import RDD
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import types as T

from awsglue import _frame as fr
from awsglue import _records as rec
from awsglue import _reshape as rs
from awsglue import gluetypes as gt
from awsglue._frame_base import FrameBase

if TYPE_CHECKING:
    from awsglue.dynamicframe import DynamicFrame


class RecordTransforms(FrameBase):
    """Transforms of a frame's records."""

    def filter(
        self,
        f: Callable[[dict[str, Any]], bool],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> Self:
        """The records for which ``f(record)`` is true; a record on which ``f`` raises becomes an error record."""
        data = self._data.typed()
        choices, stage = data.choices, info or "Filter"
        rec.ship_with_its_module(f)

        def run(rows: Iterable[Row]) -> Iterator[tuple[bool, Any]]:
            for row in rows:
                record = rec.row_to_record(row, choices)
                try:
                    if f(record):
                        yield True, row
                except Exception as error:  # Glue makes it an error record rather than failing the job
                    yield False, rec.error_row(stage, record, error)

        tagged = data.df.rdd.mapPartitions(run)
        kept = self._spark.createDataFrame(tagged.filter(lambda t: t[0]).map(lambda t: t[1]), data.df.schema)
        return self._next(data.with_df(kept), [self._errors_of(tagged)], stageThreshold, totalThreshold)

    def map(
        self,
        f: Callable[[dict[str, Any]], dict[str, Any]],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> Self:
        """``f(record)`` for every record; the new records' schema is computed from what ``f`` returns."""
        data = self._data.typed()
        stage = info or "Map"

        rec.ship_with_its_module(f)

        def checked(record: dict[str, Any]) -> dict[str, Any]:
            result = f(record)
            if not isinstance(result, dict):
                raise TypeError(f"the map function returned {type(result).__name__}, not a record (dict)")
            return result

        tagged = rec.apply_to_records(data.df, data.choices, stage, checked)
        records: RDD[dict[str, Any]] = tagged.filter(lambda t: t[0]).map(lambda t: t[1])
        mapped = rec.frame_from_records(self._spark, records, data.glue_schema())
        return self._next(mapped, [self._errors_of(tagged)], stageThreshold, totalThreshold)

    def join(
        self,
        paths1: str | Sequence[str],
        paths2: str | Sequence[str],
        frame2: DynamicFrame,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> Self:
        """An equality join; a field both frames have is kept twice, this frame's copy renamed ``.<name>``."""
        keys1, keys2 = rs.as_list(paths1), rs.as_list(paths2)
        if len(keys1) != len(keys2) or not keys1:
            raise ValueError(f"join needs as many keys on each side, got {keys1} and {keys2}")
        left, right = self._data.typed(), frame2._data.typed()
        clashes = set(left.df.columns) & set(right.df.columns)
        renamed = {name: f".{name}" if name in clashes else name for name in left.df.columns}
        left_df = left.df.select(*[fr.top(name).alias(renamed[name]) for name in left.df.columns])
        condition = reduce(
            lambda a, b: a & b,
            [
                fr.value_at(_renamed_path(fr.parse_path(k1), renamed)) == fr.value_at(fr.parse_path(k2))
                for k1, k2 in zip(keys1, keys2, strict=True)
            ],
        )
        joined = _aliased_join(left_df, right.df, condition)
        choices = {(renamed[c[0]], *c[1:]) for c in left.choices} | set(right.choices)
        return self._next(fr.FrameData(joined, frozenset(choices)), (), stageThreshold, totalThreshold)

    def mergeDynamicFrame(
        self,
        stage_dynamic_frame: DynamicFrame,
        primary_keys: Sequence[str],
        transformation_ctx: str = "",
        options: Mapping[str, Any] | None = None,
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> Self:
        """This frame's records whose keys the staging frame does not have, plus every staging record."""
        source, stage = self._data.typed(), stage_dynamic_frame._data.typed()
        keys = rs.as_list(primary_keys)
        missing = [k for k in keys if k not in source.df.columns or k not in stage.df.columns]
        if missing:
            raise fr.PathError(f"mergeDynamicFrame: primary keys {missing} are not in both frames")
        kept = source.df.join(stage.df.select(*keys).distinct(), on=keys, how="left_anti")
        merged = kept.unionByName(stage.df, allowMissingColumns=True)
        return self._next(fr.FrameData(merged, source.choices | stage.choices), (), stageThreshold, totalThreshold)

    def unbox(
        self,
        path: str,
        format: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        **options: Any,
    ) -> Self:
        """Parse the string field at ``path`` as ``format`` (json or csv) into the structure it holds."""
        data = self._data.typed()
        field_path = fr.parse_path(path)
        if not isinstance(fr.type_at(data.df.schema, field_path), T.StringType):
            raise fr.PathError(f"unbox: {path!r} is not a string field")
        parse = _unbox_parser(format, options)
        stage = info or "Unbox"

        def unboxed(record: dict[str, Any]) -> dict[str, Any]:
            return _set_in(record, field_path, parse(_get_in(record, field_path)))

        tagged = rec.apply_to_records(data.df, data.choices, stage, unboxed)
        records: RDD[dict[str, Any]] = tagged.filter(lambda t: t[0]).map(lambda t: t[1])
        hint = _without_field(data.glue_schema(), field_path)
        result = rec.frame_from_records(self._spark, records, hint)
        return self._next(result, [self._errors_of(tagged)], stageThreshold, totalThreshold)

    def spigot(self, path: str, options: Mapping[str, Any] | str | None = None, transformation_ctx: str = "") -> Self:
        """Write a sample of the records (JSON) to ``path`` and return this frame: the first ``topk`` records
        (100 by default) or each record with probability ``prob``."""
        if isinstance(options, str):  # Glue's examples pass "topN"
            match = re.fullmatch(r"top(\d+)", options)
            if not match:
                raise ValueError(f"spigot: unsupported options {options!r} (a dict with topk or prob, or 'top<k>')")
            options = {"topk": int(match.group(1))}
        options = dict(options or {})
        unknown = set(options) - {"topk", "prob"}
        if unknown:
            raise ValueError(f"spigot: unsupported options {sorted(unknown)} (topk, prob)")
        df = self.toDF()
        sample = (
            df.sample(fraction=float(options["prob"])) if "prob" in options else df.limit(int(options.get("topk", 100)))
        )
        from awsglue import _io

        sample.write.mode("overwrite").json(_io.spark_path(path))
        return self


def _renamed_path(path: fr.Path, renamed: dict[str, str]) -> fr.Path:
    return (renamed.get(path[0], path[0]), *path[1:])


def _aliased_join(left: DataFrame, right: DataFrame, condition: Column) -> DataFrame:
    """An inner join whose condition was written with top-level column names of both sides (no clashes)."""
    return left.join(right, on=condition, how="inner")


def _get_in(record: dict[str, Any], path: fr.Path) -> Any:
    value: Any = record
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _set_in(record: dict[str, Any], path: fr.Path, value: Any) -> dict[str, Any]:
    node = record
    for step in path[:-1]:
        node = node.setdefault(step, {})
    node[path[-1]] = value
    return record


def _without_field(schema: gt.StructType, path: fr.Path) -> gt.StructType:
    """A schema hint without the field being replaced (its new type comes from the parsed values)."""
    if len(path) == 1:
        return gt.StructType([f for f in schema.fields if f.name != path[0]])
    fields = []
    for glue_field in schema.fields:
        if glue_field.name == path[0] and isinstance(glue_field.dataType, gt.StructType):
            fields.append(gt.Field(glue_field.name, _without_field(glue_field.dataType, path[1:])))
        else:
            fields.append(glue_field)
    return gt.StructType(fields)


def _looks_typed(value: Any) -> Any:
    """Unboxed JSON as AWS's Unbox example shows it: numeric strings become numbers (``"220"`` -> 220)."""
    if isinstance(value, dict):
        return {k: _looks_typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_looks_typed(v) for v in value]
    if isinstance(value, str):
        return _text_value(value)
    return value


def _text_value(text: str) -> Any:
    """Text typed by its looks, by the rule CSV columns follow (``_frame.text_kind``): an integer that fits in
    64 bits, else other number syntax, else the text."""
    if re.fullmatch(fr.LONG_TEXT, text) and -(2**63) <= int(text) < 2**63:
        return int(text)
    if re.fullmatch(fr.DOUBLE_TEXT, text):
        return float(text)
    return text


def _unbox_parser(format_name: str, options: dict[str, Any]) -> Callable[[Any], Any]:
    if format_name == "json":
        if options:
            raise ValueError(f"unbox: unsupported options for json: {sorted(options)}")
        return lambda text: None if text is None else _looks_typed(json.loads(text))
    if format_name != "csv":
        raise ValueError(f"unbox: unsupported format {format_name!r} (json, csv)")
    unknown = set(options) - {"separator", "escaper", "skipFirst", "withHeader", "withSchema"}
    if unknown:
        raise ValueError(f"unbox: unsupported options for csv: {sorted(unknown)}")
    separator = options.get("separator", ",")
    escaper = options.get("escaper") or None
    skip_first = bool(options.get("skipFirst"))
    with_header = bool(options.get("withHeader"))
    names: list[str] | None = None
    if options.get("withSchema"):
        names = [f["name"] for f in json.loads(options["withSchema"])["fields"]]

    def parse(text: Any) -> Any:
        if text is None:
            return None
        lines = list(csv.reader(io.StringIO(text), delimiter=separator, escapechar=escaper))
        if skip_first:
            lines = lines[1:]
        header = names
        if with_header and lines:
            header, lines = header or lines[0], lines[1:]
        if not lines:
            return None
        values = lines[0]
        keys = header or [f"col{i}" for i in range(len(values))]
        return {key: _looks_typed(value) if value != "" else None for key, value in zip(keys, values, strict=False)}

    return parse
