"""DynamicFrame, DynamicFrameCollection, DynamicFrameReader and DynamicFrameWriter, as AWS documents them.

A DynamicFrame here is a Spark DataFrame plus what Glue knows beyond Spark's types (``awsglue._frame``): which
struct columns are choice types, and which columns are CSV text not typed yet. Every transform is a Spark
plan; nothing is collected to the driver except schemas, counts and what ``show`` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any

from pyspark import RDD
from pyspark.sql import Column
from pyspark.sql import functions as F

from awsglue import _frame as fr
from awsglue._field_transforms import FieldTransforms
from awsglue._frame_base import ErrorThresholdExceeded, ResolveOption
from awsglue._record_transforms import RecordTransforms

if TYPE_CHECKING:
    from awsglue.context import GlueContext

__all__ = [
    "DynamicFrame",
    "DynamicFrameCollection",
    "DynamicFrameReader",
    "DynamicFrameWriter",
    "ErrorThresholdExceeded",
    "ResolveOption",
]


_COMPARATORS: dict[str, Callable[[Column, Any], Column]] = {
    "<": lambda c, v: c < v,
    ">": lambda c, v: c > v,
    "<=": lambda c, v: c <= v,
    ">=": lambda c, v: c >= v,
    "=": lambda c, v: c == v,
    "==": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
}


class DynamicFrame(FieldTransforms, RecordTransforms):
    """A distributed collection of self-describing records (see the module docstring for how it is carried).

    Its state and basics are in ``awsglue._frame_base``, the field transforms in ``awsglue._field_transforms``, the
    record transforms in ``awsglue._record_transforms``; here are those that make collections, and ``write``."""

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
