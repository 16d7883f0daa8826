"""DynamicFrame conformance: each test asserts a behaviour AWS documents, on hand-written records and values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from awsglue import DynamicFrame
from awsglue.context import GlueContext
from awsglue.dynamicframe import ResolveOption
from awsglue.gluetypes import DoubleType, StringType
from awsglue.transforms import ApplyMapping, DropFields, Filter, Map, RenameField, ResolveChoice, SelectFields
from tests.awsglue_support import glue_context_fixture, rows  # noqa: F401  (the glue_context fixture)

pytestmark = pytest.mark.spark


def schema_text(frame: DynamicFrame, capsys: pytest.CaptureFixture[str]) -> str:
    frame.printSchema()
    return capsys.readouterr().out


def medicare(glue_context: GlueContext, tmp_path: Path) -> DynamicFrame:
    """AWS's resolveChoice example in small: provider id holds longs and, in two rows, strings."""
    (tmp_path / "medicare.csv").write_text(
        "drg definition,provider id,total discharges\n"
        "039 - EXTRACRANIAL,10001,91\n"
        "039 - EXTRACRANIAL,10005,14\n"
        "948 - SIGNS,INC,12\n"
    )
    return glue_context.create_dynamic_frame.from_options(
        "s3", {"paths": [str(tmp_path)]}, format="csv", format_options={"withHeader": True}
    )


# --- construction and information ---


def test_from_df_keeps_spark_types_and_prints_glues_schema(
    spark: Any, glue_context: GlueContext, capsys: pytest.CaptureFixture[str]
) -> None:
    df = spark.createDataFrame(
        [(1, "Ann", ["a"], ("Oslo", 150)), (2, "Bob", [], None)],
        "id long, name string, tags array<string>, address struct<city: string, zip: int>",
    )
    frame = DynamicFrame.fromDF(df, glue_context, "people")
    assert frame.count() == 2
    assert frame.name == "people"
    assert schema_text(frame, capsys) == (
        "root\n|-- id: long\n|-- name: string\n|-- tags: array\n|    |-- element: string\n"
        "|-- address: struct\n|    |-- city: string\n|    |-- zip: int\n"
    )
    assert rows(frame.toDF(), "id") == [
        {"id": 1, "name": "Ann", "tags": ["a"], "address": {"city": "Oslo", "zip": 150}},
        {"id": 2, "name": "Bob", "tags": [], "address": None},
    ]


