"""How a DynamicFrame is carried on a Spark DataFrame: field paths, choice columns and not-yet-typed text.

Three facts travel with the DataFrame (see ``FrameData``):
- ``choices``: paths of struct columns that stand for Glue choice types. A choice ``c`` of ``long`` and
  ``string`` is the struct ``c: struct<long: bigint, string: string>`` with at most one branch set per row.
- ``raw``: top-level columns still holding the text a CSV file had. Glue types each value by what it looks like
  (``12`` long, ``1.5`` double, anything else string), so a column of longs and words is a choice. That needs a
  pass over the data, which is only paid when something asks for the types (the schema, toDF, a write); a
  transform that says what it wants (``apply_mapping``, ``cast:``) works on the text directly.
- nothing else: every other column's Glue type is its Spark type.

Everything here is a pure function of DataFrames and values; the only action is ``infer_text_kinds``' one-row
aggregation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from awsglue import gluetypes as gt

Path = tuple[str, ...]
ARRAY = "[]"  # a path step into an array's elements, written ``list[].field``


class PathError(ValueError):
    """A field path that does not exist in the frame, or goes where it cannot."""


# --- paths --------------------------------------------------------------------------------------------------------


def parse_path(text: str) -> Path:
    """``a.b`` -> (a, b); backticks keep a dotted name whole (```a.b`.c`` -> (a.b, c)); ``xs[].y`` -> (xs, [], y)."""
    if not isinstance(text, str) or not text:
        raise PathError(f"a field path must be a non-empty string, got {text!r}")
    segments: list[str] = []
    current, quoted, index = "", False, 0
    while index < len(text):
        char = text[index]
        if char == "`":
            if quoted and text[index + 1 : index + 2] == "`":
                current += "`"
                index += 2
                continue
            quoted = not quoted
        elif char == "." and not quoted:
            segments += _split_array_steps(current, text)
            current = ""
        else:
            current += char
        index += 1
    if quoted:
        raise PathError(f"unbalanced backtick in field path {text!r}")
    return tuple(segments + _split_array_steps(current, text))


def _split_array_steps(segment: str, text: str) -> list[str]:
    steps: list[str] = []
    while segment.endswith(ARRAY):
        steps.append(ARRAY)
        segment = segment[: -len(ARRAY)]
    if not segment:
        raise PathError(f"empty name in field path {text!r}")
    return [segment, *steps]


def format_path(path: Path) -> str:
    """The path as Glue writes it: dots between names (backticked when they hold a dot), ``[]`` for elements."""
    text = ""
    for step in path:
        if step == ARRAY:
            text += ARRAY
            continue
        name = f"`{step}`" if "." in step else step
        text = f"{text}.{name}" if text else name
    return text


def quote(name: str) -> str:
    """A top-level column reference that takes the name literally (dots and all)."""
    return "`" + name.replace("`", "``") + "`"


def top(name: str) -> Column:
    return F.col(quote(name))


def type_at(schema: T.DataType, path: Path) -> T.DataType | None:
    """The Spark type at a path, or None where the path leads nowhere."""
    current: T.DataType = schema
    for step in path:
        if step == ARRAY:
            if not isinstance(current, T.ArrayType):
                return None
            current = current.elementType
        elif isinstance(current, T.StructType) and step in current.names:
            current = current[step].dataType
        else:
            return None
    return current


def value_at(path: Path) -> Column:
    """The value at a path of structs (no array steps)."""
    if ARRAY in path:
        raise PathError(f"{format_path(path)}: a path into array elements cannot be read as one value")
    column = top(path[0])
    for step in path[1:]:
        column = column.getField(step)
    return column


# Rewrites: (value, its Spark type, its name) -> the columns (aliased) that take its place, zero or more.
Rewrite = Callable[[Column, T.DataType, str], list[Column]]


def rewrite(df: DataFrame, path: Path, replace: Rewrite) -> DataFrame:
    """The frame with the field at ``path`` replaced by what ``replace`` returns, everything else unchanged.

    Nested structs are rebuilt field by field (keeping their order and their nulls); array steps rewrite every
    element."""
    return rewrite_many(df, {path: replace})


def rewrite_many(df: DataFrame, replacements: dict[Path, Rewrite]) -> DataFrame:
    """``rewrite`` of several fields in one projection (none of the paths inside another)."""
    for path in replacements:
        if type_at(df.schema, path) is None:
            raise PathError(f"field {format_path(path)!r} not found")
        if any(other != path and is_under(other, path) for other in replacements):
            raise PathError(f"field {format_path(path)!r} cannot be rewritten together with a field inside it")
    return df.select(*_rewrite_fields(top, df.schema, replacements))


def _rewrite_fields(
    get: Callable[[str], Column], struct: T.StructType, replacements: dict[Path, Rewrite]
) -> list[Column]:
    columns: list[Column] = []
    for struct_field in struct.fields:
        value = get(struct_field.name)
        inside = {path[1:]: replace for path, replace in replacements.items() if path[0] == struct_field.name}
        if not inside:
            columns.append(value.alias(struct_field.name))
        elif () in inside:
            columns += inside[()](value, struct_field.dataType, struct_field.name)
        else:
            columns.append(_rewrite_value(value, struct_field.dataType, inside).alias(struct_field.name))
    return columns


def _rewrite_value(value: Column, data_type: T.DataType, replacements: dict[Path, Rewrite]) -> Column:
    if all(path[0] == ARRAY for path in replacements):
        assert isinstance(data_type, T.ArrayType)
        element_type = data_type.elementType
        inside = {path[1:]: replace for path, replace in replacements.items()}
        if () in inside:
            return F.transform(value, lambda element: _only(inside[()](element, element_type, "element")))
        return F.transform(value, lambda element: _rewrite_value(element, element_type, inside))
    assert isinstance(data_type, T.StructType)
    return rebuild_struct(value, _rewrite_fields(value.getField, data_type, replacements))


def rebuild_struct(original: Column, fields: list[Column]) -> Column:
    """A struct of ``fields`` that stays null where ``original`` was null."""
    built = F.struct(*fields) if fields else F.lit(None)
    return F.when(original.isNull(), F.lit(None)).otherwise(built)


def _only(columns: list[Column]) -> Column:
    if len(columns) != 1:
        raise PathError("an array element can only be replaced by one value")
    return columns[0]


def leaf_paths(data_type: T.DataType, prefix: Path = ()) -> list[Path]:
    """Every path down to a non-struct field (struct fields only; arrays and maps count as leaves)."""
    if isinstance(data_type, T.StructType):
        return [path for f in data_type.fields for path in leaf_paths(f.dataType, (*prefix, f.name))]
    return [prefix]


# --- choices --------------------------------------------------------------------------------------------------------


def glue_schema(schema: T.StructType, choices: frozenset[Path]) -> gt.StructType:
    """The Glue schema of a typed frame: Spark types, with the choice structs read back as choices."""
    result = _glue_type(schema, (), choices)
    assert isinstance(result, gt.StructType)
    return result


def _glue_type(data_type: T.DataType, path: Path, choices: frozenset[Path]) -> gt.DataType:
    if path in choices and isinstance(data_type, T.StructType):
        return gt.ChoiceType([_glue_type(f.dataType, (*path, f.name), choices) for f in data_type.fields])
    if isinstance(data_type, T.StructType):
        return gt.StructType([gt.Field(f.name, _glue_type(f.dataType, (*path, f.name), choices)) for f in data_type])
    if isinstance(data_type, T.ArrayType):
        return gt.ArrayType(_glue_type(data_type.elementType, (*path, ARRAY), choices))
    if isinstance(data_type, T.MapType):
        return gt.MapType(_glue_type(data_type.valueType, (*path, ARRAY), choices))
    return gt.from_spark(data_type)


def choice_paths(data_type: gt.DataType, path: Path = ()) -> frozenset[Path]:
    """Where a Glue schema has choices (the inverse of ``glue_schema``)."""
    found: set[Path] = set()
    if isinstance(data_type, gt.ChoiceType):
        found.add(path)
        for name, choice in data_type.choices.items():
            found |= choice_paths(choice, (*path, name))
    elif isinstance(data_type, gt.StructType):
        for glue_field in data_type.fields:
            found |= choice_paths(glue_field.dataType, (*path, glue_field.name))
    elif isinstance(data_type, gt.ArrayType):
        found |= choice_paths(data_type.elementType, (*path, ARRAY))
    elif isinstance(data_type, gt.MapType):
        found |= choice_paths(data_type.valueType, (*path, ARRAY))
    return frozenset(found)


def is_under(path: Path, prefix: Path) -> bool:
    return path[: len(prefix)] == prefix


def without_under(choices: Iterable[Path], prefix: Path) -> frozenset[Path]:
    return frozenset(c for c in choices if not is_under(c, prefix))


def moved(choices: Iterable[Path], old: Path, new: Path) -> frozenset[Path]:
    """Choice paths after the field at ``old`` moved to ``new``."""
    return frozenset((*new, *c[len(old) :]) if is_under(c, old) else c for c in choices)


def cast_choice(value: Column, branches: T.StructType, target: T.DataType) -> Column:
    """A choice's value, whichever branch holds it, cast to one type (null where it does not cast)."""
    return F.coalesce(*[value.getField(name).cast(target) for name in branches.names])


