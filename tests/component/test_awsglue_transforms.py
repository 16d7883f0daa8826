"""The structural transforms, as AWS documents them: relationalize, join, unbox, split, unnest, spigot, merge,
DropNullFields, and the collection transforms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from awsglue import DynamicFrame
from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrameCollection
from awsglue.transforms import (
    ApplyMapping,
    DropNullFields,
    FlatMap,
    Join,
    MapToCollection,
    Relationalize,
    SelectFromCollection,
    Spigot,
    SplitFields,
    SplitRows,
    Unbox,
    UnnestFrame,
)
from tests.awsglue_support import glue_context_fixture, rows  # noqa: F401  (the glue_context fixture)

pytestmark = pytest.mark.spark


def legislators(glue_context: GlueContext) -> DynamicFrame:
    """Two people with contact details (an array of structs) and an address (a struct), as in AWS's example."""
    records = [
        {"id": "p1", "name": "Mike",
         "contact_details": [{"type": "fax", "value": "202-1"}, {"type": "phone", "value": "202-2"}],
         "address": {"city": "Oslo", "zip": "0150"}},
        {"id": "p2", "name": "Shelley", "contact_details": [{"type": "twitter", "value": "SenCapito"}],
         "address": {"city": "Rome", "zip": "00100"}},
        {"id": "p3", "name": "Nobody", "contact_details": None, "address": None},
    ]  # fmt: skip
    rdd = glue_context.spark_session.sparkContext.parallelize(records, 2)
    return glue_context.create_dynamic_frame.from_rdd(rdd, "persons")


def test_relationalize_names_child_tables_root_path_with_id_and_index(
    glue_context: GlueContext, tmp_path: Path
) -> None:
    collection = legislators(glue_context).relationalize("hist_root", str(tmp_path / "staging"))
    assert isinstance(collection, DynamicFrameCollection)
    assert collection.keys() == ["hist_root", "hist_root_contact_details"]
    root = collection.select("hist_root").toDF()
    assert root.columns == ["id", "name", "contact_details", "address.city", "address.zip"]
    child = collection.select("hist_root_contact_details").toDF()
    assert child.columns == ["id", "index", "contact_details.val.type", "contact_details.val.value"]
    # the root's column holds the id its elements carry in the child table
    person_of = {r["contact_details"]: r["id"] for r in rows(root) if r["contact_details"] is not None}
    elements = [(person_of[r["id"]], r["index"], r["contact_details.val.type"], r["contact_details.val.value"])
                for r in rows(child)]  # fmt: skip
    assert sorted(elements) == [
        ("p1", 0, "fax", "202-1"),
        ("p1", 1, "phone", "202-2"),
        ("p2", 0, "twitter", "SenCapito"),
    ]
    assert rows(root.where("id = 'p3'").select("contact_details", "`address.city`")) == [
        {"contact_details": None, "address.city": None}
    ]


def test_relationalize_pivots_arrays_of_values_and_arrays_in_arrays(spark: Any, glue_context: GlueContext) -> None:
    df = spark.createDataFrame([("a", [["x", "y"], ["z"]])], "k string, grid array<array<string>>")
    collection = Relationalize.apply(frame=DynamicFrame.fromDF(df, glue_context, "g"), name="t")
    assert collection.keys() == ["t", "t_grid", "t_grid.val"]
    assert collection["t_grid"].toDF().columns == ["id", "index", "grid.val"]
    row_of = {r["grid.val"]: r["index"] for r in rows(collection["t_grid"].toDF())}
    cells = [(row_of[r["id"]], r["index"], r["grid.val.val"]) for r in rows(collection["t_grid.val"].toDF())]
    assert sorted(cells) == [(0, 0, "x"), (0, 1, "y"), (1, 0, "z")]


def test_join_keeps_both_copies_of_a_shared_field_prefixing_one_with_a_dot(
    spark: Any, glue_context: GlueContext
) -> None:
    customers = DynamicFrame.fromDF(
        spark.createDataFrame([("108 Park", 75091), ("66 P", 75023)], "customers string, zip long"), glue_context, "c"
    )
    zips = DynamicFrame.fromDF(spark.createDataFrame([(75091,), (90093,)], "zip long"), glue_context, "z")
    joined = Join.apply(customers, zips, "zip", "zip")
    assert rows(joined.toDF()) == [{"customers": "108 Park", ".zip": 75091, "zip": 75091}]


def test_unbox_parses_json_text_into_a_struct_as_in_awss_example(
    spark: Any, glue_context: GlueContext, capsys: pytest.CaptureFixture[str]
) -> None:
    data = [("TX_WAREHOUSE", '{"strawberry":"220","pineapple":"560","mango":"350","pears":null}')]
    frame = DynamicFrame.fromDF(spark.createDataFrame(data, "warehouse_loc string, data string"), glue_context, "w")
    unboxed = Unbox.apply(frame=frame, path="data", format="json")
    unboxed.printSchema()
    assert capsys.readouterr().out == (
        "root\n|-- warehouse_loc: string\n|-- data: struct\n|    |-- strawberry: int\n|    |-- pineapple: int\n"
        "|    |-- mango: int\n|    |-- pears: null\n"
    )
    assert rows(unboxed.toDF()) == [
        {"warehouse_loc": "TX_WAREHOUSE", "data": {"strawberry": 220, "pineapple": 560, "mango": 350, "pears": None}}
    ]
    # DropNullFields drops the fields that are null in every record
    assert DropNullFields.apply(frame=unboxed).toDF().columns == ["warehouse_loc", "data"]
    assert DropNullFields.apply(frame=unboxed).toDF().schema["data"].dataType.names == [
        "strawberry",
        "pineapple",
        "mango",
    ]