def test_show_prints_records_as_json_without_their_null_fields(
    spark: Any, glue_context: GlueContext, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = DynamicFrame.fromDF(spark.createDataFrame([(1, None)], "id long, name string"), glue_context, "f")
    frame.show(5)
    assert capsys.readouterr().out == '{"id": 1}\n'


def test_a_csv_column_of_longs_and_strings_is_a_choice(
    glue_context: GlueContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = medicare(glue_context, tmp_path)
    assert schema_text(frame, capsys) == (
        "root\n|-- drg definition: string\n|-- provider id: choice\n|    |-- long\n|    |-- string\n"
        "|-- total discharges: long\n"
    )
    # toDF keeps a choice as a struct of its types, one of them set per row
    assert rows(frame.toDF().select("provider id"), "total discharges") == [
        {"provider id": {"long": None, "string": "INC"}},
        {"provider id": {"long": 10005, "string": None}},
        {"provider id": {"long": 10001, "string": None}},
    ]


def test_to_df_can_project_or_cast_a_choice(glue_context: GlueContext, tmp_path: Path) -> None:
    frame = medicare(glue_context, tmp_path)
    cast = frame.toDF([ResolveOption("provider id", "Cast", DoubleType())])
    assert str(cast.schema["provider id"].dataType) == "DoubleType()"
    assert sorted(r[0] for r in cast.select("provider id").collect() if r[0] is not None) == [10001.0, 10005.0]
    projected = frame.toDF([ResolveOption("provider id", "Project", StringType())])
    assert [r[0] for r in projected.select("provider id").collect() if r[0] is not None] == ["INC"]


# --- resolveChoice ---


def test_cast_resolves_a_choice_with_null_where_a_value_does_not_cast(
    glue_context: GlueContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resolved = medicare(glue_context, tmp_path).resolveChoice(specs=[("provider id", "cast:long")])
    assert schema_text(resolved, capsys) == (
        "root\n|-- drg definition: string\n|-- provider id: long\n|-- total discharges: long\n"
    )
    assert rows(resolved.toDF().select("provider id", "total discharges"), "total discharges") == [
        {"provider id": None, "total discharges": 12},
        {"provider id": 10005, "total discharges": 14},
        {"provider id": 10001, "total discharges": 91},
    ]


def test_make_cols_gives_a_column_per_type_named_name_type(glue_context: GlueContext, tmp_path: Path) -> None:
    resolved = medicare(glue_context, tmp_path).resolveChoice(choice="make_cols")
    assert resolved.toDF().columns == ["drg definition", "provider id_long", "provider id_string", "total discharges"]
    assert rows(resolved.toDF().select("provider id_long", "provider id_string"), "provider id_long") == [
        {"provider id_long": None, "provider id_string": "INC"},
        {"provider id_long": 10001, "provider id_string": None},
        {"provider id_long": 10005, "provider id_string": None},
    ]


def test_project_keeps_only_values_of_the_type(glue_context: GlueContext, tmp_path: Path) -> None:
    resolved = ResolveChoice.apply(frame=medicare(glue_context, tmp_path), specs=[("provider id", "project:string")])
    assert sorted(r[0] or "" for r in resolved.toDF().select("provider id").collect()) == ["", "", "INC"]


def test_make_struct_gives_a_struct_of_the_types(
    glue_context: GlueContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resolved = medicare(glue_context, tmp_path).resolveChoice(specs=[("provider id", "make_struct")])
    assert "|-- provider id: struct\n|    |-- long: long\n|    |-- string: string\n" in schema_text(resolved, capsys)


def test_resolve_choice_refuses_specs_with_choice_and_names_an_unknown_action(
    glue_context: GlueContext, tmp_path: Path
) -> None:
    frame = medicare(glue_context, tmp_path)
    with pytest.raises(ValueError, match="specs or choice, not both"):
        frame.resolveChoice(specs=[("provider id", "make_cols")], choice="make_cols")
    with pytest.raises(ValueError, match="'make_rows'"):
        frame.resolveChoice(specs=[("provider id", "make_rows")])
    with pytest.raises(ValueError, match="'uuid'"):
        frame.resolveChoice(specs=[("provider id", "cast:uuid")])


def test_choices_inside_structs_resolve_by_their_dotted_path(spark: Any, glue_context: GlueContext) -> None:
    records = spark.sparkContext.parallelize([{"a": {"b": 1}}, {"a": {"b": "one"}}])
    frame = glue_context.create_dynamic_frame_from_rdd(records, "nested")
    resolved = frame.resolveChoice(specs=[("a.b", "cast:double")])
    assert sorted(rows(resolved.toDF()), key=str) == [{"a": {"b": 1.0}}, {"a": {"b": None}}]


# --- apply_mapping ---


def test_apply_mapping_casts_renames_nests_and_drops_the_rest(
    spark: Any, glue_context: GlueContext, capsys: pytest.CaptureFixture[str]
) -> None:
    df = spark.createDataFrame(
        [("12", "Oslo", "x", "9.5"), ("x", "Rome", "y", "")], "id string, city string, other string, p string"
    )
    mapped = ApplyMapping.apply(
        frame=DynamicFrame.fromDF(df, glue_context, "f"),
        mappings=[("id", "string", "id", "int"), ("city", "string", "place.city", "string"),
                  ("p", "string", "place.price", "double")],
        transformation_ctx="applymapping1",
    )  # fmt: skip
    assert schema_text(mapped, capsys) == (
        "root\n|-- id: int\n|-- place: struct\n|    |-- city: string\n|    |-- price: double\n"
    )
    assert str(mapped.toDF().schema["id"].dataType) == "IntegerType()"
    assert rows(mapped.toDF(), "place.city") == [
        {"id": 12, "place": {"city": "Oslo", "price": 9.5}},
        {"id": None, "place": {"city": "Rome", "price": None}},
    ]


def test_apply_mapping_reads_nested_sources_and_matches_names_regardless_of_case(
    spark: Any, glue_context: GlueContext
) -> None:
    df = spark.createDataFrame([(("7", "Ann"),)], "Provider struct<Id: string, Name: string>")
    mapped = DynamicFrame.fromDF(df, glue_context, "f").apply_mapping(
        [("provider.id", "string", "pid", "long"), ("provider.name", "string", "name", "string")]
    )
    assert rows(mapped.toDF()) == [{"pid": 7, "name": "Ann"}]


def test_apply_mapping_names_an_unknown_type_and_a_bad_mapping(spark: Any, glue_context: GlueContext) -> None:
    frame = DynamicFrame.fromDF(spark.createDataFrame([("1",)], "id string"), glue_context, "f")
    with pytest.raises(ValueError, match="'int128'"):
        frame.apply_mapping([("id", "string", "id", "int128")])
    with pytest.raises(ValueError, match=r"\(source, source type, target, target type\)"):
        frame.apply_mapping([("id", "string", "id")])  # type: ignore[list-item]


# --- field transforms ---


def nested_frame(spark: Any, glue_context: GlueContext) -> DynamicFrame:
    df = spark.createDataFrame(
        [(1, "Ann", ("Oslo", 150), "x")], "id long, name string, address struct<city: string, zip: int>, `a.b` string"
    )
    return DynamicFrame.fromDF(df, glue_context, "people")


def test_drop_fields_drops_top_level_and_nested_fields(spark: Any, glue_context: GlueContext) -> None:
    dropped = DropFields.apply(frame=nested_frame(spark, glue_context), paths=["name", "address.zip", "`a.b`", "nope"])
    assert rows(dropped.toDF()) == [{"id": 1, "address": {"city": "Oslo"}}]


def test_select_fields_keeps_only_the_paths(spark: Any, glue_context: GlueContext) -> None:
    selected = SelectFields.apply(frame=nested_frame(spark, glue_context), paths=["id", "address.city"])
    assert rows(selected.toDF()) == [{"id": 1, "address": {"city": "Oslo"}}]


def test_rename_field_takes_full_paths_and_backticks_for_dotted_names(spark: Any, glue_context: GlueContext) -> None:
    frame = nested_frame(spark, glue_context)
    renamed = RenameField.apply(frame=frame, old_name="`a.b`", new_name="thisNewName")
    assert renamed.toDF().columns == ["id", "name", "address", "thisNewName"]
    moved = frame.rename_field("address.city", "city").rename_field("address.zip", "address.postcode")
    assert rows(moved.toDF()) == [{"id": 1, "name": "Ann", "address": {"postcode": 150}, "a.b": "x", "city": "Oslo"}]


# --- record transforms ---


def test_filter_keeps_the_records_the_predicate_accepts(spark: Any, glue_context: GlueContext) -> None:
    df = spark.createDataFrame([(1, "a"), (2, "b"), (3, "c")], "id long, v string")
    kept = Filter.apply(frame=DynamicFrame.fromDF(df, glue_context, "f"), f=lambda record: record["id"] != 2)
    assert rows(kept.toDF(), "id") == [{"id": 1, "v": "a"}, {"id": 3, "v": "c"}]
    assert kept.errorsCount() == 0


def test_a_record_the_function_fails_on_becomes_an_error_record(spark: Any, glue_context: GlueContext) -> None:
    df = spark.createDataFrame([(1, "a"), (2, None)], "id long, v string")
    frame = DynamicFrame.fromDF(df, glue_context, "f")
    mapped = Map.apply(frame=frame, f=lambda record: {**record, "upper": record["v"].upper()})
    assert rows(mapped.toDF()) == [{"id": 1, "v": "a", "upper": "A"}]
    assert (mapped.errorsCount(), mapped.stageErrorsCount()) == (1, 1)
    errors = rows(mapped.errorsAsDynamicFrame().toDF())
    assert errors[0]["stage"] == "Map"
    assert errors[0]["record"] == '{"id": 2, "v": null}'
    assert errors[0]["error"].startswith("AttributeError")
    # errors carry over to the frames made from this one, but are not theirs
    later = mapped.drop_fields(["v"])
    assert (later.errorsCount(), later.stageErrorsCount()) == (1, 0)


def test_map_types_new_fields_from_their_values_and_keeps_the_old_types(
    spark: Any, glue_context: GlueContext, capsys: pytest.CaptureFixture[str]
) -> None:
    df = spark.createDataFrame([(1, "a")], "id long, v string")
    mapped = DynamicFrame.fromDF(df, glue_context, "f").map(lambda r: {**r, "n": 2, "big": 2**40, "x": 0.5})
    assert schema_text(mapped, capsys) == (
        "root\n|-- id: long\n|-- v: string\n|-- n: int\n|-- big: long\n|-- x: double\n"
    )


def test_a_stage_threshold_stops_a_transform_with_too_many_errors(spark: Any, glue_context: GlueContext) -> None:
    from awsglue.dynamicframe import ErrorThresholdExceeded

    df = spark.createDataFrame([(1,), (0,), (0,)], "d long")
    frame = DynamicFrame.fromDF(df, glue_context, "f")
    with pytest.raises(ErrorThresholdExceeded, match="2 error records"):
        frame.map(lambda r: {"q": 1 / r["d"]}, stageThreshold=1)


def test_csv_text_is_typed_by_its_looks(glue_context: GlueContext, tmp_path: Path) -> None:
    values = ["12", "007", "-4", "1.5", "1e3", ".5", "abc", "1.2.3", "2020-01-01", "+", ""]
    (tmp_path / "v.csv").write_text("".join(f"{i},{v}\n" for i, v in enumerate(values)))
    frame = glue_context.create_dynamic_frame.from_options("s3", {"paths": [str(tmp_path)]}, format="csv")
    typed = frame.resolveChoice(specs=[("col1", "make_cols")]).toDF().orderBy("col0")
    assert [tuple(r)[1:] for r in typed.collect()] == [
        (None, 12, None), (None, 7, None), (None, -4, None), (1.5, None, None), (1000.0, None, None),
        (0.5, None, None), (None, None, "abc"), (None, None, "1.2.3"), (None, None, "2020-01-01"),
        (None, None, "+"), (None, None, None),
    ]  # fmt: skip
    assert typed.columns == ["col0", "col1_double", "col1_long", "col1_string"]
