"""DynamicFrame transforms against the equivalent DataFrame code, in one Spark process (the local awsglue's cost).

For every header layout of the input files (the JHU daily reports have five), the same read, transform and a
``noop`` write (every row and column computed, nothing stored), timed alternately:

- apply_mapping: the fields renamed to canonical names and cast (counts long, coordinates double, the rest text)
  - DataFrame: ``spark.read.csv(header)`` all text, ``select(col.cast(type).alias(name))``
  - DynamicFrame: ``from_options(csv, withHeader)``, ``apply_mapping(mappings)``
- resolveChoice: every numeric field cast (counts long, coordinates and rates double; in the DynamicFrame they
  are choices of long and double, or of numbers and text), the others typed by looking at the data
  - DataFrame: ``spark.read.csv(header, inferSchema)``, ``withColumns(col.cast(type))``
  - DynamicFrame: ``from_options(csv, withHeader)``, ``resolveChoice(specs=[(field, "cast:type")])``, ``toDF()``

    python bench/awsglue_frames.py <repeats> <file> [<file> ...]   -> one JSON line of seconds per repeat
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from functools import reduce
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "glue_job"))

from duckdb_baseline import read_header
from schema_evolution import HEADER_ALIASES, normalise_header_name

from awsglue.context import GlueContext

TYPES = {"confirmed": "long", "deaths": "long", "recovered": "long", "active": "long",
         "latitude": "double", "longitude": "double"}  # fmt: skip
# resolveChoice also casts the numeric columns apply_mapping leaves out (by their normalised header).
OTHER_NUMBERS = {"fips": "long", "incident_rate": "double", "incidence_rate": "double",
                 "case_fatality_ratio": "double", "case-fatality_ratio": "double"}  # fmt: skip


def numeric_columns(columns: list[str]) -> dict[str, str]:
    """Column -> type of every numeric column of a layout."""
    found = {}
    for name in columns:
        normalised = normalise_header_name(name)
        kind = TYPES.get(HEADER_ALIASES.get(normalised, ""), OTHER_NUMBERS.get(normalised))
        if kind:
            found[name] = kind
    return found


def mappings_of(columns: list[str]) -> list[tuple[str, str, str, str]]:
    """(column, "string", canonical name, type) for each known column of a layout, as Spark names the column."""
    mapped = []
    for name in columns:
        canonical = HEADER_ALIASES.get(normalise_header_name(name))
        if canonical:
            mapped.append((name, "string", canonical, TYPES.get(canonical, "string")))
    return mapped


def path_of(name: str) -> str:
    """A column name as a field path (backticks keep a dotted name whole)."""
    return f"`{name}`" if "." in name else name


def union(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def csv(spark: SparkSession, paths: list[str], infer: bool = False) -> DataFrame:
    reader = spark.read.option("header", "true").option("escape", '"')
    return reader.option("inferSchema", "true").csv(paths) if infer else reader.csv(paths)


def main(repeats: int, files: list[Path]) -> dict[str, object]:
    spark = SparkSession.builder.appName("awsglue-frames").getOrCreate()
    glue = GlueContext(spark.sparkContext)
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in files:
        groups[tuple(read_header(path))].append(str(path.resolve()))
    layouts = [(mappings_of(csv(spark, paths).columns), paths) for paths in groups.values()]
    numbers = [numeric_columns(csv(spark, paths).columns) for paths in groups.values()]

    def dynamic(paths: list[str]):  # type: ignore[no-untyped-def]
        return glue.create_dynamic_frame.from_options(
            "s3", {"paths": paths}, format="csv", format_options={"withHeader": True}
        )

    def df_mapping() -> DataFrame:
        return union(
            [csv(spark, p).select(*[F.col(f"`{s}`").cast(t).alias(n) for s, _, n, t in m]) for m, p in layouts]
        )

    def dyf_mapping() -> DataFrame:
        return union([dynamic(p).apply_mapping([(path_of(s), *rest) for s, *rest in m]).toDF() for m, p in layouts])

    def df_resolve() -> DataFrame:
        frames = []
        for (_, paths), casts in zip(layouts, numbers, strict=True):
            typed = {s: F.col(f"`{s}`").cast(t) for s, t in casts.items()}
            frames.append(csv(spark, paths, infer=True).withColumns(typed))
        return union(frames)

    def dyf_resolve() -> DataFrame:
        frames = []
        for (_, paths), casts in zip(layouts, numbers, strict=True):
            specs = [(path_of(s), f"cast:{t}") for s, t in casts.items()]
            frames.append(dynamic(paths).resolveChoice(specs=specs).toDF())
        return union(frames)

    variants: dict[str, Callable[[], DataFrame]] = {
        "apply_mapping/dataframe": df_mapping,
        "apply_mapping/dynamicframe": dyf_mapping,
        "resolve_choice/dataframe": df_resolve,
        "resolve_choice/dynamicframe": dyf_resolve,
    }
    assert df_mapping().schema == dyf_mapping().schema, "the two apply_mapping variants must give the same frame"
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(repeats + 1):  # round 0 warms the JVM up for both, untimed
        for name, build in variants.items():
            started = time.perf_counter()
            build().write.format("noop").mode("overwrite").save()
            if round_number:
                seconds[name].append(round(time.perf_counter() - started, 3))
    rows = df_mapping().count()
    spark.stop()
    return {"seconds": seconds, "rows": rows, "layouts": len(layouts)}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), [Path(p) for p in sys.argv[2:]])))
