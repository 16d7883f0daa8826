"""Glue's own type system (`awsglue.gluetypes`), as AWS documents it, plus its mapping onto Spark's types.

A DynamicFrame's schema is made of these types. The one Spark has no equivalent of is ``ChoiceType``: a field
whose records hold values of more than one type. On Spark such a field is carried as a struct with one field per
choice, named by the choice's type name (``long``, ``string``, ...), of which at most one is set in a row; the
DynamicFrame remembers which struct columns are really choices (see ``awsglue.dynamicframe``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pyspark.sql import types as T


class DataType:
    """The base of Glue's types; ``properties`` is free-form metadata carried along."""

    def __init__(self, properties: dict[str, Any] | None = None) -> None:
        self.properties = dict(properties or {})

    @classmethod
    def typeName(cls) -> str:
        """The class name without its ``Type`` suffix, as AWS documents it (``LongType`` -> ``Long``)."""
        return cls.__name__[: -len("Type")] if cls.__name__.endswith("Type") else cls.__name__

    def jsonValue(self) -> dict[str, Any]:
        return {"dataType": self.typeName(), "properties": self.properties}

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.jsonValue() == other.jsonValue()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(json.dumps(self.jsonValue(), sort_keys=True, default=str))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.properties or ''})"


class AtomicType(DataType):
    @classmethod
    def fromJsonValue(cls, json_value: dict[str, Any]) -> AtomicType:
        return cls(json_value.get("properties") or {})


class BinaryType(AtomicType):
    pass


class BooleanType(AtomicType):
    pass


class ByteType(AtomicType):
    pass


class DateType(AtomicType):
    pass


class DoubleType(AtomicType):
    pass


class FloatType(AtomicType):
    pass


class IntegerType(AtomicType):
    pass


class LongType(AtomicType):
    pass


class NullType(AtomicType):
    pass


class ShortType(AtomicType):
    pass


class StringType(AtomicType):
    pass


class TimestampType(AtomicType):
    pass


class UnknownType(AtomicType):
    pass


class DecimalType(AtomicType):
    def __init__(self, precision: int = 10, scale: int = 2, properties: dict[str, Any] | None = None) -> None:
        super().__init__(properties)
        self.precision = precision
        self.scale = scale

    def jsonValue(self) -> dict[str, Any]:
        return {**super().jsonValue(), "precision": self.precision, "scale": self.scale}

    def __repr__(self) -> str:
        return f"DecimalType({self.precision}, {self.scale})"


class EnumType(AtomicType):
    def __init__(self, options: list[str], properties: dict[str, Any] | None = None) -> None:
        super().__init__(properties)
        self.options = list(options)

    def jsonValue(self) -> dict[str, Any]:
        return {**super().jsonValue(), "options": self.options}


class ArrayType(DataType):
    def __init__(self, elementType: DataType | None = None, properties: dict[str, Any] | None = None) -> None:
        super().__init__(properties)
        self.elementType = elementType if elementType is not None else UnknownType()

    def jsonValue(self) -> dict[str, Any]:
        return {**super().jsonValue(), "elementType": self.elementType.jsonValue()}

    def __repr__(self) -> str:
        return f"ArrayType({self.elementType!r})"


class MapType(DataType):
    """Glue maps have string keys; only the value type varies."""

    def __init__(self, valueType: DataType | None = None, properties: dict[str, Any] | None = None) -> None:
        super().__init__(properties)
        self.valueType = valueType if valueType is not None else UnknownType()

    def jsonValue(self) -> dict[str, Any]:
        return {**super().jsonValue(), "valueType": self.valueType.jsonValue()}

    def __repr__(self) -> str:
        return f"MapType({self.valueType!r})"


class Field:
    def __init__(self, name: str, dataType: DataType, properties: dict[str, Any] | None = None) -> None:
        self.name = name
        self.dataType = dataType
        self.properties = dict(properties or {})

    def jsonValue(self) -> dict[str, Any]:
        return {"name": self.name, "container": self.dataType.jsonValue(), "properties": self.properties}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and (self.name, self.dataType) == (other.name, other.dataType)

    def __hash__(self) -> int:
        return hash((self.name, self.dataType))

    def __repr__(self) -> str:
        return f"Field({self.name}, {self.dataType!r})"