def test_unbox_csv_text_and_a_malformed_value_becomes_an_error_record(spark: Any, glue_context: GlueContext) -> None:
    frame = DynamicFrame.fromDF(
        spark.createDataFrame([("a", "1|x"), ("b", "2|")], "k string, v string"), glue_context, "f"
    )
    unboxed = frame.unbox("v", "csv", separator="|")
    assert rows(unboxed.toDF(), "k") == [
        {"k": "a", "v": {"col0": 1, "col1": "x"}},
        {"k": "b", "v": {"col0": 2, "col1": None}},
    ]
    bad = frame.unbox("v", "json")
    assert (bad.count(), bad.errorsCount()) == (0, 2)
    with pytest.raises(ValueError, match="unsupported format 'xml'"):
        frame.unbox("v", "xml")


def test_drop_null_fields_drops_columns_null_in_every_record(spark: Any, glue_context: GlueContext) -> None:
    df = spark.createDataFrame([(1, None, None), (2, None, "x")], "id long, empty string, sometimes string")
    assert DropNullFields.apply(frame=DynamicFrame.fromDF(df, glue_context, "f")).toDF().columns == ["id", "sometimes"]


def test_split_fields_and_split_rows_return_two_named_frames(spark: Any, glue_context: GlueContext) -> None:
    df = spark.createDataFrame([(1, "a", 5), (2, "b", 15), (3, "c", None)], "id long, name string, age long")
    frame = DynamicFrame.fromDF(df, glue_context, "people")
    fields = SplitFields.apply(frame=frame, paths=["name"], name1="names", name2="rest")
    assert (fields.keys(), fields["names"].toDF().columns, fields["rest"].toDF().columns) == (
        ["names", "rest"],
        ["name"],
        ["id", "age"],
    )
    split = SplitRows.apply(frame=frame, comparison_dict={"age": {">": 10, "<": 20}}, name1="teens", name2="others")
    assert [r["id"] for r in rows(split["teens"].toDF(), "id")] == [2]
    assert [r["id"] for r in rows(split["others"].toDF(), "id")] == [1, 3]  # a null age is not in range
    with pytest.raises(ValueError, match="unsupported comparator '~'"):
        frame.split_rows({"age": {"~": 1}}, "a", "b")


def test_unnest_makes_nested_fields_top_level_named_by_path(glue_context: GlueContext) -> None:
    unnested = UnnestFrame.apply(frame=legislators(glue_context).drop_fields(["contact_details"]))
    assert unnested.toDF().columns == ["id", "name", "address.city", "address.zip"]


def test_spigot_writes_the_first_records_and_passes_the_frame_on(
    spark: Any, glue_context: GlueContext, tmp_path: Path
) -> None:
    frame = DynamicFrame.fromDF(
        spark.createDataFrame([(i,) for i in range(10)], "n long").coalesce(1), glue_context, "f"
    )
    same = Spigot.apply(frame, str(tmp_path / "sample"), {"topk": 3})
    assert same is frame
    written = [
        json.loads(line) for p in sorted((tmp_path / "sample").glob("part-*")) for line in p.read_text().splitlines()
    ]
    assert written == [{"n": 0}, {"n": 1}, {"n": 2}]
    with pytest.raises(ValueError, match=r"\['topn'\]"):
        frame.spigot(str(tmp_path / "x"), {"topn": 1})


def test_merge_dynamic_frame_takes_staging_records_over_source_records(spark: Any, glue_context: GlueContext) -> None:
    source = DynamicFrame.fromDF(
        spark.createDataFrame([(1, "old"), (2, "keep")], "id long, v string"), glue_context, "s"
    )
    stage = DynamicFrame.fromDF(spark.createDataFrame([(1, "new"), (3, "add")], "id long, v string"), glue_context, "t")
    merged = source.mergeDynamicFrame(stage, ["id"])
    assert rows(merged.toDF(), "id") == [{"id": 1, "v": "new"}, {"id": 2, "v": "keep"}, {"id": 3, "v": "add"}]


def test_collection_transforms(glue_context: GlueContext) -> None:
    collection = legislators(glue_context).relationalize("root", None)
    assert SelectFromCollection.apply(dfc=collection, key="root").toDF().columns[0] == "id"
    counted = MapToCollection.apply(dfc=collection, callable=lambda frame, ctx: frame.select_fields(["id"]))
    assert [counted[k].count() for k in counted] == [3, 3]
    mapped = FlatMap.apply(
        dfc=collection, BaseTransform=ApplyMapping, frame_name="frame", mappings=[("id", "string", "key", "string")]
    )
    assert [mapped[k].toDF().columns for k in mapped] == [["key"], ["key"]]
    with pytest.raises(KeyError, match="'nope'"):
        collection.select("nope")
