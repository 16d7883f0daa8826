"""Column-level reshaping behind the field transforms and ``toDF``: finding, casting, nesting and selecting fields,
and what each resolveChoice action does to a path. Pure functions of DataFrames, schemas and paths."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue import _frame as fr
from awsglue import gluetypes as gt

RESOLVE_ACTIONS = ("cast", "project", "make_cols", "make_struct", "match_catalog")


def as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def find_path(schema: T.StructType, path: fr.Path, case_sensitive: bool) -> fr.Path | None:
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


def cast_value(data: fr.FrameData, path: fr.Path, target: T.DataType) -> Column:
    """The value at ``path`` as ``target``: CSV text cast directly, a choice from whichever branch holds it."""
    value = fr.value_at(path)
    if len(path) == 1 and path[0] in data.raw:
        return value.cast(target)
    source_type = fr.type_at(data.df.schema, path)
    if path in data.choices and isinstance(source_type, T.StructType):
        return fr.cast_choice(value, source_type, target)
    return value.cast(target)


def nested_columns(targets: list[tuple[fr.Path, Column]]) -> list[Column]:
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


def selected_columns(get: Callable[[str], Column], struct: T.StructType, wanted: list[fr.Path]) -> list[Column]:
    columns = []
    for struct_field in struct.fields:
        name = struct_field.name
        if (name,) in wanted:
            columns.append(get(name).alias(name))
            continue
        inner = [p[1:] for p in wanted if len(p) > 1 and p[0] == name]
        if inner and isinstance(struct_field.dataType, T.StructType):
            value = get(name)
            fields = selected_columns(value.getField, struct_field.dataType, inner)
            columns.append(fr.rebuild_struct(value, fields).alias(name))
    return columns


def insert_at(df: DataFrame, path: fr.Path, value: Column) -> DataFrame:
    """``df`` with ``value`` added as the field at ``path`` (its parent structs must exist, or are created)."""
    if len(path) == 1:
        return df.withColumn(path[0], value)
    parent = path[:-1]
    parent_type = fr.type_at(df.schema, parent)
    if parent_type is None:
        return insert_at(df, parent, F.struct(value.alias(path[-1])))
    if not isinstance(parent_type, T.StructType):
        raise fr.PathError(f"cannot add a field under {fr.format_path(parent)!r}: it is not a struct")

    def add(current: Column, data_type: T.DataType, name: str) -> list[Column]:
        assert isinstance(data_type, T.StructType)
        fields = [current.getField(n).alias(n) for n in data_type.names if n != path[-1]]
        return [F.struct(*fields, value.alias(path[-1])).alias(name)]

    return fr.rewrite(df, parent, add)


def check_action(action: str, where: str) -> None:
    kind = action.split(":", 1)[0]
    if kind not in RESOLVE_ACTIONS or (kind in ("cast", "project")) != (":" in action):
        raise ValueError(
            f"resolveChoice: unsupported action {action!r} for {where} "
            "(cast:<type>, project:<type>, make_cols, make_struct, match_catalog)"
        )
    if ":" in action:
        gt.parse_type_name(action.split(":", 1)[1])


_KIND_OF_TEXT = {"long": "long", "int": "long", "short": "long", "byte": "long", "double": "double",
                 "float": "double", "string": "string"}  # fmt: skip


def apply(data: fr.FrameData, pending: dict[fr.Path, fr.Rewrite], choices: set[fr.Path], raw: set[str]) -> fr.FrameData:
    df = fr.rewrite_many(data.df, pending) if pending else data.df
    return data.with_df(df, frozenset(choices), frozenset(raw))


def resolution(
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


def unnest_paths(schema: T.StructType, choices: frozenset[fr.Path], prefix: fr.Path = ()) -> list[fr.Path]:
    paths: list[fr.Path] = []
    for struct_field in schema.fields:
        path = (*prefix, struct_field.name)
        if isinstance(struct_field.dataType, T.StructType) and path not in choices:
            paths += unnest_paths(struct_field.dataType, choices, path)
        else:
            paths.append(path)
    return paths


def drop_empty_structs(data: fr.FrameData) -> fr.FrameData:
    """Structs left with no fields (all of theirs were dropped) go too."""
    empty = [(f.name,) for f in data.df.schema.fields if isinstance(f.dataType, T.StructType) and not f.dataType.fields]
    return data.with_df(data.df.drop(*[p[0] for p in empty])) if empty else data