class StructType(DataType):
    def __init__(self, fields: Iterable[Field] | None = None, properties: dict[str, Any] | None = None) -> None:
        super().__init__(properties)
        self.fields: list[Field] = list(fields or [])
        self.field_map = {field.name: field for field in self.fields}

    def add(self, field: Field) -> None:
        self.fields.append(field)
        self.field_map[field.name] = field

    def hasField(self, field: str | Field) -> bool:
        return (field.name if isinstance(field, Field) else field) in self.field_map

    def getField(self, field: str | Field) -> Field | None:
        return self.field_map.get(field.name if isinstance(field, Field) else field)

    def jsonValue(self) -> dict[str, Any]:
        return {**super().jsonValue(), "fields": [field.jsonValue() for field in self.fields]}

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __repr__(self) -> str:
        return f"StructType([{', '.join(repr(field) for field in self.fields)}])"


class ChoiceType(DataType):
    """A field whose values are of one of several types; choices are keyed by their type name."""

    def __init__(self, choices: Iterable[DataType] | None = None, properties: dict[str, Any] | None = None) -> None:
        super().__init__(properties)
        self.choices: dict[str, DataType] = {}
        for choice in choices or []:
            self.add(choice)

    def add(self, new_choice: DataType) -> None:
        name = type_name(new_choice)
        existing = self.choices.get(name)
        self.choices[name] = new_choice if existing is None else merge_types(existing, new_choice)
        # Kept in name order: the order of the branches of the struct that carries the choice on Spark.
        self.choices = dict(sorted(self.choices.items()))

    def merge(self, new_choices: Iterable[DataType]) -> None:
        for choice in new_choices:
            self.add(choice)

    def jsonValue(self) -> dict[str, Any]:
        return {**super().jsonValue(), "choices": [self.choices[name].jsonValue() for name in sorted(self.choices)]}

    def __repr__(self) -> str:
        return f"ChoiceType([{', '.join(repr(self.choices[name]) for name in sorted(self.choices))}])"


class EntityType(DataType):
    def __init__(self, entity: Any, base_type: DataType, properties: dict[str, Any] | None = None) -> None:
        raise NotImplementedError("EntityType is not implemented (as AWS documents it)")


# --- names ----------------------------------------------------------------------------------------------------


def type_name(data_type: DataType) -> str:
    """The lower-case name Glue prints and uses in make_cols columns and choice branches (``long``, ``int``)."""
    if isinstance(data_type, IntegerType):
        return "int"
    return data_type.typeName().lower()


# Type names accepted in mappings, casts and projections: Glue's own, plus the catalog's Hive names.
_SIMPLE_NAMES: dict[str, type[AtomicType]] = {
    "string": StringType,
    "varchar": StringType,
    "char": StringType,
    "long": LongType,
    "bigint": LongType,
    "int": IntegerType,
    "integer": IntegerType,
    "short": ShortType,
    "smallint": ShortType,
    "byte": ByteType,
    "tinyint": ByteType,
    "double": DoubleType,
    "float": FloatType,
    "real": FloatType,
    "boolean": BooleanType,
    "bool": BooleanType,
    "date": DateType,
    "timestamp": TimestampType,
    "binary": BinaryType,
    "null": NullType,
}
_DECIMAL = re.compile(r"^decimal(?:\((\d+)\s*,\s*(\d+)\))?$")
_PARAMETERISED_STRING = re.compile(r"^(varchar|char)\(\d+\)$")


class UnsupportedTypeError(ValueError):
    """A type name Glue's local stand-in does not know."""


def parse_type_name(name: str) -> DataType:
    """A type as written in apply_mapping, ``cast:``/``project:`` actions and catalog columns."""
    text = name.strip().lower()
    if text in _SIMPLE_NAMES:
        return _SIMPLE_NAMES[text]()
    if _PARAMETERISED_STRING.match(text):
        return StringType()
    decimal = _DECIMAL.match(text)
    if decimal:
        precision, scale = decimal.groups()
        return DecimalType(int(precision), int(scale)) if precision else DecimalType(10, 2)
    if text.startswith(("array<", "struct<", "map<")):
        return from_spark(T._parse_datatype_string(text))
    raise UnsupportedTypeError(f"unsupported type {name!r} (known: {', '.join(sorted(_SIMPLE_NAMES))}, decimal(p,s))")


# --- Spark <-> Glue ---------------------------------------------------------------------------------------------

_TO_SPARK_ATOMIC: dict[type[DataType], T.DataType] = {
    BinaryType: T.BinaryType(),
    BooleanType: T.BooleanType(),
    ByteType: T.ByteType(),
    DateType: T.DateType(),
    DoubleType: T.DoubleType(),
    FloatType: T.FloatType(),
    IntegerType: T.IntegerType(),
    LongType: T.LongType(),
    NullType: T.NullType(),
    ShortType: T.ShortType(),
    StringType: T.StringType(),
    TimestampType: T.TimestampType(),
    UnknownType: T.StringType(),
    EnumType: T.StringType(),
}


