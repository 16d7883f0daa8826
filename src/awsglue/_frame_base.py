"""What every DynamicFrame has: its data (``awsglue._frame.FrameData``), how a transform hands on to the next frame
(error records and thresholds), ``toDF``, and the information and error methods. The transforms are in
``awsglue._field_transforms`` and ``awsglue._record_transforms``; ``awsglue.dynamicframe`` puts them together."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self

from pyspark import RDD
from pyspark.sql import DataFrame

from awsglue import _frame as fr
from awsglue import _records as rec
from awsglue import _reshape as rs
from awsglue import gluetypes as gt

if TYPE_CHECKING:
    from awsglue.context import GlueContext


class ErrorThresholdExceeded(RuntimeError):
    """A transform produced more error records than its stageThreshold or totalThreshold allows."""


class ResolveOption:
    """How ``toDF`` turns a choice into a DataFrame column: ``KeepAsStruct`` (the default), or ``Project``/``Cast``
    to a type (as the resolveChoice actions of those names)."""

    def __init__(self, path: str, action: str, target: Any = None) -> None:
        self.path = path
        self.action = action
        self.target = target


# Glue DynamicFrame methods this stand-in does not implement: a clear error instead of an AttributeError.
_NOT_IMPLEMENTED = frozenset(
    {"simplify_ddb_json", "gs_", "resolve_choice_by_catalog", "unnest_ddb_json", "filter_ddb_json", "assertSchema"}
)


class FrameBase:
    """A DynamicFrame's state and the methods every transform builds on (see the module docstring)."""

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
    def fromDF(cls, dataframe: DataFrame, glue_ctx: GlueContext, name: str) -> Self:
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
            replace, _ = rs.resolution(data, path, action, {})
            choices = {c for c in data.choices if not fr.is_under(c, path)}
            data = rs.apply(data, {path: replace} if replace else {}, choices, set(data.raw))
        return data.df

    def _next(
        self,
        data: fr.FrameData,
        stage_errors: Iterable[DataFrame] = (),
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        name: str | None = None,
    ) -> Self:
        frame = type(self)(data, self.glue_ctx, self.name if name is None else name)
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

    def repartition(self, numPartitions: int) -> Self:
        return self._next(self._data.with_df(self._data.df.repartition(numPartitions)))

    def coalesce(self, numPartitions: int) -> Self:
        return self._next(self._data.with_df(self._data.df.coalesce(numPartitions)))

    def getNumPartitions(self) -> int:
        return self._data.df.rdd.getNumPartitions()

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

    def errorsAsDynamicFrame(self) -> Self:
        """The error records: ``error`` (the exception), ``stage`` (the transform) and ``record`` (as JSON)."""
        frames = list(self._errors) or [self._spark.createDataFrame([], rec.ERROR_SCHEMA)]
        return type(self)(fr.union_all(frames), self.glue_ctx, f"{self.name}_errors")

    def assertErrorThreshold(self) -> None:
        count = self.errorsCount()
        if count:
            raise ErrorThresholdExceeded(f"{count} error records")


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value