def project_choice(value: Column, branches: T.StructType, kind: str, target: T.DataType) -> Column:
    """Only the values of one type; the others become null."""
    if kind in branches.names:
        return value.getField(kind).cast(target)
    return F.lit(None).cast(target)


# --- text typed by its looks (CSV) ------------------------------------------------------------------------------------

TEXT_KINDS = ("double", "long", "string")  # the branch order of a choice: by name
_TEXT_SPARK = {"double": T.DoubleType(), "long": T.LongType(), "string": T.StringType()}


_KIND_BITS = {"long": 1, "double": 2, "string": 4}
# Number syntax, shared with the Python side (unbox): an optional sign, digits, a decimal point, an exponent.
LONG_TEXT = r"^[+-]?[0-9]+$"
DOUBLE_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
# Text that can start a number begins with a digit, a sign or a point: as ranges of strings, compared byte by byte
# (no substring is made): [0, :) holds the digits, [-, /) the minus and the point, [+, ,) the plus.
_NUMBER_STARTS = (("0", ":"), ("-", "/"), ("+", ","))


def text_kind(value: Column) -> Column:
    """The kind of a text value as a bit (long 1, double 2, string 4; null for null), one CASE per value.

    A long is an integer that fits in 64 bits (``12``, ``-3``, ``007``); a double, other number syntax (``1.5``,
    ``1e3``); anything else is a string. This runs on every value of every text column, so the cheapest test
    decides first: text that cannot start a number is a string; then an integer parse, which fails without an
    exception; only then a regular expression (a cast to double would throw and catch for every word)."""
    number_start = reduce(lambda a, b: a | b, [(value >= low) & (value < high) for low, high in _NUMBER_STARTS])
    integral = value.cast("bigint").isNotNull() & ~value.contains(".")  # the cast would truncate 1.5 to 1
    return (
        F.when(value.isNull(), F.lit(None))
        .when(~number_start, F.lit(_KIND_BITS["string"]))
        .when(integral, F.lit(_KIND_BITS["long"]))
        .when(value.rlike(DOUBLE_TEXT), F.lit(_KIND_BITS["double"]))
        .otherwise(F.lit(_KIND_BITS["string"]))
    )


