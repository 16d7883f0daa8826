"""awsglue.gluetypes and field paths: Glue's type names, choices, merging, printing, and path syntax (no Spark)."""

from __future__ import annotations

import pytest

from awsglue import gluetypes as gt
from awsglue._frame import PathError, format_path, parse_path


def test_type_name_is_the_class_name_without_type_as_aws_documents() -> None:
    assert gt.LongType.typeName() == "Long"
    assert gt.StringType().jsonValue() == {"dataType": "String", "properties": {}}


def test_a_field_holding_two_types_becomes_a_choice_and_integers_widen() -> None:
    assert gt.merge_types(gt.IntegerType(), gt.LongType()) == gt.LongType()
    assert gt.merge_types(gt.NullType(), gt.StringType()) == gt.StringType()
    merged = gt.merge_types(gt.LongType(), gt.StringType())
    assert isinstance(merged, gt.ChoiceType)
    assert list(merged.choices) == ["long", "string"]
    again = gt.merge_types(merged, gt.DoubleType())
    assert isinstance(again, gt.ChoiceType) and list(again.choices) == ["double", "long", "string"]


def test_structs_merge_field_by_field() -> None:
    left = gt.StructType([gt.Field("a", gt.IntegerType())])
    right = gt.StructType([gt.Field("a", gt.StringType()), gt.Field("b", gt.BooleanType())])
    merged = gt.merge_types(left, right)
    assert isinstance(merged, gt.StructType)
    assert [f.name for f in merged.fields] == ["a", "b"]
    assert merged.getField("a").dataType == gt.ChoiceType([gt.IntegerType(), gt.StringType()])  # type: ignore[union-attr]
    assert merged.hasField("b") and not merged.hasField("c")


def test_schema_lines_follow_glues_print_schema_layout() -> None:
    schema = gt.StructType(
        [
            gt.Field("provider id", gt.ChoiceType([gt.LongType(), gt.StringType()])),
            gt.Field("links", gt.ArrayType(gt.StructType([gt.Field("note", gt.StringType())]))),
            gt.Field("seats", gt.IntegerType()),
        ]
    )
    assert gt.schema_lines(schema) == [
        "root",
        "|-- provider id: choice",
        "|    |-- long",
        "|    |-- string",
        "|-- links: array",
        "|    |-- element: struct",
        "|    |    |-- note: string",
        "|-- seats: int",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("bigint", gt.LongType()), ("int", gt.IntegerType()), ("string", gt.StringType()), ("double", gt.DoubleType()),
     ("decimal(7,2)", gt.DecimalType(7, 2)), ("varchar(10)", gt.StringType()), ("timestamp", gt.TimestampType())],
)  # fmt: skip
def test_type_names_from_mappings_and_the_catalog(text: str, expected: gt.DataType) -> None:
    assert gt.parse_type_name(text) == expected


def test_an_unknown_type_name_is_an_error_naming_it() -> None:
    with pytest.raises(gt.UnsupportedTypeError, match="'uuid'"):
        gt.parse_type_name("uuid")


@pytest.mark.parametrize(
    ("text", "path"),
    [("a", ("a",)), ("a.b.c", ("a", "b", "c")), ("`this.old.name`", ("this.old.name",)),
     ("`a.b`.c", ("a.b", "c")), ("myList[].price", ("myList", "[]", "price"))],
)  # fmt: skip
def test_field_paths_as_glue_writes_them(text: str, path: tuple[str, ...]) -> None:
    assert parse_path(text) == path
    assert format_path(path) == text


@pytest.mark.parametrize("text", ["", "a..b", "`a.b", "[]"])
def test_malformed_paths_are_errors(text: str) -> None:
    with pytest.raises(PathError):
        parse_path(text)
