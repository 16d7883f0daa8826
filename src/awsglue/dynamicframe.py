"""DynamicFrame, DynamicFrameCollection, DynamicFrameReader and DynamicFrameWriter, as AWS documents them.

A DynamicFrame here is a Spark DataFrame plus what Glue knows beyond Spark's types (``awsglue._frame``): which
struct columns are choice types, and which columns are CSV text not typed yet. Every transform is a Spark
plan; nothing is collected to the driver except schemas, counts and what ``show`` prints.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any

from pyspark import RDD
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue import _frame as fr
from awsglue import _records as rec
from awsglue import gluetypes as gt

if TYPE_CHECKING:
    from awsglue.context import GlueContext

log = logging.getLogger("awsglue")

__all__ = ["DynamicFrame", "DynamicFrameCollection", "DynamicFrameReader", "DynamicFrameWriter", "ResolveOption"]


class ErrorThresholdExceeded(RuntimeError):
    """A transform produced more error records than its stageThreshold or totalThreshold allows."""


class ResolveOption:
    """How ``toDF`` turns a choice into a DataFrame column: ``KeepAsStruct`` (the default), or ``Project``/``Cast``
    to a type (as the resolveChoice actions of those names)."""

    def __init__(self, path: str, action: str, target: Any = None) -> None:
        self.path = path
        self.action = action
        self.target = target


_RESOLVE_ACTIONS = ("cast", "project", "make_cols", "make_struct", "match_catalog")
_COMPARATORS: dict[str, Callable[[Column, Any], Column]] = {
    "<": lambda c, v: c < v,
    ">": lambda c, v: c > v,
    "<=": lambda c, v: c <= v,
    ">=": lambda c, v: c >= v,
    "=": lambda c, v: c == v,
    "==": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
}
# Glue DynamicFrame methods this stand-in does not implement: a clear error instead of an AttributeError.
_NOT_IMPLEMENTED = frozenset(
    {"simplify_ddb_json", "gs_", "resolve_choice_by_catalog", "unnest_ddb_json", "filter_ddb_json", "assertSchema"}
)


class DynamicFrame:
    """A distributed collection of self-describing records (see the module docstring for how it is carried)."""

    def __init__(self, jdf: DataFrame | fr.FrameData, glue_ctx: GlueContext, name: str = "") -> None:
        if isinstance(jdf, DataFrame):
            jdf = fr.FrameData(jdf)
        if not isinstance(jdf, fr.FrameData):
            raise TypeError(f"DynamicFrame needs a Spark DataFrame, got {type(jdf).__name__} (use DynamicFrame.fromDF)")
        self._data = jdf
        self.glue_ctx = glue_ctx
        self.name = name
        self._errors: tuple[DataFrame, ...] = ()
        self._stage_errors: tuple[DataFrame, ...] = ()

    def __getattr__(self, name: str) -> Any:
        if name in _NOT_IMPLEMENTED:
            raise NotImplementedError(f"DynamicFrame.{name} is not implemented by the local awsglue")
        raise AttributeError(f"'DynamicFrame' object has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"DynamicFrame(name={self.name!r})"

    # --- construction ---

    @classmethod
    def fromDF(cls, dataframe: DataFrame, glue_ctx: GlueContext, name: str) -> DynamicFrame:
        """A DynamicFrame over a DataFrame; its fields keep their Spark types."""
        return cls(fr.FrameData(dataframe), glue_ctx, name)

    def toDF(self, options: Sequence[ResolveOption] | None = None) -> DataFrame:
        """The records as a DataFrame: choices stay structs of their branches unless an option projects them."""
        data = self._data.typed()
        for option in options or []:
            path = fr.parse_path(option.path)
            if option.action == "KeepAsStruct":
                continue
            if option.action not in ("Project", "Cast"):
                raise ValueError(f"unsupported ResolveOption action {option.action!r} (KeepAsStruct, Project, Cast)")
            target = option.target if isinstance(option.target, gt.DataType) else gt.from_spark(option.target)
            action = f"{option.action.lower()}:{gt.type_name(target)}"
            replace, _ = _resolution(data, path, action, {})
            choices = {c for c in data.choices if not fr.is_under(c, path)}
            data = _apply(data, {path: replace} if replace else {}, choices, set(data.raw))
        return data.df

    def _next(
        self,
        data: fr.FrameData,
        stage_errors: Iterable[DataFrame] = (),
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        name: str | None = None,
    ) -> DynamicFrame:
        frame = DynamicFrame(data, self.glue_ctx, self.name if name is None else name)
        frame._stage_errors = tuple(stage_errors)
        frame._errors = self._errors + frame._stage_errors
        frame._check_thresholds(stageThreshold, totalThreshold)
        return frame

    def _check_thresholds(self, stage_threshold: int, total_threshold: int) -> None:
        # Counting errors is an action: only done when a threshold asks for it.
        if stage_threshold and (count := self.stageErrorsCount()) > stage_threshold:
            raise ErrorThresholdExceeded(f"{count} error records in this transform, more than stageThreshold")
        if total_threshold and (count := self.errorsCount()) > total_threshold:
            raise ErrorThresholdExceeded(f"{count} error records so far, more than totalThreshold")

    # --- information ---

    def count(self) -> int:
        return self._data.df.count()

    def schema(self) -> gt.StructType:
        return self._data.glue_schema()

    def printSchema(self) -> None:
        print("\n".join(gt.schema_lines(self.schema())))

    def show(self, num_rows: int = 20) -> None:
        """The first records, one JSON object per line (fields that are null are left out, as in a record)."""
        data = self._data.typed()
        for row in data.df.limit(num_rows).collect():
            record = _drop_nulls(rec.row_to_record(row, data.choices))
            print(json.dumps(record, default=str))

    def repartition(self, numPartitions: int) -> DynamicFrame:
        return self._next(self._data.with_df(self._data.df.repartition(numPartitions)))

    def coalesce(self, numPartitions: int) -> DynamicFrame:
        return self._next(self._data.with_df(self._data.df.coalesce(numPartitions)))

    def getNumPartitions(self) -> int:
        return self._data.df.rdd.getNumPartitions()

    # --- field transforms ---

    def apply_mapping(
        self,
        mappings: Sequence[Sequence[str]],
        case_sensitive: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Select, rename, cast and nest fields in one pass: (source, source type, target, target type) each.

        A value that does not cast becomes null; a dotted target builds structs; fields not mapped are dropped."""
        data = self._data
        schema = data.df.schema
        targets: list[tuple[fr.Path, Column]] = []
        for mapping in mappings:
            if len(mapping) != 4:
                raise ValueError(f"a mapping is (source, source type, target, target type), got {mapping!r}")
            source_text, source_type, target_text, target_type = mapping
            gt.parse_type_name(source_type)  # an unknown type name is an error even where it is not needed
            target = gt.to_spark(gt.parse_type_name(target_type))
            target_path = fr.parse_path(target_text)
            if fr.ARRAY in target_path:
                raise fr.PathError(f"apply_mapping: targets inside arrays are not supported ({target_text!r})")
            source = _find_path(schema, fr.parse_path(source_text), case_sensitive)
            if source is None:
                log.warning("apply_mapping: no field %r in the frame; mapping skipped", source_text)
                continue
            if fr.ARRAY in source:
                raise fr.PathError(f"apply_mapping: sources inside arrays are not supported ({source_text!r})")
            targets.append((target_path, _cast_value(data, source, target)))
        return self._next(fr.FrameData(data.df.select(*_nested_columns(targets))), (), stageThreshold, totalThreshold)

    def drop_fields(
        self,
        paths: Sequence[str],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """The frame without the fields at ``paths`` (a path that is not there is left alone)."""
        data = self._data
        for text in _as_list(paths):
            path = fr.parse_path(text)
            if fr.type_at(data.df.schema, path) is None:
                continue
            if len(path) == 1:
                df = data.df.drop(path[0])
            else:
                df = fr.rewrite(data.df, path, lambda value, data_type, name: [])
            data = data.with_df(df, fr.without_under(data.choices, path))
        return self._next(data, (), stageThreshold, totalThreshold)

    def select_fields(
        self,
        paths: Sequence[str],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Only the fields at ``paths`` (a nested path keeps its parents with only that field)."""
        data = self._data
        wanted = [p for p in (fr.parse_path(text) for text in _as_list(paths)) if fr.type_at(data.df.schema, p)]
        for path in wanted:
            if fr.ARRAY in path:
                raise fr.PathError(f"select_fields: paths into arrays are not supported ({fr.format_path(path)!r})")
        columns = _selected_columns(fr.top, data.df.schema, wanted)
        kept = [c for c in data.choices if any(fr.is_under(c, p) for p in wanted)]
        return self._next(data.with_df(data.df.select(*columns), kept), (), stageThreshold, totalThreshold)

    def rename_field(
        self,
        oldName: str,
        newName: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """The field at ``oldName`` moved to ``newName`` (both full paths; backticks around names with dots)."""
        data = self._data
        old, new = fr.parse_path(oldName), fr.parse_path(newName)
        if fr.type_at(data.df.schema, old) is None:
            return self._next(data, (), stageThreshold, totalThreshold)
        if old[:-1] == new[:-1]:  # same parent: a rename in place keeps the field's position
            last = new[-1]
            df = fr.rewrite(data.df, old, lambda value, data_type, name: [value.alias(last)])
        else:
            if fr.ARRAY in old or fr.ARRAY in new:
                raise fr.PathError(f"rename_field: moving a field across arrays is not supported ({oldName!r})")
            # Added at its new place while the old one can still be read, then removed from the old place.
            df = _insert_at(data.df, new, fr.value_at(old))
            df = df.drop(old[0]) if len(old) == 1 else fr.rewrite(df, old, lambda v, t, n: [])
        raw = {new[0] if len(old) == 1 and name == old[0] and len(new) == 1 else name for name in data.raw}
        renamed = fr.FrameData(df, fr.moved(data.choices, old, new), frozenset(raw) & set(df.columns))
        return self._next(renamed, (), stageThreshold, totalThreshold)

    def resolveChoice(
        self,
        specs: Sequence[tuple[str, str]] | None = None,
        choice: str = "",
        database: str | None = None,
        table_name: str | None = None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        catalog_id: str | None = None,
        option: str = "",
    ) -> DynamicFrame:
        """Resolve choice types: per path (``specs``: [(path, action)]) or every choice (``choice``: action).

        Actions: ``cast:<type>`` (every value cast; null where it does not cast), ``project:<type>`` (only values
        of that type kept), ``make_cols`` (``<name>_<type>`` columns), ``make_struct`` (a struct of the types),
        ``match_catalog`` (cast to the type of the catalog table's column; needs database and table_name)."""
        choice = choice or option  # older releases called it option
        if specs is not None and choice:
            raise ValueError("resolveChoice takes specs or choice, not both")
        if specs is None and not choice:
            if not (database and table_name):
                raise ValueError("resolveChoice needs specs, choice, or database and table_name (match_catalog)")
            choice = "match_catalog"
        actions = [(fr.parse_path(path), action) for path, action in specs or []]
        for path, action in actions:
            _check_action(action, fr.format_path(path))
        if choice:
            _check_action(choice, "choice")
        data = self._data
        if choice or any(not a.startswith(("cast:", "project:")) for _, a in actions):
            data = data.typed()
        if choice:
            actions = [(path, choice) for path in sorted(data.choices, key=len)]
        catalog: dict[str, str] = {}
        if any(action == "match_catalog" for _, action in actions):
            if not (database and table_name):
                raise ValueError("resolveChoice: match_catalog needs database and table_name")
            from awsglue import _catalog

            catalog = _catalog.column_types(self.glue_ctx._client("glue"), database, table_name, catalog_id)
        # Independent paths are rewritten in one projection; a path inside one already pending waits for it.
        pending: dict[fr.Path, fr.Rewrite] = {}
        choices, raw = set(data.choices), set(data.raw)
        for path, action in actions:
            if any(fr.is_under(path, other) or fr.is_under(other, path) for other in pending):
                data, pending = _apply(data, pending, choices, raw), {}
            if fr.type_at(data.df.schema, path) is None:
                if choice:
                    continue  # a choice inside one resolved before it (make_cols) is gone
                raise fr.PathError(f"resolveChoice: field {fr.format_path(path)!r} not found")
            replace, kind = _resolution(data, path, action, catalog)
            if kind == "make_struct":
                choices.discard(path)
            elif kind != "unchanged":
                choices -= {c for c in choices if fr.is_under(c, path)}
                if len(path) == 1:
                    raw.discard(path[0])
            if replace is not None:
                pending[path] = replace
        return self._next(_apply(data, pending, choices, raw), (), stageThreshold, totalThreshold)

    def unnest(
        self,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Nested struct fields become top-level fields named by their path (``a.b``); choices stay whole."""
        data = self._data.typed()
        columns = [fr.value_at(path).alias(".".join(path)) for path in _unnest_paths(data.df.schema, data.choices)]
        choices = [(".".join(c),) for c in data.choices if fr.ARRAY not in c]
        return self._next(
            fr.FrameData(data.df.select(*columns), frozenset(choices)), (), stageThreshold, totalThreshold
        )

    def drop_null_fields(
        self,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """The frame without the fields that are null (or missing) in every record."""
        data = self._data.typed()
        leaves = [p for p in fr.leaf_paths(data.df.schema) if p]
        if not leaves:
            return self._next(data, (), stageThreshold, totalThreshold)
        row = data.df.agg(
            *[F.max(fr.value_at(p).isNotNull().cast("int")).alias(f"f{i}") for i, p in enumerate(leaves)]
        ).first()
        assert row is not None
        empty = [p for i, p in enumerate(leaves) if row[f"f{i}"] != 1]
        frame = self._next(data)
        dropped = frame.drop_fields([fr.format_path(p) for p in empty]) if empty else frame
        return self._next(_drop_empty_structs(dropped._data), (), stageThreshold, totalThreshold)

    # --- record transforms ---

    def filter(
        self,
        f: Callable[[dict[str, Any]], bool],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
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
    ) -> DynamicFrame:
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
    ) -> DynamicFrame:
        """An equality join; a field both frames have is kept twice, this frame's copy renamed ``.<name>``."""
        keys1, keys2 = _as_list(paths1), _as_list(paths2)
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
    ) -> DynamicFrame:
        """This frame's records whose keys the staging frame does not have, plus every staging record."""
        source, stage = self._data.typed(), stage_dynamic_frame._data.typed()
        keys = _as_list(primary_keys)
        missing = [k for k in keys if k not in source.df.columns or k not in stage.df.columns]
        if missing:
            raise fr.PathError(f"mergeDynamicFrame: primary keys {missing} are not in both frames")
        kept = source.df.join(stage.df.select(*keys).distinct(), on=keys, how="left_anti")
        merged = kept.unionByName(stage.df, allowMissingColumns=True)
        return self._next(fr.FrameData(merged, source.choices | stage.choices), (), stageThreshold, totalThreshold)

    def relationalize(
        self,
        root_table_name: str,
        staging_path: str | None = None,
        options: Mapping[str, Any] | None = None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrameCollection:
        """Flatten nested structs into ``a.b`` columns and pivot every array into its own frame
        ``<root>_<path>`` with ``id`` (the value left in the parent's column) and ``index`` (the position)."""
        from awsglue import _relationalize

        tables = _relationalize.relationalize(self._data.typed(), root_table_name, staging_path)
        frames = {name: self._next(data, name=name) for name, data in tables.items()}
        return DynamicFrameCollection(frames, self.glue_ctx)

    def split_fields(
        self,
        paths: Sequence[str],
        name1: str,
        name2: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrameCollection:
        """Two frames: the fields at ``paths`` (``name1``) and the rest (``name2``)."""
        split_off = self.select_fields(paths)
        remaining = self.drop_fields(paths)
        split_off.name, remaining.name = name1, name2
        return DynamicFrameCollection({name1: split_off, name2: remaining}, self.glue_ctx)

    def split_rows(
        self,
        comparison_dict: Mapping[str, Mapping[str, Any]],
        name1: str,
        name2: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrameCollection:
        """Two frames: the rows meeting every comparison (``name1``) and all others (``name2``)."""
        data = self._data.typed()
        conditions = []
        for path_text, comparisons in comparison_dict.items():
            path = fr.parse_path(path_text)
            if fr.type_at(data.df.schema, path) is None:
                raise fr.PathError(f"split_rows: field {path_text!r} not found")
            for operator, value in comparisons.items():
                if operator not in _COMPARATORS:
                    raise ValueError(f"split_rows: unsupported comparator {operator!r} ({', '.join(_COMPARATORS)})")
                conditions.append(_COMPARATORS[operator](fr.value_at(path), F.lit(value)))
        if not conditions:
            raise ValueError("split_rows needs at least one comparison")
        matches = F.coalesce(reduce(lambda a, b: a & b, conditions), F.lit(False))
        split_off = self._next(data.with_df(data.df.where(matches)), name=name1)
        remaining = self._next(data.with_df(data.df.where(~matches)), name=name2)
        return DynamicFrameCollection({name1: split_off, name2: remaining}, self.glue_ctx)

    def unbox(
        self,
        path: str,
        format: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        **options: Any,
    ) -> DynamicFrame:
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

    def spigot(
        self, path: str, options: Mapping[str, Any] | str | None = None, transformation_ctx: str = ""
    ) -> DynamicFrame:
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

    # --- errors ---

    @property
    def _spark(self) -> Any:
        return self._data.df.sparkSession

    def _errors_of(self, tagged: RDD[tuple[bool, Any]]) -> DataFrame:
        return self._spark.createDataFrame(tagged.filter(lambda t: not t[0]).map(lambda t: t[1]), rec.ERROR_SCHEMA)

    def errorsCount(self) -> int:
        """Error records of this frame and every frame it came from."""
        return sum(errors.count() for errors in self._errors)

    def stageErrorsCount(self) -> int:
        """Error records of the transform that made this frame."""
        return sum(errors.count() for errors in self._stage_errors)

    def errorsAsDynamicFrame(self) -> DynamicFrame:
        """The error records: ``error`` (the exception), ``stage`` (the transform) and ``record`` (as JSON)."""
        frames = list(self._errors) or [self._spark.createDataFrame([], rec.ERROR_SCHEMA)]
        return DynamicFrame(fr.union_all(frames), self.glue_ctx, f"{self.name}_errors")

    def assertErrorThreshold(self) -> None:
        count = self.errorsCount()
        if count:
            raise ErrorThresholdExceeded(f"{count} error records")

    # --- output ---

    def write(
        self,
        connection_type: str,
        connection_options: Mapping[str, Any] | None = None,
        format: str | None = None,
        format_options: Mapping[str, Any] | None = None,
        accumulator_size: int = 0,
    ) -> DynamicFrame:
        return self.glue_ctx.write_dynamic_frame_from_options(
            self, connection_type, connection_options or {}, format, format_options or {}
        )


class DynamicFrameCollection:
    """Named DynamicFrames (what relationalize, split_fields and split_rows return)."""

    def __init__(self, dynamic_frames: Mapping[str, DynamicFrame], glue_ctx: GlueContext) -> None:
        self._frames = dict(dynamic_frames)
        self.glue_ctx = glue_ctx

    def __getitem__(self, key: str) -> DynamicFrame:
        return self.select(key)

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def keys(self) -> list[str]:
        return list(self._frames)

    def values(self) -> list[DynamicFrame]:
        return list(self._frames.values())

    def select(self, key: str, transformation_ctx: str = "") -> DynamicFrame:
        if key not in self._frames:
            raise KeyError(f"no frame {key!r} in this collection (it has {', '.join(self._frames) or 'none'})")
        return self._frames[key]

    def map(self, callable: Callable[..., DynamicFrame], transformation_ctx: str = "") -> DynamicFrameCollection:
        return DynamicFrameCollection(
            {key: callable(frame, transformation_ctx) for key, frame in self._frames.items()}, self.glue_ctx
        )

    def flatmap(self, f: Callable[..., Any], transformation_ctx: str = "") -> DynamicFrameCollection:
        frames: dict[str, DynamicFrame] = {}
        for key, frame in self._frames.items():
            result = f(frame, transformation_ctx)
            if isinstance(result, DynamicFrameCollection):
                frames.update(result._frames)
            else:
                frames[key] = result
        return DynamicFrameCollection(frames, self.glue_ctx)


class DynamicFrameReader:
    """``glueContext.create_dynamic_frame``: read DynamicFrames from S3, the catalog, JDBC or an RDD."""

    def __init__(self, glue_context: GlueContext) -> None:
        self._glue_context = glue_context

    def from_rdd(self, data: RDD[Any], name: str, schema: Any = None, sampleRatio: float | None = None) -> DynamicFrame:
        from awsglue import _io

        return _io.frame_from_rdd(self._glue_context, data, name, schema)

    def from_options(
        self,
        connection_type: str,
        connection_options: Mapping[str, Any] | None = None,
        format: str | None = None,
        format_options: Mapping[str, Any] | None = None,
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        **kwargs: Any,
    ) -> DynamicFrame:
        from awsglue import _io

        return _io.read_from_options(
            self._glue_context,
            connection_type,
            dict(connection_options or {}),
            format,
            dict(format_options or {}),
            transformation_ctx,
            push_down_predicate,
            kwargs,
        )

    def from_catalog(
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
        from awsglue import _io

        database = database or kwargs.pop("name_space", None)
        if not database or not table_name:
            raise ValueError("from_catalog needs database and table_name")
        return _io.read_from_catalog(
            self._glue_context,
            database,
            table_name,
            transformation_ctx,
            push_down_predicate,
            dict(additional_options or {}),
            catalog_id,
            kwargs,
        )


class DynamicFrameWriter:
    """``glueContext.write_dynamic_frame``: write DynamicFrames to S3, the catalog's tables or JDBC."""

    def __init__(self, glue_context: GlueContext) -> None:
        self._glue_context = glue_context

    def from_options(
        self,
        frame: DynamicFrame,
        connection_type: str,
        connection_options: Mapping[str, Any] | None = None,
        format: str | None = None,
        format_options: Mapping[str, Any] | None = None,
        transformation_ctx: str = "",
        **kwargs: Any,
    ) -> DynamicFrame:
        from awsglue import _io

        return _io.write_from_options(
            self._glue_context,
            frame,
            connection_type,
            dict(connection_options or {}),
            format,
            dict(format_options or {}),
            transformation_ctx,
            kwargs,
        )

    def from_catalog(
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
        from awsglue import _io

        database = database or kwargs.pop("name_space", None)
        if not database or not table_name:
            raise ValueError("write_dynamic_frame.from_catalog needs database and table_name")
        return _io.write_to_catalog(
            self._glue_context, frame, database, table_name, dict(additional_options or {}), catalog_id, kwargs
        )

    def from_jdbc_conf(
        self,
        frame: DynamicFrame,
        catalog_connection: str,
        connection_options: Mapping[str, Any] | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        catalog_id: str | None = None,
    ) -> DynamicFrame:
        from awsglue import _io

        return _io.write_jdbc_conf(
            self._glue_context, frame, catalog_connection, dict(connection_options or {}), catalog_id
        )


# --- helpers ------------------------------------------------------------------------------------------------------


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _find_path(schema: T.StructType, path: fr.Path, case_sensitive: bool) -> fr.Path | None:
    """The path as the frame spells it: exact names first, else the one name equal but for case."""
    found: list[str] = []
    current: T.DataType = schema
    for step in path:
        if step == fr.ARRAY:
            if not isinstance(current, T.ArrayType):
                return None
            found.append(step)
            current = current.elementType
            continue
        if not isinstance(current, T.StructType):
            return None
        name = step if step in current.names else None
        if name is None and not case_sensitive:
            matches = [n for n in current.names if n.lower() == step.lower()]
            name = matches[0] if len(matches) == 1 else None
        if name is None:
            return None
        found.append(name)
        current = current[name].dataType
    return tuple(found)


def _cast_value(data: fr.FrameData, path: fr.Path, target: T.DataType) -> Column:
    """The value at ``path`` as ``target``: CSV text cast directly, a choice from whichever branch holds it."""
    value = fr.value_at(path)
    if len(path) == 1 and path[0] in data.raw:
        return value.cast(target)
    source_type = fr.type_at(data.df.schema, path)
    if path in data.choices and isinstance(source_type, T.StructType):
        return fr.cast_choice(value, source_type, target)
    return value.cast(target)


def _nested_columns(targets: list[tuple[fr.Path, Column]]) -> list[Column]:
    """Columns for target paths: a dotted target builds (or adds to) a struct, in order of first appearance."""
    tree: dict[str, Any] = {}
    for path, value in targets:
        node = tree
        for step in path[:-1]:
            child = node.setdefault(step, {})
            if not isinstance(child, dict):
                raise ValueError(f"apply_mapping: {fr.format_path(path)!r} goes inside a field mapped as a value")
            node = child
        if path[-1] in node:
            raise ValueError(f"apply_mapping: two mappings target {fr.format_path(path)!r}")
        node[path[-1]] = value

    def build(node: dict[str, Any]) -> list[Column]:
        return [F.struct(*build(v)).alias(k) if isinstance(v, dict) else v.alias(k) for k, v in node.items()]

    return build(tree)


def _selected_columns(get: Callable[[str], Column], struct: T.StructType, wanted: list[fr.Path]) -> list[Column]:
    columns = []
    for struct_field in struct.fields:
        name = struct_field.name
        if (name,) in wanted:
            columns.append(get(name).alias(name))
            continue
        inner = [p[1:] for p in wanted if len(p) > 1 and p[0] == name]
        if inner and isinstance(struct_field.dataType, T.StructType):
            value = get(name)
            fields = _selected_columns(value.getField, struct_field.dataType, inner)
            columns.append(fr.rebuild_struct(value, fields).alias(name))
    return columns


def _insert_at(df: DataFrame, path: fr.Path, value: Column) -> DataFrame:
    """``df`` with ``value`` added as the field at ``path`` (its parent structs must exist, or are created)."""
    if len(path) == 1:
        return df.withColumn(path[0], value)
    parent = path[:-1]
    parent_type = fr.type_at(df.schema, parent)
    if parent_type is None:
        return _insert_at(df, parent, F.struct(value.alias(path[-1])))
    if not isinstance(parent_type, T.StructType):
        raise fr.PathError(f"cannot add a field under {fr.format_path(parent)!r}: it is not a struct")

    def add(current: Column, data_type: T.DataType, name: str) -> list[Column]:
        assert isinstance(data_type, T.StructType)
        fields = [current.getField(n).alias(n) for n in data_type.names if n != path[-1]]
        return [F.struct(*fields, value.alias(path[-1])).alias(name)]

    return fr.rewrite(df, parent, add)


def _renamed_path(path: fr.Path, renamed: dict[str, str]) -> fr.Path:
    return (renamed.get(path[0], path[0]), *path[1:])


def _aliased_join(left: DataFrame, right: DataFrame, condition: Column) -> DataFrame:
    """An inner join whose condition was written with top-level column names of both sides (no clashes)."""
    return left.join(right, on=condition, how="inner")


def _check_action(action: str, where: str) -> None:
    kind = action.split(":", 1)[0]
    if kind not in _RESOLVE_ACTIONS or (kind in ("cast", "project")) != (":" in action):
        raise ValueError(
            f"resolveChoice: unsupported action {action!r} for {where} "
            "(cast:<type>, project:<type>, make_cols, make_struct, match_catalog)"
        )
    if ":" in action:
        gt.parse_type_name(action.split(":", 1)[1])


_KIND_OF_TEXT = {"long": "long", "int": "long", "short": "long", "byte": "long", "double": "double",
                 "float": "double", "string": "string"}  # fmt: skip


def _apply(
    data: fr.FrameData, pending: dict[fr.Path, fr.Rewrite], choices: set[fr.Path], raw: set[str]
) -> fr.FrameData:
    df = fr.rewrite_many(data.df, pending) if pending else data.df
    return data.with_df(df, frozenset(choices), frozenset(raw))


def _resolution(
    data: fr.FrameData, path: fr.Path, action: str, catalog: dict[str, str]
) -> tuple[fr.Rewrite | None, str]:
    """What one resolveChoice action does to one path: the rewrite (None: the values stay as they are) and what
    becomes of the choice ("unchanged" when there is no choice to resolve)."""
    kind, _, type_text = action.partition(":")
    is_text = len(path) == 1 and path[0] in data.raw
    data_type = fr.type_at(data.df.schema, path)
    is_choice = path in data.choices and isinstance(data_type, T.StructType)
    if kind == "match_catalog":
        catalog_type = catalog.get(fr.format_path(path).lower())
        if catalog_type is None:
            return None, "unchanged"
        kind, type_text = "cast", catalog_type
    if kind == "cast":
        target = gt.to_spark(gt.parse_type_name(type_text))

        def cast(value: Column, value_type: T.DataType, name: str) -> list[Column]:
            if is_choice:
                assert isinstance(value_type, T.StructType)
                return [fr.cast_choice(value, value_type, target).alias(name)]
            return [value.cast(target).alias(name)]

        return cast, kind
    if kind == "project":
        glue_target = gt.parse_type_name(type_text)
        target, wanted = gt.to_spark(glue_target), gt.type_name(glue_target)

        def project(value: Column, value_type: T.DataType, name: str) -> list[Column]:
            if is_text:
                return [fr.project_text(value, _KIND_OF_TEXT.get(wanted, ""), target).alias(name)]
            if is_choice:
                assert isinstance(value_type, T.StructType)
                return [fr.project_choice(value, value_type, wanted, target).alias(name)]
            own = gt.type_name(gt.from_spark(value_type))
            return [(value if own == wanted else F.lit(None)).cast(target).alias(name)]

        return project, kind
    if not is_choice:
        return None, "unchanged"
    if kind == "make_cols":

        def columns(value: Column, value_type: T.DataType, name: str) -> list[Column]:
            assert isinstance(value_type, T.StructType)
            return [value.getField(branch).alias(f"{name}_{branch}") for branch in value_type.names]

        return columns, kind
    return None, kind  # make_struct: the struct that carried the choice is what Glue makes of it


def _unnest_paths(schema: T.StructType, choices: frozenset[fr.Path], prefix: fr.Path = ()) -> list[fr.Path]:
    paths: list[fr.Path] = []
    for struct_field in schema.fields:
        path = (*prefix, struct_field.name)
        if isinstance(struct_field.dataType, T.StructType) and path not in choices:
            paths += _unnest_paths(struct_field.dataType, choices, path)
        else:
            paths.append(path)
    return paths


def _drop_empty_structs(data: fr.FrameData) -> fr.FrameData:
    """Structs left with no fields (all of theirs were dropped) go too."""
    empty = [(f.name,) for f in data.df.schema.fields if isinstance(f.dataType, T.StructType) and not f.dataType.fields]
    return data.with_df(data.df.drop(*[p[0] for p in empty])) if empty else data


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