def text_kind_flags(value: Column) -> dict[str, Column]:
    """Which of long, double and string a text value is (all false when null)."""
    kind = text_kind(value)
    return {name: F.coalesce(kind == bit, F.lit(False)) for name, bit in _KIND_BITS.items()}


def infer_text_kinds(df: DataFrame, columns: list[str]) -> dict[str, tuple[str, ...]]:
    """For each text column, the kinds of value it holds: one aggregation (an OR of kind bits per column), one
    row back."""
    if not columns:
        return {}
    row = df.agg(*[F.bit_or(text_kind(top(name))).alias(f"c{i}") for i, name in enumerate(columns)]).first()
    assert row is not None
    found = {name: row[f"c{i}"] or 0 for i, name in enumerate(columns)}
    return {name: tuple(kind for kind in TEXT_KINDS if bits & _KIND_BITS[kind]) for name, bits in found.items()}


def typed_text(value: Column, kinds: tuple[str, ...]) -> Column:
    """A text column as Glue types it: one type when all its values agree, else a choice of their types."""
    if not kinds:
        return F.lit(None).cast(T.NullType())
    if len(kinds) == 1:
        return value.cast(_TEXT_SPARK[kinds[0]])
    kind = text_kind(value)
    return F.struct(*[F.when(kind == _KIND_BITS[k], value.cast(_TEXT_SPARK[k])).alias(k) for k in kinds])


def project_text(value: Column, kind: str, target: T.DataType) -> Column:
    """Only the text values that look like ``kind`` (long, double or string), as ``target``."""
    flags = text_kind_flags(value)
    if kind not in flags:
        return F.lit(None).cast(target)
    return F.when(flags[kind], value.cast(target))


# --- the frame's data -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameData:
    """A DynamicFrame's rows and what the DataFrame's types alone do not say (see the module docstring)."""

    df: DataFrame
    choices: frozenset[Path] = frozenset()
    raw: frozenset[str] = frozenset()
    _typed: list[FrameData] = field(default_factory=list, compare=False, repr=False)

    def with_df(
        self, df: DataFrame, choices: Iterable[Path] | None = None, raw: Iterable[str] | None = None
    ) -> FrameData:
        """A new frame: choices and raw columns default to this one's that still exist in ``df``."""
        kept_raw = frozenset(self.raw if raw is None else raw) & set(df.columns)
        kept_choices = frozenset(self.choices if choices is None else choices)
        kept_choices = frozenset(c for c in kept_choices if isinstance(type_at(df.schema, c), T.StructType))
        return FrameData(df, kept_choices, kept_raw)

    def typed(self) -> FrameData:
        """The same frame with its text columns typed (one pass over the data, paid once per frame)."""
        if not self.raw:
            return self
        if not self._typed:
            raw = [name for name in self.df.columns if name in self.raw]
            kinds = infer_text_kinds(self.df, raw)
            columns = [
                (typed_text(top(name), kinds[name]) if name in self.raw else top(name)).alias(name)
                for name in self.df.columns
            ]
            new_choices = {(name,) for name in raw if len(kinds[name]) > 1}
            self._typed.append(FrameData(self.df.select(*columns), self.choices | new_choices, frozenset()))
        return self._typed[0]

    def glue_schema(self) -> gt.StructType:
        typed = self.typed()
        return glue_schema(typed.df.schema, typed.choices)


def union_all(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda left, right: left.unionByName(right, allowMissingColumns=True), frames)