def to_spark(data_type: DataType) -> T.DataType:
    """The Spark type that carries a Glue type (a choice becomes a struct of its branches, by type name)."""
    if isinstance(data_type, DecimalType):
        return T.DecimalType(data_type.precision, data_type.scale)
    if isinstance(data_type, StructType):
        return T.StructType([T.StructField(f.name, to_spark(f.dataType), True) for f in data_type.fields])
    if isinstance(data_type, ArrayType):
        return T.ArrayType(to_spark(data_type.elementType), True)
    if isinstance(data_type, MapType):
        return T.MapType(T.StringType(), to_spark(data_type.valueType), True)
    if isinstance(data_type, ChoiceType):
        return T.StructType(
            [T.StructField(name, to_spark(data_type.choices[name]), True) for name in data_type.choices]
        )
    return _TO_SPARK_ATOMIC[type(data_type)]


def from_spark(data_type: T.DataType) -> DataType:
    """The Glue type of a Spark type (no choices: those need the frame's knowledge of which structs are choices)."""
    if isinstance(data_type, T.StructType):
        return StructType([Field(f.name, from_spark(f.dataType)) for f in data_type.fields])
    if isinstance(data_type, T.ArrayType):
        return ArrayType(from_spark(data_type.elementType))
    if isinstance(data_type, T.MapType):
        return MapType(from_spark(data_type.valueType))
    if isinstance(data_type, T.DecimalType):
        return DecimalType(data_type.precision, data_type.scale)
    if isinstance(data_type, T.TimestampNTZType):
        return TimestampType()
    for glue_type, spark_type in _TO_SPARK_ATOMIC.items():
        if spark_type == data_type and glue_type not in (UnknownType, EnumType):
            return glue_type()
    raise UnsupportedTypeError(f"Spark type {data_type.simpleString()} has no Glue equivalent")


# --- merging, for types inferred from records -------------------------------------------------------------------

_INTEGRAL_WIDTH: dict[type[DataType], int] = {ByteType: 1, ShortType: 2, IntegerType: 3, LongType: 4}


def merge_types(left: DataType, right: DataType) -> DataType:
    """The type of a field that holds values of both types: the same type, a wider integer, or a choice."""
    if left == right or isinstance(right, NullType):
        return left
    if isinstance(left, NullType):
        return right
    if type(left) in _INTEGRAL_WIDTH and type(right) in _INTEGRAL_WIDTH:
        return left if _INTEGRAL_WIDTH[type(left)] >= _INTEGRAL_WIDTH[type(right)] else right
    if isinstance(left, StructType) and isinstance(right, StructType):
        merged = StructType([Field(f.name, f.dataType) for f in left.fields])
        for field in right.fields:
            existing = merged.getField(field.name)
            if existing is None:
                merged.add(Field(field.name, field.dataType))
            else:
                existing.dataType = merge_types(existing.dataType, field.dataType)
        return merged
    if isinstance(left, ArrayType) and isinstance(right, ArrayType):
        return ArrayType(merge_types(left.elementType, right.elementType))
    if isinstance(left, MapType) and isinstance(right, MapType):
        return MapType(merge_types(left.valueType, right.valueType))
    choice = ChoiceType()
    for side in (left, right):
        choice.merge(side.choices.values() if isinstance(side, ChoiceType) else [side])
    return choice if len(choice.choices) > 1 else next(iter(choice.choices.values()))


# --- printing ---------------------------------------------------------------------------------------------------


def schema_lines(schema: StructType) -> list[str]:
    """Glue's printSchema layout: ``root``, then ``|-- name: type`` with nested levels under ``|    ``."""
    lines = ["root"]
    for field in schema.fields:
        lines += _field_lines(field.name, field.dataType, "")
    return lines


def _field_lines(name: str, data_type: DataType, indent: str) -> list[str]:
    lines = [f"{indent}|-- {name}: {type_name(data_type)}"]
    inner = indent + "|    "
    if isinstance(data_type, StructType):
        for field in data_type.fields:
            lines += _field_lines(field.name, field.dataType, inner)
    elif isinstance(data_type, ArrayType):
        lines += _field_lines("element", data_type.elementType, inner)
    elif isinstance(data_type, MapType):
        lines += _field_lines("value", data_type.valueType, inner)
    elif isinstance(data_type, ChoiceType):
        for choice_name in sorted(data_type.choices):
            choice = data_type.choices[choice_name]
            # A choice lists its branches by type name; a complex branch shows its own fields below it.
            lines.append(f"{inner}|-- {choice_name}")
            if isinstance(choice, StructType | ArrayType | MapType):
                lines += _field_lines(choice_name, choice, inner)[1:]
    return lines
