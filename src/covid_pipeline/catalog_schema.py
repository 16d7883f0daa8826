"""The Glue Data Catalog table of a source: show its schema and versions, and apply the job's schema contract.

The contract is the output schema constant of glue_job/schema_evolution.py, imported from its file
(the job folder is not a package of ours: Glue imports it from its own root). Updates are additive
only: new columns are appended, existing ones are never dropped or retyped, so readers of older
partitions keep working.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from botocore.exceptions import ClientError

from covid_pipeline.config import REPO_ROOT, SOURCES, PipelineConfig
from covid_pipeline.errors import UserError

SCHEMA_MODULE = REPO_ROOT / "glue_job" / "schema_evolution.py"
# Names the contract may have in schema_evolution.py, in order of preference.
CONTRACT_NAMES = ("OUTPUT_SCHEMA", "OUTPUT_COLUMNS", "CANONICAL_OUTPUT_SCHEMA", "CANONICAL_SCHEMA")
DEFAULT_PARTITION_KEYS = (("year", "int"), ("month", "int"))

# Spark simpleString -> Hive/Glue type names (the catalog uses Hive DDL types).
_HIVE_TYPES = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint", "str": "string"}


def resolve_table(config: PipelineConfig, name: str) -> str:
    """A source name (jhu_daily) or a catalog table name (covid_jhu_daily) -> the table name."""
    tables = config.names.glue_tables
    if name in tables:
        return tables[name]
    if name in tables.values():
        return name
    known = ", ".join([*SOURCES, *tables.values()])
    raise UserError(f"unknown table {name!r} (known: {known})")


def hive_type(spark_type: Any) -> str:
    text = spark_type.simpleString() if hasattr(spark_type, "simpleString") else str(spark_type)
    return _HIVE_TYPES.get(text, text)


def _load_schema_module(path: Path = SCHEMA_MODULE) -> ModuleType:
    if not path.is_file():
        raise UserError(f"schema contract not found: {path} does not exist")
    spec = importlib.util.spec_from_file_location("covid_schema_contract", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: dataclasses and typing look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def contract_columns(module: ModuleType | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(columns, partition keys) of the job's output contract as Glue (name, type) pairs."""
    module = module or _load_schema_module()
    contract = next((getattr(module, name) for name in CONTRACT_NAMES if hasattr(module, name)), None)
    if contract is None:
        raise UserError(f"{SCHEMA_MODULE.name} defines none of {', '.join(CONTRACT_NAMES)}")
    if hasattr(contract, "fields"):  # a pyspark StructType
        pairs = [(field.name, hive_type(field.dataType)) for field in contract.fields]
    elif isinstance(contract, Mapping):
        pairs = [(str(name), hive_type(kind)) for name, kind in contract.items()]
    else:
        pairs = [(str(name), hive_type(kind)) for name, kind in contract]
    partition_names = tuple(getattr(module, "PARTITION_COLUMNS", ("year", "month")))
    types = dict(pairs)
    partition_keys = [(name, types.get(name, "int")) for name in partition_names]
    columns = [(name, kind) for name, kind in pairs if name not in partition_names]
    return columns, partition_keys


def _get_table(glue: Any, database: str, table: str) -> dict[str, Any] | None:
    try:
        return dict(glue.get_table(DatabaseName=database, Name=table)["Table"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
            return None
        raise


def _change_text(added: list[str], removed: list[str]) -> str:
    """`+a, +b, -c`; long lists are cut so the version table stays readable."""
    parts = [*(f"+{n}" for n in added), *(f"-{n}" for n in removed)]
    return ", ".join(parts) if len(parts) <= 6 else ", ".join(parts[:5]) + f" and {len(parts) - 5} more"


def describe_table(glue: Any, database: str, table: str) -> dict[str, Any]:
    current = _get_table(glue, database, table)
    if current is None:
        raise UserError(f"table {database}.{table} does not exist (run the job or `schema --update --table ...`)")
    versions: list[dict[str, Any]] = []
    for page in glue.get_paginator("get_table_versions").paginate(DatabaseName=database, TableName=table):
        versions.extend(page.get("TableVersions", []))
    versions.sort(key=lambda v: int(v.get("VersionId", 0)))
    summaries = []
    previous: set[str] = set()
    for index, version in enumerate(versions):
        descriptor = version.get("Table", {}).get("StorageDescriptor", {})
        names = [c["Name"] for c in descriptor.get("Columns", [])]
        added = [n for n in names if n not in previous]
        removed = sorted(previous - set(names))
        change = "initial" if index == 0 else _change_text(added, removed)
        summaries.append(
            {
                "version": str(version.get("VersionId")),
                "updated": version.get("Table", {}).get("UpdateTime") or version.get("Table", {}).get("CreateTime"),
                "columns": len(names),
                "change": change or "no column change",
            }
        )
        previous = set(names)
    descriptor = current.get("StorageDescriptor", {})
    return {
        "database": database,
        "table": table,
        "location": descriptor.get("Location"),
        "columns": [{"name": c["Name"], "type": c.get("Type", "")} for c in descriptor.get("Columns", [])],
        "partition_keys": [{"name": c["Name"], "type": c.get("Type", "")} for c in current.get("PartitionKeys", [])],
        "versions": summaries,
    }


def plan_update(
    existing: list[tuple[str, str]], contract: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Additive merge: (merged columns, added names, conflicts). Pure, so it is tested on plain lists."""
    existing_types = {name.lower(): kind for name, kind in existing}
    merged = list(existing)
    added, conflicts = [], []
    for name, kind in contract:
        current = existing_types.get(name.lower())
        if current is None:
            merged.append((name, kind))
            added.append(name)
        elif current.lower() != kind.lower():
            conflicts.append(f"column {name} is {current} in the catalog but {kind} in the contract")
    return merged, added, conflicts


def apply_contract(
    glue: Any, database: str, table: str, location: str | None = None, module: ModuleType | None = None
) -> dict[str, Any]:
    """Bring the catalog table up to the contract with UpdateTable (CreateTable if missing); idempotent."""
    # The TableInput shapes are awsglue's (the Glue API's facts, written once); imported here, not at the top, so
    # that showing a table (describe_table) does not import Spark.
    from awsglue._catalog import new_table_input, table_input_with_columns

    columns, partition_keys = contract_columns(module)
    current = _get_table(glue, database, table)
    if current is None:
        table_input = new_table_input(
            table,
            "parquet",
            [{"Name": n, "Type": t} for n, t in columns],
            [{"Name": n, "Type": t} for n, t in partition_keys],
            location or "",
        )
        glue.create_table(DatabaseName=database, TableInput=table_input)
        return {"table": table, "created": True, "added": [n for n, _ in columns], "conflicts": [], "version": "1"}

    existing = [(c["Name"], c.get("Type", "")) for c in current.get("StorageDescriptor", {}).get("Columns", [])]
    partition_names = {c["Name"].lower() for c in current.get("PartitionKeys", [])}
    merged, added, conflicts = plan_update(existing, [(n, t) for n, t in columns if n.lower() not in partition_names])
    version = str(current.get("VersionId", ""))
    if added:
        table_input = table_input_with_columns(current, [{"Name": n, "Type": t} for n, t in merged])
        glue.update_table(DatabaseName=database, TableInput=table_input)
        version = str(_get_table(glue, database, table).get("VersionId", ""))  # type: ignore[union-attr]
    return {"table": table, "created": False, "added": added, "conflicts": conflicts, "version": version}
